"""The test-only scores zone, declared (parser: :mod:`spotify_assets_tests.support.scores_zone`):
the ingest asset, sensor, batches and checks, and its core table ``core.scores``."""

import dagster as dg

from spotify_assets.defs.landing import landing_zone_defs
from spotify_assets_tests.support.scores_zone import SCORES_ZONE

SCORES = landing_zone_defs(
    SCORES_ZONE,
    key=dg.AssetKey(["raw", "score_files"]),
    group="toy",
    description="Toy score CSVs",
    table=dg.AssetKey(["core", "scores"]),
)
defs = SCORES.definitions

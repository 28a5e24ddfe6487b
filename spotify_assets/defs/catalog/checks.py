"""Checks of the catalog: the tables' keys, references, ranges and accepted values; and what
the raw assets fetched (``every_playlist_complete``, ``referenced_artists_fetched``,
``referenced_tracks_resolve``), which read what the asset wrote and run with it, in the same
run (a snapshot check looks at the window the asset materialized last).

ERROR and blocking where downstream must not run on bad data (keys, references, ranges, a
window missing items); WARN where a person should look.
"""

import dagster as dg

from spotify_assets.defs.catalog.assets import ENTITIES_KEY, LOOKUPS_KEY, SNAPSHOTS_KEY
from spotify_assets.defs.quality.rule_checks import WARN, problems_result, rule_checks
from spotify_assets.lib.catalog.coverage import missing_artist_bodies, snapshot_problems
from spotify_assets.lib.catalog.snapshots import manifest_key
from spotify_assets.lib.lake import LakeError
from spotify_assets.lib.quality.rules import Rule, accepted_values, in_range, references, unique_key
from spotify_assets.resources import LakeResource, SpotifyResource
from spotify_assets.resources.event_log import latest_metadata, latest_partition

CATALOG_RULES: dict[str, list[Rule]] = {
    "tracks": [
        unique_key("core.tracks", ["track_id"]),
        references("core.tracks", "album_id", "core.albums", "album_id"),
        references("core.tracks", "primary_artist_id", "core.artists", "artist_id"),
        references("core.playlist_tracks", "track_id", "core.tracks", "track_id"),
        in_range("core.tracks", "popularity", 0, 100, key="track_id"),
        in_range("core.tracks", "duration_ms", 1, None, key="track_id"),
    ],
    "albums": [
        unique_key("core.albums", ["album_id"]),
        references("core.albums", "primary_artist_id", "core.artists", "artist_id"),
        accepted_values(
            "core.albums", "album_type", ["album", "single", "compilation"], key="album_id"
        ),
        accepted_values(
            "core.albums",
            "release_date_precision",
            ["year", "month", "day"],
            key="album_id",
            blocking=False,
        ),
        in_range("core.albums", "total_tracks", 1, None, key="album_id", blocking=False),
    ],
    "artists": [
        unique_key("core.artists", ["artist_id"]),
        in_range("core.artists", "popularity", 0, 100, key="artist_id"),
        in_range("core.artists", "followers", 0, None, key="artist_id"),
    ],
    "track_artists": [
        unique_key("core.track_artists", ["track_id", "artist_id"]),
        references("core.track_artists", "track_id", "core.tracks", "track_id"),
        references("core.track_artists", "artist_id", "core.artists", "artist_id"),
    ],
    "unresolved_track_artists": [
        unique_key("core.unresolved_track_artists", ["track_id", "artist_id"]),
        references("core.unresolved_track_artists", "track_id", "core.tracks", "track_id"),
    ],
    "track_audio_features": [
        unique_key("core.track_audio_features", ["track_id"]),
        references("core.track_audio_features", "track_id", "core.tracks", "track_id"),
        *(
            in_range("core.track_audio_features", f, 0, 1, key="track_id", blocking=False)
            for f in ("danceability", "energy", "valence", "acousticness")
        ),
    ],
    "artist_genres": [
        unique_key("core.artist_genres", ["artist_id", "genre"]),
        references("core.artist_genres", "artist_id", "core.artists", "artist_id"),
    ],
    "playlists": [
        unique_key("core.playlists", ["playlist_id"]),
        references("core.playlist_tracks", "playlist_id", "core.playlists", "playlist_id"),
    ],
}
# core.playlist_tracks is written per window, before the dimension tables are rebuilt from
# every window; so its references are checked on the tables they point to, when those are
# rebuilt ("every playlist track resolves" is a rule of core.tracks and core.playlists), and
# its key is checked inline by the asset (defs/catalog/assets.py).


catalog_table_checks = rule_checks(
    "catalog_table_checks",
    {dg.AssetKey(["core", table]): rules for table, rules in CATALOG_RULES.items()},
    description="Keys, references, ranges and accepted values of the catalog tables.",
)


EAGER = dg.AutomationCondition.eager()


@dg.asset_check(
    asset=SNAPSHOTS_KEY,
    name="every_playlist_complete",
    blocking=True,
    automation_condition=EAGER,
    description="Every configured playlist was fetched in the window, with as many items as "
    "the API's total for it (a lost page would cut core.playlist_tracks)",
)
def every_playlist_complete(
    context: dg.AssetCheckExecutionContext, spotify: SpotifyResource, lake: LakeResource
) -> dg.AssetCheckResult:
    window = latest_partition(context.instance, SNAPSHOTS_KEY)
    if window is None:
        return problems_result(["no window was materialized"], "")
    store = lake.store()
    manifest = store_json(lake, manifest_key(window))
    expected = spotify.snapshot_playlist_ids()
    problems = snapshot_problems(store, window, manifest, expected)
    return problems_result(
        problems,
        f"{len(expected)} playlists complete in window {window}",
        window=window,
        playlists=len(expected),
    )


@dg.asset_check(
    asset=ENTITIES_KEY,
    name="referenced_artists_fetched",
    automation_condition=EAGER,
    description="Every artist the window's playlists reference has a body fetched within the "
    "refresh window (else core.artists lacks it: WARN, a person should look)",
)
def referenced_artists_fetched(
    context: dg.AssetCheckExecutionContext, spotify: SpotifyResource, lake: LakeResource
) -> dg.AssetCheckResult:
    window = latest_partition(context.instance, ENTITIES_KEY)
    if window is None:
        return problems_result(["no window was materialized"], "", severity=WARN)
    manifest = store_json(lake, manifest_key(window))
    missing = missing_artist_bodies(lake.store(), window, manifest, spotify.entity_refresh_hours)
    return problems_result(
        [f"artist {a} has no body" for a in missing],
        f"every referenced artist of window {window} has a body",
        severity=WARN,
        window=window,
    )


#: Share of referenced tracks Spotify may not know before the lookups check warns.
MAX_UNKNOWN_TRACKS = 0.2


@dg.asset_check(
    asset=LOOKUPS_KEY,
    name="referenced_tracks_resolve",
    automation_condition=EAGER,
    description=f"At most {MAX_UNKNOWN_TRACKS:.0%} of the tracks core.streams and "
    "core.chart_entries reference are unknown to Spotify (more means ids from another source "
    "or market: WARN)",
)
def referenced_tracks_resolve(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    md = latest_metadata(context.instance, LOOKUPS_KEY)
    if md is None:
        return problems_result(["raw/catalog_lookups was never materialized"], "", severity=WARN)
    referenced = int(md.get("tracks_referenced") or 0)
    unknown = int(md.get("tracks_not_found") or 0)
    share = unknown / referenced if referenced else 0.0
    problems = (
        [f"{unknown} of {referenced} referenced tracks ({share:.0%}) are unknown to Spotify"]
        if share > MAX_UNKNOWN_TRACKS
        else []
    )
    return problems_result(
        problems,
        f"{unknown} of {referenced} referenced tracks unknown to Spotify",
        severity=WARN,
        tracks_referenced=referenced,
        tracks_not_found=unknown,
    )


def store_json(lake: LakeResource, key: str) -> dict:
    """A JSON object of the lake (a window's manifest); an unreadable one reads as empty, so
    the check reports every playlist or artist as missing instead of crashing."""
    try:
        return dict(lake.get_json(key))
    except (LakeError, TypeError, ValueError):
        return {}


defs = dg.Definitions(
    asset_checks=[
        catalog_table_checks,
        every_playlist_complete,
        referenced_artists_fetched,
        referenced_tracks_resolve,
    ]
)

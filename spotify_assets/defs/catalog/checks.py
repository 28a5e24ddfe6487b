"""Checks on the catalog tables: keys, references, ranges, accepted values.

ERROR and blocking where downstream must not run on bad data (keys, references, ranges);
WARN where a person should look.
"""

import dagster as dg

from spotify_assets.defs.quality.rule_checks import rule_checks
from spotify_assets.lib.quality.rules import Rule, accepted_values, in_range, references, unique_key

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
catalog_checks = [catalog_table_checks]

defs = dg.Definitions(asset_checks=catalog_checks)

"""Checks on the catalog tables: keys, references, ranges, accepted values.

ERROR and blocking where downstream must not run on bad data (keys, references, ranges);
WARN where a person should look. One multi-asset check per table, so a table's rules share
one DuckDB connection and one step.
"""


import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.lib.quality import (
    Rule,
    accepted_values,
    evaluate,
    in_range,
    references,
    unique_key,
)

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
    "playlist_tracks": [
        unique_key("core.playlist_tracks", ["snapshot_time", "playlist_id", "position"]),
    ],
}
# core.playlist_tracks is written per window, before the dimension tables are rebuilt from
# every window; so its references are checked on the tables they point to, when those are
# rebuilt ("every playlist track resolves" is a rule of core.tracks and core.playlists).


def rules_checks(table_rules: dict[str, list[Rule]], schema: str) -> list[dg.AssetChecksDefinition]:
    """One multi-asset check per table from its rules."""
    out = []
    for table, rules in table_rules.items():
        asset_key = dg.AssetKey([schema, table])
        specs = [
            dg.AssetCheckSpec(
                rule.name, asset=asset_key, description=rule.description, blocking=rule.blocking
            )
            for rule in rules
        ]

        def make(rules: list[Rule], asset_key: dg.AssetKey, specs: list[dg.AssetCheckSpec]):
            @dg.multi_asset_check(
                specs=specs, name=f"{schema}_{asset_key.path[-1]}_checks", can_subset=True,
                pool="duckdb",
            )
            def _checks(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource):
                selected = {key.name for key in context.selected_asset_check_keys}
                with warehouse.get_connection() as conn:
                    for rule in rules:
                        if rule.name not in selected:
                            continue
                        result = evaluate(conn, rule)
                        yield dg.AssetCheckResult(
                            asset_key=asset_key,
                            check_name=rule.name,
                            passed=result.passed,
                            severity=dg.AssetCheckSeverity.ERROR
                            if rule.blocking
                            else dg.AssetCheckSeverity.WARN,
                            description=result.error or rule.description,
                            metadata={
                                "violations": result.violations,
                                "examples": dg.MetadataValue.json(result.examples),
                                "sql": dg.MetadataValue.md(f"```sql\n{rule.violations_sql}\n```"),
                            },
                        )

            return _checks

        out.append(make(rules, asset_key, specs))
    return out


catalog_checks = rules_checks(CATALOG_RULES, "core")

defs = dg.Definitions(asset_checks=catalog_checks)

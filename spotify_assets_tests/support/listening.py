"""The listening tables from landed bytes, by the pipeline's own code without Dagster: each
object parsed as the zone parses it, written to Parquet, then ``core.streams`` built, polled
duplicates dropped, names resolved and scrobbles merged, in the asset's order; the sample
world's scrobbler landed so (:func:`scrobbler_history`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spotify_assets.lib.landing import BadFile, NotIngested
from spotify_assets.lib.listening.export_archive import parse_landed_export
from spotify_assets.lib.listening.export_files import write_parquet
from spotify_assets.lib.listening.recently_played import drop_polled_duplicates
from spotify_assets.lib.listening.scrobbles import merge_scrobbles
from spotify_assets.lib.listening.streams import (
    ProcessedFile,
    build_scrobbles,
    build_streams,
    classify_mixed_history,
    resolve_account_data_tracks,
)


def land_and_build(conn: Any, landed: dict[str, bytes], tmp_path: Path) -> dict[str, Any]:
    """``landed``: ``<listener>/<path>`` -> bytes. Returns each object's outcome (its
    ``ParsedFile``, or the ``NotIngested``/``BadFile`` raised)."""
    outcomes: dict[str, Any] = {}
    files = []
    for i, (key, data) in enumerate(sorted(landed.items())):
        folder, _, rest = key.partition("/")
        try:
            parsed = parse_landed_export(data, name=rest, source_file=key, user_id=folder)
        except (NotIngested, BadFile) as exc:
            outcomes[key] = exc
            continue
        outcomes[key] = parsed
        out = tmp_path / f"landed-{i}.parquet"
        write_parquet(parsed.table, out)
        files.append(ProcessedFile(source_file=key, path=str(out), version="v1"))
    build_listening(conn, files)
    return outcomes


def build_listening(conn: Any, files: list[ProcessedFile]) -> None:
    """What the ``core/streams`` step does with the processed files."""
    build_streams(conn, files)
    build_scrobbles(conn, files)
    drop_polled_duplicates(conn)
    resolve_account_data_tracks(conn)
    classify_mixed_history(conn)
    merge_scrobbles(conn)


def world_catalog(conn: Any, world: Any) -> None:
    """The world's tracks and artists as the catalog tables (names and durations)."""
    from spotify_assets_tests.support.warehouse import create_core_tables

    create_core_tables(conn, ["core.tracks", "core.artists", "core.albums", "core.artist_genres"])
    tracks = world.tracks[["track_id", "track_name", "primary_artist_id", "duration_ms"]]
    artists = world.artists[["artist_id", "artist_name"]]
    for table, frame in (("core.tracks", tracks), ("core.artists", artists)):
        conn.register("_frame", frame)
        conn.execute(f"insert into {table} by name select * from _frame")
        conn.unregister("_frame")


def scrobbler_history(conn: Any, world: Any, tmp_path: Path, *also: str) -> str:
    """The listening tables of ``world``'s scrobbler (their Spotify export, Last.fm and
    ListenBrainz files) and of the listeners ``also`` (their export alone), over the world's
    catalog, by :func:`land_and_build`; the other core tables empty, so every mart builds.
    Returns the scrobbler's id."""
    from spotify_assets.lib.sample.world.history import write_user_history
    from spotify_assets.lib.sample.world.scrobbles import scrobbling_listener, write_scrobbles
    from spotify_assets_tests.support.warehouse import CORE_SCHEMAS, create_core_tables

    user = scrobbling_listener(world)
    landing = tmp_path / "landing"
    for listener in (user, *also):
        write_user_history(world, listener, landing)
    write_scrobbles(world, landing)
    world_catalog(conn, world)
    landed = {p.relative_to(landing).as_posix(): p.read_bytes() for p in landing.rglob("*.*")}
    land_and_build(conn, landed, tmp_path)
    built = conn.execute(
        "select 'core.' || table_name from information_schema.tables where table_schema = 'core'"
    ).fetchall()
    create_core_tables(conn, sorted(set(CORE_SCHEMAS) - {t for (t,) in built}))
    return user

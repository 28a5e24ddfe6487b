"""Landed catalog datasets -> the catalog tables, field by field (Dagster-free).

Every landed dataset file is a set of *observations* (one per row, with the file's
``observed_at``, its name and the row's line). :func:`dataset_tracks` and
:func:`dataset_artists` read them back per entity and per field group (:data:`TRACK_FIELDS`,
:data:`ARTIST_FIELDS`): each group from the newest observation that has it, ties broken by
the file's name and then its line, never by a modification time. So a newer dataset without
``id_artists`` never takes a track's credits away, whichever file landed last.

:func:`merge_dataset_tracks` and :func:`merge_dataset_artists` then merge them with what the
Web API said (``source`` playlist or lookup), field by field again: the dataset's value wins
where the API's is null or older (equal times: the API's). ``field_sources`` says, for every
field that has a value, where it comes from (``playlist``, ``lookup`` or
``dataset:<file>``), as ``popularity_source`` does for popularity.

A dataset credit names an artist the catalog may not know (no artists file has it, the API
never fetched it): such a credit is listed in ``unresolved_track_artists`` instead of
``track_artists`` (a track whose first artist is unknown has a null ``primary_artist_id``);
the lookups fetch those artists, and the next merge resolves them. Audio features (which the
Web API no longer gives new apps) go to ``track_audio_features``, one row per track with the
observation they come from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from spotify_assets.lib.catalog.datasets import (
    ARTISTS,
    AUDIO_FEATURES,
    CATALOG_DATASETS_ZONE,
    SOURCE,
    TRACKS,
)
from spotify_assets.lib.catalog.entities import artist_bodies, referenced_artists
from spotify_assets.lib.catalog.genres import genre_families
from spotify_assets.lib.catalog.lookups import lookup_artist_bodies
from spotify_assets.lib.catalog.parse import empty_frame, frame
from spotify_assets.lib.lake import LakeStore
from spotify_assets.lib.landing import (
    ProcessedFile,
    processed_files,
    processed_rows,
    read_manifest,
)

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

#: What a tracks dataset says of a track, field by field: each group is taken whole from the
#: newest observation that has its first column (a list: that is not empty; the audio
#: features: any of them).
TRACK_FIELDS: dict[str, tuple[str, ...]] = {
    "track_name": ("track_name",),
    "popularity": ("popularity",),
    "duration_ms": ("duration_ms",),
    "explicit": ("explicit",),
    "credits": ("artist_ids",),
    "album": ("album_id", "album_name", "track_number", "disc_number"),
    "release": ("release_date", "release_date_precision", "release_year"),
    "audio_features": AUDIO_FEATURES,
}
#: The same for an artists dataset.
ARTIST_FIELDS: dict[str, tuple[str, ...]] = {
    "artist_name": ("artist_name",),
    "followers": ("followers",),
    "popularity": ("popularity",),
    "genres": ("genres",),
}
_LISTS = frozenset({"artist_ids", "genres"})
_TYPES = {
    "artist_ids": "varchar[]",
    "genres": "varchar[]",
    "track_name": "varchar",
    "artist_name": "varchar",
    "album_id": "varchar",
    "album_name": "varchar",
    "release_date": "varchar",
    "release_date_precision": "varchar",
    "explicit": "boolean",
    **{f: "double" for f in AUDIO_FEATURES},
}


def dataset_files(store: LakeStore, workdir: Path, kind: str) -> list[ProcessedFile]:
    """The accepted dataset files of ``kind`` (``artists`` or ``tracks``), but the held ones
    (files failing a blocking check stay out until fixed or removed)."""
    return [
        f
        for f in processed_files(store, CATALOG_DATASETS_ZONE, workdir)
        if read_manifest(store, CATALOG_DATASETS_ZONE, f.source_file).get("kind") == kind
    ]


def _complete(conn: Any, rows: str, groups: dict[str, tuple[str, ...]]) -> str:
    """``rows`` with every column of ``groups``: a file processed by an older version lacks
    the columns added since (album, record_index); they read as null."""
    have = set(conn.sql(f"select * from {rows} limit 0").columns)
    wanted = [c for cols in groups.values() for c in cols] + ["record_index"]
    missing = [f"null::{_TYPES.get(c, 'bigint')} as {c}" for c in wanted if c not in have]
    return f"(select *{''.join(', ' + m for m in missing)} from {rows})"


def _has(group: str, columns: tuple[str, ...]) -> str:
    """SQL: the observation has the group (its first column; a list: not empty; the audio
    features: any of them)."""
    lead = columns[0]
    if group == "audio_features":
        return "(" + " or ".join(f"{c} is not null" for c in columns) + ")"
    if lead in _LISTS:
        return f"(len({lead}) > 0)"
    return f"({lead} is not null)"


def _newest_fields_sql(rows: str, key: str, groups: dict[str, tuple[str, ...]]) -> str:
    """One row per ``key``: every group's columns from the newest observation that has the
    group (newest by ``observed_at``, then the file's name, then its line), with
    ``<group>__at`` and ``<group>__file`` saying where from. An id observed once (most of a
    big dataset) is projected as it is; only ids seen in several rows are aggregated."""
    order = "struct_pack(t := observed_at, f := source_file, i := coalesce(record_index, 0))"
    once = [key, "observed_at as first_seen", "observed_at as last_seen"]
    many = [key, "min(observed_at) as first_seen", "max(observed_at) as last_seen"]
    for group, columns in groups.items():
        has = _has(group, columns)
        once += [f"case when {has} then {c} end as {c}" for c in columns]
        once += [
            f"case when {has} then observed_at end as {group}__at",
            f"case when {has} then source_file end as {group}__file",
        ]
        pick = f"filter (where {has})"
        many += [f"arg_max({c}, _k) {pick} as {c}" for c in columns]
        many += [
            f"arg_max(observed_at, _k) {pick} as {group}__at",
            f"arg_max(source_file, _k) {pick} as {group}__file",
        ]
    return f"""
with counted as (select *, count(*) over (partition by {key}) as _n from {rows})
select * from (
    select {", ".join(once)} from counted where _n = 1
    union all by name
    select {", ".join(many)} from (select *, {order} as _k from counted where _n > 1)
     group by {key}
) order by {key}
"""


def _read(
    store: LakeStore, workdir: Path, kind: str, key: str, groups: dict[str, tuple[str, ...]]
) -> tuple[pa.Table, int]:
    files = dataset_files(store, workdir, kind)
    if not files:
        return _empty(key, groups), 0
    with duckdb.connect() as conn, processed_rows(conn, files) as rows:
        table = conn.sql(_newest_fields_sql(_complete(conn, rows, groups), key, groups))
        return table.to_arrow_table(), len(files)


def _empty(key: str, groups: dict[str, tuple[str, ...]]) -> pa.Table:
    with duckdb.connect() as conn:
        conn.execute(
            "create table rows (observed_at timestamp, source_file varchar, record_index bigint, "
            f"{key} varchar, "
            + ", ".join(f"{c} {_TYPES.get(c, 'bigint')}" for cs in groups.values() for c in cs)
            + ")"
        )
        return conn.sql(_newest_fields_sql("rows", key, groups)).to_arrow_table()


def dataset_tracks(store: LakeStore, workdir: Path) -> tuple[pa.Table, int]:
    """(one row per track, files read): every landed tracks dataset read field by field
    (:data:`TRACK_FIELDS`: each group from its newest observation, with ``<group>__at`` and
    ``<group>__file``). One DuckDB pass over the processed Parquet."""
    return _read(store, workdir, TRACKS, "track_id", TRACK_FIELDS)


def dataset_artists(store: LakeStore, workdir: Path) -> tuple[pa.Table, int]:
    """(one row per artist, files read): every landed artists dataset read field by field
    (:data:`ARTIST_FIELDS`), as :func:`dataset_tracks`."""
    return _read(store, workdir, ARTISTS, "artist_id", ARTIST_FIELDS)


def dataset_artist_ids(store: LakeStore, workdir: Path) -> set[str]:
    """Every artist id an artists dataset names: the credits of a dataset that resolve."""
    files = dataset_files(store, workdir, ARTISTS)
    if not files:
        return set()
    with duckdb.connect() as conn, processed_rows(conn, files) as rows:
        return {r[0] for r in conn.execute(f"select distinct artist_id from {rows}").fetchall()}


def catalog_artist_ids(store: LakeStore, tables: dict[str, pd.DataFrame]) -> set[str]:
    """The artists ``core.artists`` has from the API: every body fetched (the snapshots'
    and the lookups') and every artist the API tables credit (fetched with their window)."""
    fetched = {b["id"] for b, _ in artist_bodies(store)}
    fetched |= {b["id"] for b, _ in lookup_artist_bodies(store)}
    return fetched | referenced_artists(tables)


# --------------------------------------------------------------------------------------------
# Merging with the API's tables
# --------------------------------------------------------------------------------------------


def _takes(group: str, api_column: str, api_at: str, api_key: str) -> str:
    """The dataset's group wins: it has one, and the API row is missing, has none, or is
    older (on equal times the API's wins, as the playlist's does in ``merge_sources``)."""
    return (
        f"(d.{group}__at is not null and (a.{api_key} is null or a.{api_column} is null "
        f"or d.{group}__at > a.{api_at}))"
    )


def _field_sources(
    fields: dict[str, tuple[str, str]], api_has: dict[str, str] | None = None
) -> str:
    """SQL of the ``field_sources`` JSON: field -> where its value comes from (fields without
    a value left out). ``fields``: field -> (the take flag, the dataset group); ``api_has``:
    field -> when the API row has a value, if not ``a.<field> is not null``."""
    entries = []
    for name, (take, group) in fields.items():
        has = (api_has or {}).get(name, f"a.{name} is not null")
        label = f"case when {take} then '{SOURCE}:' || d.{group}__file when {has} then a.source end"
        # concat_ws skips the nulls: a field without a value is left out.
        entries.append(f"'\"{name}\":' || to_json({label})")
    return f"'{{' || concat_ws(',', {', '.join(entries)}) || '}}'"


#: The field groups of a track that the API has too, with the API column that says whether
#: it has the group.
_TRACK_TAKES = {
    "track_name": "track_name",
    "popularity": "popularity",
    "duration_ms": "duration_ms",
    "explicit": "explicit",
    "credits": "primary_artist_id",
    "album": "album_id",
}
#: core.tracks' columns a dataset may give: column -> (its group, the dataset's value).
_TRACK_VALUES = {
    "track_name": ("track_name", "d.track_name"),
    "album_id": ("album", "d.album_id"),
    "primary_artist_id": ("credits", "case when m.primary_known then d.artist_ids[1] end"),
    "duration_ms": ("duration_ms", "d.duration_ms"),
    "explicit": ("explicit", "d.explicit"),
    "popularity": ("popularity", "d.popularity"),
    "popularity_source": ("popularity", f"'{SOURCE}'"),
    "track_number": ("album", "d.track_number"),
    "disc_number": ("album", "d.disc_number"),
}


def merge_dataset_tracks(
    tables: dict[str, pd.DataFrame], dataset: pa.Table, known_artists: set[str]
) -> dict[str, pd.DataFrame]:
    """``tracks``, ``albums``, ``track_artists`` (of the API sources) with the datasets'
    tracks merged in field by field, plus ``unresolved_track_artists`` (dataset credits of
    artists not in ``known_artists``) and ``track_audio_features``. One DuckDB session: a
    600k-track dataset is a handful of joins."""
    out = dict(tables)
    with duckdb.connect() as conn:
        conn.register("api", tables["tracks"])
        conn.register("api_albums", tables["albums"])
        conn.register("api_credits", tables["track_artists"])
        conn.register("d_all", dataset)
        conn.register(
            "known", pa.table({"artist_id": pa.array(sorted(known_artists), pa.string())})
        )
        # m: per track, which groups the dataset gives (take_<group>).
        picked = ", ".join(
            f"{_takes(g, column, 'last_seen', 'track_id')} as take_{g}"
            for g, column in _TRACK_TAKES.items()
        )
        conn.execute(
            f"create temp table m as select coalesce(a.track_id, d.track_id) as track_id, "
            f"{picked}, d.artist_ids[1] in (select artist_id from known) as primary_known "
            "from api a full join d_all d on a.track_id = d.track_id"
        )
        out["tracks"] = frame("tracks", conn.sql(_merged_tracks_sql()).df())
        conn.register("merged_tracks", out["tracks"])
        out.update(_credits(conn))
        albums = conn.sql(_dataset_albums_sql()).df()
        if len(albums):
            out["albums"] = frame(
                "albums", pd.concat([tables["albums"], albums], ignore_index=True)
            )
        features = conn.sql(
            f"select track_id, {', '.join(AUDIO_FEATURES)}, audio_features__at as observed_at, "
            "audio_features__file as source_file from d_all "
            "where audio_features__at is not null order by track_id"
        ).df()
        out["track_audio_features"] = frame("track_audio_features", features)
    return out


def _merged_tracks_sql() -> str:
    """core.tracks' rows: each column the dataset's where it takes the group, else the API's;
    ``last_seen`` the newest observation a value comes from."""
    values = ", ".join(
        f"case when m.take_{group} then {value} else a.{column} end as {column}"
        for column, (group, value) in _TRACK_VALUES.items()
    )
    field_sources = _field_sources(
        {c: (f"m.take_{g}", g) for c, (g, _) in _TRACK_VALUES.items() if c != "popularity_source"}
    )
    taken_at = ", ".join(f"case when m.take_{g} then d.{g}__at end" for g in _TRACK_TAKES)
    return (
        f"select m.track_id, {values}, a.isrc, least(a.first_seen, d.first_seen) as first_seen, "
        f"greatest(a.last_seen, {taken_at}) as last_seen, "
        f"coalesce(a.source, '{SOURCE}') as source, {field_sources} as field_sources "
        "from m left join api a using (track_id) left join d_all d using (track_id) "
        "order by m.track_id"
    )


def _credits(conn: Any) -> dict[str, pd.DataFrame]:
    """``track_artists`` (the API's credits, or the dataset's where it takes them, of known
    artists) and ``unresolved_track_artists`` (the dataset's of unknown artists)."""
    conn.execute(
        "create temp table ds_credits as select track_id, artist_id, "
        "min(artist_position) as artist_position, any_value(source_file) as source_file "
        "from (select d.track_id, unnest(d.artist_ids) as artist_id, "
        "generate_subscripts(d.artist_ids, 1) - 1 as artist_position, "
        "d.credits__file as source_file from d_all d join m using (track_id) "
        "where m.take_credits) group by all"
    )
    credits = conn.sql(
        "select c.* from api_credits c join m using (track_id) where not m.take_credits "
        "union all select track_id, artist_id, artist_position from ds_credits "
        "where artist_id in (select artist_id from known) order by track_id, artist_position"
    ).df()
    unresolved = conn.sql(
        "select track_id, artist_id, artist_position, source_file from ds_credits "
        "where artist_id not in (select artist_id from known) order by track_id, artist_position"
    ).df()
    return {
        "track_artists": frame("track_artists", credits),
        "unresolved_track_artists": frame("unresolved_track_artists", unresolved),
    }


def _dataset_albums_sql() -> str:
    """The albums the datasets name (album id) that the API does not have: name and release
    from the newest observation, the primary artist of a track on it."""
    return (
        "select album_id, arg_max(album_name, k) as album_name, "
        "arg_max(release_date, k) as release_date, "
        "arg_max(release_date_precision, k) as release_date_precision, "
        "arg_max(release_year, k) as release_year, "
        "arg_max(primary_artist_id, k) as primary_artist_id, max(seen) as last_seen, "
        f"'{SOURCE}' as source from (select t.album_id, d.album_name, d.release_date, "
        "d.release_date_precision, d.release_year, t.primary_artist_id, d.album__at as seen, "
        "struct_pack(t := d.album__at, f := d.album__file) as k from d_all d "
        "join m using (track_id) join merged_tracks t using (track_id) where m.take_album) "
        "where album_id not in (select album_id from api_albums where album_id is not null) "
        "group by album_id"
    )


def merge_dataset_artists(
    artists: pd.DataFrame, genres: pd.DataFrame, dataset: pa.Table
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``artists`` and ``artist_genres`` with the datasets' artists merged in field by field
    (name, followers, popularity, genres: each the newest that has one; ``field_sources``,
    ``followers_source`` and ``popularity_source`` say where from)."""
    with duckdb.connect() as conn:
        conn.register("api", artists)
        conn.register("api_genres", genres)
        conn.register("d_all", dataset)
        takes = {
            g: _takes(g, g, "fetched_at", "artist_id")
            for g in ("artist_name", "followers", "popularity")
        }
        takes["genres"] = (
            "(d.genres__at is not null and (a.artist_id is null or d.genres__at > a.fetched_at "
            "or a.artist_id not in (select artist_id from api_genres)))"
        )
        conn.execute(
            "create temp table m as select coalesce(a.artist_id, d.artist_id) as artist_id, "
            + ", ".join(f"{sql} as take_{g}" for g, sql in takes.items())
            + " from api a full join d_all d on a.artist_id = d.artist_id"
        )
        field_sources = _field_sources(
            {g: (f"m.take_{g}", g) for g in ("artist_name", "followers", "popularity", "genres")},
            {"genres": "m.artist_id in (select artist_id from api_genres)"},
        )
        merged = conn.sql(
            "select m.artist_id, "
            "case when m.take_artist_name then d.artist_name else a.artist_name end "
            "as artist_name, "
            + ", ".join(
                f"case when m.take_{c} then d.{c} else a.{c} end as {c}, "
                f"case when m.take_{c} then '{SOURCE}' else a.{c}_source end as {c}_source"
                for c in ("followers", "popularity")
            )
            + f", coalesce(a.fetched_at, d.last_seen) as fetched_at, "
            f"coalesce(a.source, '{SOURCE}') as source, {field_sources} as field_sources "
            "from m left join api a using (artist_id) left join d_all d using (artist_id) "
            "order by m.artist_id"
        ).df()
        kept = conn.sql(
            "select g.* from api_genres g join m using (artist_id) where not m.take_genres"
        ).df()
        added = conn.sql(
            "select distinct artist_id, genre from (select d.artist_id, "
            "trim(unnest(d.genres)) as genre from d_all d join m using (artist_id) "
            "where m.take_genres) where genre != '' order by all"
        ).df()
    added["genre_family"] = genre_families(added["genre"].astype("string"))
    all_genres = pd.concat([p for p in (kept, added) if len(p)] or [empty_frame("artist_genres")])
    return (
        frame("artists", merged),
        frame("artist_genres", all_genres.sort_values(["artist_id", "genre"])),
    )

"""Public catalog datasets: the widely used artists and tracks CSVs, landed in
``landing/catalog_datasets/`` and read as observations of the catalog (Dagster-free).

Development-mode apps get no ``popularity`` and no ``followers`` from the Web API since 2026;
these files have them. A landed CSV is one partition of the zone (the landed-file mechanism of
:mod:`spotify_assets.lib.landing`); :func:`parse_dataset_file` makes it a Parquet file of the
processed area, and :func:`dataset_tracks` and :func:`dataset_artists` read them back as catalog
rows with ``source = 'dataset'``, merged into ``core.tracks`` / ``core.artists`` by
:func:`spotify_assets.lib.catalog.parse.merge_dataset_tracks` and ``merge_dataset_artists``.

Formats (told apart by the header, in any column order, extra columns accepted)
-------------------------------------------------------------------------------
- **artists**: ``id, followers, genres, name, popularity``. ``followers`` is often written as
  a float (``44.0``) and may be empty; ``genres`` a Python-list string (``['pop', 'dance
  pop']``, ``[]``; names holding a quote come double-quoted: ``["children's music"]``).
- **tracks**: ``id, name, popularity, duration_ms, explicit, artists, id_artists,
  release_date`` and the audio features
  (``danceability, energy, key, loudness, mode, speechiness, acousticness,
  instrumentalness, liveness, valence, tempo, time_signature``, all optional). ``artists``
  and ``id_artists`` are Python-list strings in credit order (``artists`` may also be names
  joined by ``;``, as in the 114,000-track dataset of Hugging Face and Kaggle, which has one
  row per track and genre and no ``id_artists``); ``release_date`` is ``YYYY``,
  ``YYYY-MM`` or ``YYYY-MM-DD`` (its precision, ``year``, ``month`` or ``day``, is read
  from the form, so a ``release_date_precision`` column is not needed);
  ``explicit`` is ``0``/``1`` or ``True``/``False``.
Header names match case-insensitively (``track_id``/``artist_id`` for ``id``,
``track_name``/``artist_name`` for ``name``, ``track_popularity``/``artist_popularity`` for
``popularity`` too); an id may be a ``spotify:track:``/``spotify:artist:`` URI. A header
that has ``id``, ``name`` and ``popularity`` plus ``id_artists``, ``artists``,
``duration_ms`` or ``release_date`` is a tracks file; with ``followers`` or ``genres`` (and
none of those) an artists file. Any other CSV (or a text that is no CSV) is
:class:`NotIngested`, and stays where it is with the reason. UTF-8 (a BOM allowed); a file
that is not UTF-8 is read as Windows-1252 (``info["encoding"]``); binary data is a
:class:`BadFile`.

Rows
----
A row is rejected (its physical line and the reason kept) when: its field count is not the
header's; the id is not a 22-character base-62 id; ``popularity`` is present but not a whole
number from 0 to 100; ``followers`` is present but not a whole number >= 0 (``44.0`` is
whole); ``genres``, ``artists`` or ``id_artists`` is present but not a list; an ``id_artists``
entry is not an artist id; the id repeats an earlier row's with other values (the first is
kept). A row repeating an earlier one's values (the same track listed under two genres) is a
duplicate: dropped, counted in ``info["duplicate_rows"]`` and not in ``records``. Values that
are only descriptive become null and are counted in ``info["nulled"]``: a ``duration_ms``
that is not a whole number >= 0, an ``explicit`` that is not a flag, a ``release_date`` that
is not one of the three forms, an audio feature that is not a number.

The observation date
--------------------
Every row carries ``observed_at`` (UTC): the date in the file's name when it has one
(``artists-2021-04-20.csv``, ``tracks_20210420.csv``: that day, 00:00 UTC; the first such
date of the name), else the landed object's modification time. ``info["observed_from"]``
says which. It is what "newest observation" compares with the API's snapshot and lookup
times; name files after the day they were exported to keep an old dataset from winning over
newer API answers.

Speed: Arrow's C++ CSV reader, then one DuckDB query over the Arrow table (zero copy) that
checks, casts and parses the lists of every row at once; Python touches only rejected rows.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from spotify_assets.lib.catalog.genres import genre_families
from spotify_assets.lib.catalog.parse import empty_frame, frame
from spotify_assets.lib.lake import LakeStore
from spotify_assets.lib.landing import (
    BadFile,
    LandedContext,
    LandingZone,
    NotIngested,
    ParsedFile,
    ProcessedFile,
    RejectedRecord,
    processed_files,
    processed_rows,
    read_manifest,
)
from spotify_assets.lib.text_files import csv_as_utf8

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

ARTISTS = "artists"
TRACKS = "tracks"
SOURCE = "dataset"
AUDIO_FEATURES = (
    "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo", "time_signature",
)  # fmt: skip

ARTISTS_SCHEMA = pa.schema(
    [
        pa.field("artist_id", pa.string(), nullable=False),
        pa.field("artist_name", pa.string()),
        pa.field("followers", pa.int64()),
        pa.field("popularity", pa.int64()),
        pa.field("genres", pa.list_(pa.string())),
        pa.field("observed_at", pa.timestamp("us"), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
    ]
)
TRACKS_SCHEMA = pa.schema(
    [
        pa.field("track_id", pa.string(), nullable=False),
        pa.field("track_name", pa.string()),
        pa.field("popularity", pa.int64()),
        pa.field("duration_ms", pa.int64()),
        pa.field("explicit", pa.bool_()),
        pa.field("artist_names", pa.list_(pa.string())),
        pa.field("artist_ids", pa.list_(pa.string())),
        pa.field("release_date", pa.string()),
        pa.field("release_date_precision", pa.string()),
        pa.field("release_year", pa.int64()),
        *[pa.field(f, pa.float64()) for f in AUDIO_FEATURES],
        pa.field("observed_at", pa.timestamp("us"), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
    ]
)

_ALIASES = {
    "id": "id",
    "track_id": "id",
    "artist_id": "id",
    "name": "name",
    "track_name": "name",
    "artist_name": "name",
    "popularity": "popularity",
    "track_popularity": "popularity",
    "artist_popularity": "popularity",
}
_TRACK_MARKERS = frozenset({"id_artists", "artists", "duration_ms", "release_date"})
_ARTIST_MARKERS = frozenset({"followers", "genres"})
_EXCERPT_CHARS = 300
_KNOWN = {
    ARTISTS: frozenset({"id", "name", "popularity", "followers", "genres"}),
    TRACKS: frozenset(
        {"id", "name", "popularity", "duration_ms", "explicit", "artists", "id_artists",
         "release_date", *AUDIO_FEATURES}
    ),
}  # fmt: skip
_OUTPUTS = {
    ARTISTS: ("followers", "l_genres"),
    TRACKS: (
        "duration_ms", "explicit", "l_artists", "l_id_artists", "release_date",
        "release_date_precision", "release_year", *AUDIO_FEATURES,
    ),
}  # fmt: skip
_NAME_DATE = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")

# A Python (or JSON) list of string literals, and one literal of it, as RE2 patterns.
_LITERAL = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\""""
_LIST = rf"""^\s*\[\s*(?:(?:{_LITERAL})\s*(?:,\s*(?:{_LITERAL})\s*)*,?\s*)?\]\s*$"""
_ID = "^(?:spotify:(?:artist|track):)?([0-9A-Za-z]{22})$"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list_sql(column: str) -> str:
    """The list literal in ``column`` as a list of strings (quotes removed, backslash
    escapes undone)."""
    return (
        f"list_transform(regexp_extract_all({column}, {_sql_text(_LITERAL)}), "
        r"lambda x: case when contains(x, '\') "
        r"then regexp_replace(substr(x, 2, length(x) - 2), '\\(.)', '\1', 'g') "
        "else substr(x, 2, length(x) - 2) end)"
    )


# --------------------------------------------------------------------------------------------
# Header and text
# --------------------------------------------------------------------------------------------


def _norm(column: str) -> str:
    return re.sub(r"\s+", "_", column.strip().strip('"').strip().lower())


def detect_kind(header: list[str]) -> tuple[str, dict[str, str]] | None:
    """(``artists`` or ``tracks``, canonical column -> header name) of a dataset header, or
    None when it is neither."""
    columns: dict[str, str] = {}
    for raw in header:
        norm = _norm(raw)
        canonical = _ALIASES.get(norm, norm)
        columns.setdefault(canonical, raw)
    if not {"id", "name", "popularity"} <= columns.keys():
        return None
    if columns.keys() & _TRACK_MARKERS:
        return TRACKS, columns
    if columns.keys() & _ARTIST_MARKERS:
        return ARTISTS, columns
    return None


def observation_time(name: str, landed_at: datetime | None) -> tuple[datetime, str]:
    """(naive UTC time, ``file name`` or ``landed time``) of a dataset file's rows."""
    base = name.rsplit("/", 1)[-1]
    for m in _NAME_DATE.finditer(base):
        try:
            return datetime(int(m[1]), int(m[2]), int(m[3])), "file name"
        except ValueError:
            continue
    when = landed_at or datetime.now(UTC)
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when, "landed time"


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _whole_sql(column: str, low: int, high: int | None = None) -> tuple[str, str]:
    """(value as bigint or null, 'bad' flag) for a whole-number column given as text
    (``44.0`` is whole; empty is null, not bad)."""
    number = f"try_cast(trim({column}) as double)"
    ok = f"({number} = floor({number}) and {number} >= {low}"
    ok += f" and {number} <= {high})" if high is not None else f" and {number} < 9.2e18)"
    value = f"case when {ok} then cast({number} as bigint) end"
    bad = f"(nullif(trim({column}), '') is not null and not coalesce({ok}, false))"
    return value, bad


def _rows_sql(kind: str, columns: dict[str, str]) -> tuple[str, list[str]]:
    """The DuckDB statements over the Arrow table ``raw`` (text columns ``c_<canonical>``
    and ``_row``) making the temp tables ``checked`` (typed output columns, ``n_<column>``
    flags of values nulled, ``_check``: why the row is rejected, null if it is not) and
    ``repeats`` (rows whose id an earlier accepted row has: ``_row``, ``_first``), plus the
    names of the flags."""
    has = columns.keys()

    def col(name: str) -> str:
        return f"c_{name}" if name in has else "null::varchar"

    pop, pop_bad = _whole_sql(col("popularity"), 0, 100)
    checks = [
        (
            f"nullif(regexp_extract(trim({col('id')}), {_sql_text(_ID)}, 1), '') is null",
            f"'id ' || coalesce('''' || nullif(trim({col('id')}), '') || '''', '(empty)') "
            "|| ' is not a Spotify id'",
        ),
        (pop_bad, f"'popularity ''' || trim({col('popularity')}) || ''' is not 0-100'"),
    ]
    select = [
        f"nullif(regexp_extract(trim({col('id')}), {_sql_text(_ID)}, 1), '') as id",
        f"nullif(trim({col('name')}), '') as name",
        f"{pop} as popularity",
    ]
    flags: list[str] = []
    lists = ("genres",) if kind == ARTISTS else ("artists", "id_artists")
    for name in lists:
        text = f"nullif(trim({col(name)}), '')"
        is_list = f"regexp_full_match({text}, {_sql_text(_LIST)})"
        if name == "artists":
            # Names: a list, or (the 114k-track dataset of Hugging Face and Kaggle) one name
            # or several joined by ';'. Only a value that opens a list must be one.
            bad = f"({text} is not null and starts_with({text}, '[') and not {is_list})"
            value = (
                f"case when {text} is null then [] when {is_list} then {_list_sql(text)} "
                f"else list_filter(list_transform(string_split({text}, ';'), "
                "lambda x: trim(x)), lambda x: x != '') end"
            )
        else:
            bad = f"({text} is not null and not {is_list})"
            value = f"case when {text} is null then [] else {_list_sql(text)} end"
        checks.append((bad, f"'{name} ''' || left(trim({col(name)}), 80) || ''' is not a list'"))
        select.append(f"{value} as l_{name}")
    if kind == ARTISTS:
        followers, followers_bad = _whole_sql(col("followers"), 0)
        checks.append(
            (followers_bad, f"'followers ''' || trim({col('followers')}) || ''' is not a count'")
        )
        select.append(f"{followers} as followers")
    else:
        checks.append(
            (
                "len(list_filter(l_id_artists, "
                f"lambda x: not regexp_full_match(x, {_sql_text('[0-9A-Za-z]{22}')}))) > 0",
                "'id_artists holds a value that is not an artist id: ' "
                f"|| left({col('id_artists')}, 80)",
            )
        )
        duration, duration_bad = _whole_sql(col("duration_ms"), 0)
        select += [f"{duration} as duration_ms", f"{duration_bad} as n_duration_ms"]
        flag = f"lower(trim({col('explicit')}))"
        select += [
            f"case when {flag} in ('1', '1.0', 'true', 't', 'yes') then true "
            f"when {flag} in ('0', '0.0', 'false', 'f', 'no') then false end as explicit",
            f"(nullif({flag}, '') is not null and {flag} not in "
            "('1', '1.0', 'true', 't', 'yes', '0', '0.0', 'false', 'f', 'no')) as n_explicit",
        ]
        date = f"trim({col('release_date')})"
        date_ok = (
            f"(regexp_full_match({date}, '[0-9]{{4}}(-[0-9]{{2}}(-[0-9]{{2}})?)?') and "
            f"try_cast(rpad({date}, 10, '-01-01')[1:10] as date) is not null "
            f"and (length({date}) != 7 or try_cast({date} || '-01' as date) is not null))"
        )
        precision = f"case length({date}) when 4 then 'year' when 7 then 'month' else 'day' end"
        select += [
            f"case when {date_ok} then {date} end as release_date",
            f"case when {date_ok} then {precision} end as release_date_precision",
            f"case when {date_ok} then nullif(cast({date}[1:4] as bigint), 0) end as release_year",
            f"(nullif({date}, '') is not null and not coalesce({date_ok}, false)) "
            "as n_release_date",
        ]
        flags += ["duration_ms", "explicit", "release_date"]
        for feature in AUDIO_FEATURES:
            value = f"try_cast(trim({col(feature)}) as double)"
            select += [
                f"case when isfinite({value}) then {value} end as {feature}",
                f"(nullif(trim({col(feature)}), '') is not null and "
                f"not coalesce(isfinite({value}), false)) as n_{feature}",
            ]
            flags.append(feature)
    reason = "case " + " ".join(f"when {c} then {r}" for c, r in checks) + " end"
    # A repeat with the same values as the first row is a duplicate (dropped, counted); one
    # that differs is rejected.
    same = " and ".join(
        f"c.{c} is not distinct from o.{c}" for c in ("name", "popularity", *_OUTPUTS[kind])
    )
    raw_columns = ", ".join(f"c_{c}" for c in columns)
    # Materialized in two steps: the typed values once (lists parsed once), then the checks
    # over them; a window over every wide row would cost more than all the parsing.
    sql = f"""
create temp table typed as select _row, {raw_columns}, {", ".join(select)} from raw;
create temp table checked as select *, {reason} as _check from typed;
drop table typed;
create temp table repeats as
with firsts as (
    select id, min(_row) as _first from checked where _check is null
     group by id having count(*) > 1
)
select c._row, f._first, {same} as _same
  from checked c join firsts f using (id) join checked o on o._row = f._first
 where c._check is null and c._row > f._first;
"""
    return sql, flags


def _read_table(
    body: bytes, names: list[str], threads: bool, delimiter: str = ","
) -> tuple[pa.Table, list[Any]]:
    invalid: list[Any] = []
    table = pacsv.read_csv(
        pa.py_buffer(body),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=threads),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            newlines_in_values=True,
            invalid_row_handler=lambda row: invalid.append(row) or "skip",
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            include_columns=[n for n in names if not n.startswith("_extra")],
            strings_can_be_null=False,
        ),
    )
    return table, invalid


def _physical_lines(body: bytes, first_line: int, records: int) -> np.ndarray:
    """The physical line (1-based, in the file) where each of ``records`` data records
    starts; blank lines are not records (as Arrow's reader counts them)."""
    if body.count(b"\n") + (not body.endswith(b"\n")) == records:
        return np.arange(first_line, first_line + records)
    starts = []
    reader = csv.reader(io.StringIO(body.decode("utf-8", "replace"), newline=""))
    line = first_line
    for row in reader:
        if row:
            starts.append(line)
        line = first_line + reader.line_num
    return np.array(starts[:records] + [0] * max(0, records - len(starts)))


def parse_dataset_file(
    data: bytes, *, name: str, source_file: str, landed_at: datetime | None = None
) -> ParsedFile:
    """Parse one landed catalog dataset CSV (artists or tracks, told by its header) into
    :data:`ARTISTS_SCHEMA` or :data:`TRACKS_SCHEMA` rows, with rejected rows and figures
    (``info["kind"]`` says which). Raises :class:`NotIngested` for a CSV of another kind
    and :class:`BadFile` for one that cannot be read."""
    base = name.rsplit("/", 1)[-1]
    text, encoding = csv_as_utf8(data, base)
    first_nl = text.find(b"\n")
    header_line = text if first_nl < 0 else text[:first_nl]
    header_text = header_line.decode("utf-8", "replace").strip("\r")
    # A spreadsheet re-saves a CSV with its locale's separator: ';' in much of Europe.
    header, found, delimiter = [], None, ","
    for delimiter in (",", ";", "\t"):
        header = next(csv.reader([header_text], delimiter=delimiter), [])
        if header_text.strip() and (found := detect_kind(header)) is not None:
            break
    if found is None:
        raise NotIngested(
            f"{base}: not a catalog dataset (an artists CSV has id, followers, genres, name, "
            f"popularity; a tracks CSV id, name, popularity, id_artists, ...); first line: "
            f"{header_text[:120]!r}"
        )
    kind, columns = found
    known = _KNOWN[kind]
    raw_to_canonical = {raw: c for c, raw in columns.items() if c in known}
    names = [
        f"c_{raw_to_canonical[raw]}" if raw_to_canonical.get(raw) and raw not in header[:i]
        else f"_extra{i}"
        for i, raw in enumerate(header)
    ]  # fmt: skip
    extra = [h.strip() for h, n in zip(header, names, strict=True) if n.startswith("_extra")]
    body = b"" if first_nl < 0 else text[first_nl + 1 :]
    observed_at, observed_from = observation_time(name, landed_at)
    try:
        table, invalid = _read_table(body, names, threads=True, delimiter=delimiter)
        if invalid:  # record numbers are known only to a single-threaded read
            table, invalid = _read_table(body, names, threads=False, delimiter=delimiter)
    except pa.ArrowInvalid as exc:
        raise BadFile(f"{base}: unreadable CSV ({exc})") from None
    n = table.num_rows
    table = table.append_column("_row", pa.array(np.arange(n, dtype=np.int64)))
    sql, flags = _rows_sql(kind, {c[2:]: c for c in table.column_names if c.startswith("c_")})
    with duckdb.connect() as conn:
        conn.execute("set enable_progress_bar = false")
        conn.register("raw", table)
        conn.execute(sql)
        rejected_rows = conn.execute(
            "select _row, coalesce(_check, 'repeats'), _first from checked "
            "left join repeats using (_row) where _check is not null "
            "or (_first is not null and not _same) order by _row"
        ).fetchall()
        [(duplicates,)] = conn.execute("select count(*) from repeats where _same").fetchall()
        keep = "_check is null" + (
            " and _row not in (select _row from repeats)" if rejected_rows or duplicates else ""
        )
        nulled = {}
        if flags:
            counts = conn.execute(
                "select " + ", ".join(f"count_if(n_{f} and {keep})" for f in flags)
                + " from checked"
            ).fetchall()[0]  # fmt: skip
            nulled = {f: int(c) for f, c in zip(flags, counts, strict=True) if c}
        outputs = ["id", "name", "popularity", *_OUTPUTS[kind]]
        accepted = conn.sql(
            f"select {', '.join(outputs)} from checked where {keep} order by _row"
        ).to_arrow_table()
    rejected: list[RejectedRecord] = []
    if rejected_rows or invalid:
        # Record numbers (header = 1) of the valid rows: those the invalid ones leave free.
        total = n + len(invalid)
        bad_numbers = {int(r.number) + 1 for r in invalid}  # Arrow counts from the body
        numbers = np.array([r for r in range(2, total + 2) if r not in bad_numbers])
        lines = _physical_lines(body, 2, total)
        line_of_record = {r: int(lines[r - 2]) for r in range(2, total + 2)}
        row_line = [line_of_record[int(r)] for r in numbers]
        body_lines = body.split(b"\n")

        def excerpt(line: int) -> str:
            raw = body_lines[line - 2] if 0 <= line - 2 < len(body_lines) else b""
            return raw.decode("utf-8", "replace").strip("\r")[:_EXCERPT_CHARS]

        for r in invalid:
            line = line_of_record[int(r.number) + 1]
            rejected.append(
                RejectedRecord(
                    line,
                    f"{r.actual_columns} fields where the header has {r.expected_columns}",
                    excerpt(line),
                )
            )
        for row, reason, first in rejected_rows:
            if reason == "repeats":
                reason = f"the id repeats line {row_line[first]} (the first row is kept)"
            rejected.append(RejectedRecord(row_line[row], reason, excerpt(row_line[row])))
        rejected.sort(key=lambda r: r.record_index)
    result = _output(kind, accepted, observed_at, source_file)
    info: dict[str, Any] = {
        "kind": kind,
        "encoding": encoding,
        "records": n + len(invalid) - duplicates,
        "observed_at": observed_at.isoformat(),
        "observed_from": observed_from,
    }
    if duplicates:
        info["duplicate_rows"] = int(duplicates)
    if delimiter != ",":
        info["delimiter"] = delimiter
    if extra:
        info["extra_columns"] = extra
    if nulled:
        info["nulled"] = nulled
    return ParsedFile(table=result, rejected=rejected, info=info)


def _output(kind: str, rows: pa.Table, observed_at: datetime, source_file: str) -> pa.Table:
    n = rows.num_rows
    common = {
        "observed_at": pa.repeat(pa.scalar(observed_at, pa.timestamp("us")), n),
        "source_file": pa.repeat(pa.scalar(source_file), n),
    }
    if kind == ARTISTS:
        arrays = {
            "artist_id": rows["id"],
            "artist_name": rows["name"],
            "followers": rows["followers"],
            "popularity": rows["popularity"],
            "genres": rows["l_genres"],
            **common,
        }
        schema = ARTISTS_SCHEMA
    else:
        arrays = {
            "track_id": rows["id"],
            "track_name": rows["name"],
            "popularity": rows["popularity"],
            "duration_ms": rows["duration_ms"],
            "explicit": rows["explicit"],
            "artist_names": rows["l_artists"],
            "artist_ids": rows["l_id_artists"],
            "release_date": rows["release_date"],
            "release_date_precision": rows["release_date_precision"],
            "release_year": rows["release_year"],
            **{f: rows[f] for f in AUDIO_FEATURES},
            **common,
        }
        schema = TRACKS_SCHEMA
    return pa.Table.from_arrays(
        [v.cast(f.type) for v, f in zip(arrays.values(), schema, strict=True)], schema=schema
    )


def parse_dataset_object(data: bytes, context: LandedContext) -> ParsedFile:
    return parse_dataset_file(
        data, name=context.name, source_file=context.path, landed_at=context.landed_at
    )


CATALOG_DATASETS_ZONE = LandingZone(
    name="catalog_datasets",
    parse=parse_dataset_object,
    description="Public catalog datasets: artists CSVs (id, followers, genres, name, "
    "popularity) and tracks CSVs (id, name, popularity, duration_ms, explicit, artists, "
    "id_artists, release_date, audio features)",
)


# --------------------------------------------------------------------------------------------
# Processed files -> catalog observations
# --------------------------------------------------------------------------------------------


def dataset_files(store: LakeStore, workdir: Path, kind: str) -> list[ProcessedFile]:
    """The accepted dataset files of ``kind`` (``artists`` or ``tracks``), but the held ones
    (files failing a blocking check stay out until fixed or removed)."""
    return [
        f
        for f in processed_files(store, CATALOG_DATASETS_ZONE, workdir)
        if read_manifest(store, CATALOG_DATASETS_ZONE, f.source_file).get("kind") == kind
    ]


def _newest(conn: Any, name: str, files: list[ProcessedFile], key: str) -> None:
    """Temp table ``name``: of an id seen in several files, the row with the newest
    ``observed_at`` (ties: the later file name)."""
    with processed_rows(conn, files) as rows:
        conn.execute(
            f"create temp table {name} as select * from {rows} qualify row_number() over "
            f"(partition by {key} order by observed_at desc, source_file desc) = 1"
        )


def dataset_tracks(store: LakeStore, workdir: Path) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(``tracks``, ``track_artists``, files read) of every landed tracks dataset: the newest
    observation of each track as ``core.tracks`` rows with ``source = 'dataset'``
    (``first_seen`` = ``last_seen`` = its ``observed_at``) and its ``id_artists`` as credits
    in order. One DuckDB pass over the processed Parquet."""
    files = dataset_files(store, workdir, TRACKS)
    if not files:
        return empty_frame("tracks"), empty_frame("track_artists"), 0
    with duckdb.connect() as conn:
        _newest(conn, "t", files, "track_id")
        tracks = conn.sql(
            "select track_id, track_name, artist_ids[1] as primary_artist_id, duration_ms, "
            "explicit, popularity, observed_at as first_seen, observed_at as last_seen, "
            f"'{SOURCE}' as source from t order by track_id"
        ).df()
        credits = conn.sql(
            "select track_id, artist_id, min(artist_position) as artist_position from ("
            "select track_id, unnest(artist_ids) as artist_id, "
            "generate_subscripts(artist_ids, 1) - 1 as artist_position from t) "
            "group by all order by track_id, artist_position"
        ).df()
    return frame("tracks", tracks), frame("track_artists", credits), len(files)


def dataset_artists(store: LakeStore, workdir: Path) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(``artists``, ``artist_genres``, files read) of every landed artists dataset: the
    newest observation of each artist with ``source = 'dataset'`` (``fetched_at`` its
    ``observed_at``) and its genres with their families."""
    files = dataset_files(store, workdir, ARTISTS)
    if not files:
        return empty_frame("artists"), empty_frame("artist_genres"), 0
    with duckdb.connect() as conn:
        _newest(conn, "a", files, "artist_id")
        artists = conn.sql(
            "select artist_id, artist_name, followers, popularity, "
            f"observed_at as fetched_at, '{SOURCE}' as source from a order by artist_id"
        ).df()
        genres = conn.sql(
            "select distinct artist_id, trim(genre) as genre from ("
            "select artist_id, unnest(genres) as genre from a) where trim(genre) != '' "
            "order by artist_id, genre"
        ).df()
    genres["genre_family"] = genre_families(genres["genre"].astype("string"))
    return frame("artists", artists), frame("artist_genres", genres), len(files)

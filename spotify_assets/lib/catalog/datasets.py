"""Public catalog datasets: the widely used artists and tracks CSVs, landed in
``landing/catalog_datasets/`` and read as observations of the catalog (Dagster-free).

Development-mode apps get no ``popularity`` and no ``followers`` from the Web API since 2026;
these files have them. A landed CSV is one partition of the zone (the landed-file mechanism of
:mod:`spotify_assets.lib.landing`); :func:`parse_dataset_file` makes it a Parquet file of the
processed area; :mod:`spotify_assets.lib.catalog.dataset_merge` reads them back and merges them
into the catalog tables, field by field.

Formats (told apart by the header, in any column order, extra columns accepted)
-------------------------------------------------------------------------------
- **artists**: ``id, followers, genres, name, popularity``. ``followers`` is often written as
  a float (``44.0``) and may be empty; ``genres`` a Python-list string (``['pop', 'dance
  pop']``, ``[]``; names holding a quote come double-quoted: ``["children's music"]``).
- **tracks**: ``id, name, popularity, duration_ms, explicit, artists, id_artists,
  release_date``, optionally ``album_id``, ``album``/``album_name``, ``track_number``,
  ``disc_number`` (the 1.2M-songs dataset, whose ``artist_ids`` is ``id_artists``), and the
  audio features
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
that has ``id`` and ``name`` plus ``id_artists``, ``artists``, ``duration_ms``,
``release_date``, ``album_id`` or ``album_name`` is a tracks file; with ``followers`` or
``genres`` (and none of those) an artists file. Any other CSV (or a text that is no CSV) is
:class:`NotIngested`, and stays where it is with the reason (a header that looks separated by
a character the reader does not take, such as ``_``, is named in it).

Spreadsheet re-saves: ``,``, ``;``, tab or ``|`` between columns; with ``;`` or tabs, decimal
commas (``0,645``); release dates as ``M/D/YYYY`` (``D/M/YYYY`` when a first part above 12
shows the file is day first) or ``D.M.YYYY`` (``info["release_date_form"]``).

UTF-8 (a BOM allowed); a file that is not UTF-8 is read as Windows-1252
(``info["encoding"]``); binary data is a :class:`BadFile`.

Rows
----
A row is rejected (its physical line and the reason kept) when: its field count is not the
header's; the id is not a 22-character base-62 id; ``popularity`` is present but not a whole
number from 0 to 100; ``followers`` is present but not a whole number >= 0 (``44.0`` is
whole); ``genres`` or ``id_artists`` is present but not a list, or ``artists`` opens like a
list literal (``['`` or ``["``) but is none (else it is names joined by ``;``: ``[Alexandros]``
is a band); an ``id_artists``
entry is not an artist id; the id repeats an earlier row's with other values (the first is
kept). A row repeating an earlier one's values (the same track listed under two genres) is a
duplicate: dropped, counted in ``info["duplicate_rows"]`` and not in ``records``. Values that
are only descriptive become null and are counted in ``info["nulled"]``, so no row carries a
value the core tables' checks refuse: a ``duration_ms`` that is not a whole number >= 1 (the
114k-track dataset's empty row has 0), an ``explicit`` that is not a flag, a ``release_date``
that is not one of the forms, an album id that is no id, a track or disc number that is not a
whole number >= 1, an audio feature that is not a number.

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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from spotify_assets.lib.landing import (
    BadFile,
    LandedContext,
    LandingZone,
    NotIngested,
    ParsedFile,
    RejectedRecord,
)
from spotify_assets.lib.text_files import csv_as_utf8

if TYPE_CHECKING:
    pass
else:
    pass

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
        pa.field("record_index", pa.int64()),  # the row's line in the file
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
        pa.field("album_id", pa.string()),
        pa.field("album_name", pa.string()),
        pa.field("track_number", pa.int64()),
        pa.field("disc_number", pa.int64()),
        *[pa.field(f, pa.float64()) for f in AUDIO_FEATURES],
        pa.field("observed_at", pa.timestamp("us"), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("record_index", pa.int64()),  # the row's line in the file
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
    "artist_ids": "id_artists",  # the 1.2M-songs dataset
    "album": "album_name",
}
_TRACK_MARKERS = frozenset(
    {"id_artists", "artists", "duration_ms", "release_date", "album_id", "album_name"}
)
_ARTIST_MARKERS = frozenset({"followers", "genres"})
_EXCERPT_CHARS = 300
_KNOWN = {
    ARTISTS: frozenset({"id", "name", "popularity", "followers", "genres"}),
    TRACKS: frozenset(
        {"id", "name", "popularity", "duration_ms", "explicit", "artists", "id_artists",
         "release_date", "album_id", "album_name", "track_number", "disc_number",
         *AUDIO_FEATURES}
    ),
}  # fmt: skip
_OUTPUTS = {
    ARTISTS: ("followers", "l_genres"),
    TRACKS: (
        "duration_ms", "explicit", "l_artists", "l_id_artists", "release_date",
        "release_date_precision", "release_year", "album_id", "album_name", "track_number",
        "disc_number", *AUDIO_FEATURES,
    ),
}  # fmt: skip
_NAME_DATE = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")

# A Python (or JSON) list of string literals, and one literal of it, as RE2 patterns.
_LITERAL = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\""""
_LIST = rf"""^\s*\[\s*(?:(?:{_LITERAL})\s*(?:,\s*(?:{_LITERAL})\s*)*,?\s*)?\]\s*$"""
_ID = "^(?:spotify:(?:artist|track):)?([0-9A-Za-z]{22})$"
_ALBUM_ID = "^(?:spotify:album:)?([0-9A-Za-z]{22})$"


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
    if not {"id", "name"} <= columns.keys():
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


def _track_values_sql(col: Callable[[str], str]) -> tuple[list[str], list[str]]:
    """A tracks file's descriptive values (duration, flag, release date, album, numbers,
    audio features) as SQL select items, each with its ``n_<column>`` flag of a value nulled
    (no row keeps a value the core tables' checks would refuse), and the flags' names."""
    select: list[str] = []
    flags: list[str] = []
    # The core table's rule: a duration is at least 1 ms (the 114k-track dataset's empty
    # row has 0): anything else is nulled, counted in info["nulled"].
    duration, duration_bad = _whole_sql(col("duration_ms"), 1)
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
        f"(nullif({date}, '') is not null and not coalesce({date_ok}, false)) as n_release_date",
    ]
    album = f"nullif(regexp_extract(trim({col('album_id')}), {_sql_text(_ALBUM_ID)}, 1), '')"
    select += [
        f"{album} as album_id",
        f"(nullif(trim({col('album_id')}), '') is not null and {album} is null) as n_album_id",
        f"nullif(trim({col('album_name')}), '') as album_name",
    ]
    for number in ("track_number", "disc_number"):
        value, bad = _whole_sql(col(number), 1, 10_000)
        select += [f"{value} as {number}", f"{bad} as n_{number}"]
    flags += ["duration_ms", "explicit", "release_date", "album_id", "track_number",
              "disc_number"]  # fmt: skip
    for feature in AUDIO_FEATURES:
        value = f"try_cast(trim({col(feature)}) as double)"
        select += [
            f"case when isfinite({value}) then {value} end as {feature}",
            f"(nullif(trim({col(feature)}), '') is not null and "
            f"not coalesce(isfinite({value}), false)) as n_{feature}",
        ]
        flags.append(feature)
    return select, flags


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
            # or several joined by ';'. A value that opens like a list literal (['... or
            # ["...) must be one; any other is names, a bracket included: "[Alexandros]" is
            # a band.
            opens = f"regexp_matches({text}, '^\\[\\s*[\"'']')"
            bad = f"({text} is not null and {opens} and not {is_list})"
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
        track_select, track_flags = _track_values_sql(col)
        select += track_select
        flags += track_flags
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


# --------------------------------------------------------------------------------------------
# Values as spreadsheets write them
# --------------------------------------------------------------------------------------------

_NUMERIC = ("popularity", "followers", "duration_ms", *AUDIO_FEATURES)
_SLASH_DATE = r"^\s*(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})\s*$"
_DOT_DATE = r"^\s*(?P<a>\d{1,2})\.(?P<b>\d{1,2})\.(?P<y>\d{4})\s*$"


def _decimal_commas(table: pa.Table) -> pa.Table:
    """Numbers a spreadsheet saved with a decimal comma (``0,645``: files it writes with ``;``
    or tabs, where the comma is no separator) as ``0.645``."""
    import pyarrow.compute as pc

    for name in _NUMERIC:
        column = f"c_{name}"
        if column in table.column_names:
            fixed = pc.replace_substring_regex(table[column], r"^(\s*-?\d+),(\d+\s*)$", r"\1.\2")
            table = table.set_column(table.column_names.index(column), column, fixed)
    return table


def _spreadsheet_dates(table: pa.Table) -> tuple[pa.Table, str | None]:
    """Release dates a spreadsheet re-saved as ``M/D/YYYY`` (or ``D/M/YYYY``) or ``D.M.YYYY``,
    as ``YYYY-MM-DD``, and the form read (None when there were none). Slashes are month first
    (a US spreadsheet's default) unless a first part above 12 shows the file is day first; a
    date of neither form is left for the checks (nulled, counted)."""
    import pyarrow.compute as pc

    column = "c_release_date"
    if column not in table.column_names:
        return table, None
    dates = table[column].combine_chunks()
    slash = pc.extract_regex(dates, _SLASH_DATE)
    dot = pc.extract_regex(dates, _DOT_DATE)
    if slash.null_count == len(dates) and dot.null_count == len(dates):
        return table, None
    first = pc.cast(pc.struct_field(slash, [0]), pa.int32())
    day_first = pc.any(pc.greater(first, 12)).as_py() or False
    month, day = ([1], [0]) if day_first else ([0], [1])
    slash_iso = _iso(pc.struct_field(slash, [2]), pc.struct_field(slash, month),
                     pc.struct_field(slash, day))  # fmt: skip
    dot_iso = _iso(pc.struct_field(dot, [2]), pc.struct_field(dot, [1]), pc.struct_field(dot, [0]))
    fixed = pc.coalesce(slash_iso, dot_iso, dates)
    form = ("D/M/YYYY" if day_first else "M/D/YYYY") if slash.null_count < len(dates) else None
    if dot.null_count < len(dates):
        form = f"{form} and D.M.YYYY" if form else "D.M.YYYY"
    return table.set_column(table.column_names.index(column), column, fixed), form


def _iso(year: pa.Array, month: pa.Array, day: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(
        year, pc.utf8_lpad(month, 2, "0"), pc.utf8_lpad(day, 2, "0"), "-"
    )


#: The separators a dataset is read with (a spreadsheet's locale decides which it writes).
DELIMITERS = (",", ";", "\t", "|")
_OTHER_SEPARATORS = ("_", ":", "^", "~", "#", " ", ".")
_HEADER_WORDS = frozenset(
    {"id", "name", "popularity", "followers", "genres", "artists", "explicit", "duration",
     "release", "date", "track", "artist", *AUDIO_FEATURES}
)  # fmt: skip


def _other_separator(header_text: str) -> str:
    """Why a header that is no dataset's may still be one: separated by a character the
    reader does not take (a file re-written with ``_``), named with what to do."""
    for sep in _OTHER_SEPARATORS:
        words = {w.strip().strip('"').lower() for w in header_text.split(sep)}
        if header_text.count(sep) >= 3 and len(words & _HEADER_WORDS) >= 3:
            return (
                f"; its first line looks separated by {sep!r} ({header_text.count(sep)} times), "
                "which is not read: save it again with ',', ';', a tab or '|' between the "
                "columns"
            )
    return ""


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


def _header(header_text: str, base: str) -> tuple[list[str], str, dict[str, str], str]:
    """(header fields, kind, canonical -> raw column, delimiter) of a dataset's first line,
    trying each separator a spreadsheet writes (';' in much of Europe); NotIngested, with
    why, when no reading is a dataset's."""
    for delimiter in DELIMITERS:
        header = next(csv.reader([header_text], delimiter=delimiter), [])
        if header_text.strip() and (found := detect_kind(header)) is not None:
            return header, found[0], found[1], delimiter
    raise NotIngested(
        f"{base}: not a catalog dataset (an artists CSV has id, followers, genres, name, "
        f"popularity; a tracks CSV id, name, popularity, id_artists, ...)"
        + _other_separator(header_text)
        + f"; first line: {header_text[:120]!r}"
    )


def _lines_and_rejects(
    body: bytes, n: int, invalid: list[Any], rejected_rows: list[tuple[int, str, Any]]
) -> tuple[np.ndarray, list[RejectedRecord]]:
    """The physical line of each row read (header = line 1), whatever the rows Arrow could
    not read, and every rejected row (unreadable, or refused by a check) with its line,
    reason and excerpt, in line order."""
    total = n + len(invalid)
    lines = _physical_lines(body, 2, total)
    if invalid:
        bad_numbers = {int(r.number) + 1 for r in invalid}  # Arrow counts from the body
        numbers = np.array([r for r in range(2, total + 2) if r not in bad_numbers])
        row_line = lines[numbers - 2]
    else:
        row_line = lines[:n]
    rejected: list[RejectedRecord] = []
    if not (rejected_rows or invalid):
        return row_line, rejected
    body_lines = body.split(b"\n")

    def excerpt(line: int) -> str:
        raw = body_lines[line - 2] if 0 <= line - 2 < len(body_lines) else b""
        return raw.decode("utf-8", "replace").strip("\r")[:_EXCERPT_CHARS]

    for r in invalid:
        line = int(lines[int(r.number) - 1])  # record r.number + 1 of the file
        reason = f"{r.actual_columns} fields where the header has {r.expected_columns}"
        rejected.append(RejectedRecord(line, reason, excerpt(line)))
    for row, reason, first in rejected_rows:
        line = int(row_line[row])
        if reason == "repeats":
            reason = f"the id repeats line {int(row_line[first])} (the first row is kept)"
        rejected.append(RejectedRecord(line, reason, excerpt(line)))
    rejected.sort(key=lambda r: r.record_index)
    return row_line, rejected


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
    header, kind, columns, delimiter = _header(header_text, base)
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
    if delimiter != ",":
        table = _decimal_commas(table)
    table, date_form = _spreadsheet_dates(table)
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
        outputs = ["id", "name", "popularity", *_OUTPUTS[kind], "_row"]
        accepted = conn.sql(
            f"select {', '.join(outputs)} from checked where {keep} order by _row"
        ).to_arrow_table()
    row_line, rejected = _lines_and_rejects(body, n, invalid, rejected_rows)
    accepted_lines = pa.array(row_line[accepted["_row"].to_numpy()], pa.int64())
    result = _output(kind, accepted, observed_at, source_file, accepted_lines)
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
    if date_form:
        info["release_date_form"] = date_form
    if extra:
        info["extra_columns"] = extra
    if nulled:
        info["nulled"] = nulled
    return ParsedFile(table=result, rejected=rejected, info=info)


def _output(
    kind: str, rows: pa.Table, observed_at: datetime, source_file: str, lines: pa.Array
) -> pa.Table:
    n = rows.num_rows
    common = {
        "observed_at": pa.repeat(pa.scalar(observed_at, pa.timestamp("us")), n),
        "source_file": pa.repeat(pa.scalar(source_file), n),
        "record_index": lines,
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
            "album_id": rows["album_id"],
            "album_name": rows["album_name"],
            "track_number": rows["track_number"],
            "disc_number": rows["disc_number"],
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

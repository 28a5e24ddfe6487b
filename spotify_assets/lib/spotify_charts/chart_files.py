"""Parse one landed Spotify chart CSV into ``core.chart_entries`` rows (Dagster-free).

The landed-file mechanism (:mod:`spotify_assets.lib.landing`) calls :func:`parse_chart_file`
once per file of the zone ``landing/charts/``; the rows of all files are then deduplicated into
``core.chart_entries`` (:mod:`spotify_assets.lib.spotify_charts.chart_entries`).

Formats (told apart by the header, wherever the file came from)
----------------------------------------------------------------
- ``charts.spotify.com`` (2022-): ``rank,uri,artist_names,track_name,source,peak_rank,
  previous_rank,days_on_chart,streams``; weekly files have ``weeks_on_chart`` instead of
  ``days_on_chart``; viral charts have no ``streams``. UTF-8 with a BOM, numbers often quoted,
  several artists in one quoted field (``"Ryan Castro, Kapo, Gangsta"``), ``uri`` a
  ``spotify:track:<id>``. ``source`` (the label or distributor) becomes ``label``.
- ``spotifycharts.com`` (2017-2021): ``Position,"Track Name",Artist,Streams,URL`` (viral:
  no ``Streams``), in some years after a first line ``,,,"Note that these figures are
  generated using a formula that protects against any artificial inflation of chart
  positions.",``; ``URL`` an ``https://open.spotify.com/track/<id>``.
Header names are matched case-insensitively with spaces read as ``_``; unknown extra columns
are accepted (listed in ``info["extra_columns"]``); the delimiter may be ``,``, ``;`` or a tab
(spreadsheets re-save CSVs with their locale's separator).

The file name (as both sites name their downloads; a browser's `` (1)`` suffix is allowed)
---------------------------------------------------------------------------------------------
``<regional|viral>-<region>-<daily|weekly>-<date>.csv`` with ``region`` ``global`` or a
two-letter country code (kept lower case, as the sites spell it):

- daily, ``regional-global-daily-2019-12-20.csv``: the UTC day 2019-12-20;
- weekly with two dates, ``regional-us-weekly-2019-01-04--2019-01-11.csv`` (spotifycharts.com):
  Friday to the next Friday, the second date *exclusive*: 2019-01-04 to 2019-01-10;
- weekly with one date, ``regional-ar-weekly-2026-03-05.csv`` (charts.spotify.com): the date is
  the Thursday that *ends* the charting week (Spotify's week runs Friday 00:00 to Thursday
  23:59 UTC): 2026-02-27 to 2026-03-05. Both sites thus give the same week the same period.

``period_start`` and ``period_end`` are both inclusive. A name without a date
(``regional-global-daily-latest.csv``, what both sites call the newest chart) is a
:class:`BadFile` whose reason says how to rename it; so is any chart file whose name does not
follow the pattern. A CSV whose header is not a chart's is :class:`NotIngested` (unless its
name says it is a chart: then it is a :class:`BadFile`, e.g. an HTML error page saved as CSV).

Encodings
---------
UTF-8 with or without a BOM, UTF-16 with a BOM; a file that is not valid UTF-8 (re-saved by a
spreadsheet) is read as Windows-1252, which also reads Latin-1 text, line by line so that a
file mixing both still reads (``info["encoding"]`` says which). Bytes that are neither, or a
binary file, make a :class:`BadFile`. Text that was UTF-8 read as Windows-1252/Latin-1 on its
way (``SeÃ±orita`` for ``Señorita``, also twice over) is repaired in names when the repaired
bytes are valid UTF-8, and counted in ``info["repaired_values"]``. Other legacy code pages
(a Cyrillic cp1251 file, say) cannot be told from Windows-1252 and read as it.

Rows
----
A row is rejected (a :class:`RejectedRecord` with its line number and reason) when: its field
count differs from the header's (also a name with a line break in it, which no chart has); the
rank is missing or not a positive whole number, or repeats an earlier rank of the file; the
``uri``/``URL`` holds no track id (22 base-62 characters); in a chart with streams, ``streams``
is missing or not a whole number (``1,989,059`` style digit grouping is accepted). Other
numbers (``peak_rank``, ``previous_rank``, ``days_on_chart``, ``weeks_on_chart``) that are
missing, not whole numbers or not positive become null (``previous_rank`` is empty or ``-1``
for a new entry) and are counted in ``info["nulled"]``. Names are trimmed; empty is null.

Speed: the CSV is read by Arrow's reader in C++, every check is a vectorized Arrow kernel over
a column; per-value Python runs only for the few names that look double-encoded and for the
text of rejected lines.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from spotify_assets.lib.landing import BadFile, NotIngested, ParsedFile, RejectedRecord
from spotify_assets.lib.text_files import csv_as_utf8

#: The columns of ``core.chart_entries`` (the contract), then the extras kept from the file.
CHART_ENTRIES_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("region", pa.string(), nullable=False),
        pa.field("chart", pa.string(), nullable=False),
        pa.field("period_start", pa.date32(), nullable=False),
        pa.field("period_end", pa.date32(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("track_id", pa.string(), nullable=False),
        pa.field("track_name", pa.string()),
        pa.field("artist_names", pa.string()),
        pa.field("streams", pa.int64()),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("peak_rank", pa.int32()),
        pa.field("previous_rank", pa.int32()),
        pa.field("days_on_chart", pa.int32()),
        pa.field("weeks_on_chart", pa.int32()),
        pa.field("label", pa.string()),
        pa.field("source_format", pa.string(), nullable=False),
        pa.field("line", pa.int32(), nullable=False),
    ]
)

NEW_FORMAT = "charts.spotify.com"
OLD_FORMAT = "spotifycharts.com"

_NAME = re.compile(
    r"^(?P<kind>regional|viral)-(?P<region>global|[a-z]{2})-(?P<freq>daily|weekly)-"
    r"(?P<when>.+?)(?: \(\d+\))?\.(?:csv|tsv|txt)$",
    re.IGNORECASE,
)
_ONE_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})$")
_TWO_DATES = re.compile(r"^(\d{4}-\d{2}-\d{2})--(\d{4}-\d{2}-\d{2})$")
_NAMING_HELP = (
    "name chart files as the sites do: regional-<region>-daily-<YYYY-MM-DD>.csv, "
    "regional-<region>-weekly-<YYYY-MM-DD>.csv (the Thursday ending the week) or "
    "regional-<region>-weekly-<YYYY-MM-DD>--<YYYY-MM-DD>.csv (Friday to next Friday); "
    "<region> is 'global' or a two-letter country code, 'viral-' instead of 'regional-' "
    "for viral charts"
)

# Canonical column <- header spellings (lower case, spaces as underscores).
_NEW_COLUMNS = {
    "rank": "rank",
    "uri": "uri",
    "artist_names": "artist_names",
    "track_name": "track_name",
    "source": "label",
    "peak_rank": "peak_rank",
    "previous_rank": "previous_rank",
    "days_on_chart": "days_on_chart",
    "weeks_on_chart": "weeks_on_chart",
    "streams": "streams",
}
_OLD_COLUMNS = {
    "position": "rank",
    "track_name": "track_name",
    "artist": "artist_names",
    "streams": "streams",
    "url": "uri",
}
_NEW_REQUIRED = frozenset({"rank", "uri", "artist_names", "track_name"})
_OLD_REQUIRED = frozenset({"position", "track_name", "artist", "url"})
_HEADER_SEARCH_LINES = 5
_EXCERPT_CHARS = 300

_WHOLE = r"^[+-]?[0-9]+$"
# Digit grouping a spreadsheet may add: 1,989,059 / 1.989.059 / 1 989 059 (also NBSP, thin).
_GROUPED = r"^[0-9]{1,3}(?:[,.' \x{00a0}\x{202f}][0-9]{3})+$"
_GROUP_CHARS = r"[,.' \x{00a0}\x{202f}]"

# Double-encoding: a UTF-8 lead byte followed by its continuation bytes, each read as one
# Windows-1252 (or, for the five bytes it leaves undefined, Latin-1) character.
_CP1252_CHAR = {}
for _b in range(256):
    try:
        _CP1252_CHAR[_b] = bytes([_b]).decode("cp1252")
    except UnicodeDecodeError:
        _CP1252_CHAR[_b] = chr(_b)
_BYTE_OF = {ch: b for b, ch in _CP1252_CHAR.items()}
_CONT = "".join(re.escape(_CP1252_CHAR[b]) for b in range(0x80, 0xC0))
_MOJIBAKE = re.compile(
    f"[\u00c2-\u00df][{_CONT}]|[\u00e0-\u00ef][{_CONT}]{{2}}|[\u00f0-\u00f4][{_CONT}]{{3}}"
)
# The same as an RE2 pattern, to find candidate values in a column without Python.
_MOJIBAKE_RE2 = "[\u00c2-\u00f4][" + "".join(_CP1252_CHAR[b] for b in range(0x80, 0xC0)) + "]"


# --------------------------------------------------------------------------------------------
# File name
# --------------------------------------------------------------------------------------------


def chart_from_name(name: str) -> tuple[str, str, date, date]:
    """(region, chart, period_start, period_end) from a chart file's name (any folder before
    it is ignored); ``chart`` is ``regional-daily``, ``regional-weekly``, ``viral-daily`` or
    ``viral-weekly``. Raises :class:`BadFile` with how to name the file."""
    base = name.rsplit("/", 1)[-1]
    m = _NAME.match(base)
    if not m:
        raise BadFile(f"{base}: not a chart file name; {_NAMING_HELP}")
    kind, region, freq, when = (m[g].lower() for g in ("kind", "region", "freq", "when"))
    chart = f"{kind}-{freq}"
    if when == "latest":
        raise BadFile(
            f"{base}: 'latest' is not a date, and which day's chart this is cannot be known "
            f"from the file; rename it with the chart's date ({_NAMING_HELP})"
        )
    try:
        if one := _ONE_DATE.match(when):
            day = date.fromisoformat(one[1])
            if freq == "daily":
                return region, chart, day, day
            return region, chart, day - timedelta(days=6), day
        if (two := _TWO_DATES.match(when)) and freq == "weekly":
            start, end = date.fromisoformat(two[1]), date.fromisoformat(two[2])
            span = (end - start).days
            if span == 7:  # spotifycharts.com: Friday to the next Friday, end exclusive
                return region, chart, start, end - timedelta(days=1)
            if span == 6:  # written with an inclusive end
                return region, chart, start, end
            raise BadFile(f"{base}: a weekly chart covers 7 days, not {start} to {end}")
    except ValueError as exc:
        if isinstance(exc, BadFile):
            raise
        raise BadFile(f"{base}: {when!r} is not a valid date ({exc}); {_NAMING_HELP}") from None
    raise BadFile(f"{base}: cannot read a {freq} chart's date from {when!r}; {_NAMING_HELP}")


# --------------------------------------------------------------------------------------------
# Bytes to text
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Header
# --------------------------------------------------------------------------------------------


def _header(lines: list[bytes]) -> tuple[int, str, str, list[str]] | None:
    """(line index, format, delimiter, raw column names) of the first chart header among the
    first lines, or None."""
    for i, raw in enumerate(lines[:_HEADER_SEARCH_LINES]):
        found = _header_line(raw)
        if found is not None:
            return i, *found
    return None


@functools.lru_cache(maxsize=512)
def _header_line(raw: bytes) -> tuple[str, str, list[str]] | None:
    """(format, delimiter, raw column names) if ``raw`` is a chart header (cached: a batch
    of files repeats the same few headers)."""
    text = raw.decode("utf-8", "replace").strip("\r")
    if not text.strip():
        return None
    for delimiter in (",", ";", "\t"):
        if delimiter not in text:
            continue
        names = next(csv.reader([text], delimiter=delimiter))
        norm = {_norm(n) for n in names}
        if norm >= _NEW_REQUIRED:
            return NEW_FORMAT, delimiter, names
        if norm >= _OLD_REQUIRED:
            return OLD_FORMAT, delimiter, names
    return None


def _norm(column: str) -> str:
    return re.sub(r"\s+", "_", column.strip().strip('"').strip().lower())


def _not_a_chart(name: str, lines: list[bytes]) -> Exception:
    first = next((ln for ln in lines if ln.strip()), b"").decode("utf-8", "replace").strip()
    if _NAME.match(name.rsplit("/", 1)[-1]):
        what = (
            "an HTML page (the site's error or login page?), not the chart CSV"
            if first.lower().startswith(("<!doctype", "<html"))
            else "no chart header (rank,uri,artist_names,track_name,... or "
            "Position,Track Name,Artist,Streams,URL) in its first lines"
        )
        return BadFile(f"{name}: named as a chart but holds {what}; first line: {first[:120]!r}")
    return NotIngested(f"{name}: not a chart CSV (first line: {first[:120]!r})")


# --------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------


def _clean_text(col: pa.ChunkedArray) -> tuple[pa.ChunkedArray, int]:
    """Trimmed, empty -> null, double-encoded UTF-8 repaired; (column, values repaired)."""
    col = pc.utf8_trim_whitespace(col)
    col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    suspect = pc.match_substring_regex(col, _MOJIBAKE_RE2)
    if not pc.any(suspect).as_py():
        return col, 0
    values = col.to_pylist()
    flags = suspect.to_pylist()
    repaired = 0
    for i, flag in enumerate(flags):
        if flag:
            fixed = repair_mojibake(values[i])
            if fixed != values[i]:
                values[i] = fixed
                repaired += 1
    return pa.chunked_array([pa.array(values, pa.string())]), repaired


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 text read as Windows-1252/Latin-1 (``SeÃ±orita`` -> ``Señorita``), up to
    three times over; a sequence whose bytes are not valid UTF-8 is left as it is."""

    def fix(m: re.Match[str]) -> str:
        try:
            return bytes(_BYTE_OF[c] for c in m[0]).decode("utf-8")
        except (KeyError, UnicodeDecodeError):
            return m[0]

    for _ in range(3):
        fixed = _MOJIBAKE.sub(fix, text)
        if fixed == text:
            break
        text = fixed
    return text


def _whole(col: pa.ChunkedArray, grouped: bool = False) -> tuple[pa.ChunkedArray, pa.Array]:
    """(int64 values, null where not a whole number; mask of values that are not)."""
    col = pc.utf8_trim_whitespace(col)
    ok = pc.match_substring_regex(col, _WHOLE)
    digits = col
    if grouped:
        is_grouped = pc.match_substring_regex(col, _GROUPED)
        digits = pc.if_else(is_grouped, pc.replace_substring_regex(col, _GROUP_CHARS, ""), col)
        ok = pc.or_(ok, is_grouped)
    ok = pc.and_(ok, pc.less_equal(pc.utf8_length(digits), 18))
    ok = pc.fill_null(ok, False)
    values = pc.cast(pc.if_else(ok, digits, pa.scalar(None, pa.string())), pa.int64())
    return values, pc.invert(ok)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

_OPTIONAL_INTS = ("peak_rank", "previous_rank", "days_on_chart", "weeks_on_chart")
_INTS = ("rank", "streams", *_OPTIONAL_INTS)
_TEXTS = ("track_name", "artist_names", "label")
_CLEAN_URIS = re.compile(
    r"(?:(?:spotify:track:|https://open\.spotify\.com/track/)[0-9A-Za-z]{22}\n)*"
)


@dataclass
class _Prelude:
    """What the header and the name say of one chart file, before its rows are read."""

    encoding: str
    text: bytes  # UTF-8, ``\n`` line ends
    header_index: int
    fmt: str
    delimiter: str
    names: list[str]  # canonical column names, ``_extra<i>`` for the others
    extra: list[str]
    region: str
    chart: str
    period_start: date
    period_end: date
    body: bytes  # the text after the header line

    @functools.cached_property
    def lines(self) -> list[bytes]:
        return self.text.split(b"\n")

    @property
    def has_streams(self) -> bool:
        return "streams" in self.names

    @property
    def clean_candidate(self) -> bool:
        """Rows that may all be fine: no double-encoded text, no blank line, some rows."""
        body = self.body.rstrip()
        if not body or b"\n\n" in body:
            return False
        return body.isascii() or not _MOJIBAKE.search(self.body.decode("utf-8"))


def _prelude(data: bytes, name: str) -> _Prelude:
    base = name.rsplit("/", 1)[-1]
    text, encoding = csv_as_utf8(data, base)
    head = text.split(b"\n", _HEADER_SEARCH_LINES)  # the first lines, then the rest
    found = _header(head)
    if found is None:
        raise _not_a_chart(base, text.split(b"\n"))
    header_index, fmt, delimiter, raw_names = found
    region, chart, period_start, period_end = chart_from_name(base)
    names, extra = _columns_for(fmt, tuple(raw_names))
    body = b"\n".join(head[header_index + 1 :])
    return _Prelude(
        encoding, text, header_index, fmt, delimiter, list(names), list(extra), region, chart,
        period_start, period_end, body,
    )  # fmt: skip


@functools.lru_cache(maxsize=512)
def _columns_for(fmt: str, raw_names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(canonical names, ``_extra<i>`` for the others; the extra columns' names)."""
    mapping = _NEW_COLUMNS if fmt == NEW_FORMAT else _OLD_COLUMNS
    names: list[str] = []
    extra: list[str] = []
    for i, raw_name in enumerate(raw_names):
        canonical = mapping.get(_norm(raw_name))
        if canonical and canonical not in names:
            names.append(canonical)
        else:
            names.append(f"_extra{i}")
            if raw_name.strip():
                extra.append(raw_name.strip())
    return tuple(names), tuple(extra)


def parse_chart_file(data: bytes, *, name: str, source_file: str) -> ParsedFile:
    """Parse one chart CSV (both sites' formats, any chart of ``name``) into
    :data:`CHART_ENTRIES_SCHEMA` rows in file order, with rejected rows and figures.

    ``name`` is the landed file's name (region, chart and period come from it);
    ``source_file`` the landed key that every row carries. Raises :class:`NotIngested` for a
    CSV that is not a chart and :class:`BadFile` for a chart that cannot be read or placed.
    """
    pre = _prelude(data, name)
    lines, header_index, fmt, delimiter = pre.lines, pre.header_index, pre.fmt, pre.delimiter
    names, has_streams, body = pre.names, pre.has_streams, pre.body
    region, chart, period_start, period_end = (
        pre.region,
        pre.chart,
        pre.period_start,
        pre.period_end,
    )
    suspect_text = not body.isascii() and bool(_MOJIBAKE.search(body.decode("utf-8")))

    rejected: list[RejectedRecord] = []
    nulled: dict[str, int] = {}
    repaired = 0
    columns = None
    if not body.strip():  # a header and nothing else: an empty chart
        columns = _columns_of(pa.table({}), 0) | {"track_id": pa.nulls(0, pa.string())}
    elif not suspect_text and b"\n\n" not in body.rstrip() and b"\n\r\n" not in body.rstrip():
        columns = _parse_clean(body, names, delimiter, has_streams)
    if columns is not None:  # every row fine: lines follow the header one by one
        n = len(columns["rank"])
        columns["line"] = pa.array(range(header_index + 2, header_index + 2 + n), pa.int32())
    else:
        columns, rejected, repaired = _parse_checked(
            body, lines, header_index, names, delimiter, fmt, has_streams, nulled
        )
        n = len(columns["rank"])
    for col in _OPTIONAL_INTS:
        columns[col] = _positive(columns[col], col, nulled)

    out = pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(region), n),
            pa.repeat(pa.scalar(chart), n),
            pa.repeat(pa.scalar(period_start, pa.date32()), n),
            pa.repeat(pa.scalar(period_end, pa.date32()), n),
            columns["rank"],
            columns["track_id"],
            columns["track_name"],
            columns["artist_names"],
            columns["streams"],
            pa.repeat(pa.scalar(source_file), n),
            columns["peak_rank"],
            columns["previous_rank"],
            columns["days_on_chart"],
            columns["weeks_on_chart"],
            columns["label"],
            pa.repeat(pa.scalar(fmt), n),
            columns["line"],
        ],
        schema=CHART_ENTRIES_SCHEMA,
    )
    streams = pc.sum(out["streams"], min_count=0).as_py() if has_streams else None
    info = _info(pre, n, len(rejected), streams, repaired, nulled)
    return ParsedFile(table=out, rejected=rejected, info=info)


def _info(
    pre: _Prelude, n: int, rejected: int, streams: int | None, repaired: int, nulled: dict
) -> dict[str, Any]:
    """The figures of one parsed file for its manifest."""
    info: dict[str, Any] = {
        "format": pre.fmt,
        "encoding": pre.encoding,
        "region": pre.region,
        "chart": pre.chart,
        "period_start": pre.period_start.isoformat(),
        "period_end": pre.period_end.isoformat(),
        "records": n + rejected,
        "accepted": n,
        "rejected": rejected,
        "streams": streams,
    }
    if pre.header_index:
        info["lines_before_header"] = pre.header_index
    if pre.delimiter != ",":
        info["delimiter"] = pre.delimiter
    if pre.extra:
        info["extra_columns"] = pre.extra
    if repaired:
        info["repaired_values"] = repaired
    if nulled:
        info["nulled"] = nulled
    return info


def _read(
    body: bytes,
    names: list[str],
    delimiter: str,
    types: dict,
    on_invalid: Any,
    *,
    threads: bool = False,
) -> pa.Table:
    """One CSV body with ``names`` as its columns; ``threads`` for a large body (a batch)."""
    options = {"block_size": 1 << 24} if threads else {}
    return pacsv.read_csv(
        pa.py_buffer(body),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=threads, **options),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            include_columns=[c for c in names if not c.startswith("_extra")],
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


def _columns_of(table: pa.Table, n: int) -> dict[str, Any]:
    """The output columns present in ``table``, the others as nulls."""
    out: dict[str, Any] = {}
    for col in (*_INTS, *_TEXTS):
        kind = pa.int64() if col == "streams" else pa.int32() if col in _INTS else pa.string()
        out[col] = table.column(col).cast(kind) if col in table.column_names else pa.nulls(n, kind)
    return out


def _parse_clean(
    body: bytes, names: list[str], delimiter: str, has_streams: bool
) -> dict[str, Any] | None:
    """The fast path: typed read in C++ and a few whole-column checks. None as soon as any
    row could be a rejection (the checked path then finds which and why)."""
    invalid: list[Any] = []
    types = {c: (pa.int64() if c in _INTS else pa.string()) for c in names}
    try:
        table = _read(body, names, delimiter, types, lambda row: invalid.append(row) or "skip")
    except pa.ArrowInvalid:
        return None  # a value that is not a number, an unreadable line...
    n = table.num_rows
    if invalid or not n:
        return None if invalid else _columns_of(table, 0) | {"track_id": pa.nulls(0, pa.string())}
    rank = table.column("rank")
    if rank.null_count or pc.min(rank).as_py() <= 0 or pc.count_distinct(rank).as_py() != n:
        return None
    if has_streams:
        streams = table.column("streams")
        if streams.null_count or pc.min(streams).as_py() < 0:
            return None
    uris = table.column("uri")
    if uris.null_count:
        return None
    uri_list = uris.to_pylist()
    if not _CLEAN_URIS.fullmatch("\n".join(uri_list) + "\n"):
        return None
    columns = _columns_of(table, n)
    columns["rank"] = pc.min_element_wise(rank, 2**31 - 1).cast(pa.int32())
    columns["track_id"] = pa.array([u[-22:] for u in uri_list], pa.string())
    for col in _TEXTS:
        if col in table.column_names:
            trimmed = pc.utf8_trim_whitespace(columns[col])
            columns[col] = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    return columns


def _positive(values: Any, what: str, nulled: dict[str, int]) -> pa.Array:
    """Values <= 0 as null (counted under ``what``)."""
    if values.null_count == len(values):
        return values
    bad = pc.less_equal(values, 0)
    count = pc.sum(bad).as_py() or 0
    if count:
        key = "previous_rank (new entries)" if what == "previous_rank" else what
        nulled[key] = nulled.get(key, 0) + count
        values = pc.if_else(bad, pa.scalar(None, values.type), values)
    return values


def _parse_checked(
    body: bytes,
    lines: list[bytes],
    header_index: int,
    names: list[str],
    delimiter: str,
    fmt: str,
    has_streams: bool,
    nulled: dict[str, int],
) -> tuple[dict[str, Any], list[RejectedRecord], int]:
    """The exact path: every value read as text, each row checked; returns the accepted
    rows' columns, the rejected rows (by line) and how many names were repaired."""
    invalid: list[Any] = []
    types = dict.fromkeys(names, pa.string())
    try:
        table = _read(body, names, delimiter, types, lambda row: invalid.append(row) or "skip")
    except pa.ArrowInvalid as exc:
        raise BadFile(f"unreadable CSV ({exc})") from None  # the caller adds the file name
    n = table.num_rows
    row_lines, invalid_lines = _row_lines(lines, header_index, invalid, n)
    texts, repaired = _checked_texts(table, n)
    rows = _CheckedRows.of(table, n, has_streams)
    reasons = rows.reasons(fmt, row_lines)

    def excerpt(raw: bytes) -> str:
        return raw.decode("utf-8", "replace").strip("\r")[:_EXCERPT_CHARS]

    rejected = [
        RejectedRecord(
            record_index=number,
            reason=f"{len(_split(raw, delimiter))} fields where the header has {len(names)}",
            raw_excerpt=excerpt(raw),
        )
        for number, raw in invalid_lines
    ]
    rejected += [
        RejectedRecord(
            record_index=row_lines[i], reason=reason, raw_excerpt=excerpt(lines[row_lines[i] - 1])
        )
        for i, reason in enumerate(reasons)
        if reason is not None
    ]
    rejected.sort(key=lambda r: r.record_index)

    keep = pa.array([r is None for r in reasons], pa.bool_())
    columns: dict[str, Any] = {
        "rank": pc.min_element_wise(pc.fill_null(rows.rank, 0), 2**31 - 1).cast(pa.int32()),
        "track_id": pa.array(rows.track_ids, pa.string()),
        "streams": rows.streams,
        "line": pa.array(row_lines, pa.int32()),
        **texts,
        **_checked_optional_ints(table, n, nulled),
    }
    return {k: pc.filter(v, keep) for k, v in columns.items()}, rejected, repaired


def _row_lines(
    lines: list[bytes], header_index: int, invalid: list[Any], n: int
) -> tuple[list[int], list[tuple[int, bytes]]]:
    """Physical line (1-based) of every row read, and (line, text) of the invalid ones: one
    row per non-blank line, the invalid ones (another field count) recognised by their text,
    in order."""
    row_lines: list[int] = []
    invalid_lines: list[tuple[int, bytes]] = []
    pending = [row.text.rstrip("\r") for row in invalid]
    for number, raw in enumerate(lines[header_index + 1 :], start=header_index + 2):
        if not raw.strip(b"\r"):
            continue
        if pending and raw.rstrip(b"\r").decode("utf-8", "replace") == pending[0]:
            invalid_lines.append((number, raw))
            pending.pop(0)
        else:
            row_lines.append(number)
    if len(row_lines) != n:  # not expected with one row per line; keep lines plausible
        row_lines = list(range(header_index + 2, header_index + 2 + n))
    return row_lines, invalid_lines


def _checked_texts(table: pa.Table, n: int) -> tuple[dict[str, Any], int]:
    """The text columns, cleaned (nulls where absent), and how many values were repaired."""
    repaired = 0
    texts: dict[str, Any] = {}
    for name in _TEXTS:
        if name in table.column_names:
            texts[name], count = _clean_text(pc.fill_null(table.column(name), ""))
            repaired += count
        else:
            texts[name] = pa.nulls(n, pa.string())
    return texts, repaired


@dataclass
class _CheckedRows:
    """The values a row is checked on, read from text: rank (and whether it is bad), the
    uri and its track id, and streams (when the file has them)."""

    rank: Any
    rank_bad: Any
    rank_text: list[str]
    uri_list: list[str]
    track_ids: list[str | None]
    streams: Any
    streams_bad: list[Any] | None
    streams_text: list[str] | None

    @classmethod
    def of(cls, table: pa.Table, n: int, has_streams: bool) -> _CheckedRows:
        col = table.column
        rank, rank_bad = _whole(pc.fill_null(col("rank"), ""))
        rank_bad = pc.fill_null(pc.or_(rank_bad, pc.less_equal(rank, 0)), True)
        uri_list = [u or "" for u in col("uri").to_pylist()]
        track_ids = [m[1] if (m := _ID.search(u)) else None for u in uri_list]
        streams_bad_l = streams_text = None
        if has_streams:
            streams, streams_bad = _whole(pc.fill_null(col("streams"), ""), grouped=True)
            streams_bad = pc.fill_null(pc.or_(streams_bad, pc.less(streams, 0)), True)
            streams_bad_l = streams_bad.to_pylist()
            streams_text = [s.strip() if s else "" for s in col("streams").to_pylist()]
        else:
            streams = pa.nulls(n, pa.int64())
        rank_text = [s.strip() if s else "" for s in col("rank").to_pylist()]
        return cls(
            rank, rank_bad, rank_text, uri_list, track_ids, streams, streams_bad_l, streams_text
        )

    def reasons(self, fmt: str, row_lines: list[int]) -> list[str | None]:
        """Why each row is rejected (None: accepted): the first failing check wins; then ranks
        repeating an accepted row's rank."""
        rank_l = self.rank.to_pylist()
        reasons: list[str | None] = [None] * len(rank_l)
        first_line: dict[int, int] = {}
        for i, bad in enumerate(self.rank_bad.to_pylist()):
            if bad:
                text = self.rank_text[i]
                reasons[i] = f"rank {text!r} is not a positive whole number" if text else "no rank"
            elif self.track_ids[i] is None:
                where = "uri" if fmt == NEW_FORMAT else "URL"
                reasons[i] = f"no track id in {where} {self.uri_list[i].strip()!r}"
            elif self.streams_bad is not None and self.streams_bad[i]:
                s = self.streams_text[i]
                reasons[i] = (
                    f"streams {s!r} is not a count (a whole number >= 0)" if s else "no streams"
                )
            elif rank_l[i] in first_line:
                reasons[i] = f"rank {rank_l[i]} repeats the rank of line {first_line[rank_l[i]]}"
            else:
                first_line[rank_l[i]] = row_lines[i]
        return reasons


def _checked_optional_ints(table: pa.Table, n: int, nulled: dict[str, int]) -> dict[str, Any]:
    """The optional whole-number columns (peak rank...), values that are not whole numbers
    as null (counted in ``nulled``), absent columns as nulls."""
    columns: dict[str, Any] = {}
    for name in _OPTIONAL_INTS:
        if name in table.column_names:
            raw_values = pc.fill_null(table.column(name), "")
            values, bad = _whole(raw_values)
            present = pc.not_equal(pc.utf8_trim_whitespace(raw_values), "")
            not_numbers = pc.sum(pc.and_(present, bad)).as_py() or 0
            if not_numbers:
                nulled[f"{name} (not a whole number)"] = not_numbers
            columns[name] = pc.min_element_wise(values, 2**31 - 1, skip_nulls=False).cast(
                pa.int32()
            )
        else:
            columns[name] = pa.nulls(n, pa.int32())
    return columns


_ID = re.compile(
    r"(?:spotify:track:|open\.spotify\.com/(?:intl-[A-Za-z-]+/)?track/)([0-9A-Za-z]{22})"
    r"(?![0-9A-Za-z])"
)


def _split(raw: bytes, delimiter: str) -> list[str]:
    text = raw.decode("utf-8", "replace").strip("\r")
    return next(csv.reader([text], delimiter=delimiter), [])


# --------------------------------------------------------------------------------------------
# Many files at once
# --------------------------------------------------------------------------------------------

#: A failed bulk read is retried in this many parts; groups this small go file by file.
_SPLIT = 8
_SMALLEST_GROUP = 16
_CLEAN_URI = r"^(?:spotify:track:|https://open\.spotify\.com/track/)[0-9A-Za-z]{22}$"


def parse_chart_files(items: Sequence[tuple[bytes, str, str]]) -> list[ParsedFile | Exception]:
    """:func:`parse_chart_file` for many files (``(data, name, source_file)`` each), with the
    same result for each: a :class:`ParsedFile` or the exception it raises.

    Why: a year of daily charts for 70 regions is 25,000 files of 200 rows, and one C++ CSV
    read per file costs more than the rows. Files whose header, delimiter and columns agree
    and whose rows may all be fine (no double-encoded text, no blank lines) are read in one
    typed Arrow read per group and checked column-wise per file; a file with any row that
    would be rejected, nulled or repaired, and any group that Arrow cannot read as typed,
    goes through :func:`parse_chart_file`, which finds which rows and why."""
    out: list[ParsedFile | Exception | None] = [None] * len(items)
    groups: dict[tuple, list[tuple[int, _Prelude]]] = {}
    for i, (data, name, _) in enumerate(items):
        try:
            pre = _prelude(data, name)
        except Exception as exc:  # noqa: BLE001 - the same exception parse_chart_file raises
            out[i] = exc
            continue
        if pre.clean_candidate:
            groups.setdefault((tuple(pre.names), pre.delimiter), []).append((i, pre))
        else:
            out[i] = _one(items[i])
    for group in groups.values():
        _bulk(items, group, out)
    return out  # type: ignore[return-value]


def _one(item: tuple[bytes, str, str]) -> ParsedFile | Exception:
    data, name, source_file = item
    try:
        return parse_chart_file(data, name=name, source_file=source_file)
    except Exception as exc:  # noqa: BLE001 - returned for the caller to tell apart
        return exc


def _bulk(
    items: Sequence[tuple[bytes, str, str]],
    group: list[tuple[int, _Prelude]],
    out: list[ParsedFile | Exception | None],
) -> None:
    """Parse ``group`` (files of one header) in one read, or in parts when that fails."""
    import numpy as np

    if len(group) < _SMALLEST_GROUP:
        for i, _ in group:
            out[i] = _one(items[i])
        return
    read = _read_group(group)
    if read is None:
        if len(group) <= _SPLIT:
            for i, _ in group:
                out[i] = _one(items[i])
            return
        step = -(-len(group) // _SPLIT)
        for start in range(0, len(group), step):
            _bulk(items, group[start : start + step], out)
        return
    table, counts = read
    file_of = np.repeat(np.arange(len(group)), counts)
    fine = _fine_files(table, counts, file_of, "streams" in group[0][1].names)
    for k in np.flatnonzero(~fine):
        i = group[k][0]
        out[i] = _one(items[i])
    if fine.any():
        _bulk_results(items, group, table, counts, file_of, fine, out)


def _read_group(group: list[tuple[int, _Prelude]]) -> tuple[pa.Table, Any] | None:
    """The group's bodies in one typed read, and the rows of each file; None when Arrow
    cannot read them all as typed, one row per line."""
    import numpy as np

    names, delimiter = group[0][1].names, group[0][1].delimiter
    bodies = [pre.body.rstrip(b"\n") + b"\n" for _, pre in group]
    counts = np.fromiter((b.count(b"\n") for b in bodies), np.int64, len(bodies))
    invalid: list[Any] = []
    types = {c: (pa.int64() if c in _INTS else pa.string()) for c in names}
    try:
        table = _read(
            b"".join(bodies),
            names,
            delimiter,
            types,
            lambda row: invalid.append(row) or "skip",
            threads=True,
        )
    except pa.ArrowInvalid:
        table = None
    if table is None or invalid or table.num_rows != int(counts.sum()):
        return None
    return table, counts


def _fine_files(table: pa.Table, counts: Any, file_of: Any, has_streams: bool) -> Any:
    """Per file: is every row one that parse_chart_file's fast path takes as it is?"""
    fidx = pa.array(file_of)
    rank = table.column("rank")
    uris = table.column("uri")
    bad = pc.invert(pc.fill_null(pc.match_substring_regex(uris, _CLEAN_URI), False))
    if has_streams:
        bad = pc.or_(bad, pc.fill_null(pc.less(table.column("streams"), 0), True))
    per_file = (
        pa.table({"f": fidx, "rank": rank, "bad": bad})
        .group_by("f", use_threads=False)
        .aggregate([("rank", "count"), ("rank", "count_distinct"), ("rank", "min"), ("bad", "any")])
        .sort_by("f")
    )
    got = {c: per_file.column(c).to_numpy(zero_copy_only=False) for c in per_file.column_names}
    return (
        (got["rank_count"] == counts)
        & (got["rank_count_distinct"] == counts)
        & (got["rank_min"] > 0)
        & ~got["bad_any"].astype(bool)
    )


def _bulk_results(
    items: Sequence[tuple[bytes, str, str]],
    group: list[tuple[int, _Prelude]],
    table: pa.Table,
    counts: Any,
    file_of: Any,
    fine: Any,
    out: list[ParsedFile | Exception | None],
) -> None:
    """The ParsedFile of every ``fine`` file of the group, from the group's one table."""
    import numpy as np

    keep = fine[file_of]
    if not keep.all():
        table = table.filter(pa.array(keep))
        file_of = file_of[keep]
    kept = np.flatnonzero(fine)
    # Per-file constants, spread over the rows by the file index.
    local = np.full(len(group), -1, np.int64)
    local[kept] = np.arange(len(kept))
    row_file = local[file_of]
    rows_of = counts[kept]
    first_row = np.concatenate([[0], np.cumsum(rows_of)[:-1]])
    pres = [group[k][1] for k in kept]
    sources = [items[group[k][0]][2] for k in kept]
    line = (
        np.arange(len(row_file))
        - first_row[row_file]
        + np.array([p.header_index + 2 for p in pres])[row_file]
    )
    columns, nulled_counts = _bulk_columns(table, row_file, len(kept))
    out_table = _bulk_table(columns, pres, sources, row_file, line)
    has_streams = "streams" in group[0][1].names
    if has_streams:  # exact int64 sums per file (rows of a file are contiguous)
        stream_sums = np.add.reduceat(out_table.column("streams").to_numpy(), first_row)
    for j, k in enumerate(kept):
        nulled = {key: int(v[j]) for key, v in nulled_counts.items() if v[j]}
        streams = int(stream_sums[j]) if has_streams else None
        rows = int(rows_of[j])
        out[group[k][0]] = ParsedFile(
            table=out_table.slice(int(first_row[j]), rows),
            info=_info(pres[j], rows, 0, streams, 0, nulled),
        )


def _bulk_columns(
    table: pa.Table, row_file: Any, n_files: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The output columns of the kept rows (``row_file``: each row's file among the
    ``n_files`` kept), and per nulled column the count of nulled values of each file."""
    import numpy as np

    columns = _columns_of(table, table.num_rows)
    columns["rank"] = pc.min_element_wise(table.column("rank"), 2**31 - 1).cast(pa.int32())
    columns["track_id"] = pc.utf8_slice_codeunits(table.column("uri"), start=-22)
    for col in _TEXTS:
        if col in table.column_names:
            trimmed = pc.utf8_trim_whitespace(columns[col])
            columns[col] = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    nulled_counts: dict[str, np.ndarray] = {}
    for col in _OPTIONAL_INTS:
        values = columns[col]
        if values.null_count == len(values):
            continue
        bad = pc.fill_null(pc.less_equal(values, 0), False)
        per = np.bincount(row_file, weights=bad.to_numpy(zero_copy_only=False), minlength=n_files)
        if per.any():
            key = "previous_rank (new entries)" if col == "previous_rank" else col
            nulled_counts[key] = per.astype(np.int64)
            columns[col] = pc.if_else(bad, pa.scalar(None, values.type), values)
    return columns, nulled_counts


def _bulk_table(
    columns: dict[str, Any], pres: list[_Prelude], sources: list[str], row_file: Any, line: Any
) -> pa.Table:
    """The group's chart entries, per-file values (region, chart, period, source, format)
    spread over the rows by their file."""
    import numpy as np

    take = pa.array(row_file)

    def spread(values: list[Any], kind: pa.DataType) -> pa.Array:
        return pa.array(values, kind).take(take)

    return pa.Table.from_arrays(
        [
            spread([p.region for p in pres], pa.string()),
            spread([p.chart for p in pres], pa.string()),
            spread([p.period_start for p in pres], pa.date32()),
            spread([p.period_end for p in pres], pa.date32()),
            columns["rank"],
            columns["track_id"],
            columns["track_name"],
            columns["artist_names"],
            columns["streams"],
            spread(sources, pa.string()),
            columns["peak_rank"],
            columns["previous_rank"],
            columns["days_on_chart"],
            columns["weeks_on_chart"],
            columns["label"],
            spread([p.fmt for p in pres], pa.string()),
            pa.array(line.astype(np.int32)),
        ],
        schema=CHART_ENTRIES_SCHEMA,
    )

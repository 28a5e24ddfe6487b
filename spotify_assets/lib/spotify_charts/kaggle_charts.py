"""The Kaggle "Spotify Charts" file (dataset by dhruvildave, ``charts.csv``): every daily
chart of spotifycharts.com from 2017 to 2021, every region, top 200 and viral 50, in one CSV
of about 26 million rows and 3.5 GB. Read as it streams, never whole (Dagster-free).

The format (recognised by its header, whatever the file is called)
-------------------------------------------------------------------
``title,rank,date,artist,url,region,chart,trend,streams``: UTF-8, ``\\n`` line ends, quoted
as pandas writes (only fields holding a comma or a quote: ``"J Balvin, Pharrell Williams,
BIA, Sky"``). ``date`` is the chart's day (``YYYY-MM-DD``); ``url`` an
``https://open.spotify.com/track/<id>``; ``region`` spelled out (``Argentina``, ``United
Kingdom``, ``Global``); ``chart`` ``top200`` or ``viral50``; ``trend`` ``SAME_POSITION``,
``MOVE_UP``, ``MOVE_DOWN`` or ``NEW_ENTRY``; ``streams`` a count for top 200 rows, empty for
viral 50 ones. Also taken: the users' per-year splits (``charts_2017.csv``, same header), a
pandas re-save with its index column first (``,title,...``; ``streams`` then written as
``253019.0``), columns in another order, extra columns (listed in the manifest), a BOM,
``\\r\\n`` line ends, ``;`` or tab as the delimiter.

Rows of ``core.chart_entries``
------------------------------
- ``chart``: ``top200`` is ``regional-daily``, ``viral50`` is ``viral-daily``: the very charts
  of spotifycharts.com's daily files (``regional-gb-daily-2019-12-20.csv``,
  ``viral-gb-daily-...``), so a day landed both ways counts once (the newest file's rows:
  :mod:`~spotify_assets.lib.spotify_charts.chart_entries`);
- ``period_start`` = ``period_end`` = ``date``; ``region`` the code of the region's name
  (:mod:`~spotify_assets.lib.spotify_charts.regions`: ``United Kingdom`` is ``gb``);
- ``track_id`` from ``url``; ``track_name`` = ``title``, ``artist_names`` = ``artist`` (as in
  the file, empty is null); ``streams`` for top 200 rows, null for viral 50 ones;
- ``line``: the row's physical line in the file; ``source_format`` ``kaggle charts.csv``;
- ``trend`` is not kept: the chart marts compute movement from consecutive days.

A row is rejected (line and reason, as in the other formats) when its field count differs
from the header's (also a name with a line break in it), when its rank is missing or not a
positive whole number, its date not a day, its region not a known chart region, its chart
neither ``top200`` nor ``viral50``, its url without a track id, a top 200 row's streams
missing or not a count, or when it repeats the rank of an earlier row of the same region,
chart and day. A line that is not UTF-8 is read as Windows-1252 (counted).

Reading
-------
The file is cut into blocks of about :data:`BLOCK_BYTES` at line ends. Arrow's C++ CSV reader
parses a block (on every core) while the previous one is checked, by vectorised Arrow kernels,
and the one before is written to Parquet. A row's line is its block's first line plus its
place (blank lines, which Arrow skips, found by a vectorised scan); a block whose rows are
not one per line otherwise (a row with another field count, a line break in a name, bytes that
are not UTF-8) is read again line by line in Python. Memory holds a few blocks, whatever the
file's size.

Repeated ranks are found without keeping the keys: rows come chart by chart, ranks rising
(each chart-day is one run), so a run of a chart-day seen before needs a look only when its
ranks overlap the earlier runs'. When that cannot be ruled out (ranks not rising within a
run, overlapping runs), DuckDB groups the written rows once (spilling to disk) to find them.
"""

from __future__ import annotations

import codecs
import csv
import functools
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spotify_assets.lib.landing import (
    BadFile,
    LandedContext,
    NotIngested,
    StreamedFile,
    StreamParser,
)
from spotify_assets.lib.spotify_charts.chart_files import _ID, CHART_ENTRIES_SCHEMA, _whole
from spotify_assets.lib.spotify_charts.regions import REGION_CODES, region_code

KAGGLE_FORMAT = "kaggle charts.csv"
#: The file's columns (the header names them; order free).
COLUMNS = ("title", "rank", "date", "artist", "url", "region", "chart", "trend", "streams")
#: Read columns (``trend`` is not kept).
_READ = ("title", "rank", "date", "artist", "url", "region", "chart", "streams")
CHARTS = {"top200": "regional-daily", "viral50": "viral-daily"}
#: Bytes of the file parsed at once (memory holds about three blocks and their rows).
BLOCK_BYTES = 32 * 2**20
#: A header is in the file's first bytes; a line longer than this is not a chart row.
_HEAD = 64 * 2**10
_MAX_LINE = 4 * 2**20
#: A quoted field running over more lines than this is not a chart name with a line break.
_MAX_RECORD_LINES = 20
_EXCERPT_CHARS = 300
_URL_PREFIX = "https://open.spotify.com/track/"
_ID_AT, _URL_LENGTH = len(_URL_PREFIX), len(_URL_PREFIX) + 22
#: A chart-day (region, chart, day) as one int64: region and chart above 24 bits of day, the
#: day offset so that any year from 1 to 9999 is positive.
_DAY_OFFSET = 2**23


@dataclass(frozen=True)
class KaggleHeader:
    """What the first line says: delimiter, each column's name in the file (canonical for the
    known ones, ``_extra<i>`` for the others), the extra columns' names, the encoding, and
    how many bytes the BOM and header line take."""

    delimiter: str
    names: tuple[str, ...]
    extra: tuple[str, ...]
    encoding: str
    skip: int
    line_end: bytes


def kaggle_header(head: bytes) -> KaggleHeader | None:
    """The header of a Kaggle charts file from its first bytes, or None if it is not one."""
    bom = head.startswith(codecs.BOM_UTF8)
    body = head[3:] if bom else head
    m = re.search(rb"\r\n|\n|\r", body)
    line = body[: m.start()] if m else body
    text = line.decode("utf-8", "replace")
    for delimiter in (",", ";", "\t"):
        if delimiter not in text:
            continue
        raw = next(csv.reader([text], delimiter=delimiter))
        norm = [n.strip().lower() for n in raw]
        if not set(COLUMNS) <= set(norm):
            continue
        names: list[str] = []
        extra: list[str] = []
        for i, name in enumerate(norm):
            if name in COLUMNS and name not in names:
                names.append(name)
            else:
                names.append(f"_extra{i}")
                extra.append(raw[i].strip() or "(unnamed index column)")
        return KaggleHeader(
            delimiter,
            tuple(names),
            tuple(extra),
            "utf-8-sig" if bom else "utf-8",
            (3 if bom else 0) + (m.end() if m else len(body)),
            m.group() if m else b"\n",
        )
    return None


def kaggle_stream(head: bytes, context: LandedContext) -> StreamParser | None:
    """The charts zone's ``stream``: a parser for a Kaggle charts file (told by its first
    bytes), else None (the file is then one of the sites' chart files, read whole)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = head[: len(head) // 2 * 2].decode("utf-16", "replace").encode("utf-8")
        if kaggle_header(text) is not None:
            return functools.partial(_utf16, name=context.path)
        return None
    if kaggle_header(head[:_HEAD]) is None:
        return None
    return functools.partial(parse_kaggle_charts, source_file=context.path)


def _utf16(stream: BinaryIO, workdir: Path, *, name: str) -> StreamedFile:
    raise BadFile(
        f"{name}: a Kaggle charts file saved as UTF-16; this format is read as it streams, "
        "in UTF-8 only: save it as UTF-8 CSV"
    )


# --------------------------------------------------------------------------------------------
# Reading: blocks of whole lines, parsed in C++ (or line by line when they must be)
# --------------------------------------------------------------------------------------------


@dataclass
class _Block:
    """One block's rows as text columns, with each row's physical line."""

    data: bytes  # the block's bytes (whole lines)
    first_line: int
    n_lines: int
    columns: dict[str, Any] = field(default_factory=dict)  # name -> strings (null: empty)
    lines: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # one per row
    structural: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    blank_lines: int = 0
    legacy_lines: int = 0
    one_by_one: bool = False
    _ends: np.ndarray | None = None

    def text(self, line: int) -> str:
        """The text of one of the block's lines (for a rejected row's excerpt)."""
        if self._ends is None:
            self._ends = np.flatnonzero(np.frombuffer(self.data, np.uint8) == 10)
        i = line - self.first_line
        start = int(self._ends[i - 1]) + 1 if i else 0
        end = int(self._ends[i]) if i < len(self._ends) else len(self.data)
        raw = self.data[start:end].rstrip(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", "replace")
        return text[:_EXCERPT_CHARS]


def _blocks(stream: BinaryIO, pending: bytes, first_line: int, size: int) -> Iterator[_Block]:
    """The file after its header as blocks of whole lines, each with its first line's
    number (rows not parsed yet); ``pending`` is what was read of it already."""
    line, chunk, pending = first_line, pending, b""
    while True:
        if not chunk:
            if pending:  # the last line, without a line end
                yield _Block(pending, line, pending.count(b"\n") + 1)
            return
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            pending += chunk
            if len(pending) > _MAX_LINE + size:
                raise BadFile(
                    f"line {line}: {len(pending) / 2**20:,.0f} MiB without a line break; not a "
                    "CSV of chart rows"
                )
        else:
            block = b"".join((pending, memoryview(chunk)[:cut]))  # one copy
            pending = chunk[cut:]
            n_lines = block.count(b"\n")
            yield _Block(block, line, n_lines)
            line += n_lines
        chunk = stream.read(size)


def _parse(block: _Block, header: KaggleHeader) -> _Block:
    """The block's rows: one typed-as-text read in C++ when its rows are one per line, else
    line by line."""
    data = block.data
    n_lines = block.n_lines
    invalid: list[Any] = []
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(
                column_names=list(header.names), use_threads=True, block_size=4 * 2**20
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=header.delimiter,
                invalid_row_handler=lambda row: invalid.append(row) or "skip",
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(_READ, pa.string()),
                include_columns=list(_READ),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid:  # bytes that are not UTF-8, a quote left open...
        table = None
    if table is not None and not invalid:
        lines = np.arange(block.first_line, block.first_line + n_lines, dtype=np.int64)
        if table.num_rows < n_lines:  # blank lines (Arrow skips them): which are they?
            blank = _blank_lines(data, n_lines)
            lines, block.blank_lines = lines[~blank], int(blank.sum())
        if table.num_rows == len(lines):
            block.columns = {c: table.column(c) for c in _READ}
            block.lines = lines
            return block
        block.blank_lines = 0
    return _parse_lines(block, header)


def _blank_lines(data: bytes, n_lines: int) -> np.ndarray:
    """Which of a block's lines are empty (or hold only a carriage return)."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    ends = np.concatenate([ends, [len(data)]])[:n_lines]
    starts = np.concatenate([[0], ends[:-1] + 1])
    length = ends - starts
    first = np.frombuffer(data, np.uint8)[np.minimum(starts, max(len(data) - 1, 0))]
    return (length == 0) | ((length == 1) & (first == 13))


def _parse_lines(block: _Block, header: KaggleHeader) -> _Block:
    """The block read line by line (Python's csv module): blank lines skipped, a line with
    another field count rejected, a line that is not UTF-8 read as Windows-1252, a quoted
    field going on past its line (a name with a line break) rejected with its lines."""
    index = [header.names.index(c) for c in _READ]
    width, delimiter = len(header.names), header.delimiter
    values: list[list[str | None]] = [[] for _ in _READ]
    lines: list[int] = []
    raw_lines = block.data.split(b"\n")
    if block.data.endswith(b"\n"):
        raw_lines.pop()
    j = 0
    while j < len(raw_lines):
        number = block.first_line + j
        text = _decoded(raw_lines[j], number, block)
        j += 1
        if text is None:
            continue
        if not text.strip():
            block.blank_lines += 1
            continue
        try:
            fields = next(csv.reader([text], delimiter=delimiter, strict=True))
        except csv.Error:
            if _open_quote(text, delimiter):
                reason, more = _quoted_lines(raw_lines, j, number, text, delimiter)
                block.structural.append((number, reason))
                j += more
                continue
            fields = next(csv.reader([text], delimiter=delimiter))  # read as Arrow does
        if len(fields) != width:
            block.structural.append((number, f"{len(fields)} fields where the header has {width}"))
            continue
        for out, i in zip(values, index, strict=True):
            out.append(fields[i] or None)
        lines.append(number)
    block.columns = {c: pa.array(v, pa.string()) for c, v in zip(_READ, values, strict=True)}
    block.lines = np.array(lines, np.int64)
    block.one_by_one = True
    return block


def _decoded(raw: bytes, number: int, block: _Block) -> str | None:
    """A line's text (Windows-1252 when it is not UTF-8); None, with the line rejected, when
    it is neither."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        block.structural.append((number, f"neither UTF-8 nor Windows-1252 text ({exc.reason})"))
        return None
    block.legacy_lines += 1
    return text


def _open_quote(text: str, delimiter: str) -> bool:
    """Whether a quoted field is still open at the end of ``text`` (the CSV rules: a quote
    opens a field only at its start; two quotes in one are a quote)."""
    state = "start"
    for ch in text:
        if state == "quoted":
            state = "quote?" if ch == '"' else "quoted"
        elif state == "quote?":
            state = "quoted" if ch == '"' else "start" if ch == delimiter else "plain"
        elif ch == delimiter:
            state = "start"
        elif state == "start" and ch == '"':
            state = "quoted"
        else:
            state = "plain"
    return state == "quoted"


def _quoted_lines(
    raw_lines: list[bytes], j: int, number: int, text: str, delimiter: str
) -> tuple[str, int]:
    """(reason, lines it takes after its first) of a row whose quoted field goes on past its
    line (line ``number``; ``j`` the index of the next): up to the line that closes the
    field, rejected whole; else the line alone."""
    for more in range(1, min(_MAX_RECORD_LINES, len(raw_lines) - j) + 1):
        text += "\n" + raw_lines[j + more - 1].rstrip(b"\r").decode("utf-8", "replace")
        if not _open_quote(text, delimiter):
            return f"a line break inside a quoted field (lines {number}-{number + more})", more
    return "a quoted field that is never closed", 0


# --------------------------------------------------------------------------------------------
# Checks: vectorised over a block's columns
# --------------------------------------------------------------------------------------------

_CODE_INDEX = {code: i for i, code in enumerate(sorted(REGION_CODES))}


def _mapped(col: Any, mapping: Any) -> tuple[np.ndarray, list[Any]]:
    """``mapping`` over a column of few distinct values (region, chart, date): (each row's
    index among the distinct values, the mapped distinct values, None where unmapped)."""
    distinct = pc.unique(col)
    index = _numpy(pc.index_in(col, value_set=distinct))  # a null row matches a null value
    return index, [mapping(v) for v in distinct.to_pylist()]


def _day(text: str | None) -> date | None:
    if text is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _days(col: Any) -> Any:
    """The dates of a column (null: not a ``YYYY-MM-DD`` day)."""
    try:
        return pc.cast(col, pa.date32())
    except pa.ArrowInvalid:
        index, days = _mapped(col, _day)
        return pa.array(days, pa.date32()).take(pa.array(index))


def _chart(text: str | None) -> str | None:
    return CHARTS.get(text.strip().lower()) if text is not None else None


def _whole_number(col: Any, *, grouped: bool = False) -> tuple[Any, Any]:
    """(int64 values, null where not a whole number; mask of values that are not, null
    counting as not). ``253019.0`` (a pandas re-save) is whole."""
    try:
        values = pc.cast(col, pa.int64())
        return values, pc.is_null(values)
    except pa.ArrowInvalid:
        pass
    text = pc.fill_null(col, "")
    text = pc.replace_substring_regex(pc.utf8_trim_whitespace(text), r"\.0+$", "")
    return _whole(text, grouped=grouped)


#: The rows' Parquet: the columns of few values as dictionaries (written as they are, never
#: hashed value by value); the file is written without this Arrow schema, so its readers see
#: plain strings, as in every other chart Parquet.
_ROWS_SCHEMA = pa.schema(
    [
        f.with_type(pa.dictionary(pa.int32(), pa.string()))
        if f.name in ("region", "chart", "source_file", "source_format")
        else f
        for f in CHART_ENTRIES_SCHEMA
    ]
)


@dataclass
class _Checked:
    """A block's accepted rows (the output table), its rejected rows, and the accepted rows'
    keys for the repeated-rank check."""

    table: pa.Table
    rejected: list[tuple[int, str, str]]
    chart_day: np.ndarray
    rank: np.ndarray
    regions: set[str]
    streams: int
    nulled_streams: int
    charts: dict[str, int]
    days: tuple[date | None, date | None]


def _check(block: _Block, source_file: str) -> _Checked:
    """A block's rows checked and made chart entries (vectorised; Python per value only for
    the few distinct regions, charts and odd urls, and per rejected row)."""
    cols, lines = block.columns, block.lines
    rank, rank_bad = _whole_number(cols["rank"])
    rank_bad = pc.fill_null(pc.or_(rank_bad, pc.less_equal(rank, 0)), True)
    day = _days(cols["date"])
    r_index, r_codes = _mapped(cols["region"], region_code)
    c_index, c_names = _mapped(cols["chart"], _chart)
    top = np.array([c == "regional-daily" for c in c_names], bool)[c_index]
    track_id = _track_ids(cols["url"])
    streams, streams_bad = _whole_number(cols["streams"], grouped=True)
    streams_bad = pc.fill_null(pc.or_(streams_bad, pc.less(streams, 0)), True)
    viral = ~top
    nulled_streams = 0
    if viral.any():
        nulled_streams = int((viral & _numpy(pc.is_valid(cols["streams"]))).sum())
        streams = pc.if_else(pa.array(top), streams, pa.scalar(None, pa.int64()))
    masks = {
        "rank": _numpy(rank_bad),
        "date": _numpy(pc.is_null(day)),
        "region": np.array([c is None for c in r_codes], bool)[r_index],
        "chart": np.array([c is None for c in c_names], bool)[c_index],
        "url": _numpy(pc.is_null(track_id)),
        "streams": top & _numpy(streams_bad),
    }
    bad = np.logical_or.reduce(list(masks.values()))
    rejected = [(line, reason, block.text(line)) for line, reason in block.structural]
    title, artist = cols["title"], cols["artist"]
    if bad.any():
        rejected += _reasons(block, masks, bad)
        keep = ~bad
        kept = pa.array(keep)
        rank, day, track_id, streams, title, artist = (
            pc.filter(a, kept) for a in (rank, day, track_id, streams, title, artist)
        )
        r_index, c_index, lines = r_index[keep], c_index[keep], lines[keep]
    rejected.sort()
    k = len(lines)
    rank32 = pc.min_element_wise(rank, 2**31 - 1).cast(pa.int32())
    same = pa.array(np.zeros(k, np.int32))
    table = pa.Table.from_arrays(
        [
            _dictionary(r_index, [c or "" for c in r_codes]),
            _dictionary(c_index, [c or "" for c in c_names]),
            day,
            day,
            rank32,
            track_id,
            title,
            artist,
            streams,
            pa.DictionaryArray.from_arrays(same, pa.array([source_file])),
            pa.nulls(k, pa.int32()),
            pa.nulls(k, pa.int32()),
            pa.nulls(k, pa.int32()),
            pa.nulls(k, pa.int32()),
            pa.nulls(k, pa.string()),
            pa.DictionaryArray.from_arrays(same, pa.array([KAGGLE_FORMAT])),
            pa.array(lines.astype(np.int32)),
        ],
        schema=_ROWS_SCHEMA,
    )
    region_n = np.array([_CODE_INDEX.get(c, 0) for c in r_codes], np.int64)[r_index]
    chart_n = np.array([c == "viral-daily" for c in c_names], np.int64)[c_index]
    day_n = _numpy(day.cast(pa.int32())).astype(np.int64)
    per_chart = np.bincount(chart_n, minlength=2)
    span = pc.min_max(day).as_py() if k else {"min": None, "max": None}
    used = np.flatnonzero(np.bincount(r_index, minlength=len(r_codes)))
    return _Checked(
        table=table,
        rejected=rejected,
        chart_day=((region_n * 2 + chart_n) << 24) + day_n + _DAY_OFFSET,
        rank=_numpy(rank32).astype(np.int64),
        regions={r_codes[i] for i in used},
        streams=int(pc.sum(streams).as_py() or 0),
        nulled_streams=nulled_streams,
        charts={
            name: int(count)
            for name, count in zip(("regional-daily", "viral-daily"), per_chart, strict=True)
            if count
        },
        days=(span["min"], span["max"]),
    )


def _dictionary(index: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)), pa.array(values))


def _track_ids(url: Any) -> Any:
    """The track id of each url (null: none). The file's own spelling is sliced as bytes (an
    order of magnitude faster than a regex or a UTF-8 slice); other spellings go through the
    sites' regex (a query string, ``intl-xx/``, a URI)."""
    raw = url.cast(pa.binary())
    plain = pc.and_(pc.starts_with(url, _URL_PREFIX), pc.equal(pc.binary_length(raw), _URL_LENGTH))
    if not pc.all(pc.string_is_ascii(url)).as_py():  # slicing bytes could cut a character
        raw = pc.if_else(plain, raw, pa.scalar(None, pa.binary()))
    track_id = pc.binary_slice(raw, _ID_AT, _URL_LENGTH).cast(pa.string())
    ok = pc.fill_null(pc.and_(plain, pc.ascii_is_alnum(track_id)), False)
    if pc.all(ok).as_py():
        return track_id
    ids = [
        i if good else (m[1] if u and (m := _ID.search(u)) else None)
        for good, i, u in zip(ok.to_pylist(), track_id.to_pylist(), url.to_pylist(), strict=True)
    ]
    return pa.array(ids, pa.string())


def _numpy(values: Any) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.to_numpy(zero_copy_only=False)


def _reasons(
    block: _Block, masks: dict[str, np.ndarray], bad: np.ndarray
) -> list[tuple[int, str, str]]:
    """(line, reason, excerpt) of each rejected row of a block: the first failing check."""
    rows = np.flatnonzero(bad)
    text = {name: pc.take(block.columns[name], pa.array(rows)).to_pylist() for name in masks}
    out = []
    for j, row in enumerate(rows.tolist()):
        line = int(block.lines[row])
        check = next(name for name, mask in masks.items() if mask[row])
        out.append((line, _reason(check, text[check][j]), block.text(line)))
    return out


def _reason(check: str, value: str | None) -> str:
    if value is None or not value.strip():
        return f"no {check}"
    return {
        "rank": f"rank {value!r} is not a positive whole number",
        "date": f"date {value!r} is not a day (YYYY-MM-DD)",
        "region": f"region {value!r} is not a chart region (spotifycharts.com's, spelled out)",
        "chart": f"chart {value!r} is neither top200 nor viral50",
        "url": f"no track id in url {value.strip()!r}",
        "streams": f"streams {value.strip()!r} is not a count (a whole number >= 0)",
    }[check]


# --------------------------------------------------------------------------------------------
# Repeated ranks
# --------------------------------------------------------------------------------------------


class _Repeats:
    """Whether a (chart-day, rank) can repeat across the file, from the runs of chart-days
    the rows come in, without keeping every key: per chart-day only the span of its ranks."""

    def __init__(self) -> None:
        self.spans: dict[int, tuple[int, int]] = {}
        self.possible = False

    def add(self, chart_day: np.ndarray, rank: np.ndarray) -> None:
        if self.possible or not len(chart_day):
            return
        same = chart_day[1:] == chart_day[:-1]
        if np.any(same & (rank[1:] <= rank[:-1])):
            self.possible = True  # ranks not rising within a chart-day: look them all up
            return
        starts = np.concatenate([[0], np.flatnonzero(~same) + 1])
        if len(starts) * 4 > len(chart_day):  # runs too short to be worth following
            self.possible = True
            return
        ends = np.concatenate([starts[1:], [len(chart_day)]]) - 1
        spans = self.spans
        for key, low, high in zip(
            chart_day[starts].tolist(), rank[starts].tolist(), rank[ends].tolist(), strict=True
        ):
            seen = spans.get(key)
            if seen is None:
                spans[key] = (low, high)
            elif high < seen[0] or low > seen[1]:
                spans[key] = (min(low, seen[0]), max(high, seen[1]))
            else:
                self.possible = True
                return


def _repeated_lines(rows: Path, workdir: Path) -> list[tuple[int, int, str]]:
    """(line, line it repeats, what) of every row repeating an earlier row's region, chart,
    day and rank, by DuckDB over the written rows (spilling to ``workdir``)."""
    import duckdb

    spill = workdir / "duckdb-spill"
    spill.mkdir(exist_ok=True)
    conn = duckdb.connect(
        config={"memory_limit": "512MB", "temp_directory": str(spill), "threads": 2}
    )
    try:
        found = conn.execute(
            """
select region, chart, period_start, rank, list(line order by line) as lines
  from read_parquet(?)
 group by all
having count(*) > 1
""",
            [str(rows)],
        ).fetchall()
    finally:
        conn.close()
    out = []
    for region, chart, day, rank, lines in found:
        for line in lines[1:]:
            out.append((line, lines[0], f"rank {rank} of {region} {chart} {day}"))
    return sorted(out)


def _without_lines(rows: Path, drop: set[int]) -> tuple[Path, int, dict[str, int]]:
    """The rows Parquet rewritten without the rows of ``drop`` (lines); (new file, streams
    of the dropped rows, dropped rows per chart)."""
    kept = rows.with_suffix(".kept.parquet")
    dropped_streams = 0
    dropped: dict[str, int] = {}
    reader = pq.ParquetFile(rows)
    drop_set = pa.array(sorted(drop), pa.int32())
    with _rows_writer(kept) as w:
        for batch in reader.iter_batches():
            table = pa.Table.from_batches([batch])
            gone = pc.is_in(table.column("line"), value_set=drop_set)
            if pc.any(gone).as_py():
                out = table.filter(gone)
                dropped_streams += int(pc.sum(out.column("streams")).as_py() or 0)
                for chart in out.column("chart").to_pylist():
                    dropped[chart] = dropped.get(chart, 0) + 1
                table = table.filter(pc.invert(gone))
            w.write_table(table.cast(_ROWS_SCHEMA))
    rows.unlink()
    return kept, dropped_streams, dropped


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------


def _rows_writer(path: Path) -> pq.ParquetWriter:
    """The rows' Parquet writer: dictionaries for the columns of few values (a 26-million-row
    file repeats its name and ~70 regions) and the track ids, statistics for the keys only
    (those of the names cost half the writing and serve no query): measured 2.5x faster than
    pyarrow's defaults."""
    return pq.ParquetWriter(
        path,
        _ROWS_SCHEMA,
        store_schema=False,
        compression="zstd",
        compression_level=1,
        use_dictionary=["region", "chart", "track_id", "source_file", "source_format"],
        write_statistics=["region", "chart", "period_start", "period_end", "rank", "line"],
    )


class _Rejects:
    """Rejected rows written as they come (a file may have millions)."""

    def __init__(self, path: Path, source_file: str) -> None:
        self.path, self.source_file = path, source_file
        self.writer: pq.ParquetWriter | None = None
        self.count = 0

    def add(self, rows: list[tuple[int, str, str]]) -> None:
        if not rows:
            return
        table = pa.table(
            {
                "source_file": pa.array([self.source_file] * len(rows), pa.string()),
                "record_index": pa.array([r[0] for r in rows], pa.int64()),
                "reason": pa.array([r[1] for r in rows], pa.string()),
                "raw_excerpt": pa.array([r[2] for r in rows], pa.string()),
            }
        )
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self.writer.write_table(table)
        self.count += len(rows)

    def close(self) -> Path | None:
        if self.writer is None:
            return None
        self.writer.close()
        return self.path


def parse_kaggle_charts(
    stream: BinaryIO, workdir: Path, *, source_file: str, block_bytes: int = BLOCK_BYTES
) -> StreamedFile:
    """Read a Kaggle charts file from ``stream`` to its end into ``workdir``: its accepted rows
    (:data:`CHART_ENTRIES_SCHEMA`, every row carrying ``source_file``) and rejected rows as
    Parquet, with the manifest's figures. Raises :class:`NotIngested` when the stream is not
    such a file and :class:`BadFile` when it cannot be read as one."""
    first = stream.read(max(block_bytes, _HEAD))
    header = kaggle_header(first[:_HEAD])
    if header is None:
        raise NotIngested(f"{source_file}: not a Kaggle charts file")
    if header.line_end == b"\r":
        raise BadFile(
            f"{source_file}: line ends are carriage returns only (old Mac); this format is "
            "read as it streams, by lines ending in \\n: save it with \\n or \\r\\n line ends"
        )
    rows_path, rejects = (
        workdir / "rows.parquet",
        _Rejects(workdir / "rejects.parquet", source_file),
    )
    repeats = _Repeats()
    totals: dict[str, Any] = {
        "accepted": 0, "streams": 0, "nulled": 0, "blank": 0, "legacy": 0, "one_by_one": 0,
        "charts": {}, "regions": set(), "first": None, "last": None,
    }  # fmt: skip
    blocks = _blocks(stream, first[header.skip :], 2, block_bytes)

    def next_block() -> _Block | None:
        block = next(blocks, None)
        return None if block is None else _parse(block, header)

    # Three stages at once: the next block read and parsed, this one checked, the last one
    # written (Arrow's reader, kernels and Parquet writer leave the interpreter's lock).
    writer = _rows_writer(rows_path)
    try:
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="charts-read") as reading,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="charts-write") as writing,
        ):
            coming, written = reading.submit(next_block), None
            while (block := coming.result()) is not None:
                coming = reading.submit(next_block)
                checked = _check(block, source_file)
                if written is not None:
                    written.result()
                written = writing.submit(writer.write_table, checked.table)
                rejects.add(checked.rejected)
                repeats.add(checked.chart_day, checked.rank)
                _add(totals, block, checked)
            if written is not None:
                written.result()
    finally:
        writer.close()
    if repeats.possible:
        repeated = _repeated_lines(rows_path, workdir)
        if repeated:
            rejects.add(
                [(line, f"{what} repeats line {earlier}", what) for line, earlier, what in repeated]
            )
            rows_path, streams, dropped = _without_lines(rows_path, {r[0] for r in repeated})
            totals["accepted"] -= len(repeated)
            totals["streams"] -= streams
            for chart, count in dropped.items():
                totals["charts"][chart] -= count
    return StreamedFile(
        rows=rows_path, rejected=rejects.close(), info=_info(header, totals, rejects.count)
    )


def _add(totals: dict[str, Any], block: _Block, checked: _Checked) -> None:
    totals["accepted"] += checked.table.num_rows
    totals["streams"] += checked.streams
    totals["nulled"] += checked.nulled_streams
    totals["blank"] += block.blank_lines
    totals["legacy"] += block.legacy_lines
    totals["one_by_one"] += block.one_by_one
    totals["regions"] |= checked.regions
    for chart, count in checked.charts.items():
        totals["charts"][chart] = totals["charts"].get(chart, 0) + count
    low, high = checked.days
    if low is not None:
        totals["first"] = min(low, totals["first"] or low)
        totals["last"] = max(high, totals["last"] or high)


def _info(header: KaggleHeader, totals: dict[str, Any], rejected: int) -> dict[str, Any]:
    """The figures of one file for its manifest."""
    accepted = totals["accepted"]
    info: dict[str, Any] = {
        "format": KAGGLE_FORMAT,
        "encoding": header.encoding + ("+cp1252" if totals["legacy"] else ""),
        "records": accepted + rejected,
        "accepted": accepted,
        "rejected": rejected,
        "streams": totals["streams"],
        "charts": dict(sorted(totals["charts"].items())),
        "regions": sorted(totals["regions"]),
        "period_start": totals["first"].isoformat() if totals["first"] else None,
        "period_end": totals["last"].isoformat() if totals["last"] else None,
    }
    if header.delimiter != ",":
        info["delimiter"] = header.delimiter
    if header.extra:
        info["extra_columns"] = list(header.extra)
    if totals["nulled"]:
        info["nulled"] = {"streams (viral50 rows have none)": totals["nulled"]}
    if totals["blank"]:
        info["blank_lines"] = totals["blank"]
    if totals["legacy"]:
        info["cp1252_lines"] = totals["legacy"]
    if totals["one_by_one"]:
        info["blocks_read_line_by_line"] = totals["one_by_one"]
    return info

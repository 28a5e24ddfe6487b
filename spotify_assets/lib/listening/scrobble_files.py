"""Scrobble exports: Last.fm and ListenBrainz listening history as people download it, parsed
into rows of the streams schema (Dagster-free).

They land in the listener's folder beside the Spotify export and are told apart by content
(:func:`scrobble_kind`; the name only hints):

- **Last.fm CSV/TSV** of the export tools: lastfm-to-csv (``artist,album,track,date``, no
  header, commas and quotes stripped from values, ``31 Jan 2021 12:34`` in UTC, the now-playing
  track first with an empty date; its v2 with the header ``artist,album,name,date``);
  lastfm.ghan.nl (header ``uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid``,
  ``11 Jul 2024, 09:07``); ``uts,artist,album,track`` without a header; the tab-separated
  output of ``lastexport.py`` (``uts, track, artist, album, 3 mbids``: the track before the
  artist); any CSV whose header names an artist, a track and a time column.
- **Last.fm API pages** (``user.getRecentTracks`` saved as JSON, one page or an array of
  pages): ``date.uts``, artist ``#text`` (or ``name`` with ``extended=1``), ``track`` a list or,
  with one result, an object. API error objects (``{"error": 8, "message": ...}``) and HTML
  error pages saved under a ``.json`` name are unreadable files (BadFile): download them again.
- **Last.fm's old data archive**: ``scrobbles.tsv`` (quoted header ``"ISO time"``,
  ``"unixtime"``, corrected and uncorrected names) and the monthly JSON
  (``timestamp.unixtimestamp``).
- **ListenBrainz**: the export zip's ``listens/<year>/<month>.jsonl`` (one listen per line, in
  any of its three generations), the older single array ``<user>_lb-<date>.json``, API answers
  ``{"payload": {"listens": [...]}}`` and ``{"listens": [...]}``, a submit body
  ``{"listen_type": ..., "payload": [...]}``: ``listened_at`` and
  ``track_metadata.artist_name/track_name/release_name/additional_info``.

The rows
--------
``source_format`` is ``lastfm`` or ``listenbrainz``; ``content_type`` ``music``; ``ts`` is the
scrobble's time, **the start of the play** (Last.fm's and ListenBrainz's timestamp, UTC);
``ms_played`` the track's duration when the file gives it (ListenBrainz's ``duration_ms`` or
``duration``), else 0: unknown. ``core.streams`` turns these into plays whose ``ts`` is the end
(``spotify_assets.lib.listening.scrobbles``). A ListenBrainz listen carrying ``ms_played`` was
imported by ListenBrainz from Spotify's own history, whose ``ts`` (the end of the play) became
``listened_at``: its start is ``listened_at - ms_played`` and ``ms_played`` is kept.
``track_id`` is ListenBrainz's ``spotify_id`` (a full URL, ``spotify:track:`` URI or bare id),
or its ``origin_url`` when that is a Spotify track; Last.fm gives names only (the streams build
resolves them like account-data rows). Names are kept as written; an empty album is null.

Every record is accounted for: accepted, rejected with its reason (no time, a time that is not
one, before 2002 when scrobbling began (Last.fm's broken ``01 Jan 1970`` rows), after the file
landed, no artist or track name, a line that is not a record), or not a play: a now-playing
row (no date, ``@attr.nowplaying``, ``playing_now``) is counted in ``info["now_playing"]``,
outside the parse rate (every page of an export repeats one). Duplicates (the same scrobble
twice in a file, or in two files) are accepted here and merged in ``core.streams``.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from spotify_assets.lib.landing import BadFile, ParsedFile, RejectedRecord
from spotify_assets.lib.listening.export_files import (
    CLOCK_SKEW,
    STREAMS_SCHEMA,
    TS_TYPE,
    sort_by_ts,
)
from spotify_assets.lib.listening.sources import SCROBBLE_FORMATS
from spotify_assets.lib.text_files import binary_kind, csv_as_utf8

LASTFM, LISTENBRAINZ = SCROBBLE_FORMATS
#: Audioscrobbler (Last.fm's scrobbling) began in 2002: an earlier time is a broken one.
EARLIEST_SCROBBLE = datetime(2002, 1, 1, tzinfo=UTC)
_MAX_DURATION_MS = 24 * 3_600_000
_EXCERPT_CHARS = 300
_SNIFF_BYTES = 65_536

# A scrobble export's JSON names one of these keys early on.
_JSON_SNIFF = re.compile(rb'"(recenttracks|listened_at|track_metadata|unixtimestamp|playing_now)"')
_SCROBBLE_NAME = re.compile(r"recenttracks|scrobble|listens|_lb-|lastfm|listenbrainz", re.I)
_SPOTIFY_TRACK = re.compile(
    r"(?:open\.spotify\.com/(?:intl-[a-z-]+/)?track/|spotify:track:)([A-Za-z0-9]{22})"
)
_BARE_ID = re.compile(r"[A-Za-z0-9]{22}")
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul",
                                        "aug", "sep", "oct", "nov", "dec"), 1)}  # fmt: skip
_TEXT_DATE = re.compile(r"(\d{1,2}) ([A-Za-z]{3}) (\d{4}),? (\d{1,2}):(\d{2})(?::(\d{2}))?")
_DIGITS = re.compile(r"\d{9,11}(\.\d+)?")


def scrobble_kind(data: bytes, name: str) -> str | None:
    """What scrobble export ``data`` is (``"json"``, ``"jsonl"``, ``"csv"``), by content;
    ``"unreadable"`` for an empty file or an HTML page whose name says it should be one; None
    when it is none (Spotify's export parser decides)."""
    head = data[:_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        return "unreadable" if _SCROBBLE_NAME.search(name) else None
    if head[:1] == b"<":
        return "unreadable" if name.lower().endswith(".json") and _is_html(head) else None
    if head[:1] in (b"[", b"{"):
        if _JSON_SNIFF.search(head) or _api_error(data) is not None:
            first = head.split(b"\n", 1)[0].strip()
            return "jsonl" if head[:1] == b"{" and _one_listen_per_line(first) else "json"
        return None
    if binary_kind(data) is not None or b"\x00" in head[:512]:
        return None
    return "csv" if _csv_shape(head) is not None else None


def not_listens_reason(data: bytes, name: str) -> str | None:
    """Why a file of a ListenBrainz export that holds no listens is not taken (its account,
    its feedback, its pinned recordings), or None."""
    first = data[:_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    try:
        doc = orjson.loads(first)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    keys = set(doc)
    if {"score", "recording_msid"} <= keys:
        return "ListenBrainz feedback (loved and hated recordings): not listening history"
    if {"pinned_until", "recording_msid"} <= keys:
        return "ListenBrainz pinned recordings: not listening history"
    if keys == {"user_id", "username"}:
        return "ListenBrainz account (user.json): not listening history"
    return None


def parse_scrobble_file(
    data: bytes,
    *,
    name: str,
    source_file: str,
    user_id: str,
    landed_at: datetime | None = None,
) -> ParsedFile:
    """One landed scrobble export (or a zip member) -> rows (module docstring), sorted by
    ``ts``. Raises :class:`~spotify_assets.lib.landing.BadFile` for a file meant as a scrobble
    export that cannot be read (an empty file, an HTML page, an API error object, broken
    JSON)."""
    kind = scrobble_kind(data, name)
    out = _Scrobbles(user_id, source_file, landed_at)
    if kind == "unreadable":
        raise BadFile(_unreadable(data, name))
    if kind == "csv":
        _read_csv(data, name, out)
    elif kind == "jsonl":
        _read_jsonl(data, out)
    elif kind == "json":
        _read_json(data, out)
    else:
        raise BadFile("not a Last.fm or ListenBrainz export")
    return out.parsed()


# --------------------------------------------------------------------------------------------
# Collecting records
# --------------------------------------------------------------------------------------------


@dataclass
class _Scrobbles:
    """The records of one file as they are read: accepted rows (columns), rejections, the
    now-playing rows and what was normalized."""

    user_id: str
    source_file: str
    landed_at: datetime | None
    fmt: str = ""
    variant: str = ""
    cols: dict[str, list[Any]] = field(default_factory=dict)
    rejected: list[RejectedRecord] = field(default_factory=list)
    now_playing: int = 0
    normalized: Counter[str] = field(default_factory=Counter)

    def kind(self, fmt: str, variant: str) -> None:
        self.fmt, self.variant = fmt, variant

    def add(self, index: int, when: Any, names: tuple[Any, Any, Any], excerpt: Any, **kw) -> None:
        """One scrobble: ``when`` its raw time, ``names`` (artist, track, album); keywords
        ``track_id``, ``duration_ms``, ``played_ms`` (a ListenBrainz import of Spotify: the
        time is the end)."""
        start, why = _time_us(when)
        played = _duration(kw.get("played_ms"), self.normalized, "ms_played")
        duration = played or _duration(kw.get("duration_ms"), self.normalized, "duration")
        if start is not None and played:
            start -= played * 1000
        artist, track, album = (_text(v) for v in names)
        if why is None:
            why = self._implausible(start)
        if why is None and not (artist and track):
            why = "no artist or track name"
        if why is not None:
            self.reject(index, why, excerpt)
            return
        row = {"record_index": index, "ts": start, "artist_name": artist, "track_name": track,
               "album_name": album, "track_id": kw.get("track_id"),
               "ms_played": duration or 0}  # fmt: skip
        for k, v in row.items():
            self.cols.setdefault(k, []).append(v)

    def _implausible(self, start: int | None) -> str | None:
        if start is None:
            return "no time"
        if start < _epoch_us(EARLIEST_SCROBBLE):
            return f"before 2002, when scrobbling began (a broken time): {_iso(start)}"
        latest = (
            (self.landed_at if self.landed_at.tzinfo else self.landed_at.replace(tzinfo=UTC))
            + CLOCK_SKEW
            if self.landed_at is not None
            else datetime(2100, 1, 1, tzinfo=UTC)
        )
        if start > _epoch_us(latest):
            return f"after the file landed: {_iso(start)}"
        return None

    def reject(self, index: int, reason: str, excerpt: Any) -> None:
        text = excerpt if isinstance(excerpt, str) else orjson.dumps(excerpt).decode()
        self.rejected.append(RejectedRecord(index, reason, text[:_EXCERPT_CHARS]))

    def parsed(self) -> ParsedFile:
        n = len(self.cols.get("ts", []))
        source = LISTENBRAINZ if self.fmt.startswith(LISTENBRAINZ) else LASTFM
        given = {
            **self.cols,
            "ts": pa.array(self.cols.get("ts", []), pa.int64()).cast(TS_TYPE),
            "user_id": [self.user_id] * n,
            "content_type": ["music"] * n,
            "source_format": [source] * n,
            "source_file": [self.source_file] * n,
        }
        table = pa.table(
            {f.name: given.get(f.name, pa.nulls(n, f.type)) for f in STREAMS_SCHEMA},
            schema=STREAMS_SCHEMA,
        )
        table = sort_by_ts(table)
        return ParsedFile(table=table, rejected=self.rejected, info=self._info(table))

    def _info(self, table: pa.Table) -> dict[str, Any]:
        ts = table.column("ts").to_pylist()
        by_reason = Counter(r.reason.split(":")[0] for r in self.rejected)
        return {
            "format": self.fmt,
            "formats": [self.fmt],
            "variant": self.variant,
            "records": table.num_rows + len(self.rejected),
            "accepted": table.num_rows,
            "rejected": len(self.rejected),
            "rejected_by_reason": dict(sorted(by_reason.items())),
            "now_playing": self.now_playing,
            "min_ts": min(ts).isoformat() if ts else None,
            "max_ts": max(ts).isoformat() if ts else None,
            "earliest_play": EARLIEST_SCROBBLE.date().isoformat(),
            "normalized": dict(sorted(self.normalized.items())),
            "mixed_history_rows": 0,
        }


def _epoch_us(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def _iso(us: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).isoformat()


def _text(value: Any) -> str | None:
    if isinstance(value, dict):  # Last.fm: {"#text": ...} or {"name": ...}
        value = value.get("#text", value.get("name"))
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _duration(value: Any, normalized: Counter[str], what: str) -> int | None:
    """A duration in ms (ints, floats, numeric strings); absent, 0 or implausible is None
    (an implausible one is counted: the scrobble stays, its duration unknown)."""
    if value is None or value == "":
        return None
    try:
        ms = int(float(value))
    except (TypeError, ValueError):
        ms = -1
    if 0 < ms <= _MAX_DURATION_MS:
        return ms
    if ms != 0:
        normalized[f"{what}: not a duration -> unknown"] += 1
    return None


def _time_us(value: Any) -> tuple[int | None, str | None]:
    """A scrobble time (unix seconds as a number or text; ``31 Jan 2021 12:34``,
    ``11 Jul 2024, 09:07``; ISO 8601, UTC unless it says otherwise) in UTC microseconds,
    or (None, reason)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "no time"
    if isinstance(value, bool):
        return None, f"not a time: {value!r}"
    if isinstance(value, int | float):
        return int(value * 1_000_000), None
    text = str(value).strip()
    if _DIGITS.fullmatch(text):
        return int(float(text) * 1_000_000), None
    m = _TEXT_DATE.fullmatch(text)
    if m and m.group(2).lower() in _MONTHS:
        day, mon, year, hh, mm, ss = m.groups()
        try:
            dt = datetime(int(year), _MONTHS[mon.lower()], int(day), int(hh), int(mm),
                          int(ss or 0), tzinfo=UTC)  # fmt: skip
        except ValueError:
            return None, f"not a time: {text!r}"
        return _epoch_us(dt), None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None, f"not a time: {text!r}"
    return _epoch_us(dt if dt.tzinfo else dt.replace(tzinfo=UTC)), None


def _spotify_id(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str):
            m = _SPOTIFY_TRACK.search(value)
            if m:
                return m.group(1)
            if _BARE_ID.fullmatch(value.strip()):
                return value.strip()
    return None


# --------------------------------------------------------------------------------------------
# Unreadable files: what they are, for the reason
# --------------------------------------------------------------------------------------------


def _is_html(head: bytes) -> bool:
    low = head[:1024].lower()
    return b"<html" in low or b"<!doctype html" in low or b"<head" in low


def _unreadable(data: bytes, name: str) -> str:
    if not data.strip(b"\xef\xbb\xbf \t\r\n"):
        return "empty file: the page was not saved (download it again)"
    title = re.search(rb"<title>(.*?)</title>", data[:4096], re.I | re.S)
    shown = title.group(1).decode("utf-8", "replace").strip() if title else "no title"
    return (
        f"not JSON: an HTML page ({shown}) saved under a .json name: the download failed "
        "(download it again)"
    )


def _api_error(data: bytes) -> str | None:
    """The reason for a Last.fm (``{"error": 8, "message": ...}``) or ListenBrainz
    (``{"code": 429, "error": ...}``) error object saved as a page, else None."""
    if len(data) > 4096 or not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return None
    try:
        doc = orjson.loads(data.lstrip(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or "error" not in doc:
        return None
    if isinstance(doc.get("error"), int) and "message" in doc:
        return f"a Last.fm API error saved as a page: error {doc['error']}: {doc['message']}"
    if isinstance(doc.get("code"), int):
        return f"a ListenBrainz API error saved as a page: {doc['code']}: {doc['error']}"
    return None


# --------------------------------------------------------------------------------------------
# JSON: Last.fm API pages, the old archive's monthly files, ListenBrainz
# --------------------------------------------------------------------------------------------


def _one_listen_per_line(first: bytes) -> bool:
    """JSON lines: the first line is a listen, whole."""
    try:
        doc = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return isinstance(doc, dict) and ("listened_at" in doc or "track_metadata" in doc)


def _read_json(data: bytes, out: _Scrobbles) -> None:
    if (error := _api_error(data)) is not None:
        raise BadFile(f"{error} (download this page again)")
    try:
        doc = orjson.loads(data.lstrip(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise BadFile(f"not JSON: {exc}") from None
    if isinstance(doc, dict) and "recenttracks" in doc:
        doc = [doc]
    if isinstance(doc, dict):
        listens = doc.get("listens", doc.get("payload"))
        if isinstance(listens, dict):
            listens = listens.get("listens")
        if not isinstance(listens, list):
            raise BadFile("a JSON object without listens or recenttracks")
        playing = doc.get("listen_type") == "playing_now"
        out.kind("listenbrainz_json", "api")
        for i, listen in enumerate(listens):
            _listen(out, i, listen, playing_now=playing)
        return
    if not isinstance(doc, list):
        raise BadFile("not a Last.fm or ListenBrainz export: a JSON " + type(doc).__name__)
    _read_json_array(doc, out)


def _read_json_array(doc: list, out: _Scrobbles) -> None:
    first = next((e for e in doc if isinstance(e, dict)), {})
    if "recenttracks" in first or "track" in first and "@attr" in first:
        out.kind("lastfm_api_json", "pages")
        index = 0
        for page in doc:
            page = page.get("recenttracks", page) if isinstance(page, dict) else {}
            tracks = page.get("track") or []
            for track in [tracks] if isinstance(tracks, dict) else tracks:
                _lastfm_track(out, index, track)
                index += 1
    elif "timestamp" in first:
        out.kind("lastfm_archive_json", "monthly")
        for i, entry in enumerate(doc):
            _archive_entry(out, i, entry)
    else:
        out.kind("listenbrainz_json", "array")
        for i, listen in enumerate(doc):
            _listen(out, i, listen)


def _lastfm_track(out: _Scrobbles, i: int, t: Any) -> None:
    if not isinstance(t, dict):
        out.reject(i, "not a track object", t)
        return
    attr = t.get("@attr") or {}
    if str(attr.get("nowplaying", "")).lower() == "true" and not t.get("date"):
        out.now_playing += 1
        return
    when = (t.get("date") or {}).get("uts") if isinstance(t.get("date"), dict) else None
    shown = {k: t.get(k) for k in ("name", "artist", "album", "date")}
    out.add(i, when, (t.get("artist"), t.get("name"), t.get("album")), shown)


def _archive_entry(out: _Scrobbles, i: int, e: Any) -> None:
    if not isinstance(e, dict):
        out.reject(i, "not a scrobble object", e)
        return
    stamp, track = e.get("timestamp") or {}, e.get("track") or {}
    raw = e.get("uncorrectedTrack") or {}
    when = stamp.get("unixtimestamp", stamp.get("iso")) if isinstance(stamp, dict) else None
    artist = _text(track.get("artist")) or _text(raw.get("artist"))
    title = _text(track.get("name")) or _text(raw.get("name"))
    out.add(i, when, (artist, title, e.get("album")), {"timestamp": stamp, "track": track})


def _listen(out: _Scrobbles, i: int, listen: Any, *, playing_now: bool = False) -> None:
    if not isinstance(listen, dict):
        out.reject(i, "not a listen object", listen)
        return
    meta = listen.get("track_metadata")
    meta = meta if isinstance(meta, dict) else {}
    info = meta.get("additional_info")
    info = info if isinstance(info, dict) else {}
    now_playing = playing_now or listen.get("playing_now") is True
    if now_playing and listen.get("listened_at") is None:
        out.now_playing += 1
        return
    service = str(info.get("music_service") or "")
    spotify_origin = info.get("origin_url") if "spotify" in service else None
    duration = info.get("duration_ms")
    if duration is None and isinstance(info.get("duration"), int | float | str):
        duration = _seconds_to_ms(info.get("duration"))
    shown = {"listened_at": listen.get("listened_at"),
             **{k: meta.get(k) for k in ("artist_name", "track_name", "release_name")}}  # fmt: skip
    out.add(
        i,
        listen.get("listened_at"),
        (meta.get("artist_name"), meta.get("track_name"), meta.get("release_name")),
        shown,
        track_id=_spotify_id(info.get("spotify_id"), spotify_origin),
        duration_ms=duration,
        played_ms=info.get("ms_played"),
    )


def _seconds_to_ms(value: Any) -> int | None:
    try:
        return int(float(value) * 1000)
    except (TypeError, ValueError):
        return None


def _read_jsonl(data: bytes, out: _Scrobbles) -> None:
    out.kind("listenbrainz_jsonl", "export")
    for number, line in enumerate(data.split(b"\n"), start=1):
        line = line.strip().lstrip(b"\xef\xbb\xbf")
        if not line:
            continue
        try:
            listen = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            out.reject(number, f"not JSON: {exc}", line.decode("utf-8", "replace"))
            continue
        _listen(out, number, listen)


# --------------------------------------------------------------------------------------------
# CSV and TSV: the export tools, the old archive's scrobbles.tsv
# --------------------------------------------------------------------------------------------

# Header names -> column, in order of preference (the first present wins).
_TIME_COLUMNS = ("uts", "unixtime", "timestamp", "unix timestamp", "utc_time", "iso time",
                 "date", "time", "datetime", "played_at")  # fmt: skip
_ARTIST_COLUMNS = ("artist", "artist name", "artist_name", "uncorrected artist name")
_TRACK_COLUMNS = ("track", "name", "track name", "track_name", "title",
                  "uncorrected track name")  # fmt: skip
_ALBUM_COLUMNS = ("album", "album name", "album_name", "release")


@dataclass(frozen=True)
class _Shape:
    """Where a CSV's fields are: column positions (lists: the first non-empty wins).
    ``quoted``: whether ``"`` quotes a field (lastexport.py and lastfm-to-csv never quote:
    a ``"`` there is part of a name, ``"Weird Al" Yankovic``)."""

    variant: str
    delimiter: str
    header: bool
    time: tuple[int, ...]
    artist: tuple[int, ...]
    track: tuple[int, ...]
    album: tuple[int, ...]
    fmt: str = "lastfm_csv"
    quoted: bool = True


def _csv_shape(head: bytes) -> _Shape | None:
    text = head.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return None
    delimiter = "\t" if "\t" in lines[0] else ","
    rows = list(csv.reader(lines[:3], delimiter=delimiter))
    first = [f.strip().lower() for f in rows[0]]
    if sum(c in first for c in (*_TIME_COLUMNS, *_ARTIST_COLUMNS, *_TRACK_COLUMNS)) >= 3:
        return _header_shape(first, delimiter)
    # A row with a time (lastfm-to-csv starts with the now-playing track, dated "").
    data = next((r for r in rows if r and r[-1].strip()), rows[0])
    if delimiter == "\t" and len(data) == 7 and _DIGITS.fullmatch(data[0].strip()):
        return _Shape("lastexport.py", "\t", False, (0,), (2,), (1,), (3,), quoted=False)
    if len(data) == 4 and _DIGITS.fullmatch(data[0].strip()):
        return _Shape("uts,artist,album,track", ",", False, (0,), (1,), (3,), (2,))
    if len(data) == 4 and _TEXT_DATE.fullmatch(data[3].strip()):
        return _Shape("lastfm-to-csv", ",", False, (3,), (0,), (2,), (1,), quoted=False)
    return None


def _header_shape(first: list[str], delimiter: str) -> _Shape | None:
    def where(names: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(first.index(n) for n in names if n in first)

    time, artist, track = where(_TIME_COLUMNS), where(_ARTIST_COLUMNS), where(_TRACK_COLUMNS)
    if not (time and artist and track):
        return None
    archive = "iso time" in first and "unixtime" in first
    if first == ["artist", "album", "name", "date"]:  # lastfm-to-csv's v2: values stripped
        return _Shape("lastfm-to-csv v2", ",", True, time, artist, track, (1,), quoted=False)
    variant = "archive scrobbles.tsv" if archive else "header: " + ",".join(first)[:80]
    fmt = "lastfm_archive_tsv" if archive else "lastfm_csv"
    return _Shape(variant, delimiter, True, time, artist, track, where(_ALBUM_COLUMNS), fmt)


def _read_csv(data: bytes, name: str, out: _Scrobbles) -> None:
    text, _ = csv_as_utf8(data, name)
    shape = _csv_shape(text[:_SNIFF_BYTES])
    if shape is None:
        raise BadFile("not a Last.fm export CSV")
    out.kind(shape.fmt, shape.variant)
    lines = text.decode("utf-8").split("\n")
    quoting = csv.QUOTE_MINIMAL if shape.quoted else csv.QUOTE_NONE
    reader = csv.reader(lines, delimiter=shape.delimiter, quoting=quoting)
    width = None
    for number, fields in enumerate(reader, start=1):
        if not fields or not any(f.strip() for f in fields):
            continue
        if shape.header and width is None:
            width = len(fields)
            continue
        width = width or len(fields)
        _csv_record(out, shape, number, fields, width, lines[number - 1])


def _csv_record(
    out: _Scrobbles, shape: _Shape, number: int, fields: list[str], width: int, line: str
) -> None:
    if len(fields) != width:
        out.reject(number, f"{len(fields)} fields, expected {width}", line)
        return

    def pick(columns: tuple[int, ...]) -> str | None:
        return next((fields[c].strip() for c in columns if fields[c].strip()), None)

    when = pick(shape.time)
    if when is None and shape.variant.startswith("lastfm-to-csv"):
        out.now_playing += 1  # the tool writes the track playing now with an empty date
        return
    out.add(number, when, (pick(shape.artist), pick(shape.track), pick(shape.album)), line)

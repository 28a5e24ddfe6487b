"""Catalog lookups, Dagster-free: every track the listening history (and the charts)
references, fetched with its artists, within a per-run budget that the next run continues.

What is looked up, in this order each run:

1. **names** (account-data rows and Last.fm scrobbles carry no URI, ListenBrainz's not
   always): each distinct (artist, track) pair that no catalog track resolves is searched
   once (``GET /search``, ``type=track``, 10 results, the most a development-mode app gets).
   The answer is decided by :func:`accept_match` and kept in a persistent cache,
   ``state/catalog_lookups/name_matches.parquet``: matched (with the track id), ``not_found``
   or ``ambiguous`` (with the reason). A pair is never searched twice.
   A matched search result is a full TrackObject: it enters the catalog with no further call.
2. **tracks** referenced by id that the catalog does not know, or knew longer ago than
   ``refresh_hours``, and that no search of step 1 returned: ``GET /tracks?ids=`` (50 per
   call) in extended mode, one ``GET /tracks/{id}`` per id with bounded concurrency in
   development mode. Albums need no calls: a TrackObject embeds its album with every column
   of ``core.albums``.
3. **artists** credited on the tracks looked up that the catalog does not know (genres come
   from them): ``GET /artists?ids=`` (50) or one per id.

Ids Spotify does not know (``null`` in a batch, 404 alone) are remembered as ``not_found`` in
``state/catalog_lookups/entities.parquet`` and asked again only after ``refresh_hours``.

Budget: a run makes at most ``max_calls`` calls and stops starting new ones after
``max_seconds``; a ``Retry-After`` longer than the client's maximum wait, a dead token or a
missing Premium ends the run too. Whatever was answered is in the lake (raw bodies under
``raw/catalog_lookups/<run>/``, written every few hundred bodies and when the run ends) and in
the state files, so the next run asks only for the rest. ``state/catalog_lookups/progress.json``
says what is known, what is left, an estimate of the runs left and, after a long
``Retry-After``, when the next run may continue.
"""

from __future__ import annotations

import io
import logging
import math
import re
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.catalog.parse import parse_track_bodies, utc_naive
from spotify_assets.lib.catalog.snapshots import STOP_ERRORS, get_json, put_json
from spotify_assets.lib.lake import LakeStore
from spotify_assets.lib.spotify_client import (
    MAX_IDS,
    RetryAfterTooLong,
    SpotifyApiError,
    SpotifyCatalogClient,
)

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

logger = logging.getLogger("spotify_assets.catalog")

LOOKUPS_PREFIX = "raw/catalog_lookups"
STATE_PREFIX = "state/catalog_lookups"
ENTITIES_STATE_KEY = f"{STATE_PREFIX}/entities.parquet"
NAMES_STATE_KEY = f"{STATE_PREFIX}/name_matches.parquet"
PROGRESS_KEY = f"{STATE_PREFIX}/progress.json"

SEARCH_LIMIT = 10  # the most a development-mode app gets per search (2026)
BODIES_PER_OBJECT = 500  # bodies per lake object: a crash loses at most this many answers

ENTITY_COLUMNS = ["kind", "id", "status", "observed_at", "artist_ids"]
#: ``core.streams`` rows with names and maybe no track id: account data and the scrobbles kept
#: as plays of their own (``NAME_KEYED_FORMATS`` of lib/listening/sources.py; the domains do
#: not import each other, a test holds them equal).
NAMES_ONLY_FORMATS: tuple[str, ...] = ("account_data", "lastfm", "listenbrainz")
NAME_COLUMNS = [
    "artist_name",
    "track_name",
    "status",
    "track_id",
    "candidates",
    "reason",
    "searched_at",
]


# -- the acceptance rule of a search ---------------------------------------------------------

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "´": "'", "`": "'"})
_FEAT = re.compile(r"\s*[\(\[]\s*(feat\.?|ft\.?|featuring|with)\s[^\)\]]*[\)\]]", re.IGNORECASE)
_REMASTER = re.compile(
    r"\s*(-\s*[^-]*\bremaster(ed)?\b[^-]*$|[\(\[][^\)\]]*\bremaster(ed)?\b[^\)\]]*[\)\]])",
    re.IGNORECASE,
)


def norm_name(text: str | None) -> str:
    """Names as compared: NFKC (full-width and composed forms alike), case-folded, curly
    quotes straight, whitespace collapsed. Accents are kept: ``Café`` is not ``Cafe``."""
    text = unicodedata.normalize("NFKC", text or "").translate(_QUOTES).casefold()
    return " ".join(text.split())


def base_title(text: str | None) -> str:
    """A title without its featured artists and remaster marks (``Song (feat. X)``,
    ``Song - Remastered 2011``, ``Song [2009 Remaster]`` are all ``song``); nothing else is
    cut (``Song - Live`` stays a different recording)."""
    return norm_name(_REMASTER.sub("", _FEAT.sub("", text or "")))


@dataclass(frozen=True)
class MatchDecision:
    status: str  # "matched", "not_found" or "ambiguous"
    track_id: str | None
    candidates: int
    reason: str


def accept_match(artist_name: str, track_name: str, items: list[dict[str, Any]]) -> MatchDecision:
    """The rule (docs/USER_GUIDE.md, "Catalog lookups"): of the search results, the candidates
    are the tracks whose primary artist has the row's artist name and whose title is the row's title
    (compared by :func:`norm_name`); when none has the same title, titles are compared without
    featured artists and remaster marks (:func:`base_title`). One distinct candidate (or several
    with one ISRC: the same recording on an album and a single) is a match, taken in Spotify's
    order; several recordings are ambiguous; none is not found."""
    artist = norm_name(artist_name)
    by_artist = [
        t
        for t in items
        if t
        and t.get("id")
        and t.get("artists")
        and norm_name(t["artists"][0].get("name")) == artist
    ]
    exact = [t for t in by_artist if norm_name(t.get("name")) == norm_name(track_name)]
    how = "same title"
    if not exact:
        exact = [t for t in by_artist if base_title(t.get("name")) == base_title(track_name)]
        how = "same title without feat./remaster marks"
    ids = list(dict.fromkeys(t["id"] for t in exact))
    if not ids:
        why = (
            f"{len(items)} results, none by artist {artist_name!r}"
            if not by_artist
            else f"{len(by_artist)} results by the artist, none titled {track_name!r}"
        )
        return MatchDecision("not_found", None, 0, why)
    isrcs = {(t.get("external_ids") or {}).get("isrc") for t in exact}
    if len(ids) == 1 or (len(isrcs) == 1 and None not in isrcs):
        return MatchDecision("matched", ids[0], len(ids), f"{how}, primary artist")
    return MatchDecision(
        "ambiguous", None, len(ids), f"{len(ids)} different recordings with {how}: {', '.join(ids)}"
    )


def search_query(artist_name: str, track_name: str) -> str:
    """Field filters on track and artist; double quotes in names would end a phrase."""
    clean = lambda s: " ".join((s or "").replace('"', " ").split())  # noqa: E731
    return f'track:"{clean(track_name)}" artist:"{clean(artist_name)}"'


# -- state -----------------------------------------------------------------------------------


def _read_frame(store: LakeStore, key: str, columns: list[str]) -> pd.DataFrame:
    if store.exists(key):
        return pd.read_parquet(io.BytesIO(store.get_bytes(key)))[columns]
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _put_frame(store: LakeStore, key: str, df: pd.DataFrame) -> None:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    store.put_bytes(key, buf.getvalue())


def _append(old: pd.DataFrame, rows: list[dict[str, Any]], key: list[str]) -> pd.DataFrame:
    new = pd.DataFrame(rows, columns=list(old.columns))
    both = new if not len(old) else pd.concat([old, new], ignore_index=True)
    return both.drop_duplicates(key, keep="last").reset_index(drop=True)


def load_entity_state(store: LakeStore) -> pd.DataFrame:
    """Every id looked up: kind (track or artist), found or not_found, when, credits."""
    return _read_frame(store, ENTITIES_STATE_KEY, ENTITY_COLUMNS)


def load_name_matches(store: LakeStore) -> pd.DataFrame:
    """The search cache: one row per (artist, track) name pair ever searched."""
    return _read_frame(store, NAMES_STATE_KEY, NAME_COLUMNS)


# -- what to look up ------------------------------------------------------------------------


def _tables(conn: Any) -> set[str]:
    return {
        f"{s}.{t}"
        for s, t in conn.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }


@dataclass
class LookupPlan:
    """What a run starts from. ``tracks``/``names`` are what is left to ask; the counts
    describe the whole history, for progress."""

    referenced_tracks: int
    known_tracks: int
    not_found_tracks: int
    tracks: list[str]
    names: list[tuple[str, str]]
    names_cached: int
    known_artists: set[str] = field(default_factory=set)
    #: Artists catalog datasets credit that the catalog lacks (core.unresolved_track_artists).
    unresolved_artists: set[str] = field(default_factory=set)


def plan_lookups(
    conn: Any, store: LakeStore, *, refresh_hours: float, now: datetime | None = None
) -> LookupPlan:
    """Track ids that ``core.streams`` (and ``core.chart_entries`` when present) reference
    and that neither the catalog (``core.tracks``) nor an earlier lookup observed within
    ``refresh_hours`` (nor found unknown to Spotify within it); and the name pairs of
    account-data rows and scrobbles without a track id that were never searched."""
    now_naive = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    since = now_naive - timedelta(hours=refresh_hours)
    tables = _tables(conn)
    sources = []
    if "core.streams" in tables:
        sources.append("select track_id from core.streams where track_id is not null")
    if "core.chart_entries" in tables:
        sources.append("select track_id from core.chart_entries where track_id is not null")
    referenced: set[str] = set()
    if sources:
        referenced = {
            r[0]
            for r in conn.execute(
                f"select distinct track_id from ({' union '.join(sources)})"
            ).fetchall()
        }
    known: set[str] = set()
    if "core.tracks" in tables:
        known = {
            r[0]
            for r in conn.execute(
                "select track_id from core.tracks where last_seen >= ?", [since]
            ).fetchall()
        }
    state = load_entity_state(store)
    state = state[(state["kind"] == "track") & (pd.to_datetime(state["observed_at"]) >= since)]
    found = set(state.loc[state["status"] == "found", "id"])
    not_found = set(state.loc[state["status"] == "not_found", "id"])
    todo = sorted(referenced - known - found - not_found)
    names: list[tuple[str, str]] = []
    cached = load_name_matches(store)
    if "core.streams" in tables:
        formats = ", ".join(f"'{f}'" for f in NAMES_ONLY_FORMATS)
        pairs = conn.execute(
            "select distinct artist_name, track_name from core.streams "
            f"where source_format in ({formats}) and track_id is null "
            "and content_type in ('music', 'unknown') "
            "and artist_name is not null and track_name is not null order by all"
        ).fetchall()
        seen = set(zip(cached["artist_name"], cached["track_name"], strict=True))
        names = [(a, t) for a, t in pairs if (a, t) not in seen]
    unresolved: set[str] = set()
    if "core.unresolved_track_artists" in tables:
        unresolved = {
            r[0]
            for r in conn.execute(
                "select distinct artist_id from core.unresolved_track_artists"
            ).fetchall()
        }
    return LookupPlan(
        referenced_tracks=len(referenced),
        known_tracks=len(referenced & (known | found)),
        not_found_tracks=len(referenced & not_found),
        tracks=todo,
        names=names,
        names_cached=len(cached),
        known_artists=known_artist_ids(conn, store, refresh_hours=refresh_hours, now=now_naive),
        unresolved_artists=unresolved,
    )


def known_artist_ids(
    conn: Any, store: LakeStore, *, refresh_hours: float, now: datetime
) -> set[str]:
    """Artists fetched (or found unknown) within the refresh window: ``core.artists`` and
    the lookups' own state."""
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    since = now - timedelta(hours=refresh_hours)
    known: set[str] = set()
    if "core.artists" in _tables(conn):
        known = {
            r[0]
            for r in conn.execute(
                "select artist_id from core.artists where fetched_at >= ?", [since]
            ).fetchall()
        }
    state = load_entity_state(store)
    state = state[(state["kind"] == "artist") & (pd.to_datetime(state["observed_at"]) >= since)]
    return known | set(state["id"])


# -- the run ---------------------------------------------------------------------------------


@dataclass
class LookupBudget:
    max_calls: int
    max_seconds: float


@dataclass
class LookupRun:
    """What one run did, and where the work stands after it."""

    plan: LookupPlan
    run_key: str
    calls: dict[str, int] = field(default_factory=dict)
    searched: int = 0
    names_matched: int = 0
    names_ambiguous: int = 0
    names_not_found: int = 0
    tracks_fetched: int = 0
    tracks_not_found: int = 0
    artists_fetched: int = 0
    artists_not_found: int = 0
    tracks_left: int = 0
    names_left: int = 0
    artists_left: int = 0
    stopped: str | None = None  # why the run ended before finishing: budget, or an error
    failure: SpotifyApiError | None = None
    continue_after: datetime | None = None
    seconds: float = 0.0

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def finished(self) -> bool:
        return not (self.tracks_left or self.names_left or self.artists_left)

    def estimated_runs_left(self, budget: LookupBudget, batch: bool) -> int:
        """Calls still needed for what is known to be missing (the artists of tracks not yet
        fetched are not known yet, so not counted), over the budget."""
        per = MAX_IDS["tracks"] if batch else 1
        calls = (
            self.names_left
            + math.ceil(self.tracks_left / per)
            + math.ceil(self.artists_left / (MAX_IDS["artists"] if batch else 1))
        )
        return math.ceil(calls / max(1, budget.max_calls))

    def progress(self, budget: LookupBudget, batch: bool) -> dict[str, Any]:
        return {
            "updated_at": datetime.now(UTC).isoformat(),
            "run": self.run_key,
            "tracks_referenced": self.plan.referenced_tracks,
            "tracks_known": self.plan.known_tracks + self.tracks_fetched,
            "tracks_to_fetch": self.tracks_left,
            "tracks_not_found": self.plan.not_found_tracks + self.tracks_not_found,
            "artists_to_fetch": self.artists_left,
            "names_to_search": self.names_left,
            "estimated_runs_left": self.estimated_runs_left(budget, batch),
            "finished": self.finished,
            "stopped": self.stopped,
            "continue_after": self.continue_after.isoformat() if self.continue_after else None,
            "api_calls": self.total_calls,
        }


class _Writer:
    """Raw bodies into ``raw/catalog_lookups/<run>/<kind>-<n>.json`` and the state files,
    every :data:`BODIES_PER_OBJECT` bodies and at the end (whatever happened)."""

    def __init__(self, store: LakeStore, run_key: str) -> None:
        self.store = store
        self.run_key = run_key
        self.n = 0
        self.pending: dict[str, dict[str, Any]] = {}
        self.pending_bodies = 0  # a batch record holds up to 50 bodies, a search one 1
        self.entities = load_entity_state(store)
        self.names = load_name_matches(store)
        self.new_entities: list[dict[str, Any]] = []
        self.new_names: list[dict[str, Any]] = []

    def add(self, kind: str, endpoint: str, record: dict[str, Any]) -> None:
        doc = self.pending.setdefault(
            kind, {"kind": kind, "endpoint": endpoint, "fetched_at": None, "records": []}
        )
        doc["records"].append(record)
        doc["fetched_at"] = datetime.now(UTC).isoformat()
        self.pending_bodies += len(record["bodies"]) if "bodies" in record else 1
        if self.pending_bodies >= BODIES_PER_OBJECT:
            self.flush()

    def entity(self, kind: str, id_: str, status: str, artist_ids: list[str] | None = None) -> None:
        self.new_entities.append(
            {
                "kind": kind,
                "id": id_,
                "status": status,
                "observed_at": datetime.now(UTC).replace(tzinfo=None),
                "artist_ids": ",".join(artist_ids or []),
            }
        )

    def name(self, artist: str, track: str, decision: MatchDecision) -> None:
        self.new_names.append(
            {
                "artist_name": artist,
                "track_name": track,
                "status": decision.status,
                "track_id": decision.track_id,
                "candidates": decision.candidates,
                "reason": decision.reason,
                "searched_at": datetime.now(UTC).replace(tzinfo=None),
            }
        )

    def flush(self) -> None:
        """Raw bodies first, then the state that says they were asked: a crash in between
        repeats no call the state claims, it only asks again for what it does not."""
        for kind, doc in list(self.pending.items()):
            if doc["records"]:
                self.n += 1
                put_json(
                    self.store, f"{LOOKUPS_PREFIX}/{self.run_key}/{kind}-{self.n:05d}.json", doc
                )
        self.pending = {}
        self.pending_bodies = 0
        if self.new_entities:
            self.entities = _append(self.entities, self.new_entities, ["kind", "id"])
            _put_frame(self.store, ENTITIES_STATE_KEY, self.entities)
            self.new_entities = []
        if self.new_names:
            self.names = _append(self.names, self.new_names, ["artist_name", "track_name"])
            _put_frame(self.store, NAMES_STATE_KEY, self.names)
            self.new_names = []


def run_lookups(
    plan: LookupPlan,
    store: LakeStore,
    client: SpotifyCatalogClient,
    *,
    budget: LookupBudget,
    now: datetime | None = None,
    log: logging.Logger | None = None,
) -> LookupRun:
    """One run of ``plan`` (:func:`plan_lookups`; the warehouse is not needed while
    fetching): names, then tracks, then their artists, until done or the budget is spent.
    Errors that stop every further call (a long ``Retry-After``, a dead token, no Premium)
    end the run with its progress kept and are returned in it, not raised."""
    log = log or logger
    now = now or datetime.now(UTC)
    started = time.monotonic()
    run_key = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run = LookupRun(plan=plan, run_key=run_key)
    writer = _Writer(store, run_key)
    loop = _LookupLoop(plan, client, writer, run, budget, started)
    try:
        loop.search_names()
        if loop.names_done == len(plan.names):
            loop.fetch_tracks()
        # Artists of every track looked up (this run's and earlier runs').
        writer.flush()
        artists_todo = _artists_to_fetch(plan, writer)
        if loop.names_done == len(plan.names) and loop.tracks_done == len(plan.tracks):
            run.artists_left = len(artists_todo) - loop.fetch_artists(artists_todo)
        else:
            run.artists_left = len(artists_todo)
    except STOP_ERRORS as exc:
        run.failure = exc
        run.stopped = str(exc)
        if isinstance(exc, RetryAfterTooLong):
            run.continue_after = datetime.now(UTC) + timedelta(seconds=exc.retry_after_s)
        log.warning(f"catalog lookups stopped, progress kept: {exc}")
    finally:
        writer.flush()
    run.names_left = len(plan.names) - loop.names_done
    run.tracks_left = len(plan.tracks) - loop.tracks_done
    run.calls = dict(sorted(client.stats.calls.items()))
    run.seconds = time.monotonic() - started
    if run.finished:
        run.stopped = None if run.failure is None else run.stopped
    put_json(store, PROGRESS_KEY, run.progress(budget, bool(client.batch_mode)))
    return run


class _LookupLoop:
    """The three phases of a lookup run and their progress (``names_done``, ``tracks_done``:
    counted as they go, so a stopping error keeps them)."""

    def __init__(
        self,
        plan: LookupPlan,
        client: SpotifyCatalogClient,
        writer: _Writer,
        run: LookupRun,
        budget: LookupBudget,
        started: float,
    ):
        self.plan, self.client, self.writer = plan, client, writer
        self.run, self.budget = run, budget
        self.started = started  # time.monotonic() when the run began
        self.base_calls = client.stats.total_calls
        self.searched: set[str] = set()  # tracks a search answered with their full body
        self.names_done = 0
        self.tracks_done = 0

    def spent(self) -> bool:
        """Whether the budget is spent (then says so in the run, once)."""
        run, budget = self.run, self.budget
        if self.client.stats.total_calls - self.base_calls >= budget.max_calls:
            run.stopped = run.stopped or f"call budget of {budget.max_calls} spent"
            return True
        if time.monotonic() - self.started >= budget.max_seconds:
            run.stopped = run.stopped or f"time budget of {budget.max_seconds:.0f} s spent"
            return True
        return False

    def search_names(self) -> None:
        """1. names: search each (artist, track) pair and decide on a match."""
        client, writer, run = self.client, self.writer, self.run
        for artist, track in self.plan.names:
            if self.spent():
                break
            query = search_query(artist, track)
            body = client.search_tracks(query, limit=SEARCH_LIMIT)
            items = [t for t in ((body.get("tracks") or {}).get("items") or []) if t]
            decision = accept_match(artist, track, items)
            chosen = next((t for t in items if t.get("id") == decision.track_id), None)
            writer.add(
                "search",
                "GET /search",
                {
                    "artist_name": artist,
                    "track_name": track,
                    "q": query,
                    "status": decision.status,
                    "track_id": decision.track_id,
                    "track": chosen,
                    "result_ids": [t.get("id") for t in items],
                },
            )
            writer.name(artist, track, decision)
            if chosen is not None:
                credited = [a["id"] for a in chosen.get("artists") or [] if a and a.get("id")]
                writer.entity("track", chosen["id"], "found", credited)
                self.searched.add(chosen["id"])
            run.searched += 1
            self.names_done += 1
            counter = {"matched": "names_matched", "ambiguous": "names_ambiguous"}.get(
                decision.status, "names_not_found"
            )
            setattr(run, counter, getattr(run, counter) + 1)

    def fetch_tracks(self) -> None:
        """2. tracks, but not those a search of this run answered already (an account-data
        pair of a track that other rows reference by id): nothing is asked twice."""
        client, writer, run, plan = self.client, self.writer, self.run, self.plan
        todo = [x for x in plan.tracks if x not in self.searched]
        self.tracks_done = len(plan.tracks) - len(todo)
        run.tracks_fetched += self.tracks_done
        for asked, bodies in client.entity_calls("tracks", todo, should_stop=self.spent):
            self.tracks_done += len(asked)
            got = {b["id"]: b for b in bodies if b and b.get("id")}
            for x in asked:
                if x in got:
                    b = got[x]
                    credited = [a["id"] for a in b.get("artists") or [] if a and a.get("id")]
                    writer.entity("track", x, "found", credited)
                    run.tracks_fetched += 1
                else:
                    writer.entity("track", x, "not_found")
                    run.tracks_not_found += 1
            writer.add(
                "tracks",
                "GET /tracks" if client.batch_mode else "GET /tracks/{id}",
                {"requested": asked, "bodies": bodies},
            )

    def fetch_artists(self, artists_todo: list[str]) -> int:
        """3. artists; returns how many were asked."""
        client, writer, run = self.client, self.writer, self.run
        done_artists = 0
        for asked, bodies in client.entity_calls("artists", artists_todo, should_stop=self.spent):
            got = {b["id"] for b in bodies if b and b.get("id")}
            for x in asked:
                writer.entity("artist", x, "found" if x in got else "not_found")
            run.artists_fetched += len(got)
            run.artists_not_found += len(asked) - len(got)
            done_artists += len(asked)
            writer.add(
                "artists",
                "GET /artists" if client.batch_mode else "GET /artists/{id}",
                {"requested": asked, "bodies": bodies},
            )
        return done_artists


def _artists_to_fetch(plan: LookupPlan, writer: _Writer) -> list[str]:
    """Artists credited on any track the lookups found, and those catalog datasets credit
    that the catalog lacks, not known to the catalog or the lookups' state (within the
    refresh window, as of the plan: one not found is not asked again within it)."""
    state = writer.entities
    found = state[(state["kind"] == "track") & (state["status"] == "found")]
    credited = {a for ids in found["artist_ids"].dropna() for a in str(ids).split(",") if a}
    return sorted((credited | plan.unresolved_artists) - plan.known_artists)


# -- the catalog's view of the lookups -------------------------------------------------------


def lookup_documents(store: LakeStore) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every raw lookup object (key, doc), oldest run first."""
    for obj in sorted(store.list(f"{LOOKUPS_PREFIX}/"), key=lambda o: o.key):
        if obj.key.endswith(".json"):
            yield obj.key, get_json(store, obj.key)


def lookup_track_bodies(store: LakeStore) -> Iterator[tuple[dict[str, Any], datetime | None]]:
    """(TrackObject, fetched_at) of every track fetched or matched by a search."""
    for _key, doc in lookup_documents(store):
        when = utc_naive(doc.get("fetched_at"))
        for record in doc.get("records") or []:
            if doc.get("kind") == "tracks":
                bodies: Iterable[Any] = record.get("bodies") or []
            elif doc.get("kind") == "search":
                bodies = [record.get("track")]
            else:
                continue
            for body in bodies:
                if body and body.get("id"):
                    yield body, when


def lookup_artist_bodies(store: LakeStore) -> Iterator[tuple[dict[str, Any], datetime | None]]:
    for _key, doc in lookup_documents(store):
        if doc.get("kind") != "artists":
            continue
        when = utc_naive(doc.get("fetched_at"))
        for record in doc.get("records") or []:
            for body in record.get("bodies") or []:
                if body and body.get("id"):
                    yield body, when


def lookup_tables(store: LakeStore) -> dict[str, pd.DataFrame]:
    """``tracks``, ``albums`` and ``track_artists`` rows of every looked-up track (latest
    answer wins), with ``source = 'lookup'``."""
    return parse_track_bodies(lookup_track_bodies(store), source="lookup")

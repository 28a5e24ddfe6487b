"""Raw Spotify catalog bodies -> warehouse tables (Dagster-free).

A *snapshot document* is what ``raw/playlist_snapshots`` keeps in the lake for one playlist
and one 8-hour window: the playlist body exactly as the API gave it (its first page of items
embedded, as Spotify does since 2026) and every further items page, unmodified. An *artist
batch* is one ``/artists`` (or ``/artists/{id}``) answer kept by ``raw/catalog_entities``.

The parsers are tolerant of the API's variants: items under ``item`` (2026) or ``track``
(older bodies), ``tracks`` instead of ``items`` on the playlist, removed tracks (``null``),
local files and podcast episodes in playlists, fields that development-mode apps no longer
get (``popularity``, ``followers``, ``label``: null, not an error).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.catalog.genres import genre_families

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

SOURCE_DESCRIPTION = (
    "Where the row's values come from: playlist (a snapshot of a configured playlist), "
    "lookup (fetched because the history or the charts reference it), dataset (a landed "
    "catalog dataset CSV)"
)
POPULARITY_SOURCE_DESCRIPTION = (
    "Where popularity comes from: the newest observation that has one (playlist, lookup or "
    "dataset; an API answer without popularity, as development-mode apps get, is none); null "
    "when no source has it"
)
FOLLOWERS_SOURCE_DESCRIPTION = POPULARITY_SOURCE_DESCRIPTION.replace("popularity", "followers")

FIELD_SOURCES_DESCRIPTION = (
    "JSON: every field that has a value -> where it comes from (playlist, lookup, or "
    "dataset:<file> for a landed catalog dataset): each field is the newest observation that "
    "has one"
)

# Column order and pandas dtypes of every catalog table: the single source for the
# DataFrames, the DuckDB tables and the `dagster/column_schema` descriptions.
TABLE_COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "tracks": {
        "track_id": ("string", "Spotify track id (22 base62 characters)"),
        "track_name": ("string", "Track title"),
        "album_id": ("string", "The track's album (core.albums)"),
        "primary_artist_id": ("string", "First credited artist (core.artists)"),
        "duration_ms": ("Int64", "Duration in milliseconds"),
        "explicit": ("boolean", "Explicit lyrics flag"),
        "popularity": ("Int64", "Spotify popularity 0-100: the newest known value"),
        "popularity_source": ("string", POPULARITY_SOURCE_DESCRIPTION),
        "track_number": ("Int64", "Position on its disc"),
        "disc_number": ("Int64", "Disc of the album"),
        "isrc": ("string", "International Standard Recording Code"),
        "first_seen": ("datetime64[us]", "When the track was first observed (UTC)"),
        "last_seen": ("datetime64[us]", "Latest observation (UTC) the row's values come from"),
        "source": ("string", SOURCE_DESCRIPTION),
        "field_sources": ("string", FIELD_SOURCES_DESCRIPTION),
    },
    "albums": {
        "album_id": ("string", "Spotify album id"),
        "album_name": ("string", "Album title"),
        "album_type": ("string", "album, single or compilation"),
        "release_date": ("string", "As Spotify gives it: YYYY, YYYY-MM or YYYY-MM-DD"),
        "release_date_precision": ("string", "year, month or day"),
        "release_year": ("Int64", "Year of release_date; null when Spotify gives 0000"),
        "total_tracks": ("Int64", "Tracks on the album"),
        "primary_artist_id": ("string", "First album artist (core.artists)"),
        "last_seen": ("datetime64[us]", "Latest observation (UTC) the row's values come from"),
        "source": ("string", SOURCE_DESCRIPTION),
    },
    "artists": {
        "artist_id": ("string", "Spotify artist id"),
        "artist_name": ("string", "Artist name"),
        "followers": ("Int64", "Follower count: the newest known value"),
        "followers_source": ("string", FOLLOWERS_SOURCE_DESCRIPTION),
        "popularity": ("Int64", "Spotify popularity 0-100: the newest known value"),
        "popularity_source": ("string", POPULARITY_SOURCE_DESCRIPTION),
        "fetched_at": ("datetime64[us]", "When the artist body was fetched (UTC)"),
        "source": ("string", SOURCE_DESCRIPTION),
        "field_sources": ("string", FIELD_SOURCES_DESCRIPTION),
    },
    "track_artists": {
        "track_id": ("string", "core.tracks"),
        "artist_id": ("string", "core.artists"),
        "artist_position": ("Int64", "0 for the primary artist, then features in credit order"),
    },
    "unresolved_track_artists": {
        "track_id": ("string", "core.tracks"),
        "artist_id": ("string", "An artist a catalog dataset credits that core.artists lacks"),
        "artist_position": ("Int64", "0 for the primary artist, then features in credit order"),
        "source_file": ("string", "The landed dataset file the credit comes from"),
    },
    "track_audio_features": {
        "track_id": ("string", "core.tracks"),
        **{
            name: ("Float64", desc)
            for name, desc in {
                "danceability": "0-1: how suitable for dancing (tempo, rhythm, beat)",
                "energy": "0-1: intensity and activity",
                "key": "Pitch class 0-11 (0 = C); -1 when none was detected",
                "loudness": "Average loudness in dB (about -60 to 0)",
                "mode": "1 major, 0 minor",
                "speechiness": "0-1: presence of spoken words",
                "acousticness": "0-1: confidence the track is acoustic",
                "instrumentalness": "0-1: confidence the track has no vocals",
                "liveness": "0-1: presence of an audience",
                "valence": "0-1: musical positiveness (happy, cheerful) vs negative (sad, angry)",
                "tempo": "Estimated tempo in beats per minute",
                "time_signature": "Estimated beats per bar (3 to 7)",
            }.items()
        },
        "observed_at": ("datetime64[us]", "When the dataset observed them (UTC)"),
        "source_file": ("string", "The landed dataset file they come from"),
    },
    "artist_genres": {
        "artist_id": ("string", "core.artists"),
        "genre": ("string", "Spotify micro-genre"),
        "genre_family": ("string", "One of about a dozen families (see lib/catalog/genres.py)"),
    },
    "playlists": {
        "playlist_id": ("string", "Spotify playlist id"),
        "playlist_name": ("string", "Playlist name"),
        "description": ("string", "Playlist description"),
        "owner_id": ("string", "Spotify user id of the owner"),
        "owner_display_name": ("string", "Owner's display name"),
        "public": ("boolean", "Public flag (null when Spotify does not say)"),
        "collaborative": ("boolean", "Collaborative flag"),
        "followers": ("Int64", "Playlist followers; null when not given"),
        "spotify_snapshot_id": ("string", "Spotify's version id of the playlist"),
        "total_items": ("Int64", "Items in the latest snapshot, episodes and local files included"),
        "last_seen": ("datetime64[us]", "Latest snapshot (UTC) the row's values come from"),
    },
    "track_name_matches": {
        "artist_name": ("string", "Artist name of account-data rows, as the export writes it"),
        "track_name": ("string", "Track name of account-data rows, as the export writes it"),
        "status": ("string", "matched, not_found or ambiguous (left unresolved)"),
        "track_id": ("string", "The accepted search result (matched only)"),
        "candidates": ("Int64", "Distinct recordings that passed the acceptance rule"),
        "reason": ("string", "Why: the rule that matched, or why none did"),
        "searched_at": ("datetime64[us]", "When the pair was searched (UTC); never again"),
    },
    "playlist_tracks": {
        "snapshot_time": ("datetime64[us]", "Start of the 8-hour snapshot window (UTC)"),
        "playlist_id": ("string", "core.playlists"),
        "position": ("Int64", "0-based position in the playlist"),
        "track_id": ("string", "core.tracks"),
        "added_at": ("datetime64[us]", "When the track was added to the playlist (UTC)"),
        "added_by": ("string", "User id who added it, when Spotify says"),
    },
}

KEYS: dict[str, tuple[str, ...]] = {
    "tracks": ("track_id",),
    "albums": ("album_id",),
    "artists": ("artist_id",),
    "track_artists": ("track_id", "artist_id"),
    "unresolved_track_artists": ("track_id", "artist_id"),
    "track_audio_features": ("track_id",),
    "artist_genres": ("artist_id", "genre"),
    "playlists": ("playlist_id",),
    "playlist_tracks": ("snapshot_time", "playlist_id", "position"),
    "track_name_matches": ("artist_name", "track_name"),
}


def empty_frame(table: str) -> pd.DataFrame:
    return frame(table, [])


def frame(table: str, rows: Iterable[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Rows -> a DataFrame with exactly the table's columns, order and dtypes."""
    cols = TABLE_COLUMNS[table]
    df = rows.reset_index(drop=True) if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    for name in cols:
        if name not in df.columns:
            df[name] = None
    df = df[list(cols)]
    out = {}
    for name, (dtype, _desc) in cols.items():
        col = df[name]
        if dtype.startswith("datetime64"):
            col = pd.to_datetime(col, utc=True, errors="coerce").dt.tz_localize(None)
            out[name] = col.astype(dtype)
        else:
            out[name] = col.astype(dtype)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def utc_naive(value: str | datetime | None) -> datetime | None:
    """ISO text or a datetime -> naive UTC (the warehouse stores UTC without a zone)."""
    if value in (None, ""):
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def release_year(release_date: str | None) -> int | None:
    if not release_date:
        return None
    try:
        year = int(str(release_date)[:4])
    except ValueError:
        return None
    return year if year > 0 else None


@dataclass
class SnapshotDocument:
    """One playlist in one snapshot window, as kept in the lake."""

    playlist_id: str
    snapshot_time: datetime
    fetched_at: datetime
    playlist: dict[str, Any]
    item_pages: list[dict[str, Any]]  # the pages after the one embedded in `playlist`

    def to_json(self) -> dict[str, Any]:
        return {
            "playlist_id": self.playlist_id,
            "snapshot_time": self.snapshot_time.isoformat(),
            "fetched_at": self.fetched_at.isoformat(),
            "playlist": self.playlist,
            "item_pages": self.item_pages,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SnapshotDocument:
        try:
            return cls(
                playlist_id=doc["playlist_id"],
                snapshot_time=utc_naive(doc["snapshot_time"]),  # type: ignore[arg-type]
                fetched_at=utc_naive(doc["fetched_at"]),  # type: ignore[arg-type]
                playlist=doc["playlist"],
                item_pages=list(doc.get("item_pages") or []),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a snapshot document: missing {exc}") from exc

    def pages(self) -> Iterator[dict[str, Any]]:
        first = embedded_items_page(self.playlist)
        if first is not None:
            yield first
        yield from self.item_pages


def embedded_items_page(playlist: dict[str, Any]) -> dict[str, Any] | None:
    """The first items page embedded in a playlist body (``items`` in 2026, ``tracks``
    before), or None when the body carries only a reference (``{href, total}``)."""
    for key in ("items", "tracks"):
        page = playlist.get(key)
        if isinstance(page, dict) and isinstance(page.get("items"), list):
            return page
    return None


@dataclass
class ParseStats:
    items: int = 0
    tracks: int = 0
    episodes: int = 0
    local_files: int = 0
    unavailable: int = 0

    def add(self, other: ParseStats) -> None:
        for name in ("items", "tracks", "episodes", "local_files", "unavailable"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class ParsedPlaylist:
    playlist: dict[str, Any]
    entries: list[dict[str, Any]]
    tracks: list[dict[str, Any]]
    albums: list[dict[str, Any]]
    track_artists: list[dict[str, Any]]
    artist_ids: set[str]
    stats: ParseStats


def track_body_rows(
    obj: dict[str, Any], when: datetime | None, *, source: str
) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]:
    """One TrackObject observed at ``when`` -> its tracks row, its album's row (the
    simplified album every TrackObject embeds carries every column of ``core.albums``) and
    its credits, primary artist first."""
    track_id = obj["id"]
    credited = [a["id"] for a in obj.get("artists") or [] if a and a.get("id")]
    album = obj.get("album") or {}
    track = {
        "track_id": track_id,
        "track_name": obj.get("name"),
        "album_id": album.get("id"),
        "primary_artist_id": credited[0] if credited else None,
        "duration_ms": obj.get("duration_ms"),
        "explicit": obj.get("explicit"),
        "popularity": obj.get("popularity"),
        "track_number": obj.get("track_number"),
        "disc_number": obj.get("disc_number"),
        "isrc": (obj.get("external_ids") or {}).get("isrc"),
        "first_seen": when,
        "last_seen": when,
        "source": source,
    }
    credits = [
        {"track_id": track_id, "artist_id": artist_id, "artist_position": i}
        for i, artist_id in enumerate(dict.fromkeys(credited))
    ]
    album_row = None
    if album.get("id"):
        album_artists = [a["id"] for a in album.get("artists") or [] if a and a.get("id")]
        album_row = {
            "album_id": album["id"],
            "album_name": album.get("name"),
            "album_type": (album.get("album_type") or "").lower() or None,
            "release_date": album.get("release_date"),
            "release_date_precision": album.get("release_date_precision"),
            "release_year": release_year(album.get("release_date")),
            "total_tracks": album.get("total_tracks"),
            "primary_artist_id": album_artists[0] if album_artists else None,
            "last_seen": when,
            "source": source,
        }
    return track, album_row, credits


def parse_track_bodies(
    bodies: Iterable[tuple[dict[str, Any], datetime | None]], *, source: str
) -> dict[str, pd.DataFrame]:
    """(TrackObject, observed_at) pairs, oldest first -> ``tracks``, ``albums`` and
    ``track_artists`` (the latest observation of each wins; ``first_seen`` the earliest)."""
    tracks: dict[str, dict[str, Any]] = {}
    albums: dict[str, dict[str, Any]] = {}
    credits: dict[str, list[dict[str, Any]]] = {}
    for body, when in bodies:
        track, album, rows = track_body_rows(body, when, source=source)
        old = tracks.get(track["track_id"])
        if old is not None and old["first_seen"] is not None and when is not None:
            track["first_seen"] = min(old["first_seen"], when)
        tracks[track["track_id"]] = track
        if album is not None:
            albums[album["album_id"]] = album
        credits[track["track_id"]] = rows
    return {
        "tracks": frame("tracks", tracks.values()),
        "albums": frame("albums", albums.values()),
        "track_artists": frame("track_artists", (r for rows in credits.values() for r in rows)),
    }


def merge_sources(
    playlist: dict[str, pd.DataFrame], *others: dict[str, pd.DataFrame]
) -> dict[str, pd.DataFrame]:
    """The catalog's ``tracks``, ``albums`` and ``track_artists`` from every source: for
    each entity the newest observation (``last_seen``) wins, whatever its source (ties: the
    playlist's); a track's ``first_seen`` is its earliest anywhere; its credits come with
    the winning observation."""
    out = dict(playlist)
    for table, key in (("tracks", "track_id"), ("albums", "album_id")):
        parts = [playlist[table], *(o[table] for o in others)]
        parts = [p for p in parts if len(p)]
        if not parts:
            continue
        df = pd.concat(parts, ignore_index=True)
        df["_order"] = range(len(df))  # on equal times the earlier source (playlist) wins
        df = df.sort_values([key, "last_seen", "_order"], ascending=[True, False, True])
        if table == "tracks":
            first = df.groupby("track_id")["first_seen"].min()
        df = df.drop_duplicates(key, keep="first").drop(columns="_order")
        if table == "tracks":
            df["first_seen"] = df["track_id"].map(first)
        out[table] = frame(table, df.sort_values(key))
    winners = out["tracks"][["track_id", "source"]]
    credit_parts = []
    for tables in (playlist, *others):
        ta = tables["track_artists"]
        if not len(ta):
            continue
        src = tables["tracks"][["track_id", "source"]].drop_duplicates("track_id")
        ta = ta.merge(src, on="track_id", how="left")
        credit_parts.append(ta)
    if credit_parts:
        credits = pd.concat(credit_parts, ignore_index=True).merge(
            winners, on=["track_id", "source"], how="inner"
        )
        credits = credits.drop_duplicates(["track_id", "artist_id"], keep="first")
        out["track_artists"] = frame("track_artists", credits.drop(columns="source"))
    tracks = out["tracks"]
    tracks["popularity_source"] = tracks["source"].where(tracks["popularity"].notna())
    return out


def parse_snapshot(doc: SnapshotDocument) -> ParsedPlaylist:
    """One snapshot document -> rows for playlists, playlist_tracks, tracks, albums and
    track_artists, plus the artist ids to fetch."""
    body = doc.playlist
    when = utc_naive(doc.snapshot_time)  # the warehouse keeps UTC without a time zone
    entries: list[dict[str, Any]] = []
    tracks: list[dict[str, Any]] = []
    albums: list[dict[str, Any]] = []
    track_artists: list[dict[str, Any]] = []
    artist_ids: set[str] = set()
    stats = ParseStats()
    position = 0
    for page in doc.pages():
        offset = page.get("offset")
        if isinstance(offset, int):
            position = offset
        for item in page.get("items") or []:
            stats.items += 1
            pos = position
            position += 1
            obj = (item or {}).get("item") or (item or {}).get("track")
            if not obj:
                stats.unavailable += 1  # removed from Spotify: Spotify answers null
                continue
            if obj.get("type") == "episode":
                stats.episodes += 1
                continue
            if item.get("is_local") or obj.get("is_local") or not obj.get("id"):
                stats.local_files += 1
                continue
            stats.tracks += 1
            track_id = obj["id"]
            entries.append(
                {
                    "snapshot_time": when,
                    "playlist_id": doc.playlist_id,
                    "position": pos,
                    "track_id": track_id,
                    "added_at": utc_naive(item.get("added_at")),
                    "added_by": (item.get("added_by") or {}).get("id"),
                }
            )
            track, album, credits = track_body_rows(obj, when, source="playlist")
            tracks.append(track)
            track_artists.extend(credits)
            artist_ids.update(c["artist_id"] for c in credits)
            if album is not None:
                albums.append(album)
                if album["primary_artist_id"]:
                    artist_ids.update(
                        a["id"]
                        for a in (obj.get("album") or {}).get("artists") or []
                        if a and a.get("id")
                    )
    owner = body.get("owner") or {}
    followers = body.get("followers") or {}
    first = embedded_items_page(body)
    total = (first or body.get("items") or body.get("tracks") or {}).get("total")
    playlist = {
        "playlist_id": doc.playlist_id,
        "playlist_name": body.get("name"),
        "description": body.get("description"),
        "owner_id": owner.get("id"),
        "owner_display_name": owner.get("display_name"),
        "public": body.get("public"),
        "collaborative": body.get("collaborative"),
        "followers": followers.get("total") if isinstance(followers, dict) else None,
        "spotify_snapshot_id": body.get("snapshot_id"),
        "total_items": total if total is not None else stats.items,
        "last_seen": when,
    }
    return ParsedPlaylist(playlist, entries, tracks, albums, track_artists, artist_ids, stats)


WINDOW_TABLES = ("playlist_tracks", "tracks", "albums", "track_artists", "playlists")


@dataclass
class CatalogAccumulator:
    """Collects the parsed playlists of one snapshot window into its tables (an entity seen
    in several playlists of the window once; the latest fed wins)."""

    tracks: dict[str, dict[str, Any]] = field(default_factory=dict)
    albums: dict[str, dict[str, Any]] = field(default_factory=dict)
    playlists: dict[str, dict[str, Any]] = field(default_factory=dict)
    track_artists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    stats: ParseStats = field(default_factory=ParseStats)

    def add(self, parsed: ParsedPlaylist) -> None:
        self.entries.extend(parsed.entries)
        self.playlists[parsed.playlist["playlist_id"]] = parsed.playlist
        for row in parsed.tracks:
            old = self.tracks.get(row["track_id"])
            if old is not None:
                row = {**row, "first_seen": min(old["first_seen"], row["first_seen"])}
            self.tracks[row["track_id"]] = row
        for row in parsed.albums:
            self.albums[row["album_id"]] = row
        by_track: dict[str, list[dict[str, Any]]] = {}
        for row in parsed.track_artists:
            by_track.setdefault(row["track_id"], []).append(row)
        self.track_artists.update(by_track)
        self.stats.add(parsed.stats)

    def frames(self) -> dict[str, pd.DataFrame]:
        return {
            "playlist_tracks": frame("playlist_tracks", self.entries),
            "tracks": frame("tracks", self.tracks.values()),
            "albums": frame("albums", self.albums.values()),
            "playlists": frame("playlists", self.playlists.values()),
            "track_artists": frame(
                "track_artists", (r for rows in self.track_artists.values() for r in rows)
            ),
        }

    def artist_ids(self) -> set[str]:
        ids = {r["artist_id"] for rows in self.track_artists.values() for r in rows}
        ids.update(a["primary_artist_id"] for a in self.albums.values() if a["primary_artist_id"])
        return ids


def combine_windows(windows: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The dimension tables from every window's tables, oldest window first: for each
    entity the latest window's row wins, and a track's ``first_seen`` is its earliest.
    Vectorized: a year of 8-hourly windows is a thousand small frames."""

    def latest(table: str, key: str) -> pd.DataFrame:
        parts = [w[table] for w in windows if len(w[table])]
        if not parts:
            return empty_frame(table)
        df = pd.concat(parts, ignore_index=True)
        return df.drop_duplicates(key, keep="last").reset_index(drop=True)

    tracks = latest("tracks", "track_id")
    if len(tracks):
        all_tracks = pd.concat([w["tracks"][["track_id", "first_seen"]] for w in windows])
        first = all_tracks.groupby("track_id")["first_seen"].min()
        tracks["first_seen"] = tracks["track_id"].map(first).astype(tracks["first_seen"].dtype)
    # A track's credits as of the window its row comes from.
    credit_parts = []
    for w in windows:
        ta = w["track_artists"]
        if len(ta):
            seen = w["tracks"][["track_id", "last_seen"]]
            credit_parts.append(ta.merge(seen, on="track_id", how="left"))
    if credit_parts:
        credits = pd.concat(credit_parts, ignore_index=True)
        last = credits.groupby("track_id")["last_seen"].transform("max")
        credits = credits[credits["last_seen"] == last].drop(columns="last_seen")
        credits = credits.drop_duplicates(["track_id", "artist_id"], keep="last")
    else:
        credits = empty_frame("track_artists")
    return {
        "tracks": frame("tracks", tracks),
        "albums": frame("albums", latest("albums", "album_id")),
        "track_artists": frame("track_artists", credits),
        "playlists": frame("playlists", latest("playlists", "playlist_id")),
    }


def parse_artist_bodies(
    bodies: Iterable[tuple[dict[str, Any], datetime | None]]
    | Iterable[tuple[dict[str, Any], datetime | None, str]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(artist body, fetched_at[, source]) tuples, oldest first -> (artists, artist_genres).
    A later body of the same artist replaces an earlier one; the source defaults to
    ``playlist`` (the artists of the snapshots)."""
    latest: dict[str, tuple[dict[str, Any], datetime | None, str]] = {}
    for entry in bodies:
        body, fetched_at = entry[0], entry[1]
        source = entry[2] if len(entry) > 2 else "playlist"
        if body and body.get("id"):
            latest[body["id"]] = (body, fetched_at, source)
    artists = []
    genres = []
    for artist_id, (body, fetched_at, source) in latest.items():
        followers = body.get("followers")
        follower_count = followers.get("total") if isinstance(followers, dict) else None
        artists.append(
            {
                "artist_id": artist_id,
                "artist_name": body.get("name"),
                "followers": follower_count,
                "followers_source": source if follower_count is not None else None,
                "popularity": body.get("popularity"),
                "popularity_source": source if body.get("popularity") is not None else None,
                "fetched_at": fetched_at,
                "source": source,
            }
        )
        for genre in dict.fromkeys(g for g in body.get("genres") or [] if g):
            genres.append({"artist_id": artist_id, "genre": genre})
    genres_df = pd.DataFrame(genres, columns=["artist_id", "genre"])
    genres_df["genre_family"] = genre_families(genres_df["genre"].astype("string"))
    return frame("artists", artists), frame("artist_genres", genres_df)

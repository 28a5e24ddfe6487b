"""Spotify Web API JSON bodies built from the sample world.

The bodies mimic what api.spotify.com sends (ids, ``uri``, absolute ``href``, ``external_urls``,
``images``, ``type``), so parsers and spotipy meet the real shapes offline. They validate
against the shared OpenAPI description (see ``spotify_assets_tests/support/openapi_schema.py``).

Speed: the fake server answers thousands of pages, so everything that does not depend on the
instant (names, album, artists, images, markets) is built once per id and cached; a request only
adds the time-varying fields (popularity, followers, playlist membership) to shallow copies.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import numpy as np
import pandas as pd

ApiMode = Literal["extended", "development"]
Body = dict[str, Any]

OPEN_SPOTIFY = "https://open.spotify.com"

# A realistic slice of Spotify's ~185 markets; sent only when the request names no market.
_MARKETS = (
    "AD AE AR AT AU BE BG BO BR CA CH CL CO CR CY CZ DE DK DO EC EE EG ES FI FR GB GR GT HK HN "
    "HU ID IE IL IN IS IT JP KR LT LU LV MA MX MY NG NI NL NO NZ PA PE PH PL PT PY RO SA SE SG "
    "SK SV TH TR TW UA US UY VN ZA"
)
AVAILABLE_MARKETS: tuple[str, ...] = tuple(_MARKETS.split())

# Spotify's image id prefixes (the first 16 hex chars encode the kind and size).
_ALBUM_IMAGES = (("ab67616d0000b273", 640), ("ab67616d00001e02", 300))
_ARTIST_IMAGES = (("ab6761610000e5eb", 640), ("ab6761610000f178", 160))
_PLAYLIST_IMAGE = "ab67706c0000da84"

# GET /playlists/{id} embeds the first page of items with this limit. Spotify embeds 100, but
# then its own ``next`` (limit=100) would exceed the documented maximum of 50 of /items.
EMBEDDED_ITEMS_LIMIT = 50
ALBUM_TRACKS_LIMIT = 50


def _image_hash(kind: str, object_id: str) -> str:
    return hashlib.blake2b(f"{kind}:{object_id}".encode(), digest_size=12).hexdigest()


def dumps(body: Any) -> str:
    """Compact JSON, the one serializer of the fake API (cached fragments must match it)."""
    return json.dumps(body, separators=(",", ":"))


def _utc_ns(values: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC; naive values are taken as UTC), without building a
    DatetimeIndex (which costs a millisecond per page)."""
    arr = values.array
    asi8 = getattr(arr, "asi8", None)
    if asi8 is None:
        asi8 = pd.to_datetime(values, utc=True).array.asi8
    return np.asarray(asi8, dtype=np.int64)


def utc_strings(values: pd.Series) -> list[str]:
    """Timestamps as Spotify writes ``added_at``: ``2024-05-01T10:20:30Z``."""
    secs = (_utc_ns(values) // 10**9).astype("datetime64[s]")
    return [f"{x}Z" for x in np.datetime_as_string(secs, unit="s").tolist()]


def splice_items(meta: Body, items: list[str]) -> str:
    """A paging object's JSON with ``items`` given as ready JSON texts."""
    head = dumps({"href": meta["href"]})[:-1]
    tail = dumps({k: v for k, v in meta.items() if k not in ("href", "items")})[1:]
    return f'{head},"items":[{",".join(items)}],{tail}'


class SpotifyBodies:
    """Builds response bodies for one world, with ``href``s pointing at ``api_base``.

    ``api_base`` is the ``/v1`` root without a trailing slash, e.g.
    ``http://127.0.0.1:PORT/v1`` (the fake server) or ``https://api.spotify.com/v1`` (test
    fixtures that want bodies byte-like the real ones). Methods take the instant ``at``, the app
    ``mode`` (development strips the fields removed in 2026) and ``market`` (given: no
    ``available_markets``, ``is_playable`` added, as Spotify does with track relinking).
    """

    def __init__(self, world: Any, api_base: str) -> None:
        self.world = world
        self.api = api_base.rstrip("/")
        self._lock = threading.Lock()
        self._cols: dict[str, dict[str, list[Any]]] = {}
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._members_cache: dict[tuple[str, int], pd.DataFrame] = {}

    # ------------------------------------------------------------------ world access

    def _col(self, frame: str, name: str) -> list[Any]:
        """A world column as a Python list (built once; row access is then O(1))."""
        cols = self._cols.setdefault(frame, {})
        col = cols.get(name)
        if col is None:
            with self._lock:
                col = cols.get(name)
                if col is None:
                    col = getattr(self.world, frame)[name].tolist()
                    cols[name] = col
        return col

    def _row(self, index_name: str, object_id: str) -> int | None:
        index: pd.Index = getattr(self.world, index_name)
        try:
            pos = index.get_loc(object_id)
        except (KeyError, TypeError):
            return None
        return pos if isinstance(pos, int | np.integer) else None

    def track_row(self, track_id: str) -> int | None:
        return self._row("track_index", track_id)

    def artist_row(self, artist_id: str) -> int | None:
        return self._row("artist_index", artist_id)

    def album_row(self, album_id: str) -> int | None:
        return self._row("album_index", album_id)

    def playlist_row(self, playlist_id: str) -> int | None:
        return self._row("playlist_index", playlist_id)

    def playlist_owner(self, playlist_id: str) -> str | None:
        row = self.playlist_row(playlist_id)
        return None if row is None else self._col("playlists", "owner_id")[row]

    def _cached(self, key: tuple[Any, ...], build: Any) -> Any:
        value = self._cache.get(key)
        if value is None:
            value = build()
            self._cache[key] = value  # a racing duplicate build is harmless
        return value

    # ------------------------------------------------------------------ small objects

    def user_ref(
        self, user_id: str, display_name: str | None = None, *, owner: bool = False
    ) -> Body:
        body: Body = {
            "external_urls": {"spotify": f"{OPEN_SPOTIFY}/user/{user_id}"},
            "href": f"{self.api}/users/{user_id}",
            "id": user_id,
            "type": "user",
            "uri": f"spotify:user:{user_id}",
        }
        if owner:
            body = {"display_name": display_name, **body}
        return body

    def simple_artist(self, artist_id: str) -> Body:
        def build() -> Body:
            row = self.artist_row(artist_id)
            name = self._col("artists", "artist_name")[row] if row is not None else ""
            return {
                "external_urls": {"spotify": f"{OPEN_SPOTIFY}/artist/{artist_id}"},
                "href": f"{self.api}/artists/{artist_id}",
                "id": artist_id,
                "name": name,
                "type": "artist",
                "uri": f"spotify:artist:{artist_id}",
            }

        return self._cached(("simple_artist", artist_id), build)

    @staticmethod
    def _images(kind: str, object_id: str, sizes: Sequence[tuple[str, int]]) -> list[Body]:
        h = _image_hash(kind, object_id)
        return [
            {"height": size, "url": f"https://i.scdn.co/image/{prefix}{h}", "width": size}
            for prefix, size in sizes
        ]

    # ------------------------------------------------------------------ albums

    def simple_album(self, album_id: str, *, markets: bool) -> Body:
        """SimplifiedAlbumObject (as embedded in tracks); static."""

        def build() -> Body:
            row = self.album_row(album_id)
            if row is None:
                raise KeyError(album_id)
            body: Body = {
                "album_type": self._col("albums", "album_type")[row],
                "artists": [self.simple_artist(a) for a in self._col("albums", "artist_ids")[row]],
            }
            if markets:
                body["available_markets"] = list(AVAILABLE_MARKETS)
            body.update(
                {
                    "external_urls": {"spotify": f"{OPEN_SPOTIFY}/album/{album_id}"},
                    "href": f"{self.api}/albums/{album_id}",
                    "id": album_id,
                    "images": self._images("album", album_id, _ALBUM_IMAGES),
                    "name": self._col("albums", "album_name")[row],
                    "release_date": str(self._col("albums", "release_date")[row]),
                    "release_date_precision": self._col("albums", "release_date_precision")[row],
                    "total_tracks": int(self._col("albums", "total_tracks")[row]),
                    "type": "album",
                    "uri": f"spotify:album:{album_id}",
                }
            )
            if not markets:
                body["is_playable"] = True
            return body

        return self._cached(("simple_album", album_id, markets), build)

    def _album_static(self, album_id: str, *, markets: bool) -> Body:
        def build() -> Body:
            row = self.album_row(album_id)
            if row is None:
                raise KeyError(album_id)
            body = dict(self.simple_album(album_id, markets=markets))
            label = self._col("albums", "label")[row]
            year = str(self._col("albums", "release_date")[row])[:4]
            track_rows = self.world.album_track_rows(album_id)
            track_ids = [self._col("tracks", "track_id")[int(r)] for r in track_rows]
            shown = track_ids[:ALBUM_TRACKS_LIMIT]
            tracks_href = f"{self.api}/albums/{album_id}/tracks"
            body.update(
                {
                    "copyrights": [
                        {"text": f"\u00a9 {year} {label}", "type": "C"},
                        {"text": f"\u2117 {year} {label}", "type": "P"},
                    ],
                    "external_ids": {"upc": str(self._col("albums", "upc")[row])},
                    "genres": [],
                    "label": label,
                    "tracks": {
                        "href": f"{tracks_href}?offset=0&limit={ALBUM_TRACKS_LIMIT}",
                        "items": [self.simple_track(t, markets=markets) for t in shown],
                        "limit": ALBUM_TRACKS_LIMIT,
                        "next": (
                            f"{tracks_href}?offset={ALBUM_TRACKS_LIMIT}&limit={ALBUM_TRACKS_LIMIT}"
                            if len(track_ids) > ALBUM_TRACKS_LIMIT
                            else None
                        ),
                        "offset": 0,
                        "previous": None,
                        "total": len(track_ids),
                    },
                }
            )
            return body

        return self._cached(("album", album_id, markets), build)

    def albums(
        self, album_ids: Sequence[str], *, at: datetime, mode: ApiMode, market: str | None
    ) -> list[Body | None]:
        """AlbumObjects (None for unknown ids, as Spotify's multi-id endpoint answers)."""
        markets = market is None
        known = [a for a in album_ids if self.album_row(a) is not None]
        pops: dict[str, int] = {}
        if mode == "extended" and known:
            pops = dict(zip(known, self.world.album_popularity_at(known, at).tolist(), strict=True))
        out: list[Body | None] = []
        for a in album_ids:
            if self.album_row(a) is None:
                out.append(None)
                continue
            body = dict(self._album_static(a, markets=markets))
            if mode == "extended":
                body["popularity"] = int(pops[a])
            else:
                del body["label"]
            out.append(body)
        return out

    def album_tracks_page(
        self, album_id: str, *, limit: int, offset: int, market: str | None, query: str
    ) -> Body | None:
        """PagingSimplifiedTrackObject of an album (``GET /albums/{id}/tracks``)."""
        if self.album_row(album_id) is None:
            return None
        rows = self.world.album_track_rows(album_id)
        ids = [self._col("tracks", "track_id")[int(r)] for r in rows]
        href = f"{self.api}/albums/{album_id}/tracks"
        return paging(
            href,
            [self.simple_track(t, markets=market is None) for t in ids[offset : offset + limit]],
            total=len(ids),
            limit=limit,
            offset=offset,
            query=query,
        )

    # ------------------------------------------------------------------ tracks

    def simple_track(self, track_id: str, *, markets: bool) -> Body:
        """SimplifiedTrackObject (album track listings); static."""

        def build() -> Body:
            full = self._track_static(track_id, markets=markets)
            return {k: v for k, v in full.items() if k not in ("album", "external_ids")}

        return self._cached(("simple_track", track_id, markets), build)

    def _track_static(self, track_id: str, *, markets: bool) -> Body:
        def build() -> Body:
            row = self.track_row(track_id)
            if row is None:
                raise KeyError(track_id)
            col = self._col
            body: Body = {
                "album": self.simple_album(col("tracks", "album_id")[row], markets=markets),
                "artists": [self.simple_artist(a) for a in col("tracks", "artist_ids")[row]],
            }
            if markets:
                body["available_markets"] = list(AVAILABLE_MARKETS)
            body.update(
                {
                    "disc_number": int(col("tracks", "disc_number")[row]),
                    "duration_ms": int(col("tracks", "duration_ms")[row]),
                    "explicit": bool(col("tracks", "explicit")[row]),
                    "external_ids": {"isrc": str(col("tracks", "isrc")[row])},
                    "external_urls": {"spotify": f"{OPEN_SPOTIFY}/track/{track_id}"},
                    "href": f"{self.api}/tracks/{track_id}",
                    "id": track_id,
                    "is_local": False,
                }
            )
            if not markets:
                body["is_playable"] = True
            body.update(
                {
                    "name": col("tracks", "track_name")[row],
                    "preview_url": None,
                    "track_number": int(col("tracks", "track_number")[row]),
                    "type": "track",
                    "uri": f"spotify:track:{track_id}",
                }
            )
            return body

        return self._cached(("track", track_id, markets), build)

    def _rows_and_popularity(
        self, track_ids: Sequence[str], *, at: datetime, mode: ApiMode
    ) -> tuple[list[Any], Iterator[int]]:
        """Each id's world row (None when unknown) and, in extended mode, an iterator over
        the known tracks' popularity at ``at`` (one vectorized lookup per call)."""
        rows = [self.track_row(t) for t in track_ids]
        known = [t for t, r in zip(track_ids, rows, strict=True) if r is not None]
        pops: list[int] = []
        if mode == "extended" and known:
            pops = self.world.track_popularity_at(known, at).tolist()
        return rows, iter(pops)

    def tracks(
        self, track_ids: Sequence[str], *, at: datetime, mode: ApiMode, market: str | None
    ) -> list[Body | None]:
        """TrackObjects (None for unknown ids); one vectorized popularity lookup per call."""
        markets = market is None
        rows, it = self._rows_and_popularity(track_ids, at=at, mode=mode)
        out: list[Body | None] = []
        for t, r in zip(track_ids, rows, strict=True):
            if r is None:
                out.append(None)
                continue
            static = self._track_static(t, markets=markets)
            if mode == "extended":
                body = dict(static)
                body["popularity"] = int(next(it))
                out.append(body)
            else:
                out.append(static)  # shared: never mutated after build
        return out

    def _track_json_head(self, track_id: str, *, markets: bool) -> str:
        """The static TrackObject as JSON text without its closing brace (cached)."""
        return self._cached(
            ("track_json", track_id, markets),
            lambda: dumps(self._track_static(track_id, markets=markets))[:-1],
        )

    def track_jsons(
        self, track_ids: Sequence[str], *, at: datetime, mode: ApiMode, market: str | None
    ) -> list[str | None]:
        """Like :meth:`tracks`, as JSON text: the hot path of playlist pages, where
        re-serializing every nested album and artist would dominate the cost."""
        markets = market is None
        rows, it = self._rows_and_popularity(track_ids, at=at, mode=mode)
        out: list[str | None] = []
        for t, r in zip(track_ids, rows, strict=True):
            if r is None:
                out.append(None)
            elif mode == "extended":
                out.append(f'{self._track_json_head(t, markets=markets)},"popularity":{next(it)}}}')
            else:
                out.append(self._track_json_head(t, markets=markets) + "}")
        return out

    # ------------------------------------------------------------------ search

    def _search_index(self) -> dict[str, list[int]]:
        """Normalized credited artist name -> track rows (built once)."""

        def build() -> dict[str, list[int]]:
            names = dict(
                zip(self.world.artists["artist_id"], self.world.artists["artist_name"], strict=True)
            )
            index: dict[str, list[int]] = {}
            for row, credited in enumerate(self._col("tracks", "artist_ids")):
                for a in credited:
                    index.setdefault(search_text(names[a]), []).append(row)
            return index

        return self._cached(("search_index",), build)

    def search_tracks(
        self,
        query: str,
        *,
        at: datetime,
        mode: ApiMode,
        market: str | None,
        limit: int,
        offset: int,
    ) -> Body:
        """``GET /search?type=track`` over the world: ``track:`` and ``artist:`` field filters
        (quoted or one word) or free words. A track matches when a credited artist's name
        contains the artist filter and its title contains every word of the track filter
        (so ``Song`` also finds ``Song - Remastered 2011`` and ``Song (feat. X)``, as
        Spotify's search does), ranked by how close the title is, then by stream weight."""
        fields = {k: a or b for k, (a, b) in _search_fields(query)}
        free = _SEARCH_FIELD_RX.sub(" ", query)
        artist = search_text(fields.get("artist", ""))
        words = search_text(" ".join([fields.get("track", ""), free])).split()
        index = self._search_index()
        if artist:
            candidates = sorted({r for name, rows in index.items() if artist in name for r in rows})
        else:
            candidates = range(len(self._col("tracks", "track_id")))
        titles = self._col("tracks", "track_name")
        weights = self._col("tracks", "stream_weight")
        wanted = " ".join(words)
        hits = []
        for r in candidates:
            title = search_text(titles[r])
            if all(w in title.split() or w in title for w in words):
                hits.append((title != wanted, -weights[r], r))
        hits.sort()
        ids = [self._col("tracks", "track_id")[r] for _, _, r in hits]
        page = ids[offset : offset + limit]
        items = self.tracks(page, at=at, mode=mode, market=market)
        href = f"{self.api}/search?query={quote(query)}&type=track"

        def url(off: int) -> str:
            return f"{href}&offset={off}&limit={limit}"

        return {
            "tracks": {
                "href": url(offset),
                "items": items,
                "limit": limit,
                "next": url(offset + limit) if offset + limit < len(ids) else None,
                "offset": offset,
                "previous": url(max(0, offset - limit)) if offset > 0 else None,
                "total": len(ids),
            }
        }

    # ------------------------------------------------------------------ artists

    def _artist_static(self, artist_id: str) -> Body:
        def build() -> Body:
            row = self.artist_row(artist_id)
            if row is None:
                raise KeyError(artist_id)
            simple = self.simple_artist(artist_id)
            return {
                "external_urls": simple["external_urls"],
                "genres": list(self._col("artists", "genres")[row]),
                "href": simple["href"],
                "id": artist_id,
                "images": self._images("artist", artist_id, _ARTIST_IMAGES),
                "name": simple["name"],
                "type": "artist",
                "uri": simple["uri"],
            }

        return self._cached(("artist", artist_id), build)

    def artists(
        self, artist_ids: Sequence[str], *, at: datetime, mode: ApiMode
    ) -> list[Body | None]:
        """ArtistObjects (None for unknown ids); development mode has no followers/popularity."""
        known = [a for a in artist_ids if self.artist_row(a) is not None]
        pops: dict[str, int] = {}
        fols: dict[str, int] = {}
        if mode == "extended" and known:
            w = self.world
            pops = dict(zip(known, w.artist_popularity_at(known, at).tolist(), strict=True))
            fols = dict(zip(known, w.artist_followers_at(known, at).tolist(), strict=True))
        out: list[Body | None] = []
        for a in artist_ids:
            if self.artist_row(a) is None:
                out.append(None)
                continue
            static = self._artist_static(a)
            if mode == "extended":
                body = dict(static)
                body["followers"] = {"href": None, "total": int(fols[a])}
                body["popularity"] = int(pops[a])
                out.append(body)
            else:
                out.append(static)
        return out

    # ------------------------------------------------------------------ playlists

    def _members(self, playlist_id: str, at: datetime) -> pd.DataFrame:
        """Members at ``at``, memoized for the last few (playlist, instant) pairs: a client
        paging through a playlist asks for the same membership once per page."""
        key = (playlist_id, pd.Timestamp(at).value)
        with self._lock:
            hit = self._members_cache.get(key)
        if hit is not None:
            return hit
        members = self.world.playlist_items_at(playlist_id, at)
        with self._lock:
            self._members_cache[key] = members
            while len(self._members_cache) > 64:
                self._members_cache.pop(next(iter(self._members_cache)))
        return members

    def playlist_items_page_json(
        self,
        playlist_id: str,
        *,
        at: datetime,
        mode: ApiMode,
        market: str | None,
        limit: int,
        offset: int,
        query: str = "",
        path: str = "items",
    ) -> str:
        """PagingPlaylistTrackObject as JSON text; KeyError for an unknown playlist.

        ``query`` is the rest of the request's query string (market, fields, ...), kept in
        ``href``/``next``/``previous`` like Spotify does.
        """
        row = self.playlist_row(playlist_id)
        if row is None:
            raise KeyError(playlist_id)
        members = self._members(playlist_id, at)
        page = members.iloc[offset : offset + limit]
        ids = page["track_id"].tolist()
        added = utc_strings(page["added_at"])
        owner = self._col("playlists", "owner_id")[row]
        added_by = self._cached(("user_ref_json", owner), lambda: dumps(self.user_ref(owner)))
        items = [
            f'{{"added_at":"{a}","added_by":{added_by},"is_local":false,"item":{t},"track":{t}}}'
            for a, t in zip(
                added, self.track_jsons(ids, at=at, mode=mode, market=market), strict=True
            )
        ]
        meta = paging(
            f"{self.api}/playlists/{playlist_id}/{path}",
            [],
            total=len(members),
            limit=limit,
            offset=offset,
            query=query,
        )
        return splice_items(meta, items)

    def playlist_items_page(self, playlist_id: str, **kwargs: Any) -> Body:
        """PagingPlaylistTrackObject (dict) for tests and fixtures; see the ``_json`` form."""
        return json.loads(self.playlist_items_page_json(playlist_id, **kwargs))

    def playlist_json(
        self,
        playlist_id: str,
        *,
        at: datetime,
        mode: ApiMode,
        market: str | None,
        with_items: bool,
    ) -> str:
        """PlaylistObject as JSON text; KeyError for an unknown playlist.

        ``with_items``: embed the first page under ``items`` and (deprecated) ``tracks``, as
        Spotify does for playlists the caller owns; without it (someone else's playlist, or a
        client-credentials token) both are left out.
        """
        row = self.playlist_row(playlist_id)
        if row is None:
            raise KeyError(playlist_id)
        col = self._col
        owner = col("playlists", "owner_id")[row]
        body: Body = {
            "collaborative": bool(col("playlists", "collaborative")[row]),
            "description": col("playlists", "description")[row],
            "external_urls": {"spotify": f"{OPEN_SPOTIFY}/playlist/{playlist_id}"},
            "followers": {"href": None, "total": int(col("playlists", "followers")[row])},
            "href": f"{self.api}/playlists/{playlist_id}",
            "id": playlist_id,
            "images": [
                {
                    "height": None,
                    "url": "https://image-cdn-ak.spotifycdn.com/image/"
                    f"{_PLAYLIST_IMAGE}{_image_hash('playlist', playlist_id)}",
                    "width": None,
                }
            ],
            "name": col("playlists", "name")[row],
            "owner": self.user_ref(owner, col("playlists", "owner_display_name")[row], owner=True),
            "primary_color": None,
            "public": bool(col("playlists", "public")[row]),
            "snapshot_id": self.world.playlist_snapshot_id(playlist_id, at),
            "type": "playlist",
            "uri": f"spotify:playlist:{playlist_id}",
        }
        if not with_items:
            return dumps(body)
        page = self.playlist_items_page_json(
            playlist_id,
            at=at,
            mode=mode,
            market=market,
            limit=EMBEDDED_ITEMS_LIMIT,
            offset=0,
            query="" if market is None else f"market={market}",
        )
        return f'{dumps(body)[:-1]},"items":{page},"tracks":{page}}}'

    def playlist(self, playlist_id: str, **kwargs: Any) -> Body:
        """PlaylistObject (dict) for tests and fixtures; see :meth:`playlist_json`."""
        return json.loads(self.playlist_json(playlist_id, **kwargs))

    # ------------------------------------------------------------------ listening

    def recently_played(
        self,
        user_id: str,
        *,
        at: datetime,
        mode: ApiMode,
        after_ms: int | None,
        before_ms: int | None,
        limit: int,
    ) -> Body:
        """CursorPagingPlayHistoryObject, newest first, as seen at ``at``: the sample world's
        recently-played timeline (``spotify_assets.lib.sample.world.recent``), of which only
        the 50 most recent plays exist, as on Spotify.

        ``next`` keeps walking in the direction asked: older plays (``before``) by default,
        newer ones when the request gave ``after``. Empty result: ``next`` and ``cursors`` are
        null, as on Spotify (the spec types them as non-nullable).
        """
        from spotify_assets.lib.sample.world.recent import visible_plays

        def stamp(ms: int | None) -> pd.Timestamp | None:
            return None if ms is None else pd.Timestamp(ms, unit="ms", tz=UTC)

        plays = visible_plays(
            self.world,
            user_id,
            at=pd.Timestamp(at),
            after=stamp(after_ms),
            before=stamp(before_ms),
            limit=limit,
        )
        played_ms = (_utc_ns(plays["played_at"]) // 10**6).tolist()
        played_s = [x[:-1] for x in utc_strings(plays["played_at"])]
        tracks = self.tracks(plays["track_id"].tolist(), at=at, mode=mode, market=None)
        items = [
            {
                "track": t,
                "played_at": f"{s}.{ms % 1000:03d}Z",
                "context": {
                    "type": "album",
                    "href": t["album"]["href"],
                    "external_urls": t["album"]["external_urls"],
                    "uri": t["album"]["uri"],
                },
            }
            for t, s, ms in zip(tracks, played_s, played_ms, strict=True)
        ]
        href = f"{self.api}/me/player/recently-played"
        if after_ms is not None:
            self_q = f"after={after_ms}&limit={limit}"
        elif before_ms is not None:
            self_q = f"before={before_ms}&limit={limit}"
        else:
            self_q = f"limit={limit}"
        body: Body = {"cursors": None, "href": f"{href}?{self_q}", "items": items, "limit": limit}
        if played_ms:
            newest, oldest = max(played_ms), min(played_ms)
            body["cursors"] = {"after": str(newest), "before": str(oldest)}
            body["next"] = (
                f"{href}?after={newest}&limit={limit}"
                if after_ms is not None
                else f"{href}?before={oldest}&limit={limit}"
            )
        else:
            body["next"] = None
        return body

    def me(self, user_id: str) -> Body:
        """PrivateUserObject for ``GET /me``."""
        users = self.world.users
        hit = users.index[users["user_id"] == user_id]
        display = users.at[hit[0], "display_name"] if len(hit) else user_id
        country = users.at[hit[0], "country"] if len(hit) else "US"
        return {
            "country": country,
            "display_name": display,
            "explicit_content": {"filter_enabled": False, "filter_locked": False},
            "external_urls": {"spotify": f"{OPEN_SPOTIFY}/user/{user_id}"},
            "followers": {"href": None, "total": 0},
            "href": f"{self.api}/users/{user_id}",
            "id": user_id,
            "images": [],
            "product": "premium",
            "type": "user",
            "uri": f"spotify:user:{user_id}",
        }


def paging(
    href: str, items: list[Any], *, total: int, limit: int, offset: int, query: str = ""
) -> Body:
    """A PagingObject with absolute ``href``/``next``/``previous`` that keep ``query``."""
    tail = f"&{query}" if query else ""

    def url(off: int) -> str:
        return f"{href}?offset={off}&limit={limit}{tail}"

    return {
        "href": url(offset),
        "items": items,
        "limit": limit,
        "next": url(offset + limit) if offset + limit < total else None,
        "offset": offset,
        "previous": url(max(0, offset - limit)) if offset > 0 else None,
        "total": total,
    }


_SEARCH_FIELD_RX = re.compile(r'(\w+):(?:"([^"]*)"|(\S+))')


def _search_fields(query: str) -> list[tuple[str, tuple[str, str]]]:
    return [
        (m.group(1).lower(), (m.group(2) or "", m.group(3) or ""))
        for m in _SEARCH_FIELD_RX.finditer(query)
    ]


def search_text(text: str) -> str:
    """What the fake search compares: NFKC, case-folded, punctuation as spaces."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())

"""The sample world's music catalog: artists (stream weight, genre family and micro-genres, name,
label), their releases (singles, EPs, albums, compilations; release decade and date) and
tracks (name, features, duration, explicit, ISRC), drawn from the stream ``_rng(seed, 1)``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES, MICRO_GENRES
from spotify_assets.lib.sample.world.base import (
    _END_NS,
    _NS_DAY,
    _START_NS,
    _base62_ids,
    _dedupe_names,
    _greedy_weighted_assign,
    _rng,
    _utc,
    ndtri,
)
from spotify_assets.lib.sample.world.names import (
    _ADJ,
    _FIRST,
    _INDIE_WORDS,
    _LAST,
    _MAJOR_LABELS,
    _NAME_PREFIX,
    _NOUN,
    _OBJ,
    _SYLLABLES,
    _VERB,
)
from spotify_assets.lib.sample.world.scales import WorldScale

# Stream shares by genre family (docs/ARCHITECTURE.md, section 9), in GENRE_FAMILIES order.
_FAMILY_STREAM_SHARE = {
    "hip hop/r&b": 0.25,
    "rock": 0.20,
    "pop": 0.19,
    "latin": 0.10,
    "country": 0.07,
    "electronic": 0.06,
    "jazz/blues": 0.02,
    "classical": 0.015,
    "metal": 0.025,
    "folk/acoustic": 0.02,
    "asian pop": 0.02,
    "world": 0.02,
    "other": 0.01,
}
# Static (catalog) decade shares so that, with the new-release picks, streams are about
# 2020s 50%, 2010s 30%, 2000s 10%, older 10%.
_DECADES = np.array([2020, 2010, 2000, 1990, 1980, 1970, 1960])
_DECADE_STATIC_SHARE = np.array([0.40, 0.35, 0.125, 0.06, 0.035, 0.02, 0.01])


class CatalogMixin:
    """Builds ``artists``, ``albums`` and ``tracks`` (and their indexes) for :class:`SampleWorld`,
    and keeps the internal arrays the other parts use: stream weights (``_t_w`` per track,
    ``_a_w`` per artist), genre family per artist (``_fam``), each track's album and artist,
    release times and durations, and the contiguous row ranges of an album's tracks and an
    artist's tracks and albums."""

    seed: int
    scale: WorldScale

    def _build_catalog(self) -> None:
        sc, seed = self.scale, self.seed
        rng = _rng(seed, 1)
        n_a, n_t = sc.n_artists, sc.n_tracks
        if n_t < n_a:
            raise ValueError("a world needs at least one track per artist")

        # Stream weights. Track rank comes from a noisy score (artist prominence + the track's
        # own luck); the weight is a lognormal quantile of the rank (sigma 2.9, the top 15
        # compressed), so half of all streams come from under 1% of tracks at every scale,
        # without one random track swallowing everything in a small world.
        prominence = rng.normal(0.0, 1.0, n_a)
        p_tracks = np.exp(0.45 * prominence) * rng.lognormal(0.0, 0.4, n_a)
        n_per_artist = 1 + rng.multinomial(n_t - n_a, p_tracks / p_tracks.sum())
        trk_artist = np.repeat(np.arange(n_a), n_per_artist)
        score = 1.2 * prominence[trk_artist] + rng.normal(0.0, 1.0, n_t)
        rank = np.empty(n_t, dtype=np.int64)
        rank[np.argsort(-score, kind="stable")] = np.arange(n_t)
        zq = ndtri((n_t - rank - 0.5) / n_t)
        knee = max(float(ndtri(np.array([1.0 - 15.0 / n_t]))[0]), 1.5)
        zq = np.where(zq > knee, knee + 0.5 * (zq - knee), zq)
        t_w = np.exp(2.9 * zq)
        t_w /= t_w.sum()
        a_w = np.bincount(trk_artist, weights=t_w, minlength=n_a)

        # Genre family (artist level): ~10% of light artists have no genres at all ("other").
        fam_targets = np.array([_FAMILY_STREAM_SHARE[f] for f in GENRE_FAMILIES])
        other_code = GENRE_FAMILIES.index("other")
        pre = np.full(n_a, -1, dtype=np.int64)
        light = np.argsort(-a_w, kind="stable")[int(0.3 * n_a) :]
        no_genre = rng.choice(light, size=int(round(0.10 * n_a)), replace=False)
        pre[no_genre] = other_code
        fam = _greedy_weighted_assign(rng, a_w, fam_targets, preassigned=pre)
        has_genres = np.ones(n_a, dtype=bool)
        has_genres[no_genre] = False

        # Micro-genres: 1-3 from the family, favouring its first (more common) names.
        n_gen = rng.choice([1, 2, 3], size=n_a, p=[0.45, 0.35, 0.20])
        gdraw = rng.random((n_a, 3))
        genres_col: list[list[str]] = []
        fam_cdf = {}
        for f in GENRE_FAMILIES:
            p = (np.arange(len(MICRO_GENRES[f])) + 1.0) ** -0.7
            fam_cdf[f] = np.cumsum(p / p.sum())
        for i in range(n_a):
            if not has_genres[i]:
                genres_col.append([])
                continue
            f = GENRE_FAMILIES[fam[i]]
            names = MICRO_GENRES[f]
            picks = np.searchsorted(fam_cdf[f], gdraw[i, : n_gen[i]], side="right")
            genres_col.append(list(dict.fromkeys(names[min(j, len(names) - 1)] for j in picks)))

        # Names.
        pattern = rng.choice(5, size=n_a, p=[0.35, 0.15, 0.15, 0.2, 0.15])
        i_first = rng.integers(0, len(_FIRST), n_a)
        i_last = rng.integers(0, len(_LAST), n_a)
        i_adj = rng.integers(0, len(_ADJ), n_a)
        i_noun = rng.integers(0, len(_NOUN), n_a)
        i_pre = rng.integers(0, 1000, n_a)
        i_syl = rng.integers(0, len(_SYLLABLES), (n_a, 3))
        n_syl = rng.integers(2, 4, n_a)
        coined = [
            "".join(_SYLLABLES[j] for j in i_syl[i, : n_syl[i]]).capitalize() for i in range(n_a)
        ]
        names = []
        for i in range(n_a):
            p = pattern[i]
            surname = _LAST[i_last[i]] if i_pre[i] % 3 == 0 else coined[i]
            if p == 0:
                names.append(f"{_FIRST[i_first[i]]} {surname}")
            elif p == 1:
                names.append(f"The {_ADJ[i_adj[i]]} {_NOUN[i_noun[i]]}")
            elif p == 2:
                names.append(coined[i])
            elif p == 3:
                prefixes = _NAME_PREFIX.get(GENRE_FAMILIES[fam[i]], ("",))
                prefix = prefixes[i_pre[i] % len(prefixes)]
                first = _FIRST[i_first[i]]
                names.append(f"{prefix}{coined[i]}" if prefix else f"{first} {surname}")
            else:
                names.append(f"{_ADJ[i_adj[i]]} {_NOUN[i_noun[i]]}")
        artist_names = _dedupe_names(names, (" & Co", " Collective", " II", " Band", " Project"))
        artist_ids = _base62_ids(rng, n_a)

        # Labels: popular artists mostly on "majors", the tail indie or self-released.
        top = a_w >= np.quantile(a_w, 0.85)
        u_lab = rng.random(n_a)
        major = np.where(top, u_lab < 0.75, u_lab < 0.15)
        indie = ~major & (rng.random(n_a) < 0.55)
        maj_i = rng.integers(0, len(_MAJOR_LABELS), n_a)
        ind_i = rng.integers(0, len(_INDIE_WORDS), (n_a, 2))
        artist_label = [
            _MAJOR_LABELS[maj_i[i]]
            if major[i]
            else f"{_INDIE_WORDS[ind_i[i, 0]]} {_INDIE_WORDS[ind_i[i, 1]]} Records"
            if indie[i]
            else artist_names[i]
            for i in range(n_a)
        ]

        # Releases: split each artist's tracks into singles, EPs and albums.
        size_pool_n = 2 * n_t + 16
        kind = rng.choice(4, size=size_pool_n, p=[0.40, 0.17, 0.13, 0.30])
        sizes = np.where(
            kind == 0,
            1,
            np.where(
                kind == 1,
                rng.integers(2, 4, size_pool_n),
                np.where(
                    kind == 2, rng.integers(4, 7, size_pool_n), rng.integers(8, 21, size_pool_n)
                ),
            ),
        )
        album_artist: list[int] = []
        album_size: list[int] = []
        ptr = 0
        for i in range(n_a):
            remaining = int(n_per_artist[i])
            while remaining > 0:
                s = int(min(sizes[ptr], remaining))
                ptr += 1
                album_artist.append(i)
                album_size.append(s)
                remaining -= s
        alb_artist = np.array(album_artist, dtype=np.int64)
        alb_size = np.array(album_size, dtype=np.int64)
        n_al = len(alb_size)
        alb_type = np.where(alb_size <= 6, "single", "album").astype(object)
        comp = (alb_size >= 8) & (rng.random(n_al) < 0.04)
        alb_type[comp] = "compilation"

        # Tracks, album by album (so an album's tracks and an artist's tracks are contiguous).
        trk_album = np.repeat(np.arange(n_al), alb_size)
        assert (trk_artist == alb_artist[trk_album]).all()
        alb_first = np.concatenate([[0], np.cumsum(alb_size)[:-1]])
        trk_number = np.arange(n_t) - alb_first[trk_album] + 1
        two_discs = alb_size[trk_album] > 16
        half = (alb_size[trk_album] + 1) // 2
        disc = np.where(two_discs & (trk_number > half), 2, 1)
        trk_number = np.where(disc == 2, trk_number - half, trk_number)

        # Release decade (album level, by album stream weight), then dates.
        alb_w = np.bincount(trk_album, weights=t_w, minlength=n_al)
        dec_code = _greedy_weighted_assign(rng, alb_w, _DECADE_STATIC_SHARE)
        decade = _DECADES[dec_code]
        # About 12% of all releases come out while the world runs (all in the 2020s).
        # Not among the heaviest albums, so that catalog shares hold before they come out.
        heavy = alb_w >= np.quantile(alb_w, 0.98)
        in_world = (decade == 2020) & ~heavy & (rng.random(n_al) < 0.32)
        year = np.where(
            decade == 2020, rng.integers(2020, 2024, n_al), decade + rng.integers(0, 10, n_al)
        )
        day_of_year = rng.integers(0, 365, n_al)
        pre_ns = (year - 1970).astype("datetime64[Y]").astype("datetime64[ns]").astype(
            np.int64
        ) + day_of_year * _NS_DAY
        world_days = (_END_NS - _START_NS) // _NS_DAY
        in_ns = _START_NS + rng.integers(0, world_days - 1, n_al) * _NS_DAY
        release_ns = np.where(in_world, in_ns, pre_ns)
        prec_u = rng.random(n_al)
        precision = np.where(
            (year < 1990) & (prec_u < 0.35),
            "year",
            np.where((year < 2000) & (prec_u > 0.95), "month", "day"),
        ).astype(object)
        day = (release_ns // _NS_DAY).astype("datetime64[D]")
        full = np.datetime_as_string(day).astype(object)
        keep_chars = np.where(precision == "year", 4, np.where(precision == "month", 7, 10))
        release_date = np.array(
            [d[:k] for d, k in zip(full.tolist(), keep_chars.tolist(), strict=True)], dtype=object
        )
        # A year- or month-precision release is available from the start of that period.
        floored = np.where(
            precision == "year",
            day.astype("datetime64[Y]").astype("datetime64[D]"),
            np.where(
                precision == "month", day.astype("datetime64[M]").astype("datetime64[D]"), day
            ),
        )
        release_ns = floored.astype(np.int64) * _NS_DAY

        # Track names (singles are named after their lead track).
        tp = rng.choice(4, size=n_t, p=[0.4, 0.2, 0.3, 0.1])
        ia = rng.integers(0, len(_ADJ), n_t)
        inn = rng.integers(0, len(_NOUN), n_t)
        iv = rng.integers(0, len(_VERB), n_t)
        io = rng.integers(0, len(_OBJ), n_t)
        base_names = [
            f"{_ADJ[a]} {_NOUN[b]}"
            if k == 0
            else _NOUN[b]
            if k == 1
            else f"{_VERB[v]} {_OBJ[o]}"
            if k == 2
            else _ADJ[a]
            for k, a, b, v, o in zip(
                tp.tolist(), ia.tolist(), inn.tolist(), iv.tolist(), io.tolist(), strict=True
            )
        ]
        # Features: ~15% of tracks credit 1-2 more artists, mostly popular ones.
        has_feat = rng.random(n_t) < 0.15
        n_feat = np.where(rng.random(n_t) < 0.8, 1, 2)
        feat_p = a_w**0.7
        feat_cdf = np.cumsum(feat_p / feat_p.sum())
        feat = np.searchsorted(feat_cdf, rng.random((n_t, 2)), side="right").clip(0, n_a - 1)
        feat = np.where(feat == trk_artist[:, None], (feat + 1) % n_a, feat)
        artist_ids_col: list[list[str]] = []
        track_names: list[str] = []
        artist_id_list = artist_ids.tolist()
        trk_artist_list = trk_artist.tolist()
        feat_list = feat.tolist()
        n_feat_list = n_feat.tolist()
        for i, (a, flag) in enumerate(zip(trk_artist_list, has_feat.tolist(), strict=True)):
            name = base_names[i]
            if flag and n_a > 1:
                extra = list(dict.fromkeys(feat_list[i][: n_feat_list[i]]))
                artist_ids_col.append([artist_id_list[a]] + [artist_id_list[x] for x in extra])
                name += " (feat. " + " & ".join(artist_names[x] for x in extra) + ")"
            else:
                artist_ids_col.append([artist_id_list[a]])
            track_names.append(name)
        # Unique (primary artist, name), so name-based history (account-data format) resolves.
        keyed = _dedupe_names(
            [f"{a}\x00{t}" for a, t in zip(trk_artist_list, track_names, strict=True)],
            (" - Acoustic", " - Live", " - Remix", " - Remastered", " - Demo", " - Interlude"),
        )
        track_names = [k.split("\x00", 1)[1] for k in keyed]

        alb_names_raw = []
        ia2 = rng.integers(0, len(_ADJ), n_al)
        in2 = rng.integers(0, len(_NOUN), n_al)
        for j in range(n_al):
            if alb_type[j] == "single":
                alb_names_raw.append(track_names[alb_first[j]].split(" (feat.")[0])
            elif alb_type[j] == "compilation":
                alb_names_raw.append(f"The Best of {artist_names[alb_artist[j]]}")
            else:
                alb_names_raw.append(f"{_ADJ[ia2[j]]} {_NOUN[in2[j]]}")
        alb_names = [
            k.split("\x00", 1)[1]
            for k in _dedupe_names(
                [f"{alb_artist[j]}\x00{alb_names_raw[j]}" for j in range(n_al)],
                (" (Deluxe)", " (Expanded Edition)", " Vol. 2", " Vol. 3"),
            )
        ]
        album_ids = _base62_ids(rng, n_al)
        keep_label = rng.random(n_al) < 0.8
        other_major = rng.integers(0, len(_MAJOR_LABELS), n_al)
        album_label = [
            artist_label[alb_artist[j]] if keep_label[j] else _MAJOR_LABELS[other_major[j]]
            for j in range(n_al)
        ]
        upc = rng.integers(10**11, 10**12, n_al)

        # Durations: lognormal, median ~213 s, IQR ~174-262 s, plus a long tail.
        dur_s = rng.lognormal(np.log(213.0), 0.30, n_t)
        long_tail = rng.random(n_t) < 0.02
        dur_s = np.where(long_tail, rng.lognormal(np.log(420.0), 0.5, n_t), dur_s)
        fam_t = fam[trk_artist]
        classical = np.isin(
            fam_t, [GENRE_FAMILIES.index("classical"), GENRE_FAMILIES.index("jazz/blues")]
        )
        dur_s = np.where(classical & (rng.random(n_t) < 0.3), dur_s * 1.8, dur_s)
        duration_ms = np.clip(np.rint(dur_s * 1000), 30_000, 1_800_000).astype(np.int64)

        explicit_p = np.full(len(GENRE_FAMILIES), 0.05)
        for f, p in (
            ("hip hop/r&b", 0.6),
            ("latin", 0.35),
            ("pop", 0.2),
            ("rock", 0.15),
            ("electronic", 0.12),
            ("metal", 0.3),
        ):
            explicit_p[GENRE_FAMILIES.index(f)] = p
        explicit = rng.random(n_t) < explicit_p[fam_t]

        isrc_cc = np.array(["US", "GB", "DE", "SE", "BR", "MX", "FR", "QM", "QZ", "KR"])
        cc = rng.choice(
            isrc_cc, size=n_a, p=[0.3, 0.1, 0.06, 0.05, 0.07, 0.07, 0.05, 0.15, 0.1, 0.05]
        )
        reg = _base62_ids(rng, n_a, 3)
        seq = rng.integers(0, 100_000, n_t)
        t_year = (release_ns[trk_album] // _NS_DAY).astype("datetime64[D]").astype(
            "datetime64[Y]"
        ).astype(np.int64) + 1970
        registrant = [c + r.upper() for c, r in zip(cc.tolist(), reg.tolist(), strict=True)]
        isrc = [
            f"{registrant[a]}{y % 100:02d}{q:05d}"
            for a, y, q in zip(trk_artist.tolist(), t_year.tolist(), seq.tolist(), strict=True)
        ]
        track_ids = _base62_ids(rng, n_t)

        # Keep internal arrays for the time-varying functions and the play generator.
        self._a_w = a_w
        self._fam = fam
        self._t_w = t_w
        self._trk_album = trk_album
        self._trk_artist = trk_artist
        self._alb_first = alb_first
        self._alb_size = alb_size
        self._alb_artist = alb_artist
        self._track_release_ns = release_ns[trk_album]
        self._duration_ms = duration_ms
        art_first = np.searchsorted(trk_artist, np.arange(n_a), side="left")
        art_end = np.searchsorted(trk_artist, np.arange(n_a), side="right")
        self._art_first, self._art_end = art_first, art_end
        self._art_alb_first = np.searchsorted(alb_artist, np.arange(n_a), side="left")
        self._art_alb_end = np.searchsorted(alb_artist, np.arange(n_a), side="right")

        self.artists = pd.DataFrame(
            {
                "artist_id": artist_ids,
                "artist_name": np.array(artist_names, dtype=object),
                "genres": pd.Series(genres_col, dtype=object),
                "genre_family": np.array(GENRE_FAMILIES, dtype=object)[fam],
            }
        )
        self.albums = pd.DataFrame(
            {
                "album_id": album_ids,
                "album_name": np.array(alb_names, dtype=object),
                "album_type": alb_type,
                "release_date": release_date,
                "release_date_precision": precision,
                "total_tracks": alb_size,
                "artist_ids": pd.Series([[artist_ids[a]] for a in alb_artist], dtype=object),
                "label": np.array(album_label, dtype=object),
                "upc": np.array([f"{u:012d}" for u in upc], dtype=object),
            }
        )
        self.tracks = pd.DataFrame(
            {
                "track_id": track_ids,
                "track_name": np.array(track_names, dtype=object),
                "album_id": album_ids[trk_album],
                "artist_ids": pd.Series(artist_ids_col, dtype=object),
                "primary_artist_id": artist_ids[trk_artist],
                "duration_ms": duration_ms,
                "explicit": explicit,
                "disc_number": disc.astype(np.int64),
                "track_number": trk_number.astype(np.int64),
                "isrc": np.array(isrc, dtype=object),
                "stream_weight": t_w,
                "release_ts": _utc(self._track_release_ns),
            }
        )
        self.track_index = pd.Index(self.tracks["track_id"])
        self.artist_index = pd.Index(self.artists["artist_id"])
        self.album_index = pd.Index(self.albums["album_id"])

    def album_track_rows(self, album_id: str) -> np.ndarray:
        """Row positions in ``tracks`` of an album's tracks, in disc/track order."""
        j = self.album_index.get_loc(album_id)
        return np.arange(self._alb_first[j], self._alb_first[j] + self._alb_size[j])

    def artist_album_rows(self, artist_id: str) -> np.ndarray:
        """Row positions in ``albums`` of the albums whose main artist is ``artist_id``."""
        i = self.artist_index.get_loc(artist_id)
        return np.arange(self._art_alb_first[i], self._art_alb_end[i])

"""The sample world's releases and tracks, the second part of its catalog: each artist's tracks
split into singles, EPs, albums and compilations, their release dates, then track names and
featured artists, album names, ids and labels, durations, explicit flags and ISRCs, drawn in
that order from the catalog's random stream after the artists
(see :mod:`spotify_assets.lib.sample.world.catalog`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES
from spotify_assets.lib.sample.world.artists import _Artists
from spotify_assets.lib.sample.world.base import (
    _END_NS,
    _NS_DAY,
    _START_NS,
    _base62_ids,
    _dedupe_names,
    _greedy_weighted_assign,
)
from spotify_assets.lib.sample.world.names import _ADJ, _MAJOR_LABELS, _NOUN, _OBJ, _VERB

# Static (catalog) decade shares so that, with the new-release picks, streams are about
# 2020s 50%, 2010s 30%, 2000s 10%, older 10%.
_DECADES = np.array([2020, 2010, 2000, 1990, 1980, 1970, 1960])
_DECADE_STATIC_SHARE = np.array([0.40, 0.35, 0.125, 0.06, 0.035, 0.02, 0.01])


@dataclass(frozen=True)
class _Albums:
    """The releases as drawn, grouped by artist; an album's tracks are the contiguous track
    rows from ``first``. ``release_ns`` is the start of the release date's period."""

    artist: np.ndarray
    size: np.ndarray
    first: np.ndarray
    type: np.ndarray
    release_ns: np.ndarray
    release_date: np.ndarray
    precision: np.ndarray
    names: list[str]
    ids: np.ndarray
    labels: list[str]
    upc: np.ndarray


@dataclass(frozen=True)
class _Tracks:
    """The tracks as drawn, album by album; ``artist_ids`` lists the primary artist's id, then
    the featured artists'."""

    album: np.ndarray
    disc: np.ndarray
    number: np.ndarray
    release_ns: np.ndarray
    names: list[str]
    artist_ids: list[list[str]]
    duration_ms: np.ndarray
    explicit: np.ndarray
    isrc: list[str]
    ids: np.ndarray


def _draw_releases(rng: np.random.Generator, art: _Artists) -> tuple[_Albums, _Tracks]:
    """The artists' releases and their tracks (``len(art.track_artist)`` in all)."""
    trk_artist = art.track_artist
    n_t = len(trk_artist)
    alb_artist, alb_size, alb_type = _release_sizes(rng, art.n_tracks, n_t)
    n_al = len(alb_size)
    trk_album, alb_first, disc, trk_number = _track_positions(alb_size, n_t)
    assert (trk_artist == alb_artist[trk_album]).all()
    alb_w = np.bincount(trk_album, weights=art.track_weight, minlength=n_al)
    release_ns, release_date, precision = _release_dates(rng, alb_w)
    base_names = _base_track_names(rng, n_t)
    track_names, artist_ids_col = _credit_features(rng, base_names, art)
    alb_names = _album_names(rng, alb_type, alb_first, alb_artist, track_names, art.names)
    album_ids = _base62_ids(rng, n_al)
    album_label = _album_labels(rng, alb_artist, art.labels)
    upc = rng.integers(10**11, 10**12, n_al)
    fam_t = art.family[trk_artist]
    duration_ms = _durations(rng, fam_t)
    explicit = _explicit(rng, fam_t)
    track_release_ns = release_ns[trk_album]
    isrc = _isrcs(rng, trk_artist, track_release_ns, len(art.ids))
    track_ids = _base62_ids(rng, n_t)
    albums = _Albums(
        artist=alb_artist,
        size=alb_size,
        first=alb_first,
        type=alb_type,
        release_ns=release_ns,
        release_date=release_date,
        precision=precision,
        names=alb_names,
        ids=album_ids,
        labels=album_label,
        upc=upc,
    )
    tracks = _Tracks(
        album=trk_album,
        disc=disc,
        number=trk_number,
        release_ns=track_release_ns,
        names=track_names,
        artist_ids=artist_ids_col,
        duration_ms=duration_ms,
        explicit=explicit,
        isrc=isrc,
        ids=track_ids,
    )
    return albums, tracks


def _release_sizes(
    rng: np.random.Generator, n_per_artist: np.ndarray, n_t: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each release's artist, size and type: each artist's tracks split into singles, EPs and
    albums, a few big albums being compilations."""
    n_a = len(n_per_artist)
    size_pool_n = 2 * n_t + 16
    kind = rng.choice(4, size=size_pool_n, p=[0.40, 0.17, 0.13, 0.30])
    sizes = np.where(
        kind == 0,
        1,
        np.where(
            kind == 1,
            rng.integers(2, 4, size_pool_n),
            np.where(kind == 2, rng.integers(4, 7, size_pool_n), rng.integers(8, 21, size_pool_n)),
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
    return alb_artist, alb_size, alb_type


def _track_positions(
    alb_size: np.ndarray, n_t: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tracks, album by album (so an album's tracks and an artist's tracks are contiguous):
    each track's album, each album's first track row, disc and track numbers (two discs
    beyond 16 tracks)."""
    n_al = len(alb_size)
    trk_album = np.repeat(np.arange(n_al), alb_size)
    alb_first = np.concatenate([[0], np.cumsum(alb_size)[:-1]])
    trk_number = np.arange(n_t) - alb_first[trk_album] + 1
    two_discs = alb_size[trk_album] > 16
    half = (alb_size[trk_album] + 1) // 2
    disc = np.where(two_discs & (trk_number > half), 2, 1)
    trk_number = np.where(disc == 2, trk_number - half, trk_number)
    return trk_album, alb_first, disc, trk_number


def _release_dates(
    rng: np.random.Generator, alb_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Release decade (album level, by album stream weight), then dates: the release time
    (epoch ns, the start of the date's period), the date as Spotify writes it and its
    precision."""
    n_al = len(alb_w)
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
        np.where(precision == "month", day.astype("datetime64[M]").astype("datetime64[D]"), day),
    )
    release_ns = floored.astype(np.int64) * _NS_DAY
    return release_ns, release_date, precision


def _base_track_names(rng: np.random.Generator, n_t: int) -> list[str]:
    """Track names before features and deduplication (singles are named after their lead
    track)."""
    tp = rng.choice(4, size=n_t, p=[0.4, 0.2, 0.3, 0.1])
    ia = rng.integers(0, len(_ADJ), n_t)
    inn = rng.integers(0, len(_NOUN), n_t)
    iv = rng.integers(0, len(_VERB), n_t)
    io = rng.integers(0, len(_OBJ), n_t)
    return [
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


def _credit_features(
    rng: np.random.Generator, base_names: list[str], art: _Artists
) -> tuple[list[str], list[list[str]]]:
    """Track names and artist ids: ~15% of tracks credit 1-2 more artists, mostly popular
    ones ("Name (feat. A & B)"); names unique per primary artist."""
    trk_artist, a_w, artist_ids, artist_names = art.track_artist, art.weight, art.ids, art.names
    n_a, n_t = len(a_w), len(trk_artist)
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
    return [k.split("\x00", 1)[1] for k in keyed], artist_ids_col


def _album_names(
    rng: np.random.Generator,
    alb_type: np.ndarray,
    alb_first: np.ndarray,
    alb_artist: np.ndarray,
    track_names: list[str],
    artist_names: list[str],
) -> list[str]:
    """Album names, unique per artist: a single is named after its lead track, a compilation
    "The Best of <artist>", an album two words."""
    n_al = len(alb_type)
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
    return [
        k.split("\x00", 1)[1]
        for k in _dedupe_names(
            [f"{alb_artist[j]}\x00{alb_names_raw[j]}" for j in range(n_al)],
            (" (Deluxe)", " (Expanded Edition)", " Vol. 2", " Vol. 3"),
        )
    ]


def _album_labels(
    rng: np.random.Generator, alb_artist: np.ndarray, artist_label: list[str]
) -> list[str]:
    """Most releases come out on the artist's label, a fifth on a major."""
    n_al = len(alb_artist)
    keep_label = rng.random(n_al) < 0.8
    other_major = rng.integers(0, len(_MAJOR_LABELS), n_al)
    return [
        artist_label[alb_artist[j]] if keep_label[j] else _MAJOR_LABELS[other_major[j]]
        for j in range(n_al)
    ]


def _durations(rng: np.random.Generator, fam_t: np.ndarray) -> np.ndarray:
    """Durations (ms): lognormal, median ~213 s, IQR ~174-262 s, plus a long tail; classical
    and jazz often longer."""
    n_t = len(fam_t)
    dur_s = rng.lognormal(np.log(213.0), 0.30, n_t)
    long_tail = rng.random(n_t) < 0.02
    dur_s = np.where(long_tail, rng.lognormal(np.log(420.0), 0.5, n_t), dur_s)
    classical = np.isin(
        fam_t, [GENRE_FAMILIES.index("classical"), GENRE_FAMILIES.index("jazz/blues")]
    )
    dur_s = np.where(classical & (rng.random(n_t) < 0.3), dur_s * 1.8, dur_s)
    return np.clip(np.rint(dur_s * 1000), 30_000, 1_800_000).astype(np.int64)


def _explicit(rng: np.random.Generator, fam_t: np.ndarray) -> np.ndarray:
    """Explicit flags, by genre family (most often hip hop/r&b)."""
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
    return rng.random(len(fam_t)) < explicit_p[fam_t]


def _isrcs(
    rng: np.random.Generator, trk_artist: np.ndarray, track_release_ns: np.ndarray, n_a: int
) -> list[str]:
    """ISRCs: a registrant (country and code) per artist, the release year, a number."""
    n_t = len(trk_artist)
    isrc_cc = np.array(["US", "GB", "DE", "SE", "BR", "MX", "FR", "QM", "QZ", "KR"])
    cc = rng.choice(isrc_cc, size=n_a, p=[0.3, 0.1, 0.06, 0.05, 0.07, 0.07, 0.05, 0.15, 0.1, 0.05])
    reg = _base62_ids(rng, n_a, 3)
    seq = rng.integers(0, 100_000, n_t)
    t_year = (track_release_ns // _NS_DAY).astype("datetime64[D]").astype("datetime64[Y]").astype(
        np.int64
    ) + 1970
    registrant = [c + r.upper() for c, r in zip(cc.tolist(), reg.tolist(), strict=True)]
    return [
        f"{registrant[a]}{y % 100:02d}{q:05d}"
        for a, y, q in zip(trk_artist.tolist(), t_year.tolist(), seq.tolist(), strict=True)
    ]

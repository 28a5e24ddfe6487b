"""The sample world's artists, the first part of its catalog: stream weights (of the artists and
of their tracks), genre family and micro-genres, name, id and label, drawn in that order from
the catalog's random stream (see :mod:`spotify_assets.lib.sample.world.catalog`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES, MICRO_GENRES
from spotify_assets.lib.sample.world.base import (
    _base62_ids,
    _dedupe_names,
    _greedy_weighted_assign,
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
    _SYLLABLES,
)

# Stream shares by genre family (docs/USER_GUIDE.md, "The sample world"), in GENRE_FAMILIES order.
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


@dataclass(frozen=True)
class _Artists:
    """The artists as drawn: per artist (``n_tracks``, ``weight``, ``family``, ``genres``,
    ``names``, ``ids``, ``labels``) and per track, whose rows are grouped by artist
    (``track_artist``, ``track_weight``)."""

    n_tracks: np.ndarray
    track_artist: np.ndarray
    track_weight: np.ndarray
    weight: np.ndarray
    family: np.ndarray
    genres: list[list[str]]
    names: list[str]
    ids: np.ndarray
    labels: list[str]


def _draw_artists(rng: np.random.Generator, n_a: int, n_t: int) -> _Artists:
    """``n_a`` artists sharing ``n_t`` tracks (at least one each)."""
    n_per_artist, trk_artist, t_w, a_w = _stream_weights(rng, n_a, n_t)
    fam, has_genres = _genre_families(rng, a_w)
    genres_col = _micro_genres(rng, fam, has_genres)
    artist_names = _artist_names(rng, fam)
    artist_ids = _base62_ids(rng, n_a)
    artist_label = _artist_labels(rng, a_w, artist_names)
    return _Artists(
        n_tracks=n_per_artist,
        track_artist=trk_artist,
        track_weight=t_w,
        weight=a_w,
        family=fam,
        genres=genres_col,
        names=artist_names,
        ids=artist_ids,
        labels=artist_label,
    )


def _stream_weights(
    rng: np.random.Generator, n_a: int, n_t: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tracks per artist, each track's artist (grouped), track and artist stream weights.

    Track rank comes from a noisy score (artist prominence + the track's own luck); the weight
    is a lognormal quantile of the rank (sigma 2.9, the top 15 compressed), so half of all
    streams come from under 1% of tracks at every scale, without one random track swallowing
    everything in a small world."""
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
    return n_per_artist, trk_artist, t_w, a_w


def _genre_families(rng: np.random.Generator, a_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Genre family per artist (index into GENRE_FAMILIES), so that stream shares hit
    ``_FAMILY_STREAM_SHARE``, and whether the artist has genres: ~10% of light artists have
    none at all ("other")."""
    n_a = len(a_w)
    fam_targets = np.array([_FAMILY_STREAM_SHARE[f] for f in GENRE_FAMILIES])
    other_code = GENRE_FAMILIES.index("other")
    pre = np.full(n_a, -1, dtype=np.int64)
    light = np.argsort(-a_w, kind="stable")[int(0.3 * n_a) :]
    no_genre = rng.choice(light, size=int(round(0.10 * n_a)), replace=False)
    pre[no_genre] = other_code
    fam = _greedy_weighted_assign(rng, a_w, fam_targets, preassigned=pre)
    has_genres = np.ones(n_a, dtype=bool)
    has_genres[no_genre] = False
    return fam, has_genres


def _micro_genres(
    rng: np.random.Generator, fam: np.ndarray, has_genres: np.ndarray
) -> list[list[str]]:
    """Micro-genres: 1-3 from the family, favouring its first (more common) names."""
    n_a = len(fam)
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
    return genres_col


def _artist_names(rng: np.random.Generator, fam: np.ndarray) -> list[str]:
    """Unique artist names: a person, a band ("The ..."), a coined word, a genre-flavoured
    name ("Lil ...", "DJ ...") or two words."""
    n_a = len(fam)
    pattern = rng.choice(5, size=n_a, p=[0.35, 0.15, 0.15, 0.2, 0.15])
    i_first = rng.integers(0, len(_FIRST), n_a)
    i_last = rng.integers(0, len(_LAST), n_a)
    i_adj = rng.integers(0, len(_ADJ), n_a)
    i_noun = rng.integers(0, len(_NOUN), n_a)
    i_pre = rng.integers(0, 1000, n_a)
    i_syl = rng.integers(0, len(_SYLLABLES), (n_a, 3))
    n_syl = rng.integers(2, 4, n_a)
    coined = ["".join(_SYLLABLES[j] for j in i_syl[i, : n_syl[i]]).capitalize() for i in range(n_a)]
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
    return _dedupe_names(names, (" & Co", " Collective", " II", " Band", " Project"))


def _artist_labels(rng: np.random.Generator, a_w: np.ndarray, artist_names: list[str]) -> list[str]:
    """Labels: popular artists mostly on "majors", the tail indie or self-released."""
    n_a = len(a_w)
    top = a_w >= np.quantile(a_w, 0.85)
    u_lab = rng.random(n_a)
    major = np.where(top, u_lab < 0.75, u_lab < 0.15)
    indie = ~major & (rng.random(n_a) < 0.55)
    maj_i = rng.integers(0, len(_MAJOR_LABELS), n_a)
    ind_i = rng.integers(0, len(_INDIE_WORDS), (n_a, 2))
    return [
        _MAJOR_LABELS[maj_i[i]]
        if major[i]
        else f"{_INDIE_WORDS[ind_i[i, 0]]} {_INDIE_WORDS[ind_i[i, 1]]} Records"
        if indie[i]
        else artist_names[i]
        for i in range(n_a)
    ]

"""The sample world's spoken word: podcast shows and their episodes, audiobooks and their
chapters, drawn from the stream ``_rng(seed, 5)``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spotify_assets.lib.sample.world.base import _base62_ids, _dedupe_names, _rng
from spotify_assets.lib.sample.world.names import _ADJ, _NOUN, _OBJ, _VERB
from spotify_assets.lib.sample.world.scales import WorldScale


class SpokenWordMixin:
    """Builds ``episodes`` and ``audiobook_chapters`` for :class:`SampleWorld`."""

    seed: int
    scale: WorldScale

    def _build_spoken_word(self) -> None:
        sc = self.scale
        rng = _rng(self.seed, 5)
        n_ep_per = rng.integers(20, 60, sc.n_shows)
        show_names = _dedupe_names(
            [
                f"The {_ADJ[a]} {_NOUN[b]} Podcast" if k else f"{_NOUN[b]} Daily"
                for a, b, k in zip(
                    rng.integers(0, len(_ADJ), sc.n_shows),
                    rng.integers(0, len(_NOUN), sc.n_shows),
                    rng.random(sc.n_shows) < 0.7,
                    strict=True,
                )
            ],
            (" Show", " Hour", " Radio"),
        )
        ep_show = np.repeat(np.arange(sc.n_shows), n_ep_per)
        ep_num = (
            np.arange(len(ep_show))
            - np.repeat(np.concatenate([[0], np.cumsum(n_ep_per)[:-1]]), n_ep_per)
            + 1
        )
        self.episodes = pd.DataFrame(
            {
                "episode_id": _base62_ids(rng, len(ep_show)),
                "episode_name": np.array(
                    [
                        f"#{n}: {_VERB[(n * 3) % len(_VERB)]} {_OBJ[(n * 5 + s) % len(_OBJ)]}"
                        for n, s in zip(ep_num, ep_show, strict=True)
                    ],
                    dtype=object,
                ),
                "show_name": np.array(show_names, dtype=object)[ep_show],
                "duration_ms": np.rint(rng.lognormal(np.log(45 * 60e3), 0.45, len(ep_show))).astype(
                    np.int64
                ),
            }
        )
        self._ep_show_first = np.concatenate([[0], np.cumsum(n_ep_per)[:-1]])
        self._ep_show_n = n_ep_per
        n_ch = rng.integers(10, 30, sc.n_audiobooks)
        book_titles = _dedupe_names(
            [
                f"{_ADJ[a]} {_NOUN[b]}: A Novel"
                for a, b in zip(
                    rng.integers(0, len(_ADJ), sc.n_audiobooks),
                    rng.integers(0, len(_NOUN), sc.n_audiobooks),
                    strict=True,
                )
            ],
            (" (Unabridged)", " (Book 2)"),
        )
        book_ids = _base62_ids(rng, sc.n_audiobooks)
        ch_book = np.repeat(np.arange(sc.n_audiobooks), n_ch)
        ch_num = (
            np.arange(len(ch_book))
            - np.repeat(np.concatenate([[0], np.cumsum(n_ch)[:-1]]), n_ch)
            + 1
        )
        self.audiobook_chapters = pd.DataFrame(
            {
                "chapter_id": _base62_ids(rng, len(ch_book)),
                "chapter_title": np.array([f"Chapter {n}" for n in ch_num], dtype=object),
                "audiobook_id": book_ids[ch_book],
                "audiobook_title": np.array(book_titles, dtype=object)[ch_book],
                "duration_ms": np.rint(rng.lognormal(np.log(25 * 60e3), 0.3, len(ch_book))).astype(
                    np.int64
                ),
            }
        )
        self._book_first = np.concatenate([[0], np.cumsum(n_ch)[:-1]])
        self._book_n = n_ch

"""One play seen by two sources, matched one to one (Dagster-free): the largest non-crossing
matching of least total cost, shared by the recently-played merge and the scrobble merge."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeVar

L = TypeVar("L", bound=Hashable)
R = TypeVar("R", bound=Hashable)


def monotone_matching(pairs: Iterable[tuple[L, R, float]]) -> list[tuple[L, R]]:
    """The matched (left, right) pairs of the largest matching between the lefts and the
    rights of ``pairs`` (candidate pairs with their cost) that never crosses in order (the
    k-th left of a run takes the k-th right: one listener's plays do not overlap, so neither
    do their sightings), and of those the least total cost. Lefts and rights sort by their
    own value (put the time first). Dynamic programming over the candidates: O(lefts x
    rights) per call, so call it per group of candidates that can only match each other."""
    pairs = list(pairs)
    left = sorted({p[0] for p in pairs})
    right = sorted({p[1] for p in pairs})
    li = {x: k for k, x in enumerate(left)}
    ri = {x: k for k, x in enumerate(right)}
    cost = {(li[a], ri[b]): c for a, b, c in pairs}
    n, m = len(left), len(right)
    # best[i][j]: (matches, -cost) over the first i lefts and j rights.
    best = [[(0, 0.0)] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            options = [best[i - 1][j], best[i][j - 1]]
            c = cost.get((i - 1, j - 1))
            if c is not None:
                k, neg = best[i - 1][j - 1]
                options.append((k + 1, neg - c))
            best[i][j] = max(options)
    out: list[tuple[L, R]] = []
    i, j = n, m
    while i and j:
        c = cost.get((i - 1, j - 1))
        if c is not None and best[i][j] == (best[i - 1][j - 1][0] + 1, best[i - 1][j - 1][1] - c):
            out.append((left[i - 1], right[j - 1]))
            i, j = i - 1, j - 1
        elif best[i][j] == best[i - 1][j]:
            i -= 1
        else:
            j -= 1
    return out[::-1]

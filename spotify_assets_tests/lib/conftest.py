"""Fixtures of the core's tests: the tiny sample world at two times."""

from __future__ import annotations

import pytest

from spotify_assets_tests.support.worlds import world_at_two_times


@pytest.fixture(scope="module")
def forward_world():
    """The tiny world with one more snapshot 60 days before the latest (T1), and the
    popularity the API served then."""
    from spotify_assets.lib.sample.world import build_world

    world = build_world("tiny", seed=42)
    conn, as_of, latest, earlier = world_at_two_times(world, 60)
    yield conn, world, as_of, latest, earlier
    conn.close()

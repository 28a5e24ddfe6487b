"""The code location loads without a deprecation, beta or supersession warning: a newcomer
running `make dev` or the tests sees only what matters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a fresh interpreter loading the code location

ROOT = Path(__file__).resolve().parents[2]


def test_loading_the_code_location_prints_no_warning(tmp_path):
    env = {**os.environ, "SPOTIFY_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import spotify_assets.definitions"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr

"""The layers are kept by a tool, not described: import-linter's contracts in pyproject.toml
hold for the code, and break on a module that imports across them (shown on a copy of the
package with one deliberate violation, and one circle hidden in a function)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT), "--config", str(cwd / "pyproject.toml")],
        cwd=cwd,
        env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(pythonpath)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_every_contract():
    done = lint(ROOT, ROOT)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "4 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # lib importing Dagster's layer above it
        ("lib/timezones.py", "from spotify_assets.defs import landing", "Layers: entry points"),
        # a lib domain importing one above it
        ("lib/catalog/genres.py", "from spotify_assets.lib.marts import spec", "lib domains"),
        # lib importing Dagster itself
        ("lib/lazy.py", "import dagster", "lib is Dagster-free"),
        # a circle, kept apart by an import inside a function
        (
            "lib/listening/export_files.py",
            "def _f():\n    from spotify_assets.lib.listening import export_archive",
            "No circles",
        ),
    ],
)
def test_a_deliberate_violation_breaks_its_contract(tmp_path, module, line, broken):
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    shutil.copytree(ROOT / "spotify_assets", copy / "spotify_assets",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    target = copy / "spotify_assets" / module
    target.write_text(target.read_text() + "\n\n" + line + "\n")
    done = lint(copy, copy)
    assert done.returncode != 0
    assert f"{broken}" in done.stdout and "BROKEN" in done.stdout

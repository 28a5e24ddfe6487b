"""A throwaway PostgreSQL for tests, from the machine's Debian packages: ``make e2e``'s own
(``deploy/e2e_platform.py``), or None when PostgreSQL is not installed (the caller then uses
SQLite)."""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def e2e_module() -> ModuleType:
    path = ROOT / "deploy" / "e2e_platform.py"
    spec = importlib.util.spec_from_file_location("spotify_e2e_platform", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def throwaway_postgres(databases: tuple[str, ...]) -> Iterator[object | None]:
    """A started cluster with ``databases``, stopped and removed at the end; None without
    PostgreSQL. Its folder is outside pytest's (0700: the postgres user could not enter)."""
    if not glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"):
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="spotify-test-pg-"))
    os.chmod(folder, 0o755)
    postgres = e2e_module().Postgres(folder / "cluster", databases)
    try:
        postgres.start()
        yield postgres
    finally:
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)

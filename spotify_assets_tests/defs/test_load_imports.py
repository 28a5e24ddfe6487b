"""Loading the code location imports only what every run needs (issue 17): each run, sensor
tick and ``dg check defs`` loads it, so a library that only some steps use is imported by
those steps. This tests what is imported, in a fresh interpreter, not how long it takes
(``bench/bench_event_latency.py`` measures that)."""

import json
import os
import subprocess
import sys

import pytest

from spotify_assets.lib.lazy import LazyModule

pytestmark = pytest.mark.slow  # a fresh interpreter loading the code location

#: Imported by the steps that use them, never at load.
HEAVY = (
    "sklearn",
    "scipy",
    "pandas",
    "matplotlib",
    "vl_convert",
    "spotipy",
    "dagster_aws",
    "boto3",
    "botocore",
    "dagster_duckdb_pandas",
    "spotify_assets.lib.sample",
    "pyiceberg",
)

_PROBE = """
import json, sys
import spotify_assets.definitions
heavy = {heavy!r}
loaded = [m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy)]
print(json.dumps(sorted(loaded)))
"""


@pytest.mark.parametrize("mode", ["file", "lakehouse"])
def test_loading_the_code_location_imports_no_heavy_library(mode, tmp_path):
    env = {**os.environ, "SPOTIFY_WAREHOUSE_MODE": mode, "SPOTIFY_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env=env,
    )
    imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert imported == [], (
        f"loading spotify_assets.definitions imported {imported}: import them inside the "
        "functions that use them (spotify_assets/lib/lazy.py)"
    )


def test_lazy_module_imports_on_first_public_attribute_only():
    sys.modules.pop("wave", None)
    module = LazyModule("wave")
    with pytest.raises(AttributeError):
        module.__dagster_component_loader_fn  # noqa: B018 (a probe, as Dagster's)
    assert "wave" not in sys.modules
    opened = module.open
    assert "wave" in sys.modules and opened is sys.modules["wave"].open
    assert "open" in vars(module)  # kept: the next read is a plain attribute

"""The dashboard at scale: build time, bytes per page and seconds to open in Chromium.

    .venv/bin/python bench/bench_dashboard.py [--users 3000] [--plays 10000000] [--out DIR]
        [--warehouse /tmp/bench_wh/warehouse.duckdb [--reuse]]

With ``--warehouse`` (a bench warehouse from ``bench/bench_warehouse.py``, with
``marts.sessions`` built, or the ``DIR.duckdb`` an earlier run of this script left beside its
``--out DIR``) it reads that; otherwise it makes a synthetic ``core.streams`` of
``--plays`` music and podcast plays by ``--users`` listeners over two years (skewed track and
artist popularity, 20 countries), builds ``marts.sessions``, ``marts.taste_monthly`` and the
listener marts on it, then writes the whole dashboard (overview with the engagement and
listener sections, the listeners' index, one page per listener, the vendored Vega bundle)
through :func:`spotify_assets.lib.reports.overview.write_dashboard` to ``--out``. ``--reuse``
opens the warehouse read-only and takes its marts as they are (minutes saved per run at 10M
plays: build the synthetic warehouse once, then measure the dashboard again and again).

Prints, side by side with a simple reference (DuckDB writing ``marts.listener_wrapped`` to one
JSON file: the floor of putting the same data on disk): wall and CPU seconds per step (CPU of
every thread of the process: the machine may be shared), the number of pages, bytes of the
overview, of the largest and the median listener page and of the bundle, and the
seconds headless Chromium (if installed) takes from navigation until every chart of a page has
drawn, for the overview and the largest listener page.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from spotify_assets.lib.marts import engagement_marts, listener_marts
from spotify_assets.lib.marts.run import build_marts, prepare
from spotify_assets.lib.reports.overview import MartGroup, write_dashboard
from spotify_assets_tests.support.synthetic import synthetic_streams


class Clock:
    """Wall and CPU seconds (every thread of the process: DuckDB's too) since it started."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> str:
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        return f"{wall:.1f} s wall, {cpu:.1f} s CPU"


def open_seconds(pages: list[Path]) -> dict[str, float]:
    try:
        from spotify_assets_tests.support.browser import CHROMIUM, Browser
    except ImportError:
        return {}
    if CHROMIUM is None:
        return {}
    out = {}
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(Path(profile))
        try:
            for page in pages:
                started = time.perf_counter()
                browser.open(page.as_uri())
                out[page.name] = time.perf_counter() - started
                state = browser.evaluate(
                    "window.dashboard.rendered + '/' + document.querySelectorAll('div.vega').length"
                )
                out[page.name + " charts drawn"] = state
        finally:
            browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--plays", type=int, default=10_000_000)
    parser.add_argument("--warehouse", type=Path)
    parser.add_argument(
        "--reuse", action="store_true", help="open --warehouse read-only, marts as they are"
    )
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="dash-bench-")))
    args = parser.parse_args()

    figures: list[tuple[str, str]] = []
    if args.reuse and not args.warehouse:
        parser.error("--reuse needs --warehouse")
    if args.reuse:
        conn = duckdb.connect(str(args.warehouse), read_only=True)
        conn.execute("set TimeZone = 'UTC'")
        built = {r[0] for r in conn.execute("select table_name from duckdb_tables()").fetchall()}
        marts = [
            m for m in engagement_marts.MARTS if m.name in built & {"sessions", "taste_monthly"}
        ]
    elif args.warehouse:
        conn = duckdb.connect(str(args.warehouse))
        prepare(conn)
        marts = [m for m in engagement_marts.MARTS if m.name == "taste_monthly"]
    else:
        conn = duckdb.connect(str(args.out.parent / f"{args.out.name}.duckdb"))
        prepare(conn)
        started = time.perf_counter()
        synthetic_streams(conn, args.users, args.plays)
        figures.append(("synthetic core.streams", f"{time.perf_counter() - started:.1f} s"))
        marts = [m for m in engagement_marts.MARTS if m.name in ("sessions", "taste_monthly")]
    conn.execute("set memory_limit = '4GB'")
    plays, users = conn.execute(
        "select count(*), count(distinct user_id) from core.streams"
    ).fetchone()
    figures.append(("plays, listeners", f"{plays:,}, {users:,}"))
    if not args.reuse:
        started = time.perf_counter()
        build_marts(conn, [*marts, *listener_marts.MARTS])
        figures.append(
            ("sessions, taste and listener marts", f"{time.perf_counter() - started:.1f} s")
        )

    clock = Clock()
    conn.execute(
        f"copy marts.listener_wrapped to '{args.out.parent / (args.out.name + '-ref.json')}' "
        "(format json)"
    )
    reference = clock.read()

    sizes: dict[str, int] = {}

    def put(path: str, data: bytes) -> None:
        (args.out / path).parent.mkdir(parents=True, exist_ok=True)
        (args.out / path).write_bytes(data)
        sizes[path] = len(data)

    groups = [
        MartGroup("Listening engagement", "", [m for m in marts]),
        MartGroup("Listener Wrapped", "", listener_marts.MARTS),
    ]
    clock = Clock()
    write_dashboard(conn, put, groups, generated_at="bench")
    build = clock.read()
    conn.close()
    listener = {p: n for p, n in sizes.items() if p.startswith("listeners/")}
    largest = max(listener, key=listener.get)
    figures += [
        ("dashboard build (all pages): wall, CPU", build),
        ("reference: listener_wrapped to one JSON file", reference),
        ("listener pages", f"{len(listener):,}"),
        ("overview index.html", f"{sizes['index.html'] / 1e6:.2f} MB"),
        ("largest listener page", f"{listener[largest] / 1e6:.2f} MB ({largest})"),
        ("median listener page", f"{statistics.median(listener.values()) / 1e6:.3f} MB"),
        ("vendored Vega bundle (once)", f"{sizes['vendor/vega-bundle.js'] / 1e6:.2f} MB"),
        ("all files", f"{sum(sizes.values()) / 1e6:.0f} MB"),
    ]
    for name, value in open_seconds([args.out / "index.html", args.out / largest]).items():
        figures.append((f"Chromium open: {name}", f"{value:.2f} s" if isinstance(value, float)
                        else str(value)))  # fmt: skip
    width = max(len(n) for n, _ in figures)
    for name, value in figures:
        print(f"{name:<{width}}  {value}")
    print(f"pages in {args.out}")


if __name__ == "__main__":
    main()

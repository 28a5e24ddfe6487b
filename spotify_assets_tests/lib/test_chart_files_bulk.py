"""Parsing many chart files at once (``parse_chart_files``) gives, file by file, exactly what
``parse_chart_file`` gives: rows, figures, rejected rows, or the same error; whatever mix of
formats, clean and bad files lands together."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from spotify_assets.lib.sample.world.charts import write_sample_charts
from spotify_assets.lib.spotify_charts import chart_files
from spotify_assets.lib.spotify_charts.chart_files import parse_chart_file, parse_chart_files

FIXTURES = Path(__file__).parent / "fixtures" / "charts"
HEADER = "rank,uri,artist_names,track_name,source,peak_rank,previous_rank,days_on_chart,streams"


def daily(region: str, day: int, rows: int = 30, **bad: str) -> tuple[bytes, str]:
    """A clean charts.spotify.com daily file; ``bad`` replaces the text of one line
    (``line3="..."``)."""
    rng = random.Random(f"{region}{day}")
    lines = [HEADER]
    for rank in range(1, rows + 1):
        tid = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789") for _ in range(22))
        lines.append(
            f'{rank},spotify:track:{tid},"Artist {rank % 7}, Guest",Song {rank},Label,'
            f'{rank},{rank + 1 if rank % 5 else -1},{day},"{10_000 // rank}"'
        )
    for key, text in bad.items():
        lines[int(key.removeprefix("line")) - 1] = text
    return (
        "\ufeff" + "\n".join(lines) + "\n"
    ).encode(), f"regional-{region}-daily-2025-01-{day:02d}.csv"


def same(items: list[tuple[bytes, str, str]]) -> int:
    """Assert bulk == one by one for every item; returns how many parsed to rows."""
    parsed = 0
    for (data, name, source), got in zip(items, parse_chart_files(items), strict=True):
        try:
            want = parse_chart_file(data, name=name, source_file=source)
        except Exception as exc:  # noqa: BLE001
            assert type(got) is type(exc) and str(got) == str(exc), name
            continue
        assert not isinstance(got, Exception), (name, got)
        assert got.table.equals(want.table), name
        assert got.info == want.info, name
        assert got.rejected == want.rejected, name
        parsed += 1
    return parsed


@pytest.fixture(params=[1, 16])
def group_floor(request, monkeypatch):
    """Groups as small as one file go through the bulk read too (the floor is a speed knob)."""
    monkeypatch.setattr(chart_files, "_SMALLEST_GROUP", request.param)
    return request.param


def test_clean_files_of_every_region_and_day(group_floor, monkeypatch):
    items = []
    for region in ("global", "us", "de", "ar"):
        for day in range(1, 11):
            data, name = daily(region, day)
            items.append((data, name, f"charts/{name}"))
    assert same(items) == 40
    one_by_one = []
    original = chart_files._one
    monkeypatch.setattr(chart_files, "_one", lambda item: one_by_one.append(item) or original(item))
    parse_chart_files(items)
    assert not one_by_one  # clean files of one header: all read in one go


def test_bad_files_among_clean_ones_give_their_own_rejections(group_floor):
    items = []
    for day in range(1, 31):
        bad = {}
        if day == 4:
            bad = {"line3": "2,spotify:track:short,X,Y,L,1,1,1,5"}  # no track id
        elif day == 9:
            bad = {"line5": '4,spotify:track:AAAAAAAAAAAAAAAAAAAAAA,"A",B,L,1,1,1,"1,234"'}
        elif day == 13:
            bad = {"line6": "5,spotify:track:AAAAAAAAAAAAAAAAAAAAAA,A,B,L,1"}  # fields missing
        elif day == 17:
            bad = {"line2": "1,spotify:track:AAAAAAAAAAAAAAAAAAAAAA,A,B,L,1,1,1,-5"}
        elif day == 21:
            bad = {"line4": "2,spotify:track:AAAAAAAAAAAAAAAAAAAAAA,SeÃ±orita,B,L,1,1,1,5"}
        elif day == 25:
            bad = {"line7": "3,spotify:track:AAAAAAAAAAAAAAAAAAAAAA,A,B,L,1,1,1,5"}  # rank twice
        data, name = daily("global", day, **bad)
        items.append((data, name, f"charts/{name}"))
    items.append((b"not,a,chart\n1,2,3\n", "notes.csv", "charts/notes.csv"))
    latest, _ = daily("global", 1)
    items.append((latest, "regional-global-daily-latest.csv", "charts/latest.csv"))
    assert same(items) == 30
    got = parse_chart_files(items)
    assert [r.record_index for r in got[3].rejected] == [3]
    assert got[8].info["accepted"] == 30 and not got[8].rejected  # 1,234 is a count


def test_real_files_and_the_sample_world_in_one_batch(tmp_path, tiny_world, group_floor):
    sample = write_sample_charts(tmp_path, tiny_world, days=5)
    items = [(p.read_bytes(), p.name, p.name) for p in [*FIXTURES.glob("*.csv"), *sample]]
    assert same(items * 2) >= 2 * len(sample)


def test_rows_of_each_file_carry_its_own_name_and_lines():
    items = []
    for day in (1, 2):
        data, name = daily("us", day, rows=20)
        items.append((data, name, name))
    first, second = parse_chart_files(items * 8)[:2]
    assert set(first.table["source_file"].to_pylist()) == {items[0][2]}
    assert first.table["line"].to_pylist() == list(range(2, 22))
    assert second.table["period_start"][0].as_py().day == 2

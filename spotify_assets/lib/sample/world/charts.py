"""Write the sample world's public chart files: a month of daily charts for a few regions as
charts.spotify.com serves them, plus two older files as spotifycharts.com did (a weekly chart
with a two-date name, a daily one with the "Note that these figures ..." first line).

The charted tracks are the world's own (ids, names, artists), ranked by their stream weight
times the recency of their release (the world's popularity model), a per-region taste factor
and a little day-to-day noise, so charts, catalog and listening history tell one story.
Deterministic: the same world, seed and arguments give the same bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from spotify_assets.lib.sample.world.popularity import _recency_factor
from spotify_assets.lib.sample.world.world import SampleWorld, build_world

#: Regions charted, with the streams of their number one on a typical day.
SAMPLE_REGIONS: dict[str, int] = {
    "global": 6_500_000,
    "us": 1_600_000,
    "gb": 520_000,
    "de": 480_000,
    "br": 900_000,
}
NEW_HEADER = (
    "rank",
    "uri",
    "artist_names",
    "track_name",
    "source",
    "peak_rank",
    "previous_rank",
    "days_on_chart",
    "streams",
)
OLD_NOTE = (
    ',,,"Note that these figures are generated using a formula that protects against any '
    'artificial inflation of chart positions.",'
)
_TASTE_SIGMA = 0.8
_DAILY_SIGMA = 0.06


def _csv(rows: list[Sequence[object]], quote_all: bool = False) -> str:
    buf = io.StringIO()
    writer = csv.writer(
        buf, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC if quote_all else csv.QUOTE_MINIMAL
    )
    writer.writerows(rows)
    return buf.getvalue()


def write_sample_charts(
    out_dir: str | Path,
    world: SampleWorld | int = 42,
    *,
    scale: str = "demo",
    regions: Sequence[str] = tuple(SAMPLE_REGIONS),
    days: int = 30,
    end: date | None = None,
    top_n: int = 50,
) -> list[Path]:
    """Write ``days`` daily charts (ending ``end``, by default the last day of the world's
    listening history) for each of ``regions`` into ``out_dir`` in the charts.spotify.com
    format, and two global charts of the week before in the spotifycharts.com format; returns
    the files written, sorted. ``world`` is a built world or a seed (then ``scale`` says which
    world to build). Regions must be keys of :data:`SAMPLE_REGIONS`.
    """
    if isinstance(world, int):
        world = build_world(scale, world)
    unknown = [r for r in regions if r not in SAMPLE_REGIONS]
    if unknown:
        raise ValueError(f"unknown sample chart regions {unknown}; use {list(SAMPLE_REGIONS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    end = end or (world.history_end - pd.Timedelta(days=1)).date()
    first = end - timedelta(days=days - 1)
    # The old-format week: Friday to Thursday (weekday 3), the last one ending before the month.
    before = first - timedelta(days=1)
    week_end = before - timedelta(days=(before.weekday() - 3) % 7)
    week_start = week_end - timedelta(days=6)
    sim_start = min(week_start, first - timedelta(days=1))
    dates = [sim_start + timedelta(days=i) for i in range((end - sim_start).days + 1)]

    tracks = world.tracks
    n = len(tracks)
    weight = tracks["stream_weight"].to_numpy(dtype=np.float64)
    release_day = tracks["release_ts"].dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    artist_name = dict(zip(world.artists["artist_id"], world.artists["artist_name"], strict=True))
    written: list[Path] = []

    for r_index, region in enumerate(regions):
        rng = np.random.default_rng([world.seed, 7_031, r_index])
        taste = np.ones(n) if region == "global" else rng.lognormal(0.0, _TASTE_SIGMA, n)
        peak = np.full(n, np.iinfo(np.int64).max)
        charted_days = np.zeros(n, dtype=np.int64)
        previous = np.full(n, -1, dtype=np.int64)
        week_streams = np.zeros(n, dtype=np.int64)
        for day in dates:
            age = (np.datetime64(day, "D") - release_day).astype(np.float64)
            w = weight * taste * _recency_factor(age) * rng.lognormal(0.0, _DAILY_SIGMA, n)
            w[age < 0] = 0.0
            order = np.argsort(-w, kind="stable")[:top_n]
            order = order[w[order] > 0]
            streams = np.rint(SAMPLE_REGIONS[region] * w / w[order[0]]).astype(np.int64)
            ranks = np.arange(1, len(order) + 1)
            peak[order] = np.minimum(peak[order], ranks)
            charted_days[order] += 1
            if week_start <= day <= week_end:
                week_streams += streams
            rows = [
                (
                    rank,
                    f"spotify:track:{tracks.at[i, 'track_id']}",
                    ", ".join(artist_name[a] for a in tracks.at[i, "artist_ids"]),
                    tracks.at[i, "track_name"],
                    "Sample World Records",
                    int(peak[i]),
                    int(previous[i]),
                    int(charted_days[i]),
                    str(int(streams[i])),
                )
                for rank, i in zip(ranks, order, strict=True)
            ]
            previous[:] = -1
            previous[order] = ranks
            if day >= first:
                path = out / f"regional-{region}-daily-{day.isoformat()}.csv"
                # charts.spotify.com: UTF-8 with a BOM; streams quoted
                text = _quote_streams(_csv([NEW_HEADER]) + _csv(rows))
                path.write_bytes(("\ufeff" + text).encode("utf-8"))
                written.append(path)
            elif region == "global" and day == first - timedelta(days=1):
                # spotifycharts.com, daily, with its note line; the URL instead of the URI
                old = [("Position", "Track Name", "Artist", "Streams", "URL")] + [
                    (r[0], r[3], r[2], r[8], _url(r[1])) for r in rows
                ]
                path = out / f"regional-global-daily-{day.isoformat()}.csv"
                path.write_bytes((OLD_NOTE + "\n" + _csv(old)).encode("utf-8"))
                written.append(path)
        if region == "global":
            top = np.argsort(-week_streams, kind="stable")[:top_n]
            old = [("Position", "Track Name", "Artist", "Streams", "URL")] + [
                (
                    rank,
                    tracks.at[i, "track_name"],
                    ", ".join(artist_name[a] for a in tracks.at[i, "artist_ids"]),
                    int(week_streams[i]),
                    f"https://open.spotify.com/track/{tracks.at[i, 'track_id']}",
                )
                for rank, i in enumerate(top, start=1)
                if week_streams[i] > 0
            ]
            # spotifycharts.com named a week by its Friday and the next Friday (exclusive)
            name = (
                f"regional-global-weekly-{week_start.isoformat()}--"
                f"{(week_end + timedelta(days=1)).isoformat()}.csv"
            )
            (out / name).write_bytes(_csv(old).encode("utf-8"))
            written.append(out / name)
    return sorted(written)


def _url(uri: str) -> str:
    return "https://open.spotify.com/track/" + uri.rsplit(":", 1)[-1]


def _quote_streams(text: str) -> str:
    """Quote the last field (streams) of every data line, as charts.spotify.com does."""
    lines = text.split("\n")
    quoted = [
        f'{ln[: ln.rfind(",") + 1]}"{ln[ln.rfind(",") + 1 :]}"' if ln else ln for ln in lines[1:]
    ]
    return "\n".join([lines[0], *quoted])

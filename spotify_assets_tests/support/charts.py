"""An independent reading of the Kaggle charts fixtures (pandas, the format's rules written out
again, the fixtures' region names by hand), for the tests to compare the platform's with."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

# The test's own reading of the fixtures' region names (not the module's table).
REGIONS = {
    "Argentina": "ar",
    "Global": "global",
    "United Kingdom": "gb",
    "Czech Republic": "cz",
    "Hong Kong": "hk",
    "United States": "us",
}


def independent(path: Path) -> tuple[list[tuple], list[int]]:
    """(chart entries, rejected lines) of a Kaggle charts file read with pandas: entries as
    (region, chart, period_start, period_end, rank, track_id, track_name, artist_names,
    streams, line), sorted."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if df.columns[0] in ("", "Unnamed: 0"):
        df = df.drop(columns=df.columns[0])
    rows, bad, seen = [], [], set()
    for i, r in df.iterrows():
        line = int(i) + 2  # the header is line 1, one row per line
        chart = {"top200": "regional-daily", "viral50": "viral-daily"}[r["chart"]]
        region = REGIONS.get(r["region"])
        track = r["url"].split("/track/")[1] if "/track/" in r["url"] else None
        streams = int(float(r["streams"])) if r["streams"] else None
        key = (region, chart, r["date"], int(r["rank"]))
        if region is None or track is None or (chart == "regional-daily" and streams is None):
            bad.append(line)
            continue
        if key in seen:
            bad.append(line)
            continue
        seen.add(key)
        day = date.fromisoformat(r["date"])
        rows.append(
            (region, chart, day, day, int(r["rank"]), track, r["title"], r["artist"],
             streams if chart == "regional-daily" else None, line)
        )  # fmt: skip
    return sorted(rows), bad

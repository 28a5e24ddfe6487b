"""A landing zone that exists only in the tests, to show what a new source costs: this parser
(Dagster-free, as a zone's parser in ``lib/`` is), its declaration
(:mod:`spotify_assets_tests.support.scores_defs`) and its test
(``spotify_assets_tests/defs/test_landing_zones.py``). Nothing else lists it.

The format: ``player,score`` CSV. Other CSVs are not ours; a score that is not a whole number is
a bad record; a file with a score of 1000 or more fails the zone's own (blocking) check."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv

from spotify_assets.lib.landing import (
    BadFile,
    FileCheck,
    LandedContext,
    LandingZone,
    NotIngested,
    ParsedFile,
    RejectedRecord,
)

SCHEMA = pa.schema([("player", pa.string()), ("score", pa.int64()), ("source_file", pa.string())])


def parse_scores(data: bytes, context: LandedContext) -> ParsedFile:
    if not context.name.endswith(".csv"):
        raise NotIngested("not a CSV file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadFile(f"not UTF-8: {exc}") from exc
    lines = text.splitlines()
    if not lines or lines[0].strip() != "player,score":
        raise NotIngested("not a scores file (no 'player,score' header)")
    table = pacsv.read_csv(
        io.BytesIO(data), convert_options=pacsv.ConvertOptions(column_types={"score": pa.string()})
    )
    players, scores, rejected = [], [], []
    for i, (player, score) in enumerate(
        zip(table["player"].to_pylist(), table["score"].to_pylist(), strict=True), start=2
    ):
        if score is None or not score.strip().lstrip("-").isdigit():
            rejected.append(RejectedRecord(i, f"score not a whole number: {score!r}", player))
            continue
        players.append(player)
        scores.append(int(score))
    rows = pa.table([players, scores, [context.path] * len(players)], schema=SCHEMA)
    return ParsedFile(rows, rejected, {"records": len(lines) - 1, "max_score": max(scores or [0])})


SCORES_ZONE = LandingZone(
    name="scores",
    parse=parse_scores,
    schema=SCHEMA,
    file_checks=(
        FileCheck(
            "scores_bounded", "Scores stay below 1000", lambda m: m.get("max_score", 0) > 999
        ),
    ),
)

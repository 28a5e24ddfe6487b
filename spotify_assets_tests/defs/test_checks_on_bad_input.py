"""Each kind of check fails on a crafted bad input (the blocking ones as ERROR, the others as
WARN): mart keys and rates, row counts and schema changes of any warehouse table, and the
values Spotify defines in core.streams."""

from __future__ import annotations

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.listening.assets import STREAMS_VALUE_RULES
from spotify_assets.defs.marts.factory import mart_assets
from spotify_assets.defs.quality.table_checks import (
    ROW_COUNT_CHECK,
    SCHEMA_CHANGE_CHECK,
    column_schema_change_checks,
    row_count_checks,
)
from spotify_assets.lib.marts.spec import Mart, PlotSpec
from spotify_assets.lib.quality.rules import evaluate, schema_change
from spotify_assets_tests.support.warehouse import create_core_tables, insert

BAD_MART = Mart(
    name="bad_shares",
    description="A mart with a duplicated key and a share above 1.",
    sql="select * from (values ('a', 0.5), ('a', 0.2), ('b', 1.3)) t(family, stream_share)",
    columns={"family": "key", "stream_share": "a share"},
    reads=(),
    plots=(PlotSpec("Shares", "bar", x="family", y=("stream_share",)),),
    key=("family",),
)


def test_a_mart_with_a_duplicated_key_and_a_share_above_one_fails(tmp_path):
    marts = mart_assets("bad_marts", [BAD_MART], group="marts", description="bad")
    result = dg.materialize(
        [marts],
        resources={"warehouse": DuckDBResource(database=str(tmp_path / "w.duckdb"))},
        raise_on_error=False,
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["key_unique_not_null"].passed
    assert checks["key_unique_not_null"].metadata["violations"].value == 1
    assert not checks["rates_within_0_1"].passed
    assert checks["rates_within_0_1"].metadata["violations"].value == 1
    assert checks["row_count_vs_previous"].passed  # first build: nothing to compare
    assert not result.success  # blocking ERROR checks fail the run


def _run_checks(instance, checks_def, key: dg.AssetKey, keys) -> dg.AssetCheckEvaluation:
    defs = dg.Definitions(
        assets=[dg.AssetSpec(k) for k in keys],
        asset_checks=[checks_def],
        jobs=[
            dg.define_asset_job("checks_only", selection=dg.AssetSelection.checks_for_assets(key))
        ],
    )
    result = defs.resolve_job_def("checks_only").execute_in_process(
        instance=instance, raise_on_error=False
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_a_table_that_loses_more_than_half_its_rows_fails_row_count_vs_previous():
    from spotify_assets.definitions import defs

    key = dg.AssetKey(["core", "tracks"])
    assert (
        dg.AssetCheckKey(key, ROW_COUNT_CHECK)
        in defs.get_repository_def().asset_graph.asset_check_keys
    )
    instance = dg.DagsterInstance.ephemeral()
    for rows in (1000, 400):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(key, metadata={"dagster/row_count": rows})
        )
    evaluation = _run_checks(instance, row_count_checks([key]), key, [key])
    assert evaluation.check_name == ROW_COUNT_CHECK and not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["change"].value == "-60.0%"
    # A drop to exactly half passes.
    instance.report_runless_asset_event(
        dg.AssetMaterialization(key, metadata={"dagster/row_count": 200})
    )
    assert _run_checks(instance, row_count_checks([key]), key, [key]).passed


def test_a_changed_column_schema_is_a_warning():
    key = dg.AssetKey(["core", "artists"])
    instance = dg.DagsterInstance.ephemeral()
    for columns in (
        [("artist_id", "VARCHAR"), ("followers", "BIGINT")],
        [("artist_id", "VARCHAR"), ("followers", "DOUBLE"), ("label", "VARCHAR")],
    ):
        schema = dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in columns])
        instance.report_runless_asset_event(
            dg.AssetMaterialization(key, metadata={"dagster/column_schema": schema})
        )
    evaluation = _run_checks(instance, column_schema_change_checks([key]), key, [key])
    assert evaluation.check_name == SCHEMA_CHANGE_CHECK and not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["added"].value == ["label"]
    assert evaluation.metadata["retyped"].value == ["followers: BIGINT -> DOUBLE"]
    assert schema_change({"a": "INT"}, {"a": "INT"}) == {"added": [], "removed": [], "retyped": []}


def test_unknown_reason_end_is_a_warning_and_unknown_content_type_an_error():
    rules = {r.name: r for r in STREAMS_VALUE_RULES}
    with duckdb.connect() as conn:
        create_core_tables(conn, ["core.streams"])
        insert(
            conn,
            "core.streams",
            [
                dict(source_file="u/a.json", record_index=0, content_type="music",
                     reason_start="clickrow", reason_end="trackdone"),
                dict(source_file="u/a.json", record_index=1, content_type="music",
                     reason_start="clickrow", reason_end="teleported"),
                dict(source_file="u/a.json", record_index=2, content_type="video",
                     reason_start="clickrow", reason_end="trackdone"),
            ],
        )  # fmt: skip
        end = evaluate(conn, rules["streams_reason_end_accepted_values"])
        kind = evaluate(conn, rules["streams_content_type_accepted_values"])
        start = evaluate(conn, rules["streams_reason_start_accepted_values"])
    assert not end.passed and end.violations == 1 and not end.rule.blocking
    assert end.examples[0]["reason_end"] == "teleported"
    assert not kind.passed and kind.violations == 1 and kind.rule.blocking
    assert start.passed


def test_every_reason_value_seen_in_real_exports_is_known():
    """A 2025 export with every reason_start/reason_end value people's exports hold (the
    'reconnect' of 2025 among them, blanks as null): no value check warns."""
    from pathlib import Path

    from spotify_assets.defs.listening.assets import STREAMS_VALUE_RULES
    from spotify_assets.lib.listening.export_archive import parse_landed_export
    from spotify_assets.lib.quality.rules import evaluate

    name = "Streaming_History_Audio_2025_reasons.json"
    data = (Path(__file__).parents[1] / "lib/fixtures/streaming_history" / name).read_bytes()
    parsed = parse_landed_export(data, name=name, source_file=f"u/{name}", user_id="u")
    assert "reconnect" in parsed.table.column("reason_start").to_pylist()
    with duckdb.connect() as conn:
        conn.execute("create schema core")
        conn.register("parsed", parsed.table)
        conn.execute("create table core.streams as select * from parsed")
        failing = [r.rule.name for r in (evaluate(conn, rule) for rule in STREAMS_VALUE_RULES)
                   if not r.passed]  # fmt: skip
    assert failing == []

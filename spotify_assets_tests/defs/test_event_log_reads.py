"""resources/event_log.py: reading what an asset's latest materializations recorded (newest first,
of one partition when asked, as plain values; None when never materialized)."""

import dagster as dg

from spotify_assets.resources.event_log import (
    latest_metadata,
    latest_metadata_value,
    latest_partition,
    plain_values,
    recent_materializations,
)

PARTS = dg.StaticPartitionsDefinition(["a", "b"])


class Rows(dg.Config):
    rows: int


@dg.asset
def table(config: Rows) -> dg.MaterializeResult:
    schema = dg.TableSchema(columns=[dg.TableColumn("id", "int")])
    return dg.MaterializeResult(
        metadata={"dagster/row_count": config.rows, "dagster/column_schema": schema}
    )


@dg.asset(partitions_def=PARTS)
def parted(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"hash": f"h-{context.partition_key}"})


def _run(instance, rows: int) -> None:
    config = {"ops": {"table": {"config": {"rows": rows}}}}
    assert dg.materialize([table], instance=instance, run_config=config).success


def test_latest_and_recent_metadata():
    instance = dg.DagsterInstance.ephemeral()
    key = dg.AssetKey("table")
    assert latest_metadata(instance, key) is None
    assert latest_metadata_value(instance, key, "dagster/row_count") is None
    assert recent_materializations(instance, key, limit=2) == []
    _run(instance, 10)
    _run(instance, 4)
    assert latest_metadata_value(instance, key, "dagster/row_count") == 4
    assert latest_metadata_value(instance, key, "not recorded") is None
    schema = latest_metadata(instance, key)["dagster/column_schema"]
    assert [c.name for c in schema.columns] == ["id"]  # the TableSchema, not its wrapper
    records = recent_materializations(instance, key, limit=2)
    assert [r.asset_materialization.metadata["dagster/row_count"].value for r in records] == [
        4,
        10,
    ]
    assert latest_partition(instance, key) is None


def test_one_partition_and_the_latest_partition():
    instance = dg.DagsterInstance.ephemeral()
    key = dg.AssetKey("parted")
    for partition in ("a", "b"):
        assert dg.materialize([parted], instance=instance, partition_key=partition).success
    assert latest_partition(instance, key) == "b"
    assert latest_metadata_value(instance, key, "hash") == "h-b"
    assert latest_metadata_value(instance, key, "hash", partition="a") == "h-a"


def test_plain_values_keeps_the_names_asked_in_their_order():
    metadata = {"rows": dg.MetadataValue.int(3), "sql": dg.MetadataValue.md("x"), "n": 1}
    assert plain_values(metadata) == {"rows": 3, "sql": "x", "n": 1}
    assert list(plain_values(metadata, ["n", "missing", "rows"]).items()) == [("n", 1), ("rows", 3)]

"""``reports/data_quality``: the latest result of every asset check in the code location, as a
warehouse table (``reports.data_quality``) and a section of the dashboard.

It reads Dagster's own event log, so it shows WARN failures (which fail nothing), checks that
were skipped because a blocking check upstream failed, and checks that never ran. The
check-failure sensor asks for it whenever new check results arrive.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg

from spotify_assets.defs.warehouse_tables import WAREHOUSE_POOL
from spotify_assets.lib.landing import held_files
from spotify_assets.lib.lazy import DataFrameHint
from spotify_assets.lib.quality.held_files import with_held_files
from spotify_assets.lib.quality.rules import DATA_QUALITY_COLUMNS
from spotify_assets.resources.event_log import plain_values

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

DATA_QUALITY_KEY = dg.AssetKey(["reports", "data_quality"])
_DETAIL_KEYS = ("violations", "parse_rate", "rows", "previous_rows", "change", "files")


def check_results(
    instance: dg.DagsterInstance,
    specs: dict[dg.AssetCheckKey, dg.AssetCheckSpec],
    current_run_id: str | None = None,
) -> "pd.DataFrame":
    """One row per check: its latest execution (or ``never run``).

    A check planned in ``current_run_id`` (the run collecting the results: its own
    ``covers_every_check``, the dashboard's checks when the dashboard follows in the same run)
    has not run *yet*, not "not run": its latest completed result is shown instead, or
    ``pending`` without one (a first run: it runs after this table is written). Read as "not
    run", covers_every_check stayed so for good: every refresh plans it again."""
    latest = dict(instance.event_log_storage.get_latest_asset_check_execution_by_key(list(specs)))
    pending: set[dg.AssetCheckKey] = set()
    if current_run_id is not None:
        for key, record in list(latest.items()):
            if record.run_id == current_run_id and record.status.value == "PLANNED":
                latest[key] = _completed_before(instance, record)
                if latest[key] is None:
                    pending.add(key)
    rows = []
    for key, spec in sorted(specs.items(), key=lambda kv: (kv[0].asset_key.path, kv[0].name)):
        record = latest.get(key)
        declared = "ERROR" if spec.blocking else "WARN"
        row = {
            "asset_key": key.asset_key.to_user_string(),
            "check_name": key.name,
            "severity": declared,
            "blocking": bool(spec.blocking),
            "status": "never run",
            "passed": None,
            "evaluated_at": None,
            "run_id": None,
            "partition": None,
            "description": spec.description,
            "details": None,
        }
        if key in pending:
            row["status"], row["run_id"] = "pending", current_run_id
        if record is not None:
            row["run_id"] = record.run_id
            row["partition"] = record.partition
            row["evaluated_at"] = datetime.fromtimestamp(record.create_timestamp, UTC).replace(
                tzinfo=None
            )
            event = record.event.dagster_event if record.event else None
            evaluation = event.event_specific_data if event else None
            if record.status.value == "PLANNED" or evaluation is None:
                # Planned in a run and not executed: the run failed or a blocking check upstream
                # stopped it.
                row["status"] = "not run"
            else:
                row["passed"] = bool(evaluation.passed)
                row["status"] = "passed" if evaluation.passed else "failed"
                # A passing result's severity is only Dagster's default: keep the declared one.
                if not evaluation.passed:
                    row["severity"] = evaluation.severity.value
                row["description"] = evaluation.description or spec.description
                details = plain_values(evaluation.metadata, _DETAIL_KEYS)
                row["details"] = ", ".join(f"{k}={v}" for k, v in details.items()) or None
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(DATA_QUALITY_COLUMNS))
    frame["passed"] = frame["passed"].astype("boolean")
    frame["evaluated_at"] = pd.to_datetime(frame["evaluated_at"])
    return frame


def _completed_before(instance: dg.DagsterInstance, planned: Any) -> Any:
    """The latest completed (passed or failed) execution of the check of a ``planned``
    record, or None (the statuses are read off the record: their enum is not public)."""
    completed = {s for s in type(planned.status) if s.value != "PLANNED"}
    history = instance.event_log_storage.get_asset_check_execution_history(
        planned.key, limit=1, status=completed
    )
    return history[0] if history else None


def build_data_quality_asset(
    check_specs: Sequence[dg.AssetCheckSpec], held_zones: Sequence[Any] = ()
) -> dg.AssetsDefinition:
    """The asset over the given checks: ``spotify_assets.definitions`` passes every check of the
    code location (it is built after the other definitions are loaded, so none is missed), and
    the landing zones (``ZoneDefs``) whose files failing a blocking check stay listed as failed
    (one row per file, ``partition`` = the file) until fixed or removed."""
    specs = {spec.key: spec for spec in check_specs}

    @dg.asset(
        key=DATA_QUALITY_KEY,
        group_name="reports",
        io_manager_key="warehouse_io_manager",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        required_resource_keys={"lake"} if held_zones else set(),
        owners=["team:data-platform"],
        description="The latest result of every asset check: asset, check, severity, status "
        "(passed, failed, not run, never run, pending), when, run and what it found; plus a "
        "failed row "
        "per landed file held out of the warehouse by a blocking check (until fixed or "
        "removed).",
        metadata={"column_descriptions": DATA_QUALITY_COLUMNS},
    )
    def data_quality(context: dg.AssetExecutionContext) -> dg.Output[DataFrameHint]:
        frame = check_results(context.instance, specs, context.run.run_id)
        if held_zones:
            store = context.resources.lake.store()
            held = {z.key.to_user_string(): held_files(store, z.zone) for z in held_zones}
            frame = with_held_files(frame, {a: f for a, f in held.items() if f})
        counts = frame["status"].value_counts().to_dict()
        failed_errors = frame[(frame["status"] == "failed") & (frame["severity"] == "ERROR")]
        context.log.info(f"{len(frame)} checks: {counts}")
        return dg.Output(
            frame,
            metadata={
                "checks": len(frame),
                **{f"status: {status}": int(n) for status, n in sorted(counts.items())},
                "failed_error_checks": dg.MetadataValue.md(
                    "\n".join(
                        f"- {r.asset_key} / {r.check_name}" for r in failed_errors.itertuples()
                    )
                    or "none"
                ),
            },
        )

    return data_quality


def check_specs_of(defs: dg.Definitions) -> list[dg.AssetCheckSpec]:
    """Every asset check declared in ``defs``: inline ones on assets and standalone ones."""
    specs: list[dg.AssetCheckSpec] = []
    for item in [*(defs.assets or []), *(defs.asset_checks or [])]:
        specs.extend(getattr(item, "check_specs", ()))
    return specs

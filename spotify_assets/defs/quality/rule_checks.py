"""Turns data-quality rules (``spotify_assets.lib.quality.rules``) into Dagster asset checks.

All the rules of a group of tables become one multi-asset check: one step and one DuckDB
connection for the lot, instead of a step per table, because a check step costs far more in
orchestration (events, connection) than its queries take. ``can_subset`` keeps every rule
runnable on its own from the UI. Rule severity: blocking rules are ERROR and stop downstream
automation; the others are WARN.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from spotify_assets.defs.warehouse_tables import WAREHOUSE_POOL
from spotify_assets.lib.quality.rules import Rule, RuleResult, evaluate


def rule_check_spec(asset_key: dg.AssetKey, rule: Rule) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        rule.name, asset=asset_key, description=rule.description, blocking=rule.blocking
    )


def rule_check_result(asset_key: dg.AssetKey, result: RuleResult) -> dg.AssetCheckResult:
    """A rule's outcome as a check result: violations, examples and the SQL that finds them.
    A reference to a table not built yet is a WARN: with runs side by side (the lakehouse),
    the run building ``core.tracks`` can check it before another builds ``core.artists`` for
    the first time; that is no bad data, and the next check of the table tells."""
    rule = result.rule
    error = rule.blocking and not result.target_missing
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=rule.name,
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN,
        description=result.error or rule.description,
        metadata={
            "violations": result.violations,
            "examples": dg.MetadataValue.json(result.examples),
            "sql": dg.MetadataValue.md(f"```sql\n{rule.violations_sql}\n```"),
        },
    )


def rule_checks(
    name: str, rules_by_asset: dict[dg.AssetKey, list[Rule]], description: str = ""
) -> dg.AssetChecksDefinition:
    """One multi-asset check named ``name`` evaluating every rule against the warehouse."""
    specs = [
        dg.AssetCheckSpec(
            rule.name, asset=key, description=rule.description, blocking=rule.blocking
        )
        for key, rules in rules_by_asset.items()
        for rule in rules
    ]
    by_check = {
        dg.AssetCheckKey(key, rule.name): rule
        for key, rules in rules_by_asset.items()
        for rule in rules
    }

    @dg.multi_asset_check(
        specs=specs, name=name, can_subset=True, pool=WAREHOUSE_POOL, description=description
    )
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource):
        with warehouse.get_connection() as conn:
            for check_key in context.selected_asset_check_keys:
                rule = by_check[check_key]
                result = evaluate(conn, rule)
                if not result.passed:
                    context.log.warning(
                        f"{check_key.asset_key.to_user_string()} {rule.name}: "
                        f"{result.error or f'{result.violations} violations'}"
                    )
                yield rule_check_result(check_key.asset_key, result)

    return _checks


#: Problems listed in a check result's description; all are counted in its metadata.
SHOWN = 20
WARN = dg.AssetCheckSeverity.WARN


def problems_result(
    problems: list[str],
    ok: str,
    *,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    **metadata: object,
) -> dg.AssetCheckResult:
    """A check's result from the problems it found (each naming what to fix): passed when
    there are none, with ``ok`` as its description; ``severity`` as the check is documented
    (WARN checks must say so, Dagster's default is ERROR)."""
    description = (
        ok
        if not problems
        else "; ".join(problems[:SHOWN])
        + (f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else "")
    )
    return dg.AssetCheckResult(
        passed=not problems,
        severity=severity,
        description=description,
        metadata={"violations": len(problems), **metadata},
    )

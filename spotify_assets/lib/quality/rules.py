"""Data-quality rules as SQL over the warehouse (Dagster-free).

Each rule is a query that returns the *violating* rows; a rule passes when there are none.
Asset checks run them and attach the count and a few examples, so a person sees what is
wrong, not just that something is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    """A named data-quality rule on one table."""

    name: str
    table: str  # schema.table
    description: str
    violations_sql: str  # selects the offending rows
    blocking: bool = True  # ERROR and blocking; False: WARN
    #: The table a reference rule resolves against (``schema.table``).
    target: str | None = None


def unique_key(table: str, columns: Sequence[str]) -> Rule:
    cols = ", ".join(columns)
    nulls = " or ".join(f"{c} is null" for c in columns)
    return Rule(
        name=f"{table.split('.')[-1]}_key_unique_not_null",
        table=table,
        description=f"({cols}) is unique and never null in {table}",
        violations_sql=(
            f"select {cols}, count(*) as n from {table} group by all "
            f"having count(*) > 1 or bool_or({nulls})"
        ),
    )


def references(table: str, column: str, target: str, target_column: str) -> Rule:
    return Rule(
        name=f"{table.split('.')[-1]}_{column}_resolves",
        table=table,
        description=f"every non-null {table}.{column} exists in {target}.{target_column}",
        violations_sql=(
            f"select distinct t.{column} from {table} t anti join {target} r "
            f"on t.{column} = r.{target_column} where t.{column} is not null"
        ),
        target=target,
    )


def in_range(
    table: str,
    column: str,
    low: float | None,
    high: float | None,
    *,
    key: str,
    blocking: bool = True,
) -> Rule:
    conds = []
    if low is not None:
        conds.append(f"{column} < {low}")
    if high is not None:
        conds.append(f"{column} > {high}")
    return Rule(
        name=f"{table.split('.')[-1]}_{column}_in_range",
        table=table,
        description=f"{table}.{column} {_bounds_text(low, high)} when present",
        violations_sql=f"select {key}, {column} from {table} where {' or '.join(conds)}",
        blocking=blocking,
    )


def _bounds_text(low: float | None, high: float | None) -> str:
    """What a range rule asks, as a sentence: 'lies within [0, 100]', 'is at least 1',
    'is at most 100' (a bound left out is not written as an empty one)."""

    def number(x: float) -> str:
        return f"{x:g}" if isinstance(x, float) else str(x)

    if low is not None and high is not None:
        return f"lies within [{number(low)}, {number(high)}]"
    if low is not None:
        return f"is at least {number(low)}"
    if high is not None:
        return f"is at most {number(high)}"
    raise ValueError("a range rule needs a lower or an upper bound")


def accepted_values(
    table: str, column: str, values: Sequence[str], *, key: str, blocking: bool = True
) -> Rule:
    listed = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return Rule(
        name=f"{table.split('.')[-1]}_{column}_accepted_values",
        table=table,
        description=f"{table}.{column} is one of {', '.join(values)} (or null)",
        violations_sql=(
            f"select {key}, {column} from {table} where {column} is not null "
            f"and {column} not in ({listed})"
        ),
        blocking=blocking,
    )


#: A number as JSON writes it.
_JSON_NUMBER = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"


def _numbers(column: str) -> str:
    """Every number of ``column`` (a scalar, a list or a nested list) as a list of doubles."""
    return (
        f"list_transform(regexp_extract_all(to_json({column})::varchar, '{_JSON_NUMBER}'), "
        "lambda x: x::double)"
    )


def within_unit_interval(
    table: str, columns: Sequence[str], *, key: str, blocking: bool = True
) -> Rule:
    """Shares and rates in [0, 1] (a tolerance of 1e-6 for sums of doubles). A column may
    also hold a list of shares (``listener_wrapped.clock_share``, 24 of them): every number in
    it is checked, read through its JSON text so one SQL fits scalars and lists alike."""
    cols = ", ".join(columns)
    conds = " or ".join(
        f"list_min({_numbers(c)}) < 0 or list_max({_numbers(c)}) > 1.000001" for c in columns
    )
    return Rule(
        name=f"{table.split('.')[-1]}_rates_within_0_1",
        table=table,
        description=f"{cols} lie within [0, 1] when present",
        violations_sql=f"select {key}, {cols} from {table} where {conds}",
        blocking=blocking,
    )


#: A table may shrink to this share of its previous row count before its check fails.
MIN_ROW_RATIO = 0.5


def row_count_change(
    current: int | None, previous: int | None, min_ratio: float = MIN_ROW_RATIO
) -> tuple[bool, dict[str, Any]]:
    """Whether a table kept at least ``min_ratio`` of its previous rows, with the figures a
    person reads. Nothing to compare (no previous count, or it was 0) passes."""
    passed = current is None or not previous or current >= min_ratio * previous
    return passed, {
        "rows": current if current is not None else "unknown",
        "previous_rows": previous if previous is not None else "none",
        "change": f"{(current - previous) / previous:+.1%}"
        if previous and current is not None
        else "n/a",
    }


def schema_change(
    previous: dict[str, str] | None, current: dict[str, str] | None
) -> dict[str, list[str]]:
    """Columns (name -> type) added, removed and retyped from ``previous`` to ``current``."""
    if previous is None or current is None:
        return {"added": [], "removed": [], "retyped": []}
    return {
        "added": [c for c in current if c not in previous],
        "removed": [c for c in previous if c not in current],
        "retyped": [
            f"{c}: {previous[c]} -> {current[c]}"
            for c in current
            if c in previous and previous[c] != current[c]
        ],
    }


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    passed: bool
    violations: int
    examples: list[dict[str, Any]]
    error: str | None = None
    #: The table a reference resolves against is not built yet (another run builds it for
    #: the first time): nothing can be told yet, which is not bad data (WARN, not ERROR).
    target_missing: bool = False


def evaluate(connection: Any, rule: Rule, *, examples: int = 5) -> RuleResult:
    """Run one rule on a DuckDB connection. A table that does not exist fails the rule with
    the reason, rather than raising, so one missing table does not hide other results."""
    try:
        count = connection.execute(f"select count(*) from ({rule.violations_sql})").fetchone()[0]
        rows: list[dict[str, Any]] = []
        if count:
            cur = connection.execute(f"{rule.violations_sql} limit {int(examples)}")
            names = [d[0] for d in cur.description]
            rows = [
                {
                    k: (v if isinstance(v, int | float | bool) or v is None else str(v))
                    for k, v in zip(names, row, strict=True)
                }
                for row in cur.fetchall()
            ]
        return RuleResult(rule, passed=count == 0, violations=int(count), examples=rows)
    except Exception as exc:  # duckdb.CatalogException and friends
        if rule.target and not _exists(connection, rule.target):
            error = f"{rule.target} is not built yet: nothing to resolve {rule.table} against"
            return RuleResult(rule, False, -1, [], error=error, target_missing=True)
        return RuleResult(rule, passed=False, violations=-1, examples=[], error=str(exc))


def _exists(connection: Any, table: str) -> bool:
    schema, name = table.split(".")
    (count,) = connection.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()[0]
    return bool(count)


#: ``reports.data_quality``: the latest result of every asset check, one row per check.
DATA_QUALITY_COLUMNS: dict[str, str] = {
    "asset_key": "The checked asset, e.g. core/streams",
    "check_name": "The check's name",
    "severity": "ERROR (blocking: downstream waits) or WARN (a person should look)",
    "blocking": "Whether a failure stops downstream automation",
    "status": "passed, failed, not run (planned but its run stopped first), never run, or "
    "pending (first planned in the run writing this table: it runs after it)",
    "passed": "True or False when the check ran; null otherwise",
    "evaluated_at": "When the latest result was recorded (UTC)",
    "run_id": "The Dagster run of the latest result",
    "partition": "The partition checked, for partitioned assets; for a landed file held out of "
    "the warehouse by a blocking check, that file (one row per file and check)",
    "description": "What the check asserts, or what it found",
    "details": "The result's key figures (violations, rates, row counts)",
}

"""The [0, 1] rule of shares and rates holds for list columns too (a listener's 24 clock
shares): a list with one value out of range is a violation, and the rule never errors on a
list (an error would fail the ERROR check and stop automation downstream)."""

import duckdb

from spotify_assets.lib.quality.rules import evaluate, within_unit_interval


def test_scalar_and_list_shares_are_both_checked():
    conn = duckdb.connect()
    conn.execute("create schema marts")
    conn.execute(
        "create table marts.w as select * from (values "
        "(1, 0.5, [0.1, 0.9]), (2, 1.3, [0.2]), (3, 0.2, [0.5, 1.2]), (4, null, null), "
        "(5, 1.0000005, [0.0, 1e-9]), (6, 0.1, [-1e-3])) v(user_id, skip_rate, clock_share)"
    )
    result = evaluate(
        conn, within_unit_interval("marts.w", ["skip_rate", "clock_share"], key="user_id")
    )
    assert result.error is None
    assert not result.passed and result.violations == 3
    assert sorted(r["user_id"] for r in result.examples) == [2, 3, 6]
    ok = evaluate(conn, within_unit_interval("marts.w", ["clock_share"], key="user_id"))
    assert ok.error is None and ok.violations == 2

"""The dashboard's headline numbers never come from a partial period: the monthly cards name
the last month the data covers whole, the daily totals name their span."""

from __future__ import annotations

import duckdb

from spotify_assets.lib.marts.engagement_marts import DAILY_ENGAGEMENT, MONTHLY_ENGAGEMENT


def _marts(last_day: str) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("create schema marts")
    conn.execute(
        "create table marts.daily_engagement as select d::date as date, 1.5 as listening_hours, "
        "10 as streams, 2 as active_users from range(date '2024-01-15', "
        f"date '{last_day}' + interval 1 day, interval 1 day) t(d)"
    )
    conn.execute(
        "create table marts.monthly_engagement (month date, active_users int, "
        "churned_users int, churn_rate double)"
    )
    conn.execute(
        "insert into marts.monthly_engagement values ('2024-01-01', 5, 1, 0.2), "
        "('2024-02-01', 8, 2, 0.25), ('2024-03-01', 3, null, null)"
    )
    return conn


def test_a_month_still_in_progress_is_not_the_headline():
    conn = _marts("2024-03-10")  # March is cut by the end of the data
    [row] = conn.execute(MONTHLY_ENGAGEMENT.headline).fetchall()
    assert row == ("2024-02", 8, 0.2)  # February, and January's churn (final)


def test_a_whole_last_month_is_the_headline():
    conn = _marts("2024-03-31")
    [row] = conn.execute(MONTHLY_ENGAGEMENT.headline).fetchall()
    assert row == ("2024-03", 3, 0.25)


def test_daily_totals_name_their_span():
    conn = _marts("2024-03-10")
    [row] = conn.execute(DAILY_ENGAGEMENT.headline).fetchall()
    assert row[0] == "2024-01-15 to 2024-03-10"
    assert row[2] == 10 * 56

"""The country -> time zone table behind "local time": complete, resolvable in Python and in
DuckDB, the capital's zone for multi-zone countries, and DuckDB's conversion right across DST."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from spotify_assets.lib.listening.export_files import ISO_COUNTRIES
from spotify_assets.lib.timezones import (
    COUNTRY_TIMEZONES,
    UNKNOWN_COUNTRY_TIME_ZONE,
    country_timezone_values_sql,
)

ZONE_TAB = Path("/usr/share/zoneinfo/zone.tab")


@pytest.fixture
def conn():
    with duckdb.connect() as c:
        c.execute("set TimeZone = 'UTC'")
        yield c


def test_every_country_the_parser_accepts_has_a_zone():
    assert set(COUNTRY_TIMEZONES) == set(ISO_COUNTRIES)
    assert len(COUNTRY_TIMEZONES) == 250


def test_every_zone_resolves_in_python_to_an_offset_a_clock_can_have():
    for code, zone in COUNTRY_TIMEZONES.items():
        offset = ZoneInfo(zone).utcoffset(datetime(2025, 1, 1))
        assert timedelta(hours=-12) <= offset <= timedelta(hours=14), (code, zone, offset)


def test_every_zone_resolves_in_duckdb(conn):
    # DuckDB raises on a zone ICU does not know, so one query checks all 250.
    rows = conn.execute(
        f"select conn_country, timezone(time_zone, TIMESTAMPTZ '2025-01-01 12:00:00+00') "
        f"from ({country_timezone_values_sql()}) tz(conn_country, time_zone)"
    ).fetchall()
    assert len(rows) == 250 and all(local is not None for _, local in rows)


@pytest.mark.parametrize(
    ("code", "zone"),
    [
        ("US", "America/New_York"),
        ("RU", "Europe/Moscow"),  # zone.tab lists Kaliningrad first
        ("AU", "Australia/Sydney"),  # ... Lord_Howe first
        ("BR", "America/Sao_Paulo"),  # ... Noronha first
        ("CA", "America/Toronto"),  # ... St_Johns first
        ("UA", "Europe/Kyiv"),  # ... Simferopol first
        ("UZ", "Asia/Tashkent"),  # ... Samarkand first
        ("FM", "Pacific/Pohnpei"),  # ... Chuuk first
        ("MX", "America/Mexico_City"),
        ("ID", "Asia/Jakarta"),
        ("KZ", "Asia/Almaty"),
        ("CN", "Asia/Shanghai"),
        ("AR", "America/Argentina/Buenos_Aires"),
        ("CL", "America/Santiago"),
        ("NZ", "Pacific/Auckland"),
        ("ES", "Europe/Madrid"),
        ("PT", "Europe/Lisbon"),
        ("DE", "Europe/Berlin"),
        ("EC", "America/Guayaquil"),
        ("GB", "Europe/London"),
        ("IN", "Asia/Kolkata"),
        ("NP", "Asia/Kathmandu"),
        ("XK", "Europe/Belgrade"),  # not in zone.tab
    ],
)
def test_capital_zones(code, zone):
    assert COUNTRY_TIMEZONES[code] == zone


@pytest.mark.skipif(not ZONE_TAB.exists(), reason="no tzdata zone.tab on this machine")
def test_single_zone_countries_take_zone_tab_zone():
    zones: dict[str, list[str]] = {}
    for line in ZONE_TAB.read_text().splitlines():
        if line and not line.startswith("#"):
            code, _, zone, *_ = line.split("\t")
            zones.setdefault(code, []).append(zone)
    single = {code: z[0] for code, z in zones.items() if len(z) == 1}
    assert len(single) > 200
    assert {c: COUNTRY_TIMEZONES[c] for c in single} == single
    # A multi-zone country always gets one of its own zones.
    for code, candidates in zones.items():
        assert COUNTRY_TIMEZONES[code] in candidates, code


@pytest.mark.parametrize(
    ("zone", "utc", "local"),
    [
        # US DST starts 2025-03-09 at 02:00 EST = 07:00 UTC.
        ("America/New_York", "2025-03-09 06:30:00", "2025-03-09 01:30:00"),  # EST, -5
        ("America/New_York", "2025-03-09 07:30:00", "2025-03-09 03:30:00"),  # EDT, -4
        # EU DST ends 2025-10-26 at 03:00 CEST = 01:00 UTC: two UTC times, one local 02:30.
        ("Europe/Berlin", "2025-10-26 00:30:00", "2025-10-26 02:30:00"),  # CEST, +2
        ("Europe/Berlin", "2025-10-26 01:30:00", "2025-10-26 02:30:00"),  # CET, +1
        ("Asia/Kathmandu", "2025-01-01 00:00:00", "2025-01-01 05:45:00"),  # +5:45
    ],
)
def test_duckdb_converts_across_dst(conn, zone, utc, local):
    got = conn.execute(f"select timezone('{zone}', TIMESTAMP '{utc}'::timestamptz)").fetchone()[0]
    assert got == datetime.fromisoformat(local)
    # Python's zoneinfo agrees (the pandas cross-check of the marts relies on it).
    py = datetime.fromisoformat(utc + "+00:00").astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    assert py == got


def test_values_sql_joins_and_unknown_countries_fall_back_to_utc(conn):
    rows = conn.execute(
        f"""
        select p.conn_country,
               timezone(coalesce(tz.time_zone, '{UNKNOWN_COUNTRY_TIME_ZONE}'), p.ts::timestamptz)
          from (values ('US', TIMESTAMP '2025-07-01 12:00:00'),
                       ('ZZ', TIMESTAMP '2025-07-01 12:00:00'),
                       (NULL, TIMESTAMP '2025-07-01 12:00:00')) p(conn_country, ts)
          left join ({country_timezone_values_sql()}) tz(conn_country, time_zone)
            using (conn_country)
         order by p.conn_country nulls last
        """
    ).fetchall()
    assert rows == [
        ("US", datetime(2025, 7, 1, 8, 0)),  # EDT, -4
        ("ZZ", datetime(2025, 7, 1, 12, 0)),  # unknown: UTC
        (None, datetime(2025, 7, 1, 12, 0)),  # null: UTC
    ]

"""Periods a person picks on the dashboard (Dagster-free): years, the last 12 months, the
recent span where most listening is, and all time, each named with the days the data covers,
so a partial one says so ('2025 (partial: to 23 Jun)').

The data covers ``[first play, last play]`` of ``core.streams`` (:func:`coverage`): a year or
month the data starts after or ends before is partial. The **recent span** leaves out an old
stretch of little listening (one listener's export from 2014 in a world of listeners since
2024): it starts after the last run of ``QUIET_RUN`` or more quiet months (under
``QUIET_SHARE`` of a typical month's listening hours, the median over months with any) that
more listening follows; without such a run it is all time and not offered apart.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

#: A month with less listening than this share of a typical month is quiet.
QUIET_SHARE = 0.1
#: This many quiet months in a row end the recent span (shorter dips are holidays).
QUIET_RUN = 3
SPAN = "recent"
LAST_12_MONTHS = "last-12-months"
ALL = "all"


@dataclass(frozen=True)
class Coverage:
    """The first and last day the listening history covers (UTC)."""

    first: date
    last: date


@dataclass(frozen=True)
class Period:
    """A choice of the period picker: ``value`` (what the page keys on), ``label`` (what a
    person reads, partial periods named so), its first and last day with data, inclusive."""

    value: str
    label: str
    start: date
    end: date
    partial: bool = False

    def iso_range(self) -> list[str]:
        """``[start, end]`` as local-time ISO text a chart's filter compares dates with (the
        end at the last second of its day)."""
        return [f"{self.start.isoformat()}T00:00:00", f"{self.end.isoformat()}T23:59:59"]


def coverage(conn: Any) -> Coverage | None:
    """The days ``core.streams`` covers, or None without plays."""
    first, last = conn.execute("select min(ts)::date, max(ts)::date from core.streams").fetchone()
    return None if first is None else Coverage(first, last)


def day_text(day: date) -> str:
    """'3 Jun' (the year is said by the period around it)."""
    return f"{day.day} {day:%b}"


def long_day(day: date) -> str:
    """'3 Jun 2025'."""
    return f"{day.day} {day:%b %Y}"


def month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def year_period(year: int, covered: Coverage) -> Period:
    """A calendar year, clipped to the data: '2025 (partial: to 23 Jun)', '2014 (partial:
    from 5 Mar)', or just '2024'."""
    start, end = max(date(year, 1, 1), covered.first), min(date(year, 12, 31), covered.last)
    late, early = start > date(year, 1, 1), end < date(year, 12, 31)
    if late and early:
        note = f" (partial: {day_text(start)} – {day_text(end)})"
    elif late:
        note = f" (partial: from {day_text(start)})"
    elif early:
        note = f" (partial: to {day_text(end)})"
    else:
        note = ""
    return Period(str(year), f"{year}{note}", start, end, partial=bool(note))


def partial_months(covered: Coverage) -> dict[str, str]:
    """The months the data covers in part, ``'YYYY-MM'`` -> what a chart says of it
    ('partial month: to 23 Jun')."""
    out: dict[str, str] = {}
    if covered.first.day > 1:
        out[f"{covered.first:%Y-%m}"] = f"partial month: from {day_text(covered.first)}"
    if covered.last < month_end(covered.last):
        key = f"{covered.last:%Y-%m}"
        if key in out:
            out[key] = f"partial month: {day_text(covered.first)} – {day_text(covered.last)}"
        else:
            out[key] = f"partial month: to {day_text(covered.last)}"
    return out


def partial_note(covered: Coverage, shown: Coverage | None = None) -> str | None:
    """A sentence naming the partial months, for a monthly chart's caption; with ``shown``,
    only those of the months a chart shows (a listener's from their first play to their
    last)."""
    months = partial_months(covered)
    if shown is not None:
        first, last = f"{shown.first:%Y-%m}", f"{shown.last:%Y-%m}"
        months = {m: note for m, note in months.items() if first <= m <= last}
    if not months:
        return None
    names = [
        f"{datetime.strptime(m, '%Y-%m'):%B %Y} ({note.removeprefix('partial month: ')})"
        for m, note in months.items()
    ]
    return "Partial months (lighter bars): " + "; ".join(names) + "."


def recent_start(monthly_hours: Sequence[tuple[date, float]]) -> date | None:
    """The first month of the recent span, from every month's listening hours in order
    (months without any included, as zeros); None when the span is all of them.

    A span starts after a run of ``QUIET_RUN`` quiet months that listening follows; of those
    starts, the latest that leaves out less than ``QUIET_SHARE`` of all the listening (a long
    break in a person's own history, with years of listening before it, starts no span)."""
    hours = [h for _, h in monthly_hours]
    busy = [h for h in hours if h > 0]
    if not busy:
        return None
    typical = statistics.median(busy)
    starts, run = [], 0
    for i, h in enumerate(hours):
        if h < QUIET_SHARE * typical:
            run += 1
            continue
        if run >= QUIET_RUN:
            starts.append(i)
        run = 0
    total = sum(hours)
    for i in reversed(starts):
        if sum(hours[:i]) < QUIET_SHARE * total:
            return monthly_hours[i][0]
    return None


def overview_periods(
    covered: Coverage, years: Sequence[int], monthly_hours: Sequence[tuple[date, float]]
) -> tuple[list[Period], str]:
    """The overview's periods and the default one: the recent span (when it is not all
    time), the last 12 months (when the data covers more), every year with listening
    (newest first), all time. The default is the recent span, else all time."""
    periods: list[Period] = []
    last_month = covered.last.replace(day=1)
    span = recent_start(monthly_hours)
    if span is not None:
        periods.append(
            Period(SPAN, f"Recent: {span:%b %Y} – {long_day(covered.last)}", span, covered.last)
        )
    twelve = _months_before(last_month, 11)
    if twelve > covered.first and (span is None or twelve != span):
        partial = covered.last < month_end(covered.last)
        note = f" ({covered.last:%B} partial)" if partial else ""
        periods.append(
            Period(
                LAST_12_MONTHS,
                f"Last 12 months: {twelve:%b %Y} – {long_day(covered.last)}{note}",
                twelve,
                covered.last,
                partial=partial,
            )
        )
    periods.extend(year_period(y, covered) for y in sorted(years, reverse=True))
    periods.append(
        Period(
            ALL, f"All time: {long_day(covered.first)} – {long_day(covered.last)}", covered.first,
            covered.last,
        )
    )  # fmt: skip
    return periods, (SPAN if span is not None else ALL)


def _months_before(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)

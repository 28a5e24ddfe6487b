"""What a mart is, independent of Dagster: a named SELECT over the warehouse, its columns with
descriptions, where each derived column comes from, and the plot a person reads instead of it.

The definitions layer (``spotify_assets/defs/marts``) turns each :class:`Mart` into an asset that
runs ``CREATE OR REPLACE TABLE marts.<name> AS <sql>`` in DuckDB, emits the column schema,
row count and column lineage, and renders :attr:`Mart.plots` with
:func:`spotify_assets.lib.reports.plots.render` into the asset's metadata and the dashboard.
Big tables (``core.streams``) are only ever read here, in SQL; only the finished mart (small)
is turned into a DataFrame, for its plot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from spotify_assets.lib.catalog.genres import GENRE_FAMILIES
from spotify_assets.lib.listening.sources import SCROBBLE_FORMATS, sql_list
from spotify_assets.lib.timezones import UNKNOWN_COUNTRY_TIME_ZONE, country_timezone_values_sql

PlotKind = Literal["line", "bar", "barh", "stacked_bar", "area", "heatmap", "scatter", "hist"]


@dataclass(frozen=True)
class PlotSpec:
    """A declarative plot of a mart (rendered by :mod:`spotify_assets.lib.reports.plots`).

    ``query`` (optional) is a SELECT over the warehouse that shapes the mart for this plot
    (a filter, a top-N, a pivot); without it the plot reads the whole mart table.
    For ``heatmap``: ``x`` and ``y`` are the axes and ``value`` the cell. For ``scatter``:
    ``fit="log10x"`` draws a least-squares line of y on log10(x + 1) and puts x on a log axis.
    ``series`` names a column whose values become separate lines/bars (long format).
    ``picker`` names a column a person filters the plot by in the dashboard (a year, a
    region); ``picker_all`` offers "all" (the default) besides its values, else the plot
    starts on the frame's first value (what the PNG shows).
    """

    title: str
    kind: PlotKind
    x: str
    y: tuple[str, ...] = ()
    query: str | None = None
    series: str | None = None
    value: str | None = None
    fit: str | None = None
    x_label: str | None = None
    y_label: str | None = None
    log_x: bool = False
    log_y: bool = False
    picker: str | None = None
    picker_all: bool = True


@dataclass(frozen=True)
class Scratch:
    """A temporary table that several marts of one step read instead of each scanning the
    big table again (:func:`spotify_assets.lib.marts.run.scratch_tables` builds it once before
    the first mart that needs it and drops it after the last): for example the music plays as
    narrow integer codes. ``sql`` is a SELECT over the warehouse and earlier scratch tables."""

    name: str
    sql: str


@dataclass(frozen=True)
class Part:
    """A table ``marts.<name>`` that holds a mart's rows when the mart is a view over its parts
    (:attr:`Mart.parts`): integer codes and a table of their names, for example, instead of
    millions of rows each writing the same strings. ``sql`` is a SELECT over the warehouse,
    the scratch tables and earlier parts; ``description`` says what a row is."""

    name: str
    sql: str
    description: str

    @property
    def table(self) -> str:
        return f"marts.{self.name}"


@dataclass(frozen=True)
class Mart:
    """One table ``marts.<name>`` (or a view of that name over its ``parts``).

    ``sql`` is a SELECT (no trailing semicolon) reading only the tables named in ``reads``
    (``core.*`` and other ``marts.*``); marts that read other marts come after them in their
    module's ``MARTS`` list. ``columns`` lists every output column in order with a one-line
    description. ``lineage`` maps each *derived* output column to the upstream
    ``(table, column)`` pairs it is computed from. ``after_sql`` are statements run after the
    table is created (for example ``CREATE OR REPLACE MACRO``), in order.
    ``headline`` is an optional SELECT returning one row of named numbers shown on top of the
    dashboard section (e.g. ``select sum(streams) as "streams" from marts.daily_engagement``).
    ``key`` names the columns that identify a row (checked unique and not null after every
    build): every mart declares one, so a mart without it fails where it is written.
    ``key_by_construction`` says the SQL itself makes the key unique and not null (a
    ``GROUP BY`` of those columns over non-null values): the key is then not checked after each
    build, a check that cost 6 s on 10 million plays for ``content_daily`` and could not fail.
    ``scratch`` are the temporary tables its SQL reads, in build order (each after the scratch
    tables it reads); ``reads`` still names the warehouse tables they come from.
    ``parts``, when given, are the tables its rows are stored in, built in order: ``sql`` is
    then the SELECT of the view ``marts.<name>`` over them, which readers query as a table.
    """

    name: str
    description: str
    sql: str
    columns: dict[str, str]
    reads: tuple[str, ...]
    key: tuple[str, ...]
    lineage: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    plots: tuple[PlotSpec, ...] = ()
    after_sql: tuple[str, ...] = ()
    headline: str | None = None
    key_by_construction: bool = False
    scratch: tuple[Scratch, ...] = ()
    parts: tuple[Part, ...] = ()

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError(f"mart {self.name}: key is empty (name the columns of a row)")
        unknown = [c for c in self.key if c not in self.columns]
        if unknown:
            raise ValueError(f"mart {self.name}: key columns {unknown} are not in its columns")

    @property
    def table(self) -> str:
        return f"marts.{self.name}"

    @property
    def stored_in(self) -> tuple[str, ...]:
        """The tables that hold its rows: its parts, or its own table."""
        return tuple(p.table for p in self.parts) or (self.table,)

    @property
    def rate_columns(self) -> list[str]:
        """Columns holding a share or rate in [0, 1], by the naming convention of the marts."""
        return [
            c
            for c in self.columns
            if c.endswith(("_share", "_rate")) or c.startswith("share_") or c == "share"
        ]


# Shared definitions every mart module uses, so one KPI means one thing everywhere.


def spotify_play(alias: str = "") -> str:
    """SQL: the row is a play on Spotify (its export or polling), not another service's
    scrobble. The engagement marts describe Spotify usage (active users, churn, platforms,
    skips, how plays start and end: what scrobbles do not record), so they read these only;
    the listener marts read every play (docs/USER_GUIDE.md, "KPI definitions")."""
    a = f"{alias}." if alias else ""
    return f"coalesce({a}source_format, '') not in {sql_list(SCROBBLE_FORMATS)}"


#: Music plays on Spotify: podcasts and audiobooks are left out of music KPIs
#: (docs/USER_GUIDE.md, "KPI definitions"), and the engagement marts describe Spotify usage.
MUSIC_PLAYS = f"core.streams where content_type = 'music' and {spotify_play()}"

#: A stream: a music play of at least 30 seconds.
STREAM_MIN_MS = 30_000

#: Popularity thresholds for mainstream and niche.
MAINSTREAM_MIN_POPULARITY = 70
NICHE_MAX_POPULARITY = 30


def share_of(value: str, within: str = "") -> str:
    """SQL: ``value`` over its sum across the result's rows (across the rows of the same
    ``within`` columns when given), null where that sum is 0. ``value`` may be an aggregate
    (``count(*)``): the sum then runs over the groups."""
    over = f"partition by {within}" if within else ""
    return f"{value} / nullif(sum({value}) over ({over}), 0)"


def popularity_shares(column: str) -> str:
    """SQL: ``mainstream_share, niche_share`` of the group's rows with a known ``column``
    popularity (null when none is known, e.g. development-mode apps)."""
    known = f"nullif(count({column}), 0)"
    return (
        f"count(*) filter (where {column} >= {MAINSTREAM_MIN_POPULARITY}) / {known}"
        " as mainstream_share,\n"
        f"       count(*) filter (where {column} <= {NICHE_MAX_POPULARITY}) / {known}"
        " as niche_share"
    )


_FAMILY_ORDER = ", ".join(
    f"('{f.replace(chr(39), chr(39) * 2)}', {i})" for i, f in enumerate(GENRE_FAMILIES)
)

#: One genre family per artist: the family most of the artist's genres map to; ties go to the
#: family listed first in ``GENRE_FAMILIES``; an artist with no genres is ``other``.
#: Columns: ``artist_id``, ``genre_family``. Use it as a CTE:
#: ``with artist_family as (ARTIST_FAMILY_SQL) ...``. Tracks take their primary artist's family;
#: a played track that is not in the catalog has family ``unknown``.
ARTIST_FAMILY_SQL = f"""
select a.artist_id, coalesce(f.genre_family, 'other') as genre_family
  from core.artists a
  left join (
        select artist_id, genre_family
          from (select g.artist_id, g.genre_family,
                       row_number() over (partition by g.artist_id
                                          order by count(*) desc, min(o.ord)) as rank
                  from core.artist_genres g
                  join (values {_FAMILY_ORDER}) o(family, ord) on o.family = g.genre_family
                 group by g.artist_id, g.genre_family)
         where rank = 1) f using (artist_id)
"""

# Listening SQL the engagement and listener marts share (one definition each, so a stream, an
# artist or a local hour means the same in the overview and on a listener's page).

#: SQL: the play is a stream (over rows carrying ``ms_played``).
IS_STREAM = f"ms_played >= {STREAM_MIN_MS}"

#: SQL: the key of a played artist and album (the exports carry no artist or album ids), over
#: rows carrying ``artist_name`` and ``album_name``.
ARTIST_KEY = "lower(artist_name)"
ALBUM_KEY = "lower(artist_name) || ' - ' || lower(album_name)"

#: One genre family per catalog track: its primary artist's (:data:`ARTIST_FAMILY_SQL`),
#: ``unknown`` when that artist is not in ``core.artists``. Columns ``track_id``,
#: ``genre_family``; a played track missing from ``core.tracks`` is ``unknown`` too (the
#: reader's left join and ``coalesce``).
TRACK_FAMILY_SQL = f"""
select t.track_id, coalesce(min(af.genre_family), 'unknown') as genre_family
  from core.tracks t
  left join ({ARTIST_FAMILY_SQL}) af on af.artist_id = t.primary_artist_id
 group by t.track_id
"""

#: SQL: each country's time zone (:mod:`spotify_assets.lib.timezones`) as a table ``tz``;
#: left-join it ``on tz.conn_country = <rows>.conn_country`` and read :func:`local_ts`.
COUNTRY_TIME_ZONES_SQL = f"({country_timezone_values_sql()}) tz(conn_country, time_zone)"


def quarter_hour(ts: str) -> str:
    """SQL: the 15-minute UTC bucket of ``ts``. Plays are counted per country and bucket and
    only the buckets are converted to local time: exact where time zones change on quarter hours
    (see :mod:`spotify_assets.lib.marts.engagement_marts`), one ICU call per bucket, not per
    play."""
    return f"time_bucket(interval 15 minute, {ts})"


def local_ts(ts: str) -> str:
    """SQL: ``ts`` (naive UTC) as naive local time in ``tz.time_zone`` (needs
    :data:`COUNTRY_TIME_ZONES_SQL` joined as ``tz``; ``UTC`` for a null or unknown country).
    The session setting TimeZone=UTC (``run.prepare``) makes the cast read ``ts`` as UTC."""
    return f"timezone(coalesce(tz.time_zone, '{UNKNOWN_COUNTRY_TIME_ZONE}'), ({ts})::timestamptz)"

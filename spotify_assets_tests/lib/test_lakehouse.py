"""The lakehouse's Dagster-free side on a SQLite catalog in tmp_path: sessions (inputs as views,
outputs committed), optimistic commits, types, schema changes, publishing whole runs, time
travel and snapshot expiry; and the same reads over S3 (moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from spotify_assets.lib.lakehouse import (
    CatalogConfig,
    CommitConflict,
    attach,
    attach_published,
    commit,
    open_catalog,
    open_session,
    publish,
    published,
)
from spotify_assets.lib.lakehouse.maintenance import expire
from spotify_assets.lib.lakehouse.tables import data_files


def local_config(root: Path) -> CatalogConfig:
    return CatalogConfig(
        name="test", uri=f"sqlite:///{root / 'catalog.db'}", warehouse=(root / "wh").as_uri()
    )


@pytest.fixture
def catalog(tmp_path):
    return open_catalog(local_config(tmp_path))


def write(catalog, run_id: str, sql: dict[str, str]) -> list:
    """One step: each output built by its SQL (it may read the output's current rows)."""
    with open_session(catalog, outputs=list(sql)) as session:
        for statement in sql.values():
            session.conn.execute(statement)
        return session.commit(run_id)


def rows(catalog, sql: str, run_id: str | None = None) -> list[tuple]:
    conn = duckdb.connect()
    attach_published(conn, catalog, run_id)
    return conn.execute(sql).fetchall()


def current(catalog, sql: str) -> list[tuple]:
    with open_session(catalog) as session:
        return session.conn.execute(sql).fetchall()


def test_a_step_reads_every_table_and_commits_only_its_outputs(catalog):
    write(catalog, "r1", {"core.streams": "create table core.streams as select 1 as plays"})
    with open_session(catalog, outputs=["marts.totals"]) as session:
        conn = session.conn
        kinds = dict(
            conn.execute(
                "select table_schema || '.' || table_name, table_type from "
                "information_schema.tables where table_catalog = current_database()"
            ).fetchall()
        )
        assert kinds == {"core.streams": "VIEW"}  # an input: scanned in place
        conn.execute("create table marts.totals as select sum(plays) as plays from core.streams")
        conn.execute("create table marts.scratch_left_alone as select 1 as x")
        done = session.commit("r2")
    assert [c.table for c in done] == ["marts.totals"]
    assert current(catalog, "select plays from marts.totals") == [(1,)]
    assert current(
        catalog,
        "select count(*) from information_schema.tables where table_name = 'scratch_left_alone'",
    ) == [(0,)]


def test_an_output_starts_from_its_current_rows_and_a_failed_step_commits_nothing(catalog):
    write(catalog, "r1", {"core.streams": "create table core.streams as select 1 as play"})
    write(catalog, "r2", {"core.streams": "insert into core.streams values (2)"})
    with pytest.raises(RuntimeError), open_session(catalog, outputs=["core.streams"]) as session:
        session.conn.execute("insert into core.streams values (3)")
        raise RuntimeError("the step failed before committing")
    assert current(catalog, "select play from core.streams order by 1") == [(1,), (2,)]


def test_two_writers_of_one_table_never_lose_an_update(catalog):
    write(catalog, "r0", {"core.streams": "create table core.streams as select 0 as play"})
    first = open_session(catalog, outputs=["core.streams"])
    second = open_session(catalog, outputs=["core.streams"])
    with first as a, second as b:
        a.conn.execute("insert into core.streams values (1)")
        b.conn.execute("insert into core.streams values (2)")
        a.commit("ra")
        with pytest.raises(CommitConflict, match="core.streams"):
            b.commit("rb")
    # b computes again from the new state: both updates are there
    write(catalog, "rb", {"core.streams": "insert into core.streams values (2)"})
    assert current(catalog, "select play from core.streams order by 1") == [(0,), (1,), (2,)]


def test_a_commit_through_a_stale_table_is_refused_and_leaves_no_file(catalog, tmp_path):
    """The race after the session's own check: Iceberg's commit refuses it."""
    write(catalog, "r0", {"core.streams": "create table core.streams as select 0 as play"})
    stale = catalog.load_table("core.streams")
    write(catalog, "r1", {"core.streams": "insert into core.streams values (1)"})
    files = tmp_path / "wh" / "core" / "streams" / "data"
    before = sorted(files.iterdir())
    rows = duckdb.connect().sql("select 2 as play")
    with pytest.raises(CommitConflict):
        commit(catalog, "core.streams", stale, rows.to_arrow_table, run_id="r2")
    assert sorted(files.iterdir()) == before
    assert current(catalog, "select play from core.streams order by 1") == [(0,), (1,)]


def test_writers_of_different_tables_both_commit(catalog):
    first = open_session(catalog, outputs=["marts.a"])
    second = open_session(catalog, outputs=["marts.b"])
    with first as a, second as b:
        a.conn.execute("create table marts.a as select 1 as x")
        b.conn.execute("create table marts.b as select 2 as x")
        a.commit("ra")
        b.commit("rb")
    assert current(catalog, "select (select x from marts.a), (select x from marts.b)") == [(1, 2)]


TYPES_SQL = """create table marts.types as select
    123456789012345678901234567890::hugeint as big,
    7::smallint as small, 200::utinyint as tiny, 4000000000::uinteger as unsigned,
    timestamp_ns '2026-01-02 03:04:05.123456789' as ts_ns,
    timestamptz '2026-01-02 03:04:05+00' as ts_tz,
    date '2026-01-02' as day, 1.5::decimal(18, 3) as money, null as nothing,
    ['a', 'b'] as tags, {'name': 'x', 'streams': 5::hugeint} as top,
    'red'::enum ('red', 'green') as colour,
    null::struct(name varchar, plays int)[] as no_list"""


def test_duckdb_types_come_back_as_they_were_committed(catalog):
    write(catalog, "r1", {"marts.types": TYPES_SQL})
    conn = duckdb.connect()
    conn.execute(TYPES_SQL.replace("marts.types", "expected"))
    want = conn.execute("describe expected").fetchall()
    got = dict(current(catalog, "select column_name, column_type from (describe marts.types)"))
    for column, kind, *_ in want:
        if column == "nothing":
            assert got[column] == "VARCHAR"  # DuckDB's NULL type has no Iceberg type
        else:
            assert got[column] == kind, column
    (row,) = current(
        catalog, "select big, small, tiny, unsigned, ts_ns, top.streams from marts.types"
    )
    assert row[:4] == (123456789012345678901234567890, 7, 200, 4000000000)
    assert str(row[4]).endswith(".123456")  # nanoseconds are cut to microseconds
    assert row[5] == 5


def test_a_changed_column_list_keeps_the_tables_history(catalog):
    (old,) = write(catalog, "r1", {"marts.m": "create table marts.m as select 1 as a, 'x' as b"})
    write(
        catalog,
        "r2",
        {"marts.m": "create or replace table marts.m as select 'one' as a, true as c, 2 as d"},
    )
    assert current(catalog, "select * from marts.m") == [("one", True, 2)]
    conn = duckdb.connect()
    attach(conn, catalog.load_table("marts.m"), "marts.m", snapshot_id=old.snapshot_id)
    assert conn.execute("select * from marts.m").fetchall() == [(1, "x")]


def test_an_empty_result_is_a_typed_empty_table(catalog):
    write(
        catalog,
        "r1",
        {
            "core.rejected": "create table core.rejected as "
            "select 'f' as source_file, 1 as record_index where false"
        },
    )
    assert current(catalog, "select count(*) from core.rejected") == [(0,)]
    assert current(catalog, "select column_type from (describe core.rejected)") == [
        ("VARCHAR",),
        ("INTEGER",),
    ]


def test_readers_see_whole_runs_and_can_travel_back_to_one(catalog):
    run1 = write(
        catalog,
        "run-1",
        {
            "core.streams": "create table core.streams as select 'alice' as user_id",
            "marts.listeners": "create table marts.listeners as select 1 as n",
        },
    )
    publish(catalog, "run-1", run1)
    # run-2 has committed core.streams but not yet marts.listeners, and is not published
    write(catalog, "run-2", {"core.streams": "insert into core.streams values ('bob')"})
    seen = rows(
        catalog, "select (select count(*) from core.streams), (select n from marts.listeners)"
    )
    assert seen == [(1, 1)]  # not the mixed state (2 plays, 1 listener)
    run2 = write(
        catalog,
        "run-2",
        {
            "marts.listeners": "create or replace table marts.listeners "
            "as select count(*) as n from core.streams"
        },
    )
    publish(catalog, "run-2", run1[:0] + run2)
    assert published(catalog)["marts.listeners"].run_id == "run-2"
    assert published(catalog)["core.streams"].run_id == "run-1"  # run-2's commit is unpublished
    assert rows(catalog, "select n from marts.listeners") == [(2,)]
    assert rows(catalog, "select n from marts.listeners", "run-1") == [(1,)]
    with pytest.raises(KeyError, match="never-ran"):
        published(catalog, "never-ran")


def test_an_older_snapshot_never_replaces_a_newer_published_one(catalog):
    older = write(catalog, "a", {"marts.m": "create table marts.m as select 1 as x"})
    newer = write(catalog, "b", {"marts.m": "create or replace table marts.m as select 2 as x"})
    publish(catalog, "b", newer)
    assert publish(catalog, "a", older) == []  # e.g. the first run of a retried chain
    assert rows(catalog, "select x from marts.m") == [(2,)]


def test_expiry_keeps_published_and_current_snapshots_and_deletes_the_rest(catalog, tmp_path):
    kept = write(catalog, "r1", {"marts.m": "create table marts.m as select 1 as x"})
    publish(catalog, "r1", kept)
    middle = write(catalog, "r2", {"marts.m": "create or replace table marts.m as select 2 as x"})
    write(catalog, "r3", {"marts.m": "create or replace table marts.m as select 3 as x"})
    middle_files = data_files(catalog.load_table("marts.m"), middle[0].snapshot_id)
    later = datetime.now(UTC) + timedelta(days=1)
    (done, _) = expire(catalog, ["marts.m"], now=later)
    assert done.snapshots >= 2 and done.files_deleted >= 1
    table = catalog.load_table("marts.m")
    assert table.snapshot_by_id(middle[0].snapshot_id) is None
    assert not any(Path(f.removeprefix("file://")).exists() for f in middle_files)
    assert rows(catalog, "select x from marts.m") == [(1,)]  # the published one
    assert current(catalog, "select x from marts.m") == [(3,)]
    write(catalog, "r4", {"marts.m": "create or replace table marts.m as select 4 as x"})
    assert current(catalog, "select x from marts.m") == [(4,)]


def test_the_lakehouse_in_s3(tmp_path, s3_bucket, moto_endpoint):
    config = CatalogConfig(
        name="test",
        uri=f"sqlite:///{tmp_path / 'catalog.db'}",
        warehouse=f"s3://{s3_bucket}/lakehouse",
        s3_endpoint=moto_endpoint,
        s3_region="us-east-1",
    )
    catalog = open_catalog(config)
    props = config.properties()
    with open_session(catalog, outputs=["core.streams"], properties=props) as session:
        session.conn.execute("create table core.streams as select range as play from range(5)")
        done = session.commit("r1")
    publish(catalog, "r1", done)
    assert data_files(catalog.load_table("core.streams"))[0].startswith(f"s3://{s3_bucket}/")
    with open_session(catalog, outputs=["marts.n"], properties=props) as session:
        session.conn.execute("create table marts.n as select count(*) as n from core.streams")
        session.commit("r2")
    conn = duckdb.connect()
    attach_published(conn, catalog, properties=props)
    assert conn.execute("select sum(play) from core.streams").fetchall() == [(10,)]
    with open_session(catalog, properties=props) as session:
        assert session.conn.execute("select n from marts.n").fetchall() == [(5,)]

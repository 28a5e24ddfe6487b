"""A reference check whose target table is not built yet (another run builds it for the first
time, side by side in lakehouse mode) says so as a WARN, not a failed ERROR check that fails
the run; a reference that does not resolve, or a missing checked table, stays ERROR."""

import dagster as dg
import duckdb

from spotify_assets.defs.quality.rule_checks import rule_check_result
from spotify_assets.lib.quality.rules import evaluate, references

RULE = references("core.tracks", "primary_artist_id", "core.artists", "artist_id")
KEY = dg.AssetKey(["core", "tracks"])


def test_a_reference_to_a_table_not_built_yet_is_a_warning():
    conn = duckdb.connect()
    conn.execute("create schema core; create table core.tracks as select 'a1' as primary_artist_id")
    result = rule_check_result(KEY, evaluate(conn, RULE))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert "core.artists is not built yet" in result.description
    conn.execute("create table core.artists as select 'a2' as artist_id")
    unresolved = rule_check_result(KEY, evaluate(conn, RULE))
    assert not unresolved.passed and unresolved.severity == dg.AssetCheckSeverity.ERROR


def test_a_missing_checked_table_stays_an_error():
    conn = duckdb.connect()
    conn.execute("create schema core; create table core.artists as select 'a1' as artist_id")
    result = rule_check_result(KEY, evaluate(conn, RULE))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR

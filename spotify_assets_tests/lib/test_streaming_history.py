"""Parsing, validation and normalization of Spotify listening-history export files.

The fixtures under ``fixtures/streaming_history/`` are hand-written imitations of real exports
of several vintages: ``endsong_0.json`` (2019-2022: ``username``, ``ip_addr_decrypted``,
``user_agent_decrypted``, offline times in seconds), ``Streaming_History_Audio_2023-2024_3.json``
(2024: ``ip_addr``, audiobooks, offline times in milliseconds), a video file, the account-data
files (music, podcast, the old mixed ``StreamingHistory0.json``), and a messy file as odd tools
write them (strings for numbers and booleans, blank strings, zones, unknown fields, no order).
"""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spotify_assets.lib.listening.export_files import (
    PERSONAL_FIELDS,
    STREAMS_SCHEMA,
    BadExportFile,
    ParsedExport,
    _parse,
    format_hint,
    parse_export,
    process_file,
    write_parquet,
)
from spotify_assets.lib.listening.streams import streams_append_sql, streams_dedup_sql  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "streaming_history"
ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json"))


def parse_fixture(name: str, user_id: str = "alice") -> ParsedExport:
    return parse_export(
        (FIXTURES / name).read_bytes(), source_file=f"{user_id}/{name}", user_id=user_id
    )


def parse_records(records: list, name: str = "Streaming_History_Audio_2024_0.json") -> ParsedExport:
    return parse_export(json.dumps(records).encode(), source_file=f"u/{name}", user_id="u")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def rec(**fields) -> dict:
    """A minimal valid extended record, with overrides."""
    base = {
        "ts": "2024-03-01T12:00:00Z",
        "ms_played": 1000,
        "spotify_track_uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
        "master_metadata_track_name": "T",
    }
    return {**base, **fields}


def column(parsed: ParsedExport, name: str) -> list:
    return parsed.table.column(name).to_pylist()


# ---------------------------------------------------------------------------------- formats


def test_schema_has_the_core_streams_columns_of_the_design():
    required = [
        "user_id",
        "ts",
        "content_type",
        "track_id",
        "ms_played",
        "conn_country",
        "platform",
        "reason_start",
        "reason_end",
        "shuffle",
        "skipped",
        "offline",
        "incognito_mode",
        "source_file",
    ]
    assert set(required) <= set(STREAMS_SCHEMA.names)
    assert not set(PERSONAL_FIELDS) & set(STREAMS_SCHEMA.names)


def test_old_extended_export_endsong():
    p = parse_fixture("endsong_0.json")
    assert p.format == "extended"
    assert p.table.schema == STREAMS_SCHEMA
    assert (p.n_records, p.n_accepted, p.n_rejected) == (5, 5, 0)
    assert column(p, "content_type") == ["music", "podcast", "music", "unknown", "music"]
    assert column(p, "track_id")[0] == "4uLU6hMCjMI75M1A2tKUQC"
    assert column(p, "episode_id")[1] == "2PtBhfoPZ6VYtXkrE5FrCH"
    assert column(p, "show_name")[1] == "Night Shift Stories"
    assert column(p, "ts")[0] == utc(2019, 3, 2, 18, 4, 11)
    assert column(p, "ms_played") == [212373, 1803411, 4201, 0, 187000]
    assert column(p, "skipped") == [None, None, True, None, None]
    assert column(p, "shuffle")[2] is True
    assert column(p, "offline")[4] is True
    assert column(p, "platform")[0] == "Android OS 9 API 28 (samsung, SM-G960F)"
    assert column(p, "conn_country") == ["SE", "SE", None, "SE", "NO"]  # ZZ is unknown
    assert column(p, "user_id") == ["alice"] * 5
    assert column(p, "source_file") == ["alice/endsong_0.json"] * 5
    assert column(p, "source_format") == ["extended"] * 5
    assert column(p, "record_index") == [0, 1, 2, 3, 4]


def test_2024_extended_export_with_audiobook():
    p = parse_fixture("Streaming_History_Audio_2023-2024_3.json")
    assert (p.format, p.n_accepted, p.n_rejected) == ("extended", 4, 0)
    assert column(p, "content_type") == ["music", "audiobook", "podcast", "music"]
    book = p.table.slice(1, 1).to_pylist()[0]
    assert book["audiobook_id"] == "7iHfbu1YPACw6oZPAFJtqe"
    assert book["audiobook_chapter_id"] == "0D5wENdkdwbqlrHoaJ9g29"
    assert book["audiobook_title"] == "The Midnight Garden"
    assert book["audiobook_chapter_title"] == "Chapter 3"
    assert book["track_id"] is None and book["episode_id"] is None
    assert column(p, "incognito_mode") == [False, False, False, True]
    assert column(p, "skipped") == [False, False, False, True]


def test_video_export_is_podcasts():
    # The format-level parser reads video history like any extended file; the landed-file
    # entry point leaves it out by name (test_export_files_real.py).
    p = parse_fixture("Streaming_History_Video_2024.json")
    assert (p.format, p.n_accepted) == ("extended", 2)
    assert column(p, "content_type") == ["podcast", "podcast"]
    assert column(p, "episode_id") == ["1BUAaBD2oG9jmPM9Lqk9Se", "4c8hxqHdyq6aWBvFkYfQWY"]


def test_account_data_music():
    p = parse_fixture("StreamingHistory_music_0.json")
    assert (p.format, p.n_accepted, p.n_rejected) == ("account_data", 3, 0)
    assert p.table.schema == STREAMS_SCHEMA
    assert column(p, "content_type") == ["music"] * 3
    assert column(p, "track_id") == [None] * 3  # no URIs: resolved by name later
    assert column(p, "track_name")[2] == "CUFF IT"
    assert column(p, "artist_name")[2] == "Beyoncé"
    assert column(p, "ts")[0] == utc(2023, 5, 6, 21, 14)
    assert column(p, "ms_played") == [257800, 270171, 3150]
    assert column(p, "source_format") == ["account_data"] * 3
    assert column(p, "skipped") == [None] * 3


def test_account_data_podcast():
    p = parse_fixture("StreamingHistory_podcast_0.json")
    assert column(p, "content_type") == ["podcast", "podcast"]
    assert column(p, "show_name") == ["Focus Lab", "Focus Lab"]
    assert column(p, "episode_name")[0] == "Episode 21 - Attention Residue"
    assert column(p, "track_name") == [None, None]


def test_old_mixed_account_data_rows_are_music_flagged_as_mixed():
    # The old StreamingHistory<N>.json mixes music and podcasts (artist = show), which the
    # record cannot tell: a play of music, flagged so that the streams build can turn it into
    # a podcast when the user's other files know the artist as a show. (Until issue 11 these
    # rows were "unknown" and no KPI counted them.)
    p = parse_fixture("StreamingHistory0.json")
    assert column(p, "content_type") == ["music", "music"]
    assert column(p, "mixed_history") == [True, True]
    assert column(p, "artist_name") == ["Queen", "Night Shift Stories"]
    assert column(p, "track_name")[1] == "#87: Snowbound"
    assert column(parse_fixture("StreamingHistory_music_0.json"), "mixed_history") == [False] * 3
    assert column(parse_fixture("endsong_0.json"), "mixed_history") == [None] * 5


def test_podcast_file_with_artist_and_track_names():
    records = [
        {"endTime": "2021-01-02 03:04", "artistName": "Show", "trackName": "Ep 1", "msPlayed": 10}
    ]
    p = parse_records(records, "StreamingHistory_podcast_1.json")
    assert column(p, "content_type") == ["podcast"]
    assert (column(p, "show_name"), column(p, "episode_name")) == (["Show"], ["Ep 1"])
    assert column(p, "artist_name") == [None]


def test_format_is_detected_by_content_not_name():
    account = (FIXTURES / "StreamingHistory_music_0.json").read_bytes()
    p = parse_export(account, source_file="u/Streaming_History_Audio_2024_0.json", user_id="u")
    assert p.format == "account_data" and p.n_accepted == 3
    extended = (FIXTURES / "endsong_0.json").read_bytes()
    p = parse_export(extended, source_file="u/StreamingHistory_music_0.json", user_id="u")
    assert p.format == "extended" and p.n_accepted == 5
    p = parse_export(extended, source_file="u/export.json", user_id="u")
    assert p.format == "extended"


def test_format_hint_from_file_names():
    assert format_hint("a/b/Streaming_History_Audio_2019-2021_0.json") == ("extended", None)
    assert format_hint("Streaming_History_Video_2024.json") == ("extended", None)
    assert format_hint("endsong_12.json") == ("extended", None)
    assert format_hint("StreamingHistory_music_0.json") == ("account_data", "music")
    assert format_hint("StreamingHistory_podcast_3.json") == ("account_data", "podcast")
    assert format_hint("StreamingHistory2.json") == ("account_data", None)
    assert format_hint("notes.json") == (None, None)


# ------------------------------------------------------------------------ whole-file problems


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty file"),
        (b" \n\t ", "empty file"),
        (b"ts,ms_played\n2024-01-01,5\n", "not JSON"),
        (b"<html>Access denied</html>", "not JSON"),
        (b'[{"ts": "2024-01-01T00:00:00Z", "ms_played": 5}, {"ts": "2024-01-0', "truncated"),
        (b'[{"ts": "2024-01-01T00:00:00Z", "ms_played": 5}', "truncated"),
        (b'{"ts": "2024-01-01T00:00:00Z", "ms_played": 5}', "top level is a JSON object"),
        (b'"just a string"', "top level is a JSON string"),
        (b"42", "top level is a JSON number"),
        (b'[{"ts": "2024-01-01T00:00:00Z", "ms_played": 5}] trailing', "not JSON"),
        (b'[1, "two", null, [3]]', "no records"),
        (b"[null]", "no records"),
        (b'[{"foo": 1}, {"bar": 2}]', "unknown format"),
        (b"[{}, {}]", "unknown format"),
    ],
)
def test_bad_files_raise_with_a_reason(data, words):
    with pytest.raises(BadExportFile) as err:
        parse_export(data, source_file="u/Streaming_History_Audio_2024_0.json", user_id="u")
    assert words in err.value.reason
    assert str(err.value) == err.value.reason


def test_empty_array_is_a_valid_empty_export():
    p = parse_export(b"[ ]\n", source_file="u/Streaming_History_Audio_2024_0.json", user_id="u")
    assert (p.n_records, p.n_accepted, p.n_rejected) == (0, 0, 0)
    assert p.table.schema == STREAMS_SCHEMA
    assert p.format == "extended"
    empty_account = parse_export(b"[]", source_file="u/StreamingHistory_music_0.json", user_id="u")
    assert empty_account.format == "account_data"
    buf = io.BytesIO()
    write_parquet(process_file(b"[]", source_file="u/x.json", user_id="u").table, buf)
    assert pq.read_table(io.BytesIO(buf.getvalue())).num_rows == 0


# ------------------------------------------------------------------------------- rejections


def test_record_rejections_keep_index_reason_and_excerpt():
    records = [
        rec(),
        rec(ts=None),
        {k: v for k, v in rec().items() if k != "ts"},
        rec(ts="yesterday"),
        rec(ts="1999-12-31T23:59:59Z"),
        rec(ms_played=-5),
        {k: v for k, v in rec().items() if k != "ms_played"},
        rec(ms_played="lots"),
        rec(ms_played=1.5),
        rec(ms_played=None, ts="never"),
        None,
        42,
        "a string",
        [rec()],
        rec(ms_played="0"),
    ]
    p = parse_records(records)
    assert p.n_records == len(records)
    assert p.n_accepted + p.n_rejected == p.n_records
    assert column(p, "record_index") == [0, 14]
    reasons = {r.record_index: r.reason for r in p.rejected}
    assert reasons == {
        1: "ts missing",
        2: "ts missing",
        3: "ts not a timestamp: 'yesterday'",
        4: "ts before Spotify's launch (2008-10-07): '1999-12-31T23:59:59Z'",
        5: "ms_played negative: -5",
        6: "ms_played missing",
        7: "ms_played not a number: 'lots'",
        8: "ms_played not a whole number: '1.5'",
        9: "ts not a timestamp: 'never'; ms_played missing",
        10: "not a JSON object (null)",
        11: "not a JSON object (number)",
        12: "not a JSON object (string)",
        13: "not a JSON object (array)",
    }
    excerpts = {r.record_index: r.raw_excerpt for r in p.rejected}
    assert '"ms_played":"-5"' in excerpts[5]
    assert excerpts[11] == "42"
    assert excerpts[12] == '"a string"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1000, 1000),
        ("1000", 1000),
        (" 1000 ", 1000),
        (1000.0, 1000),
        ("1e3", 1000),
        ("+1000", 1000),
        (0, 0),
        (1.5, "ms_played not a whole number: '1.5'"),
        ("1_000", "ms_played not a number: '1_000'"),
        (True, "ms_played not a number: 'true'"),
        (float("nan"), "ms_played not a number: 'NaN'"),  # DuckDB's reader accepts NaN
        ({"ms": 1}, "ms_played not a number: '{\"ms\":1}'"),
        (99999999999999999999, "ms_played out of range: '99999999999999999999'"),
        ("", "ms_played missing"),
        (-1, "ms_played negative: -1"),
    ],
)
def test_ms_played_forms(value, expected):
    for force_per_record in (False, True):
        p = _parse(
            json.dumps([rec(), rec(ms_played=value)]).encode(),
            source_file="u/x.json",
            user_id="u",
            force_per_record=force_per_record,
        )
        if isinstance(expected, int):
            assert column(p, "ms_played") == [1000, expected]
        else:
            assert [r.reason for r in p.rejected] == [expected]


def test_null_element_among_valid_records_is_rejected_as_not_an_object():
    # A JSON null reads like an empty record in the columnar path: it must still be named.
    p = parse_records([rec(), None, rec(ms_played=2)])
    assert [(r.record_index, r.reason) for r in p.rejected] == [(1, "not a JSON object (null)")]
    assert p.n_accepted == 2


def test_empty_object_among_records_is_rejected_for_its_fields():
    p = parse_records([rec(), {}])
    assert [(r.record_index, r.reason) for r in p.rejected] == [
        (1, "ts missing; ms_played missing")
    ]


def test_account_data_rejections_name_the_account_fields():
    records = [
        {"endTime": "2023-05-06 21:14", "artistName": "A", "trackName": "T", "msPlayed": 1},
        {"endTime": "", "artistName": "A", "trackName": "T", "msPlayed": 1},
        {"endTime": "2023-05-06 21:15", "artistName": "A", "trackName": "T", "msPlayed": -1},
    ]
    p = parse_records(records, "StreamingHistory_music_0.json")
    assert [r.reason for r in p.rejected] == ["endTime missing", "msPlayed negative: -1"]


# --------------------------------------------------------------------------- normalization


def test_personal_data_is_never_copied():
    secrets = [
        "jdoe1987",
        "84.216.12.34",
        "10.0.0.7",
        "Spotify/8.4.97",
        "Mozilla/5.0",
        "2a02:908:1a2:3b00::1",
        "91.64.200.17",
    ]
    bad = rec(
        ms_played=-1,
        username="jdoe1987",
        ip_addr="91.64.200.17",
        ip_addr_decrypted="84.216.12.34",
        user_agent_decrypted="Mozilla/5.0 x",
    )
    parsed = [
        parse_fixture("endsong_0.json"),
        parse_fixture("Streaming_History_Audio_2023-2024_3.json"),
        parse_records([rec(), bad, None, [bad]]),
    ]
    for p in parsed:
        assert not set(PERSONAL_FIELDS) & set(p.table.column_names)
        text = json.dumps(p.table.to_pylist(), default=str) + json.dumps(
            [r.__dict__ for r in p.rejected]
        )
        for secret in secrets:
            assert secret not in text
    assert parsed[2].n_rejected == 3
    assert parsed[2].rejected[2].raw_excerpt == "[an array of 1 elements]"


@pytest.mark.parametrize(
    "ts",
    [
        "2024-03-01T12:00:00Z",
        "2024-03-01T12:00:00",
        "2024-03-01 12:00:00Z",
        "2024-03-01T12:00:00.000Z",
        "2024-03-01T13:00:00+01:00",
        "2024-03-01T07:00:00-05:00",
        " 2024-03-01T12:00:00Z ",
        "2024-03-01T12:00:00.000000+00:00",
    ],
)
def test_ts_forms_normalize_to_utc(ts):
    p = parse_records([rec(), rec(ts=ts)])  # one canonical record keeps the fast cast honest
    assert column(p, "ts") == [utc(2024, 3, 1, 12)] * 2
    assert p.table.schema.field("ts").type == pa.timestamp("us", tz="UTC")


def test_ts_keeps_fractions():
    p = parse_records([rec(ts="2024-03-01T12:00:00.250Z"), rec(ts="2024-03-01T12:00:01Z")])
    assert column(p, "ts")[0] == datetime(2024, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)


def test_account_data_times_with_seconds_are_accepted():
    records = [
        {"endTime": "2023-05-06 21:14:30", "artistName": "A", "trackName": "T", "msPlayed": 1}
    ]
    p = parse_records(records, "StreamingHistory_music_0.json")
    assert column(p, "ts") == [utc(2023, 5, 6, 21, 14, 30)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1704067200, utc(2024, 1, 1)),  # older exports: seconds
        (1704067200123, datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)),  # newer: ms
        ("1704067200", utc(2024, 1, 1)),
        (0, None),  # written when there was no offline play
        (None, None),
        (-5, None),
        (4102444800, None),  # 2100-01-01 in seconds: out of range
    ],
)
def test_offline_timestamp_unit_is_told_by_magnitude(value, expected):
    p = parse_records([rec(offline_timestamp=value)])
    assert column(p, "offline_timestamp") == [expected]


def test_offline_timestamp_units_agree_with_old_and_new_fixtures():
    old = parse_fixture("endsong_0.json")
    assert column(old, "offline_timestamp")[0] == utc(2019, 3, 2, 18, 0, 38)
    assert column(old, "offline_timestamp")[3] is None  # 0
    new = parse_fixture("Streaming_History_Audio_2023-2024_3.json")
    assert column(new, "offline_timestamp") == [
        datetime(2023, 11, 14, 21, 0, 34, 123000, tzinfo=UTC),
        None,
        utc(2024, 1, 9, 16, 40),
        None,
    ]


def test_content_types_from_uris_then_names():
    records = [
        rec(),
        rec(
            spotify_track_uri=None,
            master_metadata_track_name=None,
            spotify_episode_uri="spotify:episode:2PtBhfoPZ6VYtXkrE5FrCH",
            episode_name="E",
        ),
        rec(
            spotify_track_uri=None,
            master_metadata_track_name=None,
            audiobook_chapter_uri="spotify:chapter:0D5wENdkdwbqlrHoaJ9g29",
            audiobook_title="B",
        ),
        rec(spotify_track_uri=None, master_metadata_track_name=None),
        rec(spotify_track_uri="", master_metadata_track_name=""),
        rec(
            spotify_track_uri=None,
            master_metadata_track_name=None,
            episode_show_name="Only the show",
        ),
        rec(spotify_track_uri="spotify:local:A:B:C:200", master_metadata_track_name="Local"),
        rec(master_metadata_track_name=None, audiobook_title="Also a book?"),
    ]
    p = parse_records(records)
    assert column(p, "content_type") == [
        "music",
        "podcast",
        "audiobook",
        "unknown",
        "unknown",
        "podcast",
        "music",
        "music",
    ]
    assert column(p, "track_id")[6] is None
    assert p.normalized == {"spotify_track_uri: not a spotify:track URI -> null id": 1}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SE", "SE"),
        (" se ", "SE"),
        ("gb", "GB"),
        ("ZZ", None),
        ("zz", None),
        ("", None),
        (None, None),
        ("Sweden", None),
        ("XX", None),
        ("XK", "XK"),
        (12, None),
    ],
)
def test_conn_country_is_iso_alpha2_or_null(raw, expected):
    p = parse_records([rec(conn_country="US"), rec(conn_country=raw)])
    assert column(p, "conn_country") == ["US", expected]


def test_unknown_countries_are_counted():
    p = parse_records([rec(conn_country=c) for c in ["ZZ", "ZZ", "DE", "", "Narnia"]])
    assert column(p, "conn_country") == [None, None, "DE", None, None]
    assert p.normalized == {"conn_country: not an ISO 3166 code -> null": 3}


def test_string_numbers_and_booleans():
    records = [
        rec(ms_played="1234", shuffle="true", skipped="False", offline="TRUE", incognito_mode="0"),
        rec(ms_played=" 99 ", shuffle=True, skipped="1", offline=False, incognito_mode=None),
        rec(ms_played=2000.0, shuffle="", skipped="maybe", offline="no", incognito_mode=1),
        rec(ms_played="+7", shuffle=False, skipped=None, offline=0, incognito_mode="true "),
    ]
    p = parse_records(records)
    assert column(p, "ms_played") == [1234, 99, 2000, 7]
    assert column(p, "shuffle") == [True, True, None, False]
    assert column(p, "skipped") == [False, True, None, None]
    assert column(p, "offline") == [True, False, None, False]
    assert column(p, "incognito_mode") == [False, None, True, True]
    assert p.normalized == {
        "skipped: not a boolean -> null": 1,
        "offline: not a boolean -> null": 1,
    }


def test_blank_strings_are_null_and_names_are_kept_as_given():
    p = parse_records(
        [
            rec(
                master_metadata_album_album_name="",
                platform="  ios ",
                reason_start=" ",
                master_metadata_track_name=" Intro ",
                episode_name="   ",
            )
        ]
    )
    row = p.table.to_pylist()[0]
    assert row["album_name"] is None and row["episode_name"] is None
    assert row["platform"] == "ios" and row["reason_start"] is None
    assert row["track_name"] == " Intro "


def test_unknown_extra_fields_are_ignored():
    plain = parse_records([rec()])
    extra = parse_records(
        [
            rec(
                brand_new_field={"nested": [1, 2, {"x": None}]},
                another="text",
                ts_local="2024-03-01T13:00:00",
            )
        ]
    )
    assert extra.table.equals(plain.table)
    assert extra.n_rejected == 0


def test_messy_fixture():
    p = parse_fixture("Streaming_History_Audio_2022_7.json")
    assert (p.n_records, p.n_accepted, p.n_rejected) == (6, 3, 3)
    assert {r.record_index: r.reason for r in p.rejected} == {
        3: "ms_played negative: -1500",
        4: "ts missing",
        5: "ms_played not a number: 'n/a'",
    }
    rows = {r["record_index"]: r for r in p.table.to_pylist()}
    assert rows[0]["ts"] == utc(2022, 6, 1, 10, 0, 5)
    assert rows[0]["platform"] == "Partner sonos_one Sonos One"
    assert rows[0]["ms_played"] == 183000
    assert rows[0]["conn_country"] == "DE"
    assert rows[0]["album_name"] is None and rows[0]["episode_id"] is None
    assert (rows[0]["shuffle"], rows[0]["skipped"], rows[0]["offline"]) == (True, False, False)
    assert rows[0]["offline_timestamp"] == utc(2022, 6, 1, 9, 57, 2)
    assert rows[1]["ts"] == datetime(2022, 6, 1, 9, 56, 59, 123000, tzinfo=UTC)
    assert rows[1]["ms_played"] == 184000 and rows[1]["offline_timestamp"] is None
    assert rows[2]["ts"] == utc(2022, 6, 1, 10, 3)
    assert rows[2]["platform"] is None and rows[2]["conn_country"] is None
    assert (rows[2]["track_id"], rows[2]["content_type"]) == (None, "music")
    assert (rows[2]["shuffle"], rows[2]["skipped"], rows[2]["incognito_mode"]) == (True, None, True)
    assert p.normalized == {
        "conn_country: not an ISO 3166 code -> null": 1,
        "spotify_track_uri: not a spotify:track URI -> null id": 1,
        "skipped: not a boolean -> null": 1,
    }


def test_records_in_any_order():
    records = [rec(ts=f"2024-03-01T12:00:{s:02d}Z", ms_played=s) for s in (30, 5, 50, 0, 17)]
    p = parse_records(records)
    assert column(p, "ms_played") == [30, 5, 50, 0, 17]  # parse_export keeps file order
    sorted_ = process_file(
        json.dumps(records).encode(),
        source_file="u/Streaming_History_Audio_2024_0.json",
        user_id="u",
    )
    assert column(sorted_, "ms_played") == [0, 5, 17, 30, 50]
    assert column(sorted_, "record_index") == [3, 1, 4, 0, 2]
    in_order = parse_records(sorted(records, key=lambda r: r["ts"]))
    assert sorted_.table.drop_columns(["record_index"]).equals(
        in_order.table.drop_columns(["record_index"])
    )


# ------------------------------------------------------------------------ paths and counts


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_columnar_and_per_record_paths_agree(name):
    data = (FIXTURES / name).read_bytes()
    fast = _parse(data, source_file=f"u/{name}", user_id="u")
    slow = _parse(data, source_file=f"u/{name}", user_id="u", force_per_record=True)
    assert fast.table.equals(slow.table)
    assert fast.rejected == slow.rejected
    assert fast.normalized == slow.normalized
    assert fast.n_accepted + fast.n_rejected == fast.n_records == len(json.loads(data))


def test_per_record_path_is_used_for_odd_files_and_agrees():
    records = [rec(), rec(ms_played="12", shuffle="true"), 7, rec(ts="2024-03-01T12:00:00")]
    data = json.dumps(records).encode()
    p = parse_export(data, source_file="u/Streaming_History_Audio_2024_0.json", user_id="u")
    assert (p.n_accepted, p.n_rejected) == (3, 1)
    assert column(p, "record_index") == [0, 1, 3]
    clean = parse_records([r for r in records if r != 7])
    assert p.table.drop_columns(["record_index"]).equals(clean.table.drop_columns(["record_index"]))


def test_sample_world_file_matches_an_independent_count(tiny_world, tmp_path):
    from spotify_assets.lib.sample.world.history import write_streaming_history

    paths = write_streaming_history(tiny_world, tmp_path)
    assert paths
    total = 0
    for path in paths[:6]:
        data = path.read_bytes()
        records = json.loads(data)
        expected = Counter(
            "music"
            if r["spotify_track_uri"]
            else "podcast"
            if r["spotify_episode_uri"]
            else "audiobook"
            if r["audiobook_chapter_uri"]
            else "unknown"
            for r in records
        )
        p = process_file(
            data, source_file=f"{path.parent.name}/{path.name}", user_id=path.parent.name
        )
        assert (p.n_records, p.n_accepted, p.n_rejected) == (len(records), len(records), 0)
        assert Counter(column(p, "content_type")) == expected
        assert sum(column(p, "ms_played")) == sum(r["ms_played"] for r in records)
        assert Counter(t for t in column(p, "track_id") if t) == Counter(
            r["spotify_track_uri"].removeprefix("spotify:track:")
            for r in records
            if r["spotify_track_uri"]
        )
        assert set(column(p, "user_id")) == {path.parent.name}
        total += p.n_accepted
    assert total > 0


# ----------------------------------------------------------------------- Parquet and dedup


def test_write_parquet_round_trip(tmp_path):
    p = process_file(
        (FIXTURES / "endsong_0.json").read_bytes(), source_file="a/endsong_0.json", user_id="a"
    )
    write_parquet(p.table, tmp_path / "x.parquet")
    back = pq.read_table(tmp_path / "x.parquet")
    assert back.schema.equals(STREAMS_SCHEMA)
    assert back.equals(p.table)
    assert (
        pq.ParquetFile(tmp_path / "x.parquet").metadata.row_group(0).column(0).compression == "ZSTD"
    )


def test_dedup_keeps_one_play_per_overlapping_export(tmp_path):
    a = [rec(ts=f"2024-03-01T12:00:0{i}Z", ms_played=1000 + i) for i in range(4)]
    b = a[2:] + [rec(ts="2024-03-02T00:00:00Z"), rec(ts="2024-03-01T12:00:03Z", ms_played=5)]
    account = [
        {"endTime": "2024-03-01 12:00", "artistName": "A", "trackName": "T", "msPlayed": 1000}
    ]
    for name, records, user in [
        ("Streaming_History_Audio_2024_0.json", a, "u"),
        ("Streaming_History_Audio_2024_1.json", b, "u"),
        ("Streaming_History_Audio_2024_0.json", a, "v"),
        ("StreamingHistory_music_0.json", account * 2, "u"),
    ]:
        p = process_file(json.dumps(records).encode(), source_file=f"{user}/{name}", user_id=user)
        (tmp_path / user).mkdir(exist_ok=True)
        write_parquet(p.table, tmp_path / user / f"{name}.parquet")
    con = duckdb.connect()
    src = f"read_parquet('{tmp_path}/*/*.parquet')"
    con.execute(f"CREATE TABLE streams AS {streams_dedup_sql(src)}")
    rows = con.execute(
        "SELECT user_id, source_format, source_file, record_index FROM streams ORDER BY ALL"
    ).fetchall()
    # u: 4 from a, 2 new from b (a new ts; the same ts with another ms_played), 1 account play
    # (the file lists it twice); v: its own 4.
    assert Counter((u, f) for u, f, _, _ in rows) == {
        ("u", "extended"): 6,
        ("u", "account_data"): 1,
        ("v", "extended"): 4,
    }
    winners = {(u, i) for u, fmt, f, i in rows if f.endswith("2024_1.json")}
    assert winners == {("u", 2), ("u", 3)}  # only b's two new plays
    # Adding b again, incrementally, adds nothing; a file with one new play adds one.
    con.execute(streams_append_sql("streams", f"read_parquet('{tmp_path}/u/*_1.json.parquet')"))
    assert con.execute("SELECT count(*) FROM streams").fetchall() == [(11,)]
    c = process_file(
        json.dumps(a + [rec(ts="2024-04-01T00:00:00Z")]).encode(),
        source_file="u/Streaming_History_Audio_2024_2.json",
        user_id="u",
    )
    write_parquet(c.table, tmp_path / "c.parquet")
    con.execute(streams_append_sql("streams", f"read_parquet('{tmp_path}/c.parquet')"))
    assert con.execute("SELECT count(*) FROM streams").fetchall() == [(12,)]


def test_dedup_matches_a_plain_window_and_survives_a_file_loaded_twice(tmp_path):
    records = [rec(ts=f"2024-03-01T12:{m:02d}:00Z", ms_played=m % 3) for m in range(40)]
    records += records[5:15] + [
        rec(ts="2024-03-01T12:00:00Z", ms_played=0, spotify_track_uri=None, episode_name="E")
    ]
    p = process_file(json.dumps(records).encode(), source_file="u/a.json", user_id="u")
    write_parquet(p.table, tmp_path / "a.parquet")
    write_parquet(p.table, tmp_path / "a_again.parquet")  # the same file, processed twice
    src = f"read_parquet('{tmp_path}/*.parquet')"
    con = duckdb.connect()
    got = con.execute(f"SELECT record_index FROM ({streams_dedup_sql(src)}) ORDER BY 1").fetchall()
    plain = con.execute(
        f"SELECT DISTINCT record_index FROM {src} QUALIFY row_number() OVER (PARTITION BY "
        "user_id, ts, ms_played, coalesce(track_id, episode_name) "
        "ORDER BY source_file, record_index) = 1 ORDER BY 1"
    ).fetchall()
    assert got == plain
    assert len(got) == 41

"""Landed export objects as real people drop them: any name, nested folders, the other files of
the export, video history, UTF-16, old mixed account data, impossible values, zips (safe and
unsafe), and the user id of any folder name (issue 11, parser half).

The entry point is :func:`parse_landed_export`; the fixtures are the hand-written imitations of
``fixtures/streaming_history/`` plus the other files of an export in ``fixtures/export_other/``.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pytest

from spotify_assets.lib.landing import BadFile, NotIngested, ParsedFile
from spotify_assets.lib.listening import export_files
from spotify_assets.lib.listening.export_archive import (
    ZipLimits,
    parse_export_zip,
    parse_landed_export,
    read_member,
)
from spotify_assets.lib.listening.export_files import MAX_MS_PLAYED, STREAMS_SCHEMA
from spotify_assets.lib.listening.users import SAFE_USER_ID, user_id_for_folder

FIXTURES = Path(__file__).parent / "fixtures"
HISTORY = FIXTURES / "streaming_history"
OTHER = FIXTURES / "export_other"
ENDSONG = (HISTORY / "endsong_0.json").read_bytes()  # 5 extended records
MIXED = (HISTORY / "StreamingHistory0.json").read_bytes()  # 2 old mixed account-data records
LANDED = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def land(data: bytes, name: str, user: str = "alice", **kw) -> ParsedFile:
    return parse_landed_export(data, name=name, source_file=f"{user}/{name}", user_id=user, **kw)


def col(parsed: ParsedFile, name: str) -> list:
    return parsed.table.column(name).to_pylist()


def rec(**fields) -> dict:
    base = {
        "ts": "2024-03-01T12:00:00Z",
        "ms_played": 1000,
        "spotify_track_uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
        "master_metadata_track_name": "T",
    }
    return {**base, **fields}


def account(artist: str = "A", track: str = "T", **fields) -> dict:
    return {"endTime": "2021-01-02 03:04", "artistName": artist, "trackName": track,
            "msPlayed": 1000, **fields}  # fmt: skip


def zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buf.getvalue()


# ------------------------------------------------------------------ recognised by content


@pytest.mark.parametrize(
    "name",
    [
        "endsong.json",
        "endsong_3.json",
        "Streaming_History_Audio_2019-2021_3.json",
        "Streaming_History_Audio_2024_12.json",
        "my copy.json",
        "export (1).JSON",
        "Spotify Extended Streaming History/Streaming_History_Audio_2019_0.json",
        "old/backup/history",
        "StreamingHistory_music_0.json",  # a misleading name: content decides
    ],
)
def test_extended_history_is_parsed_whatever_its_name(name):
    p = land(ENDSONG, name)
    assert p.table.schema == STREAMS_SCHEMA
    assert p.table.num_rows == 5
    assert set(col(p, "source_format")) == {"extended"}
    assert set(col(p, "source_file")) == {f"alice/{name}"}
    assert set(col(p, "user_id")) == {"alice"}
    assert p.info["format"] == "extended"
    assert (p.info["records"], p.info["accepted"], p.info["rejected"]) == (5, 5, 0)
    assert p.info["min_ts"] == "2019-03-02T18:04:11+00:00"
    assert p.info["max_ts"] == "2019-03-04T06:40:59+00:00"
    assert p.not_ingested == []
    assert col(p, "ts") == sorted(col(p, "ts"))


@pytest.mark.parametrize(
    "name", ["StreamingHistory_music_0.json", "music.json", "Spotify Account Data/x.json"]
)
def test_account_data_history_is_parsed_whatever_its_name(name):
    p = land((HISTORY / "StreamingHistory_music_0.json").read_bytes(), name)
    assert p.info["format"] == "account_data"
    assert col(p, "content_type") == ["music"] * 3
    assert set(col(p, "source_file")) == {f"alice/{name}"}


@pytest.mark.parametrize(
    "name",
    [
        "Streaming_History_Video_2024.json",
        "streaming_history_video_2019-2024_1.json",
        "Spotify Extended Streaming History/Streaming_History_Video_2022-2024.json",
    ],
)
def test_video_history_is_out_of_scope(name):
    # Its records have the audio files' fields (Spotify's Read Me First): only the name tells.
    with pytest.raises(NotIngested) as err:
        land((HISTORY / "Streaming_History_Video_2024.json").read_bytes(), name)
    assert err.value.reason == "video history: out of scope"


@pytest.mark.parametrize(
    "name",
    [
        "Userdata.json",
        "Playlist1.json",
        "Inferences.json",
        "SearchQueries.json",
        "Marquee.json",
        "Follow.json",
        "Payments.json",
        "Identity.json",
        "YourLibrary.json",
    ],
)
def test_other_files_of_the_export_are_not_listening_history(name):
    with pytest.raises(NotIngested) as err:
        land((OTHER / name).read_bytes(), f"Spotify Account Data/{name}")
    assert err.value.reason.startswith("not listening history: ")


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (b'{"a": 1}', "notes.json", "top level is a JSON object"),
        (b"[1, 2, 3]", "numbers.json", "no records"),
        (b'[{"foo": 1}, {}]', "things.json", "unknown format"),
        (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
            "ReadMeFirst_ExtendedStreamingHistory.pdf",
            "a PDF document",
        ),  # fmt: skip
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "cover.png", "a PNG image"),
        (
            b"Thank you for your patience while we gathered your data.",
            "Read Me.txt",
            "not JSON",
        ),  # fmt: skip
        (b"ts,ms_played\n2024-01-01,5\n", "plays.csv", "not JSON"),
    ],
)
def test_objects_that_are_not_history_say_why(data, name, words):
    with pytest.raises(NotIngested) as err:
        land(data, name)
    assert err.value.reason.startswith("not listening history: ")
    assert words in err.value.reason


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (ENDSONG[: len(ENDSONG) // 2], "my copy.json", "truncated"),  # told by its content
        (ENDSONG[: len(ENDSONG) // 2], "endsong.json", "truncated"),
        (b"", "endsong.json", "empty file"),
        (b"\x00\x01\x02garbage\xff", "Streaming_History_Audio_2024_0.json", "binary data"),
        (b"<html>Access denied</html>", "StreamingHistory_music_0.json", "not JSON"),
        (b'{"ts": "2024-01-01T00:00:00Z", "ms_played": 5}', "my copy.json", "JSON object"),
        (b'[{"ts": "2024-01-01T00:00:00Z"}]', "my copy.json", "unknown format"),
        (b"%PDF-1.7", "endsong_2.json", "a PDF document"),
    ],
)
def test_unreadable_files_meant_as_history_are_bad_files(data, name, words):
    with pytest.raises(BadFile) as err:
        land(data, name)
    assert not isinstance(err.value, NotIngested)
    assert words in err.value.reason


@pytest.mark.parametrize("name", ["Streaming_History_Audio_2024_0.json", "my copy.json"])
def test_an_empty_array_is_a_valid_empty_file(name):
    p = land(b"[ ]\n", name)
    assert p.table.num_rows == 0 and p.table.schema == STREAMS_SCHEMA
    assert (p.info["records"], p.info["min_ts"]) == (0, None)


# ----------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("codec", "bom", "label"),
    [
        ("utf-8", b"\xef\xbb\xbf", "UTF-8 with BOM"),
        ("utf-16-le", b"\xff\xfe", "UTF-16 LE with BOM"),
        ("utf-16-be", b"\xfe\xff", "UTF-16 BE with BOM"),
        ("utf-16-le", b"", "UTF-16 LE (no BOM)"),
        ("utf-16-be", b"", "UTF-16 BE (no BOM)"),
        ("utf-32-le", b"\xff\xfe\x00\x00", "UTF-32 LE with BOM"),
    ],
)
def test_utf16_and_other_unicode_encodings_are_read(codec, bom, label):
    text = ENDSONG.decode("utf-8")
    p = land(bom + text.encode(codec), "endsong_0.json")
    plain = land(ENDSONG, "endsong_0.json")
    assert p.table.equals(plain.table)
    assert p.info["encoding"] == label
    # Non-ASCII names survive the decoding.
    music = (HISTORY / "StreamingHistory_music_0.json").read_bytes().decode()
    p = land(bom + music.encode(codec), "StreamingHistory_music_0.json")
    assert "Beyoncé" in col(p, "artist_name")


def test_utf16_that_does_not_decode_is_refused_naming_the_encoding():
    data = b"\xff\xfe" + "[{}]".encode("utf-16-le") + b"\x00\xd8"  # a lone high surrogate
    with pytest.raises(BadFile) as err:
        land(data, "Streaming_History_Audio_2024_0.json")
    assert "not UTF-16 LE" in err.value.reason


def test_latin1_is_refused_naming_the_encoding():
    data = json.dumps([account(artist="Beyoncé")], ensure_ascii=False).encode("latin-1")
    with pytest.raises(BadFile) as err:
        land(data, "StreamingHistory_music_0.json")
    assert "not UTF-8: byte 0xe9" in err.value.reason


def test_good_files_take_the_columnar_path(monkeypatch):
    def no_slow_path(data):
        raise AssertionError("the per-record path was taken")

    monkeypatch.setattr(export_files, "_read_per_record", no_slow_path)
    assert land(ENDSONG, "endsong.json").table.num_rows == 5
    assert land(b"\xff\xfe" + ENDSONG.decode().encode("utf-16-le"), "x.json").table.num_rows == 5
    assert land(zip_of({"a/endsong.json": ENDSONG}), "x.zip").table.num_rows == 5
    # Nor do other arrays of records, however large (a technical log, SearchQueries.json).
    with pytest.raises(NotIngested):
        land((OTHER / "SearchQueries.json").read_bytes(), "SearchQueries.json")


# --------------------------------------------------------------- old mixed account data


@pytest.mark.parametrize(
    "name", ["StreamingHistory0.json", "StreamingHistory3.json", "history copy.json"]
)
def test_old_mixed_files_are_music_plays_flagged_mixed(name):
    p = land(MIXED, name)
    assert col(p, "content_type") == ["music", "music"]
    assert col(p, "mixed_history") == [True, True]
    assert col(p, "artist_name") == ["Queen", "Night Shift Stories"]  # the show hides here
    assert p.info["mixed_history_rows"] == 2


def test_files_that_tell_their_kind_are_not_mixed():
    music = land(
        (HISTORY / "StreamingHistory_music_0.json").read_bytes(), "x/StreamingHistory_music_0.json"
    )
    name = "StreamingHistory_podcast_0.json"
    podcast = land((HISTORY / name).read_bytes(), name)
    assert col(music, "mixed_history") == [False] * 3
    assert col(podcast, "content_type") == ["podcast"] * 2
    assert col(podcast, "mixed_history") == [False] * 2
    assert set(col(land(ENDSONG, "endsong.json"), "mixed_history")) == {None}


def test_account_data_audiobooks_are_audiobooks_with_their_names():
    """StreamingHistory_audiobook_N.json (account data since 2023): audiobooks, with book,
    chapter and author (an older vintage has no authorName), never 'unknown'; two chapters
    of two books at the same minute and length stay two plays."""
    name = "StreamingHistory_audiobook_0.json"
    p = land((HISTORY / name).read_bytes(), f"x/{name}")
    assert set(col(p, "content_type")) == {"audiobook"}
    assert col(p, "audiobook_title")[:2] == ["Frankenstein", "Frankenstein"]
    assert col(p, "audiobook_chapter_title")[:2] == ["Letter 1", "Chapter 1"]
    assert col(p, "audiobook_author") == [*["Mary Shelley"] * 3, "Bram Stoker", "Jane Austen", None]
    assert set(col(p, "track_name")) == {None} and set(col(p, "episode_name")) == {None}
    assert p.info.get("duplicates_in_file", 0) == 0 and p.table.num_rows == 6
    # Content decides, not the name: the same records under a neutral name are audiobooks too.
    renamed = land((HISTORY / name).read_bytes(), "x/history.json")
    assert set(col(renamed, "content_type")) == {"audiobook"}


def test_account_data_video_history_is_not_ingested():
    with pytest.raises(NotIngested, match="video history"):
        land(
            (HISTORY / "StreamingHistory_video_0.json").read_bytes(),
            "StreamingHistory_video_0.json",
        )


def test_podcast_records_in_a_mixed_file_are_podcasts_not_flagged():
    records = [
        account(),
        {
            "endTime": "2021-01-02 04:00",
            "podcastName": "Show",
            "episodeName": "E1",
            "msPlayed": 5,
        },  # fmt: skip
    ]
    p = land(json.dumps(records).encode(), "StreamingHistory1.json")
    assert col(p, "content_type") == ["music", "podcast"]
    assert col(p, "mixed_history") == [True, False]


# ---------------------------------------------------------------- values that cannot be true


@pytest.mark.parametrize(
    ("ms_played", "accepted"),
    [
        (MAX_MS_PLAYED, True),  # a whole day: the longest play believed
        (3 * 3_600_000 + 41_000, True),  # a long podcast episode
        (MAX_MS_PLAYED + 1, False),
        (9_000_000_000_000_000, False),
        (9e15, False),
        ("9e15", False),
    ],
)
def test_ms_played_is_bounded(ms_played, accepted):
    p = land(json.dumps([rec(), rec(ms_played=ms_played)]).encode(), "endsong.json")
    assert p.table.num_rows == (2 if accepted else 1)
    if not accepted:
        [r] = p.rejected
        assert r.record_index == 1
        assert r.reason.startswith("ms_played above 24 h (86400000 ms), longer than a play can")
        assert p.info["rejected_by_reason"] == {
            "ms_played above 24 h (86400000 ms), longer than a play can last": 1
        }


def test_account_data_ms_played_is_bounded_too():
    p = land(json.dumps([account(), account(msPlayed=9 * 10**15)]).encode(), "Streaming.json")
    assert [r.reason.split(":")[0] for r in p.rejected] == [
        "msPlayed above 24 h (86400000 ms), longer than a play can last"
    ]


@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        ("2008-10-07T00:00:00Z", None),  # launch day
        ("2008-10-06T23:59:59Z", "ts before Spotify's launch (2008-10-07): '2008-10-06T23:59:59Z'"),
        ("1970-01-01T00:00:00Z", "ts before Spotify's launch (2008-10-07): '1970-01-01T00:00:00Z'"),
        ("2024-06-01T12:59:59Z", None),  # within the clock-skew allowance
        (
            "2024-06-01T13:00:01Z",
            "ts after the file landed (2024-06-01T12:00:00+00:00, allowing 1 h of clock skew): "
            "'2024-06-01T13:00:01Z'",
        ),
        (
            "2031-01-01T00:00:00Z",
            "ts after the file landed (2024-06-01T12:00:00+00:00, allowing 1 h of clock skew): "
            "'2031-01-01T00:00:00Z'",
        ),
    ],
)
def test_ts_must_fall_between_spotifys_launch_and_the_landing(ts, reason):
    p = land(json.dumps([rec(), rec(ts=ts)]).encode(), "endsong.json", landed_at=LANDED)
    assert [r.reason for r in p.rejected] == ([reason] if reason else [])
    assert p.table.num_rows == (1 if reason else 2)


def test_without_landed_at_only_the_far_future_is_refused():
    records = [rec(ts="2031-01-01T00:00:00Z"), rec(ts="2100-01-01T00:00:00Z")]
    p = land(json.dumps(records).encode(), "endsong.json")
    assert [r.reason for r in p.rejected] == ["ts out of range: '2100-01-01T00:00:00Z'"]


def test_account_data_end_times_are_bounded_too():
    records = [account(endTime="2007-05-01 10:00"), account(endTime="2024-06-02 10:00"), account()]
    p = land(json.dumps(records).encode(), "StreamingHistory_music_0.json", landed_at=LANDED)
    assert [r.reason.split(" (")[0] for r in p.rejected] == [
        "endTime before Spotify's launch",
        "endTime after the file landed",
    ]
    assert p.info["accepted"] == 1


def test_a_naive_landed_at_is_taken_as_utc():
    naive = LANDED.replace(tzinfo=None)
    p = land(json.dumps([rec(ts="2024-06-01T13:30:00Z")]).encode(), "e.json", landed_at=naive)
    assert len(p.rejected) == 1


# ------------------------------------------------------------------------------------ zips


ACC = "my_spotify_data/Spotify Account Data"
EXT = "my_spotify_data/Spotify Extended Streaming History"
AUDIO = "Streaming_History_Audio_2023-2024_3.json"
VIDEO = "Streaming_History_Video_2024.json"
README = "ReadMeFirst_ExtendedStreamingHistory.pdf"


def export_zip() -> bytes:
    """An export as downloaded: two packages' folders, history and the rest, macOS litter."""
    return zip_of(
        {
            "my_spotify_data/": b"",
            f"{ACC}/": b"",
            **{f"{ACC}/{p.name}": p.read_bytes() for p in OTHER.iterdir()},
            f"{ACC}/StreamingHistory0.json": MIXED,
            f"{EXT}/endsong.json": ENDSONG,
            f"{EXT}/{AUDIO}": (HISTORY / AUDIO).read_bytes(),
            f"{EXT}/{VIDEO}": (HISTORY / VIDEO).read_bytes(),
            f"{EXT}/{README}": b"%PDF-1.7\n",
            "__MACOSX/my_spotify_data/._Userdata.json": b"\x00\x05\x16\x07\x00\x02\x00\x00",
            "my_spotify_data/.DS_Store": b"\x00\x00\x00\x01Bud1",
        }
    )


def test_a_zip_is_opened_and_each_member_parsed_as_if_dropped_alone():
    data = export_zip()
    p = land(data, "my_spotify_data.zip", landed_at=LANDED)
    ext, acc = f"alice/my_spotify_data.zip/{EXT}", f"alice/my_spotify_data.zip/{ACC}"
    counts = {f: col(p, "source_file").count(f) for f in set(col(p, "source_file"))}
    assert counts == {
        f"{ext}/endsong.json": 5,
        f"{ext}/{AUDIO}": 4,
        f"{acc}/StreamingHistory0.json": 2,
    }
    assert set(col(p, "user_id")) == {"alice"}
    assert col(p, "ts") == sorted(col(p, "ts"))
    # The same rows as the file dropped alone.
    alone = land(ENDSONG, "endsong.json")
    mine = p.table.filter(pc.equal(p.table["source_file"], f"{ext}/endsong.json"))
    assert mine.drop_columns(["source_file"]).equals(alone.table.drop_columns(["source_file"]))
    reasons = dict(p.not_ingested)
    assert reasons["__MACOSX/my_spotify_data/._Userdata.json"] == "macOS metadata"
    assert reasons["my_spotify_data/.DS_Store"] == "macOS metadata"
    assert reasons[f"{EXT}/{VIDEO}"] == "video history: out of scope"
    assert "a PDF document" in reasons[f"{EXT}/{README}"]
    for other in OTHER.iterdir():
        assert reasons[f"{ACC}/{other.name}"].startswith("not listening history: ")
    # Every member that holds bytes is accounted for; folders are skipped.
    files = [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if not n.endswith("/")]
    assert sorted(p.info["members"]) == sorted(files)
    assert set(p.info["members"]) == set(reasons) | {
        f.removeprefix("alice/my_spotify_data.zip/") for f in counts
    }
    info = p.info
    assert info["format"] == "zip"
    assert info["formats"] == ["account_data", "extended"]
    assert (info["records"], info["accepted"], info["rejected"]) == (11, 11, 0)
    assert (info["ingested_members"], info["bad_members"]) == (3, 0)
    assert info["not_ingested_members"] == len(reasons)
    assert info["mixed_history_rows"] == 2
    assert info["min_ts"] == "2019-03-02T18:04:11+00:00"
    member = info["members"]["my_spotify_data/Spotify Extended Streaming History/endsong.json"]
    assert (member["status"], member["records"], member["bytes"]) == ("ingested", 5, len(ENDSONG))
    json.dumps(info)  # JSON-able, for the manifest


def test_rejected_records_of_a_member_name_the_member():
    bad = json.dumps([rec(), rec(ms_played=-1), rec(ts="2031-01-01T00:00:00Z")]).encode()
    p = land(zip_of({"h/endsong.json": bad, "other.json": ENDSONG}), "x.zip", landed_at=LANDED)
    assert [(r.source_file, r.record_index) for r in p.rejected] == [
        ("alice/x.zip/h/endsong.json", 1),
        ("alice/x.zip/h/endsong.json", 2),
    ]
    assert (p.info["records"], p.info["accepted"], p.info["rejected"]) == (8, 6, 2)


def test_an_unreadable_member_is_listed_and_the_others_are_kept():
    data = zip_of(
        {"a/endsong_0.json": ENDSONG[:100], "a/endsong_1.json": ENDSONG, "inner.zip": zip_of({})}
    )
    p = land(data, "x.zip")
    assert p.table.num_rows == 5
    reasons = dict(p.not_ingested)
    assert reasons["a/endsong_0.json"].startswith("unreadable: truncated JSON")
    assert reasons["inner.zip"].startswith("nested zip: not opened")
    assert p.info["bad_members"] == 1
    assert p.info["members"]["a/endsong_0.json"]["status"] == "bad"


def test_a_member_whose_bytes_fail_their_crc_is_unreadable():
    data = bytearray(zip_of({"a.json": ENDSONG, "b.json": MIXED}, zipfile.ZIP_STORED))
    at = data.index(b"Queen")
    data[at] ^= 0x20  # one flipped bit in the stored bytes of b.json
    p = land(bytes(data), "x.zip")
    assert p.table.num_rows == 5
    assert "CRC" in dict(p.not_ingested)["b.json"]


def test_a_zip_of_no_history_is_not_ingested_and_says_why_member_by_member():
    """Not an export with 0 plays (accepted, every check passing): an empty zip, a zip of
    the export's other files, a zip holding only a zip are not ingested, with the reason."""
    with pytest.raises(NotIngested, match="no listening history in this zip .Userdata.json: "):
        land(zip_of({"Userdata.json": (OTHER / "Userdata.json").read_bytes()}), "x.zip")
    with pytest.raises(NotIngested, match="an empty zip"):
        land(zip_of({}), "empty.zip")  # only an end-of-directory record: PK\x05\x06
    inner = zip_of({"Streaming_History_Audio_2024_0.json": b"[]"})
    with pytest.raises(NotIngested, match="nested zip: not opened .unzip it"):
        land(zip_of({"my_spotify_data.zip": inner}), "outer.zip")
    with pytest.raises(BadFile, match="no readable listening history"):
        land(zip_of({"Streaming_History_Audio_2024_0.json": b'[{"ts": "2024-01-0'}), "t.zip")


@pytest.mark.parametrize(
    ("member", "words"),
    [
        ("../evil.json", "path traversal"),
        ("my_spotify_data/../../evil.json", "path traversal"),
        ("..\\evil.json", "path traversal"),
        ("/etc/evil.json", "an absolute path"),
        ("C:\\Users\\evil.json", "an absolute path"),
    ],
)
def test_a_zip_with_an_unsafe_member_name_is_refused_whole(member, words):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("endsong.json", ENDSONG)
        info = zipfile.ZipInfo("placeholder")
        info.filename = member  # ZipInfo() would normalise the name: write it as attackers do
        zf.writestr(info, ENDSONG)
    with pytest.raises(BadFile) as err:
        land(buf.getvalue(), "x.zip")
    assert "unsafe zip refused" in err.value.reason and words in err.value.reason


def test_a_zip_bomb_is_refused_by_its_declared_ratio():
    bomb = zip_of(
        {"endsong.json": ENDSONG, "Streaming_History_Audio_2024_0.json": b" " * (64 << 20)}
    )
    assert len(bomb) < 1 << 20
    with pytest.raises(BadFile) as err:
        land(bomb, "x.zip")
    assert "zip bomb refused" in err.value.reason and "a ratio above 100" in err.value.reason


def test_zip_limits_on_size_count_and_total():
    data = zip_of({f"f{i}.json": ENDSONG for i in range(4)})
    cases = [
        (ZipLimits(members=3), "4 members, more than the 3 allowed"),
        (ZipLimits(member_bytes=len(ENDSONG) - 1), f"declares {len(ENDSONG)} bytes"),
        (ZipLimits(total_bytes=3 * len(ENDSONG)), "declare 17344 bytes in all"),
    ]
    for limits, words in cases:
        with pytest.raises(BadFile) as err:
            parse_export_zip(data, source_file="u/x.zip", user_id="u", limits=limits)
        assert words in err.value.reason, limits
    ok = parse_export_zip(data, source_file="u/x.zip", user_id="u", limits=ZipLimits(members=4))
    assert ok.table.num_rows == 20


def test_reading_stops_at_the_limit_whatever_the_member_declares():
    zf = zipfile.ZipFile(io.BytesIO(zip_of({"a.json": b"[" + b" " * (4 << 20) + b"]"})))
    entry = zf.infolist()[0]
    with pytest.raises(BadFile) as err:
        read_member(zf, entry, ZipLimits(member_bytes=1 << 20, ratio=1e9))
    assert "more than 1048576 bytes inflated" in err.value.reason
    with pytest.raises(BadFile) as err:
        read_member(zf, entry, ZipLimits(ratio=2.0, ratio_floor=1))  # a lie about compression
    assert "times its" in err.value.reason
    budget = [2 << 20]  # what the zip's earlier members left
    with pytest.raises(BadFile) as err:
        read_member(zf, entry, ZipLimits(ratio=1e9), budget)
    assert "in all" in err.value.reason
    assert len(read_member(zf, entry, ZipLimits(ratio=1e9))) == (4 << 20) + 2


def _central_records(data: bytes) -> list[int]:
    """Offsets of the central-directory records of a zip written by zipfile."""
    out, at = [], data.find(b"PK\x01\x02")
    while at != -1:
        out.append(at)
        at = data.find(b"PK\x01\x02", at + 4)
    return out


def test_overlapping_members_are_refused():
    data = bytearray(zip_of({"a.json": ENDSONG, "b.json": ENDSONG}))
    second = _central_records(bytes(data))[1]
    data[second + 42 : second + 46] = struct.pack("<I", 0)  # b.json's data is a.json's
    with pytest.raises(BadFile) as err:
        land(bytes(data), "x.zip")
    assert "overlap" in err.value.reason


def test_an_encrypted_zip_is_refused():
    data = bytearray(zip_of({"endsong.json": ENDSONG}))
    data[6] |= 0x1  # the local header's encryption flag
    central = _central_records(bytes(data))[0]
    data[central + 8] |= 0x1  # and the central directory's
    with pytest.raises(BadFile) as err:
        land(bytes(data), "x.zip")
    assert "encrypted zip refused" in err.value.reason


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04" + b"\x00" * 200,
        zip_of({"endsong.json": ENDSONG})[:-30],  # cut inside the central directory
    ],
)
def test_a_corrupt_zip_is_refused(data):
    with pytest.raises(BadFile) as err:
        land(data, "x.zip")
    assert "not a readable zip" in err.value.reason


def test_a_deflate_stream_that_is_garbage_makes_the_member_unreadable():
    data = bytearray(zip_of({"a.json": ENDSONG, "b.json": MIXED}))
    header = data.index(b"b.json")  # its local header's name; the data follows
    start = header + len("b.json")
    data[start : start + 20] = bytes(range(200, 220))
    p = land(bytes(data), "x.zip")
    assert p.table.num_rows == 5
    assert dict(p.not_ingested)["b.json"].startswith("unreadable: ")


# -------------------------------------------------------------------------------- user ids


@pytest.mark.parametrize("folder", ["alice", "bob.smith", "a_b-c+d@example.com", "X" * 128])
def test_a_safe_folder_name_is_the_user_id(folder):
    assert user_id_for_folder(folder) == folder


@pytest.mark.parametrize(
    ("folder", "prefix"),
    [
        ("José", "Jose-"),
        ("john doe", "john-doe-"),
        ("名前", "user-"),
        ("a/b", "a-b-"),
        ("..", "user-"),
        (".", "user-"),
        ("", "user-"),
        ("Zoë & Ана", "Zoe-"),
        ("X" * 129, "X" * 64 + "-"),
    ],
)
def test_any_other_folder_name_gets_a_readable_safe_stable_id(folder, prefix):
    uid = user_id_for_folder(folder)
    assert uid.startswith(prefix)
    assert SAFE_USER_ID.match(uid) and uid not in (".", "..")
    assert len(uid) == len(prefix) + 8
    assert user_id_for_folder(folder) == uid  # stable


def test_user_ids_never_collide_and_ignore_the_unicode_normal_form():
    names = [
        "José",
        "Jose",
        "jose",
        "JOSÉ",
        "josé",
        "john doe",
        "john  doe",
        "john_doe",
        "名前",
        "名",
    ]
    ids = [user_id_for_folder(n) for n in names]
    assert len(set(ids)) == len(names)
    decomposed = "Jose\u0301"  # how macOS spells José
    assert user_id_for_folder(decomposed) == user_id_for_folder("José")
    assert user_id_for_folder("José") == "Jose-24c2ab65"  # the same on every machine, forever


def test_zip_and_file_entry_points_keep_personal_data_out():
    secrets = ["84.216.12.34", "jdoe1987", "Mozilla/5.0"]
    records = [rec(ip_addr_decrypted="84.216.12.34", username="jdoe1987",
                   user_agent_decrypted="Mozilla/5.0", ms_played=10**17)]  # fmt: skip
    p = land(zip_of({"h/endsong.json": json.dumps(records).encode()}), "x.zip")
    text = json.dumps([p.table.to_pylist(), [r.__dict__ for r in p.rejected], p.info], default=str)
    assert len(p.rejected) == 1
    for secret in secrets:
        assert secret not in text


def test_landed_at_far_in_the_past_rejects_everything_with_reasons():
    p = land(ENDSONG, "endsong.json", landed_at=datetime(2019, 1, 1, tzinfo=UTC) - timedelta(1))
    assert p.table.num_rows == 0 and len(p.rejected) == 5
    assert p.info["rejected_by_reason"] == {
        "ts after the file landed (2018-12-31T00:00:00+00:00, allowing 1 h of clock skew)": 5
    }

"""Last.fm and ListenBrainz exports of every shape people have (the real-shaped files of
``fixtures/scrobbles/``), landed in a listener's folder: every record is accounted for
(a scrobble, a rejection with its reason, or a now-playing row that is no play), against an
independent reading of each file with the standard library; files that are not what they
should be (API errors, an HTML page, an empty page) are rejected with the reason."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spotify_assets.lib.landing import BadFile, NotIngested, failing_checks
from spotify_assets.lib.listening.history_zone import STREAMING_HISTORY_ZONE, summarise
from spotify_assets.lib.listening.scrobble_files import scrobble_kind
from spotify_assets.lib.listening.sources import NAME_KEYED_FORMATS

FIXTURES = Path(__file__).parent / "fixtures" / "scrobbles"
LANDED_AT = datetime(2026, 12, 1, tzinfo=UTC)


def land(name: str, data: bytes | None = None):
    data = FIXTURES.joinpath(name).read_bytes() if data is None else data
    context = STREAMING_HISTORY_ZONE.context(f"example_user/{name}", LANDED_AT)
    return STREAMING_HISTORY_ZONE.parse(data, context)


# ------------------------------------------------------------------------------------------
# An independent reading: (plays as (start, artist, title), now playing, broken records)
# ------------------------------------------------------------------------------------------

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def text_date(text: str) -> float:
    day, mon, year, hm = text.replace(",", "").split()
    h, m = hm.split(":")
    return datetime(int(year), MONTHS.index(mon) + 1, int(day), int(h), int(m),
                    tzinfo=UTC).timestamp()  # fmt: skip


def read_csv(data: bytes, name: str) -> tuple[list, int, int]:
    text = data.decode("utf-8")
    plays, now, bad = [], 0, 0
    if name == "exported_tracks.txt":  # uts, track, artist, album, mbids
        rows = [line.split("\t") for line in text.splitlines() if line]
        return [(float(r[0]), r[2], r[1]) for r in rows], 0, 0
    if name.startswith("recenttracks-"):  # lastfm.ghan.nl
        rows = csv.DictReader(io.StringIO(text))
        return [(float(r["uts"]), r["artist"], r["track"]) for r in rows], 0, 0
    if name.startswith("scrobbles_uts"):
        return [(float(u), a, t) for u, a, _, t in csv.reader(io.StringIO(text))], 0, 0
    lines = text.splitlines()[1 if "with_header" in name else 0 :]
    for line in lines:
        artist, _album, title, date = line.split(",")
        if not date:
            now += 1
        elif text_date(date) < datetime(2002, 1, 1, tzinfo=UTC).timestamp():
            bad += 1
        else:
            plays.append((text_date(date), artist, title))
    return plays, now, bad


def read_lastfm_pages(doc) -> tuple[list, int, int]:
    tracks = doc["recenttracks"]["track"]
    plays, now = [], 0
    for t in [tracks] if isinstance(tracks, dict) else tracks:
        if "date" not in t:
            now += 1
            continue
        artist = t["artist"].get("#text", t["artist"].get("name"))
        plays.append((float(t["date"]["uts"]), artist, t["name"]))
    return plays, now, 0


def read_listens(listens) -> tuple[list, int, int]:
    plays, now = [], 0
    for listen in listens:
        if "listened_at" not in listen:
            now += 1
            continue
        meta = listen["track_metadata"]
        start = float(listen["listened_at"]) - meta["additional_info"].get("ms_played", 0) / 1000
        plays.append((start, meta["artist_name"], meta["track_name"]))
    return plays, now, 0


def read_zip(data: bytes) -> tuple[list, int, int]:
    plays = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for member in zf.namelist():
            body = zf.read(member).decode()
            if member.startswith("listens/"):
                plays += read_listens([json.loads(x) for x in body.splitlines() if x])[0]
            elif member.endswith("scrobbles.tsv"):
                for r in csv.DictReader(io.StringIO(body), delimiter="\t"):
                    artist = r["artist name"] or r["uncorrected artist name"]
                    plays.append((float(r["unixtime"]), artist,
                                  r["track name"] or r["uncorrected track name"]))  # fmt: skip
            elif member.startswith("json/scrobbles/"):
                for e in json.loads(body):
                    t = e["track"]
                    plays.append((float(e["timestamp"]["unixtimestamp"]), t["artist"]["name"],
                                  t["name"]))  # fmt: skip
    return plays, 0, 0


def read_independently(name: str) -> tuple[list, int, int]:
    data = FIXTURES.joinpath(name).read_bytes()
    if name.endswith(".zip"):
        return read_zip(data)
    if not name.endswith(".json"):
        return read_csv(data, name)
    doc = json.loads(data)
    if isinstance(doc, dict) and "recenttracks" in doc:
        return read_lastfm_pages(doc)
    if isinstance(doc, list):
        return read_listens(doc)
    payload = doc.get("payload", doc)
    return read_listens(payload["listens"] if isinstance(payload, dict) else payload)


READABLE = sorted(
    p.name
    for p in FIXTURES.iterdir()
    if p.name
    not in {
        "README.md",
        "error_429.json",
        "error_8_operation_failed.json",
        "recenttracks_example_user_page3.json",
        "recenttracks_example_user_page4.json",
    }
)


@pytest.mark.parametrize("name", READABLE)
def test_every_record_is_accounted_for(name):
    parsed = land(name)
    plays, now_playing, broken = read_independently(name)
    got = [
        (round(r["ts"].timestamp(), 3), r["artist_name"], r["track_name"])
        for r in parsed.table.select(["ts", "artist_name", "track_name"]).to_pylist()
    ]
    assert sorted(got) == sorted((round(t, 3), a, n) for t, a, n in plays)
    assert len(parsed.rejected) == broken
    assert parsed.info["now_playing"] == now_playing
    assert parsed.info["records"] == len(plays) + broken  # now-playing rows are no records
    assert set(parsed.table.column("source_format").to_pylist()) <= {"lastfm", "listenbrainz"}
    # Scrobbles from 2008 and 2013 (Last.fm's archive) are plausible: scrobbling began in 2002.
    manifest = {**parsed.info, **summarise(parsed), "status": "accepted"}
    assert failing_checks(manifest, STREAMING_HISTORY_ZONE.checks) == {}


def test_what_each_shape_gives():
    broken = land("example_user.csv").rejected
    assert [r.reason for r in broken] == [
        "before 2002, when scrobbling began (a broken time): 1970-01-01T00:00:00+00:00"
    ]
    assert broken[0].record_index == 16 and "Peter Maffay" in broken[0].raw_excerpt
    rows = land("example_user.csv").table.to_pylist()
    assert {r["artist_name"] for r in rows} >= {"Tyler The Creator", "Myrkur", "Beyoncé"}
    assert next(r for r in rows if r["artist_name"] == "Myrkur")["album_name"] is None
    # lastexport.py writes the track before the artist
    tsv = land("exported_tracks.txt").table.to_pylist()
    assert ("Tame Impala", "Endors Toi") in {(r["artist_name"], r["track_name"]) for r in tsv}
    # extended=1 pages name the artist with "name"; a single result is an object
    ext = land("recenttracks_example_user_extended1_page1.json").table.to_pylist()
    assert {r["artist_name"] for r in ext} == {"Tame Impala"}
    assert land("recenttracks_example_user_limit1_track_object.json").table.num_rows == 1
    # ListenBrainz: spotify_id as a full URL; durations given in ms or in seconds; a listen
    # imported from Spotify's history is stamped at its end and keeps its ms_played
    lb = {r["track_name"]: r for r in land("example_user_lb-2024-10-02.json").table.to_pylist()}
    assert lb["Ghost"]["track_id"] == "6I3mqTwhRpn34SLVafSH7G"
    assert lb["Some Resolve"]["ms_played"] == 282_000  # "duration": 282
    motherboard = lb["Motherboard (Drumless Edition)"]
    assert motherboard["ms_played"] == 341_853
    assert motherboard["ts"].timestamp() == pytest.approx(1727870409 - 341.853)
    assert motherboard["track_id"] == "5nuJ5frI7lmdPYjgyoBrqm"  # its origin_url, spotify.com


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("error_8_operation_failed.json", "a Last.fm API error saved as a page: error 8"),
        ("error_429.json", "a ListenBrainz API error saved as a page: 429"),
        ("recenttracks_example_user_page3.json", "an HTML page (502 Bad Gateway)"),
        ("recenttracks_example_user_page4.json", "empty file"),
    ],
)
def test_error_pages_saved_as_json_are_rejected_with_the_reason(name, words):
    with pytest.raises(BadFile) as err:
        land(name)
    assert not isinstance(err.value, NotIngested)
    assert words in err.value.reason and "download" in err.value.reason


def test_zips_list_what_they_do_not_take():
    lb = land("listenbrainz_example_user_1786200000.zip")
    assert dict(lb.not_ingested) == {
        "user.json": "ListenBrainz account (user.json): not listening history",
        "feedback.jsonl": "ListenBrainz feedback (loved and hated recordings): not listening "
        "history",
        "pinned_recording.jsonl": "ListenBrainz pinned recordings: not listening history",
    }
    archive = land("lastfm_archive_example_user.zip")
    assert [n for n, _ in archive.not_ingested] == ["README.txt"]
    # the archive holds the same scrobbles as TSV and as JSON: both land, as one play each
    assert archive.table.num_rows == 10 and archive.info["earliest_play"] == "2002-01-01"


def test_spotify_files_are_not_taken_for_scrobbles():
    spotify = Path(__file__).parent / "fixtures" / "streaming_history"
    for path in spotify.glob("*.json"):
        assert scrobble_kind(path.read_bytes(), path.name) is None, path.name


def test_the_lookups_search_the_names_of_every_names_only_format():
    from spotify_assets.lib.catalog.lookups import NAMES_ONLY_FORMATS

    assert NAMES_ONLY_FORMATS == NAME_KEYED_FORMATS


def test_an_undated_row_is_the_track_playing_now_only_where_a_tool_writes_one():
    v2 = FIXTURES.joinpath("example_user_with_header.csv").read_bytes()
    header, rest = v2.split(b"\n", 1)
    with_now = land("v2.csv", header + b"\nTame Impala,Lonerism,Apocalypse Dreams,\n" + rest)
    assert (with_now.info["now_playing"], len(with_now.rejected)) == (1, 0)
    ghan = FIXTURES.joinpath("recenttracks-example_user-1720689000.csv").read_bytes()
    bad = ghan + b'"","","Someone","","","","bad row",""\r\n'
    parsed = land("recenttracks-example_user-1.csv", bad)
    assert parsed.info["now_playing"] == 0
    assert [r.reason for r in parsed.rejected] == ["no time"]
    assert parsed.info["records"] == 9

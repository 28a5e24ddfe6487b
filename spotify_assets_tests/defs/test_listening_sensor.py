"""The landing-zone sensor on an ephemeral instance: cursor, run keys, batches, skip
reasons, on a local lake and on S3 (moto)."""

from __future__ import annotations

import os
import time

import dagster as dg
import orjson
import pytest

from spotify_assets.defs.listening.history_files import STREAMING_HISTORY
from spotify_assets.lib.landing import content_id
from spotify_assets.lib.listening.history_zone import STREAMING_HISTORY_ZONE
from spotify_assets.resources import LakeResource
from spotify_assets_tests.support.landing import Landing, batch_files

EXPORT = b'[{"ts": "2024-01-01T10:00:00Z", "ms_played": 1000}]'


class Tick(Landing):
    """Evaluates the sensor like the daemon does: cursor carried over, batches added."""

    def __init__(self, lake: LakeResource) -> None:
        super().__init__(STREAMING_HISTORY, {"lake": lake})

    def __call__(self) -> dg.SensorResult:
        return self.tick()


def batches(tick: Tick, result: dg.SensorResult) -> list[list[str]]:
    return [batch_files(tick.resources["lake"], tick.zone, r) for r in result.run_requests or []]


@pytest.fixture
def local_lake(tmp_path):
    return LakeResource(url=str(tmp_path / "lake"))


def drop(lake: LakeResource, rel: str, data: bytes = EXPORT) -> None:
    lake.store().put_bytes(f"landing/streaming_history/{rel}", data)


def test_first_tick_requests_every_file_in_one_batched_run(local_lake):
    drop(local_lake, "alice/Streaming_History_Audio_2023_0.json")
    drop(local_lake, "alice/Streaming_History_Audio_2024_1.json")
    drop(local_lake, "bob/StreamingHistory_music_0.json")
    tick = Tick(local_lake)
    result = tick()
    assert batches(tick, result) == [
        [
            "alice/Streaming_History_Audio_2023_0.json",
            "alice/Streaming_History_Audio_2024_1.json",
            "bob/StreamingHistory_music_0.json",
        ]
    ]
    [request] = result.run_requests
    assert request.run_key == f"streaming_history:{request.partition_key}"
    assert result.dynamic_partitions_requests[0].partition_keys == [request.partition_key]
    again = tick()
    assert not again.run_requests
    assert "Nothing new to take" in str(again.skip_reason) and "1 batches in flight" in str(
        again.skip_reason
    )


def test_touched_file_is_not_rerun_but_changed_content_is(local_lake):
    drop(local_lake, "alice/Streaming_History_Audio_2023_0.json")
    tick = Tick(local_lake)
    first = tick()
    # What the asset records when it processes the file: the version of its bytes.
    _, manifest_key, _ = STREAMING_HISTORY_ZONE.processed_keys(
        "alice/Streaming_History_Audio_2023_0.json"
    )
    local_lake.store().put_bytes(manifest_key, orjson.dumps({"version": content_id(EXPORT)}))
    path = local_lake.store().path(
        "landing/streaming_history/alice/Streaming_History_Audio_2023_0.json"
    )
    later = time.time() + 5
    os.utime(path, (later, later))  # touched: same bytes
    assert not tick().run_requests
    drop(local_lake, "alice/Streaming_History_Audio_2023_0.json", EXPORT.replace(b"1000", b"2000"))
    changed = tick()
    assert batches(tick, changed) == [["alice/Streaming_History_Audio_2023_0.json"]]
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key


def test_files_landing_in_the_same_second_are_all_taken(local_lake):
    tick = Tick(local_lake)
    drop(local_lake, "alice/Streaming_History_Audio_2023_0.json")
    tick()
    stamp = time.time() - 3600  # older than the first file: a copy that kept its mtime
    for name in ("Streaming_History_Audio_2024_1.json", "Streaming_History_Audio_2024_2.json"):
        drop(local_lake, f"alice/{name}")
        os.utime(local_lake.store().path(f"landing/streaming_history/alice/{name}"), (stamp, stamp))
    result = tick()
    assert batches(tick, result) == [
        ["alice/Streaming_History_Audio_2024_1.json", "alice/Streaming_History_Audio_2024_2.json"]
    ]


def test_batches_respect_the_batch_size_in_files_and_bytes(tmp_path):
    local_lake = LakeResource(url=str(tmp_path / "lake"), ingest_batch_files=2)
    for i in range(5):
        drop(local_lake, f"u{i}/endsong_{i}.json")
    tick = Tick(local_lake)
    result = tick()
    assert batches(tick, result) == [
        ["u0/endsong_0.json", "u1/endsong_1.json"],
        ["u2/endsong_2.json", "u3/endsong_3.json"],
        ["u4/endsong_4.json"],
    ]
    assert len({r.run_key for r in result.run_requests}) == 3
    assert len(tick.instance.get_dynamic_partitions(STREAMING_HISTORY.partitions.name)) == 3
    # A changed old file and a new one: one batch, whatever their place in the folder.
    drop(local_lake, "u0/endsong_0.json", b"[]")
    drop(local_lake, "u9/endsong_9.json")
    assert batches(tick, tick()) == [["u0/endsong_0.json", "u9/endsong_9.json"]]
    # About ingest_batch_bytes a batch: a larger file is a batch of its own.
    small = LakeResource(url=str(tmp_path / "lake2"), ingest_batch_bytes=len(EXPORT) * 2)
    drop(small, "a/endsong_0.json")
    drop(small, "a/endsong_1.json")
    drop(small, "a/endsong_2.json", EXPORT * 3)
    drop(small, "a/endsong_3.json")
    other = Tick(small)
    assert batches(other, other()) == [
        ["a/endsong_0.json", "a/endsong_1.json"],
        ["a/endsong_2.json"],
        ["a/endsong_3.json"],
    ]


def test_every_landed_object_is_taken_but_partial_ones(local_lake):
    """Nested folders belong to the top folder's listener; what is not history (a pdf, video
    history) is still taken so that the parser can say why it is not ingested."""
    drop(local_lake, "alice/nested/Streaming_History_Audio_2023_0.json")
    drop(local_lake, "alice/ReadMe.pdf", b"%PDF")
    drop(local_lake, "alice/Streaming_History_Video_2023.json")
    drop(local_lake, "alice/Streaming_History_Audio_2023_0.json.part")
    drop(local_lake, "alice/.DS_Store", b"\0")
    tick = Tick(local_lake)
    assert batches(tick, tick()) == [
        [
            "alice/ReadMe.pdf",
            "alice/Streaming_History_Video_2023.json",
            "alice/nested/Streaming_History_Audio_2023_0.json",
        ]
    ]


def test_s3_landing_zone_uses_etags(moto_endpoint, s3_bucket, s3_client):
    lake = LakeResource(url=f"s3://{s3_bucket}/lake", s3_endpoint_url=moto_endpoint)
    drop(lake, "alice/Streaming_History_Audio_2023_0.json")
    drop(lake, "bob/StreamingHistory_music_0.json")
    tick = Tick(lake)
    assert len(batches(tick, tick())) == 1
    drop(lake, "alice/Streaming_History_Audio_2023_0.json")  # re-uploaded, same bytes
    assert not tick().run_requests
    drop(lake, "bob/StreamingHistory_music_0.json", b"[]")  # re-uploaded, changed
    assert batches(tick, tick()) == [["bob/StreamingHistory_music_0.json"]]

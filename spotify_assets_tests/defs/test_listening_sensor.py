"""The landing-zone sensor on an ephemeral instance: cursor, run keys, batching, skip
reasons, on a local lake and on S3 (moto)."""

from __future__ import annotations

import os
import time

import dagster as dg
import orjson
import pytest

from spotify_assets.defs.landing import RANGE_END, RANGE_START
from spotify_assets.defs.listening.history_files import (
    STREAMING_HISTORY_FILES,
    streaming_history_sensor,
)
from spotify_assets.lib.landing import content_id
from spotify_assets.lib.listening.history_zone import STREAMING_HISTORY_ZONE
from spotify_assets.resources import LakeResource

EXPORT = b'[{"ts": "2024-01-01T10:00:00Z", "ms_played": 1000}]'


class Tick:
    """Evaluates the sensor like the daemon does: cursor carried over, partitions added."""

    def __init__(self, lake: LakeResource) -> None:
        self.lake = lake
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor: str | None = None

    def __call__(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"lake": self.lake}
        )
        result = streaming_history_sensor(context)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(
                STREAMING_HISTORY_FILES.name, request.partition_keys
            )
        return result


def ranges(result: dg.SensorResult) -> list[tuple[str, str]]:
    return [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in result.run_requests or []]


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
    assert ranges(result) == [
        ("alice/Streaming_History_Audio_2023_0.json", "bob/StreamingHistory_music_0.json")
    ]
    assert result.run_requests[0].run_key.startswith("streaming_history:")
    assert result.dynamic_partitions_requests[0].partition_keys == [
        "alice/Streaming_History_Audio_2023_0.json",
        "alice/Streaming_History_Audio_2024_1.json",
        "bob/StreamingHistory_music_0.json",
    ]
    again = tick()
    assert not again.run_requests
    assert "No new or changed files among 3" in str(again.skip_reason)


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
    assert ranges(changed) == [
        ("alice/Streaming_History_Audio_2023_0.json", "alice/Streaming_History_Audio_2023_0.json")
    ]
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key
    assert not changed.dynamic_partitions_requests  # the partition exists already


def test_files_landing_in_the_same_second_are_all_taken(local_lake):
    tick = Tick(local_lake)
    drop(local_lake, "alice/Streaming_History_Audio_2023_0.json")
    tick()
    stamp = time.time() - 3600  # older than the first file: a copy that kept its mtime
    for name in ("Streaming_History_Audio_2024_1.json", "Streaming_History_Audio_2024_2.json"):
        drop(local_lake, f"alice/{name}")
        os.utime(local_lake.store().path(f"landing/streaming_history/alice/{name}"), (stamp, stamp))
    result = tick()
    assert ranges(result) == [
        ("alice/Streaming_History_Audio_2024_1.json", "alice/Streaming_History_Audio_2024_2.json")
    ]


def test_batches_respect_the_batch_size_and_stay_contiguous(tmp_path):
    local_lake = LakeResource(url=str(tmp_path / "lake"), ingest_batch_files=2)
    for i in range(5):
        drop(local_lake, f"u{i}/endsong_{i}.json")
    tick = Tick(local_lake)
    result = tick()
    assert ranges(result) == [
        ("u0/endsong_0.json", "u1/endsong_1.json"),
        ("u2/endsong_2.json", "u3/endsong_3.json"),
        ("u4/endsong_4.json", "u4/endsong_4.json"),
    ]
    assert len({r.run_key for r in result.run_requests}) == 3
    # A changed old file and a new one are not contiguous: two runs.
    drop(local_lake, "u0/endsong_0.json", b"[]")
    drop(local_lake, "u9/endsong_9.json")
    assert ranges(tick()) == [
        ("u0/endsong_0.json", "u0/endsong_0.json"),
        ("u9/endsong_9.json", "u9/endsong_9.json"),
    ]


def test_every_landed_object_is_a_partition_but_partial_ones(local_lake):
    """Nested folders belong to the top folder's listener; what is not history (a pdf, video
    history) is still taken so that the parser can say why it is not ingested."""
    drop(local_lake, "alice/nested/Streaming_History_Audio_2023_0.json")
    drop(local_lake, "alice/ReadMe.pdf", b"%PDF")
    drop(local_lake, "alice/Streaming_History_Video_2023.json")
    drop(local_lake, "alice/Streaming_History_Audio_2023_0.json.part")
    drop(local_lake, "alice/.DS_Store", b"\0")
    result = Tick(local_lake)()
    assert result.dynamic_partitions_requests[0].partition_keys == [
        "alice/ReadMe.pdf",
        "alice/Streaming_History_Video_2023.json",
        "alice/nested/Streaming_History_Audio_2023_0.json",
    ]


def test_s3_landing_zone_uses_etags(moto_endpoint, s3_bucket, s3_client):
    lake = LakeResource(url=f"s3://{s3_bucket}/lake", s3_endpoint_url=moto_endpoint)
    drop(lake, "alice/Streaming_History_Audio_2023_0.json")
    drop(lake, "bob/StreamingHistory_music_0.json")
    tick = Tick(lake)
    assert len(ranges(tick())) == 1
    drop(lake, "alice/Streaming_History_Audio_2023_0.json")  # re-uploaded, same bytes
    assert not tick().run_requests
    drop(lake, "bob/StreamingHistory_music_0.json", b"[]")  # re-uploaded, changed
    assert ranges(tick()) == [
        ("bob/StreamingHistory_music_0.json", "bob/StreamingHistory_music_0.json")
    ]

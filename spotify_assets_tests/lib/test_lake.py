from datetime import UTC, datetime

import pytest

from spotify_assets.lib.lake import LakeError, LocalLakeStore, S3LakeStore, open_lake


@pytest.fixture
def store(lake_store):
    return lake_store  # a local folder, then S3 (conftest)


def test_put_get_list_delete_same_on_every_store(store):
    store.put_bytes("raw/a/1.json", b"[1]")
    store.put_bytes("raw/a/2.json", b"[2, 2]")
    store.put_bytes("raw/b.json", b"{}")
    assert store.get_bytes("raw/a/2.json") == b"[2, 2]"
    assert store.exists("raw/a/1.json") and not store.exists("raw/a/3.json")
    listed = store.list("raw/a/")
    assert [o.key for o in listed] == ["raw/a/1.json", "raw/a/2.json"]
    assert [o.size for o in listed] == [3, 6]
    assert all(o.last_modified.tzinfo is not None for o in listed)
    assert all(o.etag for o in listed)
    # A prefix that is not a folder matches the start of names.
    assert [o.key for o in store.list("raw/b")] == ["raw/b.json"]
    store.delete("raw/a/1.json")
    assert [o.key for o in store.list("raw/")] == ["raw/a/2.json", "raw/b.json"]


def test_an_object_read_as_it_streams_is_the_same_bytes_on_every_store(store, tmp_path):
    data = bytes(range(256)) * 40_000  # 10 MB: more than one chunk of a copy
    store.put_bytes("landing/big.csv", data)
    assert store.get_head("landing/big.csv", 1000) == data[:1000]
    assert store.get_head("landing/big.csv", len(data) + 5) == data
    store.get_file("landing/big.csv", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == data
    with pytest.raises(LakeError, match="nope.csv"):
        store.get_file("landing/nope.csv", tmp_path / "none")
    with pytest.raises(LakeError, match="nope.csv"):
        store.get_head("landing/nope.csv", 10)


def test_a_local_link_or_fifo_is_never_opened_as_a_stream(tmp_path):
    import os

    store = LocalLakeStore(tmp_path / "lake")
    store.put_bytes("landing/real.csv", b"a,b\n")
    (tmp_path / "lake" / "landing" / "link.csv").symlink_to(tmp_path / "lake/landing/real.csv")
    os.mkfifo(tmp_path / "lake" / "landing" / "fifo.csv")
    with pytest.raises(LakeError, match="symbolic link"):
        store.open("landing/link.csv")
    with pytest.raises(LakeError, match="FIFO"):
        store.get_head("landing/fifo.csv", 10)
    with store.open("landing/real.csv") as handle:
        assert handle.read() == b"a,b\n"


def test_rewrite_changes_etag(store):
    store.put_bytes("landing/x.json", b"[1]")
    before = store.list("landing/")[0].etag
    store.put_bytes("landing/x.json", b"[1, 2, 3]")
    assert store.list("landing/")[0].etag != before


def test_missing_key_error_names_key(store):
    with pytest.raises(LakeError, match="nope/missing.json"):
        store.get_bytes("nope/missing.json")


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b"])
def test_invalid_keys_rejected(tmp_path, bad):
    with pytest.raises(LakeError, match="invalid lake key"):
        LocalLakeStore(tmp_path).put_bytes(bad, b"")


def test_local_list_ignores_temp_files_and_missing_folders(tmp_path):
    store = LocalLakeStore(tmp_path)
    assert store.list("nothing/here/") == []
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / ".x.json.abc.tmp").write_bytes(b"partial")
    store.put_bytes("raw/x.json", b"ok")
    assert [o.key for o in store.list("raw/")] == ["raw/x.json"]
    assert store.list("raw/")[0].last_modified <= datetime.now(UTC)


def test_open_lake_urls(tmp_path, s3_client):
    assert isinstance(open_lake(str(tmp_path)), LocalLakeStore)
    assert isinstance(open_lake(f"file://{tmp_path}"), LocalLakeStore)
    s3 = open_lake("s3://bucket-x/deep/prefix/", s3_client=s3_client)
    assert isinstance(s3, S3LakeStore) and s3.uri("raw/k") == "s3://bucket-x/deep/prefix/raw/k"
    with pytest.raises(LakeError, match="no S3 client"):
        open_lake("s3://bucket-x")
    with pytest.raises(LakeError, match="names no bucket"):
        open_lake("s3:///prefix", s3_client=s3_client)


def test_info_is_what_list_says_of_one_object(store):
    store.put_bytes("landing/x/a.json", b"[1]")
    store.put_bytes("landing/x/b.json", b"[22]")
    [listed] = [o for o in store.list("landing/x/") if o.key == "landing/x/a.json"]
    assert store.info("landing/x/a.json") == listed
    assert store.info("landing/x/missing.json") is None

"""Shared fixtures: an S3 endpoint (moto's server on 127.0.0.1), the sample world, the fake
Spotify API, and settings isolated in a temporary folder so no test touches ./data."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import boto3
import pytest

S3_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


#: Variables of the test run itself, not of the platform: kept. SPOTIFY_TEST_ARTIFACTS is
#: where tests leave what a person looks at afterwards (the dashboard's screenshots).
KEPT_ENV = ("SPOTIFY_OPENAPI_SPEC", "SPOTIFY_TEST_ARTIFACTS")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch) -> None:
    """Every test gets its own data dir and no Spotify or AWS settings from the shell."""
    for name in list(os.environ):
        if name.startswith(("SPOTIFY_", "SPOTIPY_", "AWS_")) and name not in KEPT_ENV:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPOTIFY_DATA_DIR", str(tmp_path / "data"))
    for name, value in S3_TEST_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3 API on 127.0.0.1 (moto's server), shared by the session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint, request) -> str:
    """A fresh bucket per test."""
    name = "lake-" + request.node.name.lower().replace("_", "-")[:40].strip("-[]")
    name = "".join(c if c.isalnum() or c == "-" else "-" for c in name)
    client = boto3.client("s3", endpoint_url=moto_endpoint, **_boto_kwargs())
    client.create_bucket(Bucket=name)
    return name


def _boto_kwargs() -> dict[str, str]:
    return {
        "region_name": S3_TEST_ENV["AWS_DEFAULT_REGION"],
        "aws_access_key_id": S3_TEST_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
    }


@pytest.fixture
def s3_client(moto_endpoint):
    return boto3.client("s3", endpoint_url=moto_endpoint, **_boto_kwargs())


@pytest.fixture(params=["local", "s3"])
def lake_store(request, tmp_path):
    """The lake in a local folder, then in an S3 bucket (moto): what must hold on both."""
    from spotify_assets.lib.lake import LocalLakeStore, S3LakeStore

    if request.param == "local":
        return LocalLakeStore(tmp_path / "lake")
    s3_client = request.getfixturevalue("s3_client")
    bucket = request.getfixturevalue("s3_bucket")
    return S3LakeStore(s3_client, bucket, "some/prefix")


@pytest.fixture(scope="session")
def tiny_world():
    from spotify_assets.lib.sample.world import build_world

    return build_world("tiny", seed=42)


@pytest.fixture
def fake_api(tiny_world):
    """A fake Spotify API over the tiny world (extended mode, no faults), per test."""
    from spotify_assets.lib.sample.fake_api import FakeSpotifyServer

    server = FakeSpotifyServer(tiny_world).start()
    yield server
    server.stop()

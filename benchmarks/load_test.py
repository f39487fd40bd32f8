"""Bounded load test of the prediction service, on loopback only.

Starts ``python -m mnist_kedro.serving`` for the project's latest model on a free
loopback port, sends real MNIST test digits as PNG from ``--concurrency`` clients
until ``--requests`` are answered or ``--max-seconds`` pass, stops the server and
prints throughput, latency percentiles, the server-side time and the errors;
then sends a burst of ``--burst`` images of the largest size the service takes
at once, while asking ``/health`` every 10 ms: how long ``/health`` waited,
how long the burst took, and the server's peak memory.

    python benchmarks/load_test.py --idx-dir ../shared/data/mnist
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import numpy as np
from PIL import Image
from run import machine, report, script_arguments

from mnist_kedro.datasets import IdxDataset
from mnist_kedro.serving.app import MAX_IMAGE_PIXELS


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def digit_pngs(idx_dir: Path, count: int = 100) -> list[bytes]:
    images = IdxDataset(filepath=str(idx_dir / "t10k-images-idx3-ubyte.gz")).load()[
        :count
    ]
    pngs = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    return pngs


async def post_png(session: aiohttp.ClientSession, url: str, body: bytes) -> dict:
    """The service's answer to one PNG; an error status raises."""
    async with session.post(
        f"{url}/predict",
        data=body,
        headers={"Content-Type": "image/png"},
        raise_for_status=True,
    ) as response:
        return await response.json()


def largest_pngs(count: int) -> list[bytes]:
    """PNGs of the most pixels the service takes, each a one drawn in another
    place: a few KB to send, 16 megapixels to decode."""
    side = int(MAX_IMAGE_PIXELS**0.5)
    pngs = []
    for n in range(count):
        image = np.full((side, side), 255, np.uint8)
        left = 500 + 300 * n % (side - 1000)
        image[1000:3000, left : left + 200] = 0
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    return pngs


async def burst(url: str, bodies: list[bytes]) -> dict:
    """All ``bodies`` sent at once, ``/health`` asked every 10 ms meanwhile."""
    health_ms, errors = [], []
    finished = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=len(bodies) + 1)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def predict(body: bytes) -> None:
            try:
                await post_png(session, url, body)
            except (aiohttp.ClientError, ValueError) as error:
                errors.append(repr(error))

        async def ask_health() -> None:
            while not finished.is_set():
                started = time.perf_counter()
                async with session.get(f"{url}/health") as response:
                    await response.read()
                health_ms.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.01)

        asking = asyncio.create_task(ask_health())
        started = time.perf_counter()
        await asyncio.gather(*(predict(body) for body in bodies))
        elapsed = time.perf_counter() - started
        finished.set()
        await asking
    return {
        "images": len(bodies),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "health_ms_p50": round(float(np.percentile(health_ms, 50)), 2),
        "health_ms_max": round(max(health_ms), 2),
    }


@contextlib.contextmanager
def service(project_path: Path, runtime: str, source: Path | None = None):
    """``python -m mnist_kedro.serving`` for the project's latest model on a
    free loopback port, in a process group of its own, until the block ends:
    yields its URL and process. ``source``: a ``src`` folder whose
    ``mnist_kedro`` is served instead of the installed one (another checkout's,
    for a paired comparison)."""
    port = free_loopback_port()
    url = f"http://127.0.0.1:{port}"
    environment = dict(os.environ)
    if source is not None:
        environment["PYTHONPATH"] = str(source.resolve())
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mnist_kedro.serving",
            "--port",
            str(port),
            "--project-path",
            str(project_path),
            "--runtime",
            runtime,
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=5).close()
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit(
                        "the server did not start: is there a trained model (kedro run)?"
                    )
                time.sleep(1)
        yield url, server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def peak_memory_mb(pid: int) -> int:
    """The process's peak resident memory so far (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    [kilobytes] = [line.split()[1] for line in status.splitlines() if "VmHWM" in line]
    return int(kilobytes) // 1024


async def load(
    url: str, bodies: list[bytes], requests: int, concurrency: int, max_seconds: float
):
    latencies, server_times, errors = [], [], []
    sent = 0
    deadline = time.perf_counter() + max_seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal sent
        while sent < requests and time.perf_counter() < deadline:
            body = bodies[sent % len(bodies)]
            sent += 1
            started = time.perf_counter()
            try:
                answer = await post_png(session, url, body)
                server_times.append(answer["server_time_ms"])
                latencies.append((time.perf_counter() - started) * 1000)
            except (aiohttp.ClientError, KeyError, ValueError) as error:
                errors.append(repr(error))

    # aiohttp, not httpx: with httpx the client used more CPU than the server
    # and its own queueing showed up as server latency (p99 450 ms against 70).
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, server_times, errors, elapsed


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--project-path", type=Path, default=Path.cwd())
    parser.add_argument(
        "--runtime",
        default="tensorflow",
        help="the service's --runtime: tensorflow, onnx or litert",
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument(
        "--burst", type=int, default=8, help="images of the largest size at once"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    report("Machine", {"this run": machine()})

    bodies = digit_pngs(args.idx_dir)
    with service(args.project_path, args.runtime) as (url, server):
        asyncio.run(
            load(url, bodies, 2 * args.concurrency, args.concurrency, 30)
        )  # warm-up
        latencies, server_times, errors, elapsed = asyncio.run(
            load(url, bodies, args.requests, args.concurrency, args.max_seconds)
        )
        memory_before_burst = peak_memory_mb(server.pid)
        largest = asyncio.run(burst(url, largest_pngs(args.burst)))
        largest["server_peak_rss_mb_before"] = memory_before_burst
        largest["server_peak_rss_mb"] = peak_memory_mb(server.pid)

    figures = {
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "concurrency": args.concurrency,
        "seconds": round(elapsed, 2),
        "predictions_per_second": round(len(latencies) / elapsed, 1),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "latency_ms_p99": round(float(np.percentile(latencies, 99)), 2),
        "server_time_ms_p50": round(float(np.percentile(server_times, 50)), 3),
        "server_time_ms_p99": round(float(np.percentile(server_times, 99)), 3),
    }
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")  # noqa: T201
    if errors:
        print("first errors:", *errors[:3], sep="\n  ")  # noqa: T201
    report(f"A burst of {args.burst} images of 16 megapixels", {"burst": largest})
    figures["burst"] = largest
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""Time and peak memory of ``IdxDataset`` refusing a gzip decompression bomb.

    python benchmarks/idx_bomb.py --gigabytes 6

Makes a gzipped IDX file with a valid MNIST training-images header, its 47 MB
of data, then ``--gigabytes`` of zeros (a few MB on disk), and loads it
``--repeats`` times, each in a fresh process; prints the median time to the
error, the peak resident memory and the error message.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ZEROS_CHUNK = 64 << 20
MNIST_TRAIN_SHAPE = (60_000, 28, 28)

_LOAD = """
import resource, sys, time
from kedro.io import DatasetError
from mnist_kedro.datasets import IdxDataset
started = time.perf_counter()
try:
    IdxDataset(filepath=sys.argv[1], shape=[None, 28, 28]).load()
    message = "loaded without error"
except DatasetError as error:
    message = str(error)
print(time.perf_counter() - started)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
print(message)
"""


def write_bomb(path: Path, gigabytes: float) -> None:
    header = struct.pack(">BBBB3I", 0, 0, 0x08, 3, *MNIST_TRAIN_SHAPE)
    zeros_member = gzip.compress(bytes(ZEROS_CHUNK), compresslevel=9)
    with path.open("wb") as file:
        data_bytes = MNIST_TRAIN_SHAPE[0] * 28 * 28
        file.write(gzip.compress(header + bytes(data_bytes), compresslevel=9))
        for _ in range(int(gigabytes * (1 << 30)) // ZEROS_CHUNK):
            file.write(zeros_member)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gigabytes", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        bomb = Path(folder) / "train-images-idx3-ubyte.gz"
        write_bomb(bomb, args.gigabytes)
        seconds, peaks = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            output = subprocess.run(
                [sys.executable, "-c", _LOAD, str(bomb)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()
            seconds.append(float(output[0]))
            peaks.append(int(output[1]))
            process_seconds = time.perf_counter() - started
        print(  # noqa: T201
            f"bomb: {bomb.stat().st_size / 1e6:.1f} MB on disk, "
            f"{args.gigabytes:g} GiB of zeros after the data"
        )
        print(  # noqa: T201
            f"time to the error: median {statistics.median(seconds):.2f} s "
            f"of {args.repeats} ({', '.join(f'{s:.2f}' for s in seconds)}); "
            f"whole process {process_seconds:.1f} s"
        )
        print(f"peak RSS: median {statistics.median(peaks)} MB")  # noqa: T201
        print(f"error: {output[2]}")  # noqa: T201


if __name__ == "__main__":
    main()

"""Where files are written before they are renamed into place."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import IO

from fsspec import AbstractFileSystem


def partial_path(path: str) -> str:
    """The hidden name a file is written under before it is renamed into place;
    Kedro never loads it, versioned or not."""
    target = PurePosixPath(path)
    return str(target.with_name(f".{target.name}.partial"))


@contextmanager
def atomic_write(fs: AbstractFileSystem, path: str) -> Iterator[IO[bytes]]:
    """A binary file to write that appears at ``path`` only once complete; on
    failure nothing is left behind."""
    fs.mkdirs(str(PurePosixPath(path).parent), exist_ok=True)
    try:
        with fs.open(partial_path(path), "wb") as file:
            yield file
    except BaseException:
        if fs.exists(partial_path(path)):
            fs.rm(partial_path(path))
        raise
    fs.mv(partial_path(path), path)

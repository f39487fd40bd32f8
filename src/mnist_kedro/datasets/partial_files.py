"""Where files are written before they are renamed into place, and how a
saved file becomes an MLflow artifact.

On object storage (S3 and the like) a "rename" is a server-side copy of each
object, then its deletion: every object appears complete or not at all, and
the partial objects are gone once the copy is done."""

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import IO

import mlflow
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem


def partial_name(name: str) -> str:
    """A hidden name to write the file ``name`` under before it is renamed into
    place: Kedro never loads it, versioned or not, and it is new at every call,
    so that runs saving the same file at the same time never share one."""
    return f".{name}.{uuid.uuid4().hex[:12]}.partial"


@contextmanager
def atomic_write(fs: AbstractFileSystem, path: str) -> Iterator[IO[bytes]]:
    """A binary file to write that appears at ``path`` only once complete; on
    failure nothing is left behind."""
    target = PurePosixPath(path)
    partial = str(target.with_name(partial_name(target.name)))
    fs.mkdirs(str(target.parent), exist_ok=True)
    try:
        with fs.open(partial, "wb") as file:
            yield file
    except BaseException:
        if fs.exists(partial):
            fs.rm(partial)
        raise
    move_into_place(fs, partial, path)


def move_into_place(fs: AbstractFileSystem, partial: str, path: str) -> None:
    """Renames the file or folder ``partial`` to ``path``: at once on a local
    disk; object by object on object storage, where a folder is only a common
    prefix of its objects (s3fs cannot move the prefix itself)."""
    if isinstance(fs, LocalFileSystem) or not fs.isdir(partial):
        fs.mv(partial, path)
        return
    for source in fs.find(partial):
        fs.copy(source, path + source[len(partial) :])
    fs.rm(partial, recursive=True)


def log_artifact(fs: AbstractFileSystem, path: str, artifact_path: str) -> None:
    """The file ``path`` of ``fs`` logged in the active MLflow run, in its
    artifacts' folder ``artifact_path``; nothing without an active run."""
    if mlflow.active_run() is None:
        return
    if isinstance(fs, LocalFileSystem):
        mlflow.log_artifact(path, artifact_path)
        return
    with tempfile.TemporaryDirectory() as local:
        copy = f"{local}/{PurePosixPath(path).name}"
        fs.get(path, copy)
        mlflow.log_artifact(copy, artifact_path)

"""How every dataset of this project writes a file: atomically. And what the
project's own file datasets share.

A save writes under a hidden temporary name beside the target, then renames it
into place, so a run killed while saving never leaves a half-written file where
the catalog would load it: readers see the previous version or the complete new
one. On object storage (S3 and the like) a "rename" is a server-side copy of
each object, then its deletion: every object appears complete or not at all,
and the partial objects are gone once the copy is done.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any, TypeVar

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)

_DI = TypeVar("_DI")
_DO = TypeVar("_DO")


def save_atomically(
    fs: AbstractFileSystem, path: str, write: Callable[[str], None]
) -> None:
    """Calls ``write`` with a path beside ``path`` to write a file or a folder
    at, then renames what it wrote to ``path``. If ``write`` fails, what it
    wrote is removed and ``path`` is untouched. The temporary name is hidden
    (Kedro never loads it, versioned or not) and new at every call, so that
    runs saving the same file at the same time never share one."""
    target = PurePosixPath(path)
    partial = str(target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial"))
    fs.mkdirs(str(target.parent), exist_ok=True)
    try:
        write(partial)
    except BaseException:
        if fs.exists(partial):
            fs.rm(partial, recursive=True)
        raise
    if isinstance(fs, LocalFileSystem) or not fs.isdir(partial):
        fs.mv(partial, path)
        return
    # On object storage a folder is only the common prefix of its objects,
    # which s3fs cannot move: each object is moved.
    for source in fs.find(partial):
        fs.copy(source, path + source[len(partial) :])
    fs.rm(partial, recursive=True)


class AtomicSaves:
    """For a versionable dataset with an fsspec filesystem ``_fs``, its
    ``_protocol`` (kedro-datasets' convention) and its path ``_target``: saves
    through ``save_atomically`` at the version that Kedro's public
    ``resolve_save_version()`` names, in Kedro's layout
    (``<filepath>/<version>/<file name>``, or the file itself when
    unversioned), names the file that its last save wrote and the files that a
    load would read."""

    _saved: tuple[AbstractFileSystem, str] | None = None
    _target: PurePosixPath

    def _version_path(self, version: str | None) -> str:
        target = self._target
        path = target / version / target.name if version else target
        return get_filepath_str(path, self._protocol)

    def _save_atomically(self, write: Callable[[str], None]) -> None:
        version = self.resolve_save_version()
        path = self._version_path(version)
        if version and self._fs.exists(path):  # a version is never overwritten
            raise DatasetError(f"{self}: version {version} exists already at {path}.")
        save_atomically(self._fs, path, write)
        self._saved = (self._fs, path)

    def stored_files(
        self, version: str | None = None
    ) -> tuple[AbstractFileSystem, list[str]]:
        """The filesystem and the file (or folder) that a load would read, or
        that of the version ``version``."""
        return self._fs, [self._version_path(version or self.resolve_load_version())]

    def saved_file(self) -> tuple[AbstractFileSystem, str]:
        """The filesystem and the path of the file (or folder) that this
        dataset's last save wrote."""
        if self._saved is None:
            raise DatasetError(f"{self}: nothing saved yet, so no file to name.")
        return self._saved


class FileDataset(AtomicSaves, AbstractVersionedDataset[_DI, _DO]):
    """What the project's own datasets of one file (or folder) share: the file
    on any fsspec filesystem (a local path, ``s3://bucket/key``), optionally
    versioned, saved atomically. A subclass loads from ``self._load_path()``
    and saves through ``self._save_atomically(write)``."""

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(str(filepath), version)
        self._protocol, self._target = protocol, PurePosixPath(path)
        self._fs = fsspec.filesystem(
            protocol, **deepcopy(credentials or {}), **deepcopy(fs_args or {})
        )
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def _load_path(self) -> str:
        return self._version_path(self.resolve_load_version())

    def _exists(self) -> bool:
        try:
            path = self._load_path()
        except DatasetError:  # versioned, and no version saved yet
            return False
        return self._fs.exists(path)

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "protocol": self._protocol,
            "version": self._version,
        }

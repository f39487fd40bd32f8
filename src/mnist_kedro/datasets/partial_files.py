"""Where files are written before they are renamed into place."""

from pathlib import PurePosixPath


def partial_path(path: str) -> str:
    """The hidden name a file is written under before it is renamed into place;
    Kedro never loads it, versioned or not."""
    target = PurePosixPath(path)
    return str(target.with_name(f".{target.name}.partial"))

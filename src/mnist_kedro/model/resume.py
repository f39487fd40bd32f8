"""Each training run's own backup folder, so that a killed run resumes and
concurrent runs never touch each other's state.

Backups live under one root folder, keyed by a fingerprint of the run (its
parameters and a digest of its data), in slots ``<key>-0``, ``<key>-1``, …
A running training holds its slot's lock (``<key>-<n>.lock``, an OS file lock
that dies with its process), so a run takes the first slot whose lock is free:
the backup of a killed run of the same fingerprint, resumed, or a new one.
A slot held by a live run is never read, changed or removed by another.

A training that completes keeps its model in the backup (``keep_trained_model``)
until the node's outputs are saved, so that a run whose save failed (object
storage down) is saved by the next one without training again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from mnist_kedro.datasets import KerasModelDataset

logger = logging.getLogger(__name__)

RUN_DESCRIPTION = "run.json"
HISTORY_LOG = "history.csv"
TRAINED_MODEL = "trained.keras"


class TrainingBackup:
    """What makes ``model.fit`` resumable: ``callbacks`` that log each epoch
    and back the training up in ``folder``, the ``history`` they logged, and
    the model of a training that completed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._trained = KerasModelDataset(filepath=str(folder / TRAINED_MODEL))
        self.callbacks = [
            # Before the backup: a kill between the two repeats an epoch in the
            # log (dropped by ``history``) rather than losing one.
            keras.callbacks.CSVLogger(str(folder / HISTORY_LOG), append=True),
            keras.callbacks.BackupAndRestore(str(folder), delete_checkpoint=False),
        ]

    def history(self) -> pd.DataFrame:
        """Each epoch's logs, across the kills of the run: of an epoch logged
        twice, the last."""
        logged = pd.read_csv(self.folder / HISTORY_LOG)
        return logged.drop_duplicates("epoch", keep="last").reset_index(drop=True)

    def keep_trained_model(self, model: keras.Model) -> None:
        """Keeps the trained ``model`` with the backup, for as long as the
        backup lasts."""
        self._trained.save(model)
        logger.info(
            "Trained; the model is kept in %s until its outputs are saved.",
            self.folder,
        )

    def trained_model(self) -> keras.Model | None:
        """The model of a training of this run that completed, but whose
        outputs were not saved, if there is one."""
        if not self._trained.exists():
            return None
        logger.info(
            "The training backed up in %s completed, but its outputs were not "
            "saved: saving its model, without training again.",
            self.folder,
        )
        return self._trained.load()


@contextmanager
def resumable_training(
    root: Path, fingerprint: dict[str, Any]
) -> Iterator[TrainingBackup]:
    """The backup of this run (``own_backup_folder``): a killed run of the same
    ``fingerprint`` resumes after its last completed epoch."""
    with own_backup_folder(root, fingerprint) as folder:
        yield TrainingBackup(folder)


def run_fingerprint(settings: dict[str, Any], *arrays: np.ndarray) -> dict[str, Any]:
    """What makes two trainings the same run: ``settings`` (JSON-serialisable)
    and the arrays' shapes and contents."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        digest.update(np.ascontiguousarray(array).data)
    return {
        "settings": settings,
        "shapes": [list(array.shape) for array in arrays],
        "data_digest": digest.hexdigest(),
    }


@contextmanager
def own_backup_folder(root: Path, fingerprint: dict[str, Any]) -> Iterator[Path]:
    """This run's backup folder under ``root``, locked for it until the block
    ends: the backup of a killed run of the same fingerprint if there is one
    (to resume), otherwise a new, empty one. Removed when the block completes;
    kept if it raises, so that the run can be resumed."""
    description = json.dumps(fingerprint, sort_keys=True)
    key = hashlib.sha256(description.encode()).hexdigest()[:16]
    root.mkdir(parents=True, exist_ok=True)
    folder, lock = _claim_slot(root, key)
    try:
        if (folder / RUN_DESCRIPTION).is_file():
            logger.info("Resuming the interrupted training backed up in %s.", folder)
        else:
            # A run killed before it wrote its description left nothing usable.
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            (folder / RUN_DESCRIPTION).write_text(description)
            logger.info("Backing up each epoch of this training in %s.", folder)
        yield folder
        shutil.rmtree(folder)
    finally:
        lock.release()


def _claim_slot(root: Path, key: str) -> tuple[Path, FileLock]:
    """The folder of a dead run of ``key`` whose backup is left, if any, so
    that none stays behind; otherwise the first slot no live run holds. Its
    lock is held on return."""
    left_behind = sorted(
        path.parent for path in root.glob(f"{key}-*/{RUN_DESCRIPTION}")
    )
    new_slots = (root / f"{key}-{n}" for n in itertools.count())
    for folder in itertools.chain(left_behind, new_slots):
        lock = FileLock(root / f"{folder.name}.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue  # a live run's
        if folder in left_behind and not (folder / RUN_DESCRIPTION).is_file():
            lock.release()  # its run completed in the meantime and removed it
            continue
        return folder, lock
    raise AssertionError("never reached: new_slots is endless")

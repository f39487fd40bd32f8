"""A ``kedro run`` killed during training resumes after its last completed
epoch, and concurrent runs in one project never touch each other's training."""

import os
import re
import signal

import pandas as pd
import pytest
from kedro_project import (
    latest_version,
    run_kedro,
    start_kedro,
    stop_process_group,
    wait_for_log,
)

pytestmark = pytest.mark.slow

BACKUP = "data/06_models/training_backup"
MODEL = "data/06_models/mnist_cnn.keras"
HISTORY = "data/08_reporting/training_history.csv"
# The default preset, four epochs of 85 batches on 2,700 images.
RESUMED_TRAINING = "training.presets.fast.epochs=4,training.presets.fast.batch_size=32"


def backup_folders(project):
    return sorted(path for path in (project / BACKUP).iterdir() if path.is_dir())


def kill(process):
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_killed_training_resumes_after_its_last_completed_epoch(
    prepared_project, tmp_path
):
    project = prepared_project
    run = ["--pipelines", "training", "--params", RESUMED_TRAINING]
    log = tmp_path / "interrupted.log"
    interrupted = start_kedro(project, log, *run)
    wait_for_log(interrupted, log, "Epoch 1:")
    kill(interrupted)
    [backup] = backup_folders(project)
    completed = len(pd.read_csv(backup / "history.csv"))
    assert 1 <= completed < 4
    assert not (project / MODEL).exists()

    resumed = run_kedro(project, *run)

    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert (
        f"Resuming the interrupted training backed up in {BACKUP}/{backup.name}" in log
    )
    for epoch in range(1, completed + 1):
        assert f"Epoch {epoch}:" not in log  # finished epochs are not redone
    assert f"Epoch {completed + 1}:" in log and "Epoch 4:" in log
    history = pd.read_csv(latest_version(project / HISTORY))
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert history["val_accuracy"].iloc[-1] > 0.9
    assert backup_folders(project) == []


# The seed preset on 3,000 images: about a second an epoch, enough epochs for
# another run to start while this one trains.
EPOCHS = 40
QUICK_TRAINING = (
    "training.model=seed,training.presets.seed.patience=100,"
    f"training.presets.seed.epochs={EPOCHS}"
)


def start_training(project, log_path):
    return start_kedro(
        project, log_path, "--pipelines", "training", "--params", QUICK_TRAINING
    )


def finish(process, log_path):
    try:
        process.wait(timeout=600)
    finally:
        stop_process_group(process)
    log = log_path.read_text()
    assert process.returncode == 0, log[-3000:]
    return log


def start_beside_a_live_run(project, tmp_path, epochs_done: int):
    """A training run, and a second one started once the first has logged its
    first epoch; returns both, with their logs, after the second has logged
    ``epochs_done`` epochs."""
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_training(project, first_log)
    wait_for_log(first, first_log, "Epoch 1:")
    second = start_training(project, second_log)
    wait_for_log(second, second_log, f"Epoch {epochs_done}:")
    return first, first_log, second, second_log


def assert_two_complete_trainings(project):
    """Two model versions, each with the history of every epoch, no backup left."""
    assert len(list((project / MODEL).iterdir())) == 2
    for version in (project / HISTORY).iterdir():
        history = pd.read_csv(version / "training_history.csv")
        assert history["epoch"].tolist() == list(range(1, EPOCHS + 1))
    assert backup_folders(project) == []


def test_concurrent_trainings_keep_apart_and_a_killed_one_resumes_undisturbing_the_other(
    prepared_project, tmp_path
):
    project = prepared_project
    live, live_log, killed, killed_log = start_beside_a_live_run(
        project, tmp_path, epochs_done=2
    )
    kill(killed)
    assert "Resuming" not in killed_log.read_text()  # not the live run's backup
    killed_backup = project / re.search(
        r"Backing up each epoch of this training in (\S+)\.", killed_log.read_text()
    ).group(1)
    assert killed_backup in backup_folders(project)
    completed = len(pd.read_csv(killed_backup / "history.csv"))
    assert live.poll() is None, "the live run ended before the other was killed"

    rerun_log = tmp_path / "rerun.log"
    rerun = start_training(project, rerun_log)
    rerun_output = finish(rerun, rerun_log)
    live_output = finish(live, live_log)

    assert (
        f"Resuming the interrupted training backed up in {BACKUP}/{killed_backup.name}"
        in rerun_output
    )
    assert f"Epoch {completed}:" not in rerun_output
    assert f"Epoch {completed + 1}:" in rerun_output
    assert "Resuming" not in live_output
    for output in (rerun_output, live_output):
        assert f"Epoch {EPOCHS}:" in output
        assert "Saving data to mnist_cnn" in output
    assert_two_complete_trainings(project)

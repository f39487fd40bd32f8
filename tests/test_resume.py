"""A ``kedro run`` killed during training resumes after its last completed epoch."""

import os
import signal
import subprocess

import pandas as pd
import pytest
from kedro_project import BIN, copy_project, latest_version, run_kedro

pytestmark = pytest.mark.e2e

BACKUP = "data/06_models/training_backup"


def test_killed_training_resumes_after_its_last_completed_epoch(
    tmp_path, project_root, mnist_idx_dir
):
    project = copy_project(project_root, tmp_path / "project")
    params = (
        f"ingestion.idx_dir={mnist_idx_dir},preprocessing.train_limit=12000,"
        "training.presets.fast.epochs=4"
    )
    interrupted = subprocess.Popen(
        [str(BIN / "kedro"), "run", "--params", params],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={
            **os.environ,
            "KEDRO_DISABLE_TELEMETRY": "1",
            "COLUMNS": "200",
            "PYTHONUNBUFFERED": "1",
        },
    )
    for line in interrupted.stdout:
        if "Epoch 1:" in line:
            os.killpg(interrupted.pid, signal.SIGKILL)
            break
    interrupted.wait()
    assert interrupted.returncode == -signal.SIGKILL, (
        "the run ended before its first epoch"
    )
    completed = len(pd.read_csv(project / BACKUP / "history.csv"))
    assert 1 <= completed < 4
    assert not (project / "data/06_models/mnist_cnn.keras").exists()

    resumed = run_kedro(project, "--params", params)

    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert "Resuming the interrupted training" in log
    for epoch in range(1, completed + 1):
        assert f"Epoch {epoch}:" not in log  # finished epochs are not redone
    assert f"Epoch {completed + 1}:" in log and "Epoch 4:" in log
    history = pd.read_csv(
        latest_version(project / "data/08_reporting/training_history.csv")
    )
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert history["val_accuracy"].iloc[-1] > 0.9
    assert not (project / BACKUP).exists()

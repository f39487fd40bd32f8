"""Each training run gets a backup folder of its own: a killed run's is resumed
by the next run of the same fingerprint, a live run's is never shared."""

import json
import subprocess
import sys

import numpy as np
import pytest

from mnist_kedro.model.resume import (
    RUN_DESCRIPTION,
    own_backup_folder,
    run_fingerprint,
)

RUN = run_fingerprint({"epochs": 3}, np.zeros((4, 2)), np.arange(4))


def test_a_completed_run_removes_its_folder(tmp_path):
    with own_backup_folder(tmp_path, RUN) as folder:
        assert json.loads((folder / RUN_DESCRIPTION).read_text()) == RUN

    assert not folder.exists()


def test_a_killed_runs_backup_is_resumed_by_the_same_run(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with own_backup_folder(tmp_path, RUN) as killed:
            (killed / "history.csv").write_text("epoch\n0\n")
            raise KeyboardInterrupt

    with own_backup_folder(tmp_path, RUN) as resumed:
        assert resumed == killed
        assert (resumed / "history.csv").read_text() == "epoch\n0\n"


def test_a_live_runs_folder_is_never_given_to_another(tmp_path):
    with own_backup_folder(tmp_path, RUN) as live:
        (live / "history.csv").write_text("live")
        with own_backup_folder(tmp_path, RUN) as other:
            assert other != live
            assert not (other / "history.csv").exists()
        assert (live / "history.csv").read_text() == "live"


def test_a_killed_runs_backup_is_resumed_even_when_an_earlier_slot_is_free(tmp_path):
    with own_backup_folder(tmp_path, RUN) as live:
        with pytest.raises(KeyboardInterrupt):
            with own_backup_folder(tmp_path, RUN) as killed:  # beside the live run
                (killed / "history.csv").write_text("epoch\n0\n")
                raise KeyboardInterrupt
    assert not live.exists()  # the live run completed; its slot is free again

    with own_backup_folder(tmp_path, RUN) as rerun:
        assert rerun == killed
        assert (rerun / "history.csv").read_text() == "epoch\n0\n"


def test_a_folder_locked_by_another_process_is_skipped(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with own_backup_folder(tmp_path, RUN) as killed:
            raise KeyboardInterrupt
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from filelock import FileLock; "
            "lock = FileLock(sys.argv[1]); lock.acquire(timeout=0); "
            "print('held', flush=True); sys.stdin.read()",
            str(tmp_path / f"{killed.name}.lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with own_backup_folder(tmp_path, RUN) as folder:
            assert folder != killed
    finally:
        holder.communicate("", timeout=10)


def test_the_fingerprint_tells_data_and_settings_apart():
    images = np.zeros((4, 2))
    other_images = images.copy()
    other_images[0, 0] = 1

    assert run_fingerprint({"a": 1}, images) == run_fingerprint({"a": 1}, images.copy())
    assert run_fingerprint({"a": 1}, images) != run_fingerprint({"a": 1}, other_images)
    assert run_fingerprint({"a": 1}, images) != run_fingerprint({"a": 2}, images)

"""What a run prints: no TensorFlow notices nobody can act on, one line per
message when piped, and progress within each training epoch."""

import os
import pty
import re
import subprocess
import sys

import pytest
from kedro_project import BIN, run_kedro

from mnist_kedro.run_output import without_tensorflow_notices

NOTICES = ("oneDNN", "cuda", "absl", "cuInit", "cpu_feature_guard")
TRAINING = (
    "training.model=seed,training.presets.seed.epochs=2,"
    "training.presets.seed.batch_size=32"
)


def test_tensorflow_starts_without_its_notices_but_warnings_still_show():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import warnings, mnist_kedro, tensorflow as tf; "
            "print(int(tf.constant(41) + 1)); "
            "warnings.warn('a warning that matters')",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert result.stdout == "42\n"
    assert "UserWarning: a warning that matters" in result.stderr
    for notice in NOTICES:
        assert notice not in result.stderr


def test_only_informational_notices_are_dropped(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    started = (
        b"WARNING: All log messages before absl::InitializeLog() is called are "
        b"written to STDERR\n"
        b"I0000 00:00:1795576537.081853    7359 port.cc:153] oneDNN custom "
        b"operations are on.\n"
        b"I0000 00:00:1795576537.082235    7359 cudart_stub.cc:31] Could not find "
        b"cuda drivers on your machine, GPU will not be used.\n"
        b"W0000 00:00:1795576537.1     7359 gpu.cc:1] a warning\n"
        b"E0000 00:00:1795576540.785313    7359 cuda_platform.cc:52] failed call "
        b"to cuInit: INTERNAL\n"
        b"E0000 00:00:1795576540.8     7359 other.cc:1] a real error\n"
    )

    assert without_tensorflow_notices(started) == (
        b"W0000 00:00:1795576537.1     7359 gpu.cc:1] a warning\n"
        b"E0000 00:00:1795576540.8     7359 other.cc:1] a real error\n"
    )
    with_driver = started.replace(b"Could not find cuda drivers", b"Found")
    assert b"failed call to cuInit" in without_tensorflow_notices(with_driver)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # the informational lines too
    assert without_tensorflow_notices(started) == b"".join(
        line for line in started.splitlines(True) if b"cuInit" not in line
    )


@pytest.mark.slow
def test_a_piped_run_logs_one_line_per_message_and_every_tenth_of_an_epoch(
    prepared_project,
):
    result = run_kedro(
        prepared_project, "--pipelines", "training", "--params", TRAINING
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    for notice in NOTICES:
        assert notice not in output
    lines = output.splitlines()
    for epoch in (1, 2):
        [summary] = [line for line in lines if f"Epoch {epoch}: loss" in line]
        assert re.search(
            r"INFO \S+: Epoch \d: loss [\d.]+, .* val_accuracy [\d.]+$", summary
        )
        # 2,700 images in batches of 32: a line at each tenth of the 85 batches
        progress = re.findall(rf"Epoch {epoch}/2: (\d+) of 85 batches, loss", output)
        assert [int(done) for done in progress] == [9, 17, 26, 34, 43, 51, 60, 68, 77]
    # Kedro's own start-up message, whole on one line
    assert any("Using synchronous mode" in line and "--async" in line for line in lines)


@pytest.mark.slow
def test_a_run_on_a_terminal_shows_a_progress_bar(prepared_project):
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [str(BIN / "kedro"), "run", "--pipelines", "training", "--params", TRAINING],
        cwd=prepared_project,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "120"},
    ) as run:
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed with the run
                break
            if not chunk:
                break
            output += chunk
        run.wait(timeout=300)
    os.close(controller)

    # Without the terminal's colour codes and links
    text = re.sub(r"\x1b\[[\d;?]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\", "", output.decode())
    assert run.returncode == 0, text[-3000:]
    assert re.search(r"Epoch 1/2 .*━.* \d+/85", text)
    assert "Epoch 2: loss" in text
    assert " of 85 batches" not in text  # the bar, not log lines

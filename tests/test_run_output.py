"""What a run prints: one line per message when piped, and progress within
each training epoch; and what importing the package leaves alone."""

import json
import os
import pty
import re
import subprocess
import sys

import pytest
from kedro_project import BIN, run_kedro

TRAINING = (
    "training.model=seed,training.presets.seed.epochs=2,"
    "training.presets.seed.batch_size=32"
)
HEAVY = ("tensorflow", "keras", "matplotlib", "sklearn", "mlflow")


def test_importing_the_package_changes_nothing_process_wide_nor_imports_tensorflow():
    # settings.py is left out: Kedro reads it as a command starts, and it hides
    # a deprecation warning of Kedro's own calls there (docs/running.md).
    code = """
import json, os, sys, warnings
# What the libraries below change on their import is theirs.
import fsspec, kedro.framework.hooks, kedro.framework.session, kedro.io
import kedro.pipeline, kedro_datasets.pandas, numpy, pandas, pydantic, rich.logging
def state():
    return dict(os.environ), list(sys.meta_path), list(warnings.filters), sys.excepthook
before = state()
import mnist_kedro, mnist_kedro.airflow_task, mnist_kedro.datasets
import mnist_kedro.datasets.atomic, mnist_kedro.model.tensorflow_settings
from mnist_kedro.pipeline_registry import register_pipelines
pipelines = register_pipelines()
print(json.dumps({
    "unchanged": state() == before,
    "pipelines": sorted(pipelines),
    "imported": [name for name in sys.argv[1:] if name in sys.modules],
}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code, *HEAVY],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    found = json.loads(result.stdout.splitlines()[-1])
    assert found["unchanged"]
    assert "__default__" in found["pipelines"] and "best" in found["pipelines"]
    assert found["imported"] == []


@pytest.mark.slow
def test_a_piped_run_logs_one_line_per_message_and_every_tenth_of_an_epoch(
    prepared_project,
):
    result = run_kedro(
        prepared_project, "--pipelines", "training", "--params", TRAINING
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    lines = output.splitlines()
    for epoch in (1, 2):
        [summary] = [line for line in lines if f"Epoch {epoch}: loss" in line]
        assert re.search(
            r"INFO \S+: Epoch \d: loss [\d.]+, .* val_accuracy [\d.]+$", summary
        )
        # 2,700 images in batches of 32, 16 a call: a line at the first call
        # past each tenth of the 85 batches
        progress = re.findall(rf"Epoch {epoch}/2: (\d+) of 85 batches, loss", output)
        assert [int(done) for done in progress] == [16, 32, 48, 64, 80]
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

"""The notebooks run from top to bottom against the outputs of a real run."""

import json
import os
import subprocess

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel
from kedro_project import BIN
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

NOTEBOOKS = ["explore_results.ipynb"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(project_root, name):
    notebook = nbformat.read(project_root / "notebooks" / name, as_version=4)

    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_on_the_outputs_of_a_run(trained_project, name):
    path = trained_project / "notebooks" / name
    notebook = nbformat.read(path, as_version=4)

    # Raises CellExecutionError, with the cell and its traceback, on any error.
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()

    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) >= 6  # samples, distribution, curves, confusion, mistakes, model
    assert "test_accuracy" in json.dumps(notebook.cells[2].outputs)


def test_kedro_jupyter_kernel_starts_with_the_project_loaded(
    trained_project, tmp_path, monkeypatch
):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    subprocess.run(
        [str(BIN / "kedro"), "jupyter", "setup"],
        cwd=trained_project,
        check=True,
        capture_output=True,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
    )
    (kernel_name,) = KernelSpecManager().find_kernel_specs().keys() - {"python3"}

    manager, client = start_new_kernel(
        kernel_name=kernel_name, cwd=str(trained_project)
    )
    try:
        outputs = []
        client.execute_interactive(
            'print(sorted(pipelines), "metrics" in catalog)',
            timeout=120,
            output_hook=lambda message: outputs.append(
                message["content"].get("text", "")
            ),
        )
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)

    assert kernel_name == "kedro_mnist_kedro"
    assert (
        "['__default__', 'best', 'ensemble', 'evaluation', 'export', 'ingestion', "
        "'preprocessing', 'training'] True" in "".join(outputs)
    )

"""What a node's cache key covers (``mnist_kedro.cache``): its code, down to
what it calls in the project, and the files behind its inputs and outputs."""

from __future__ import annotations

import importlib
import sys
import textwrap

import numpy as np
import pytest
from fsspec.implementations.local import LocalFileSystem
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline

from mnist_kedro import cache
from mnist_kedro.pipelines.training.nodes import train_model

NODES = """
from pkg.helpers import scale
from pkg import constants

LIMIT = 3


def node(x):
    # a comment
    return scale(x)[:LIMIT] + constants.OFFSET


def other(x):
    return x
"""
HELPERS = """
def scale(x):
    return x * 2


def unrelated(x):
    return x
"""
CONSTANTS = "OFFSET = 1\n"


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package ``pkg`` of three modules on ``sys.path``; yields a function
    that writes a module anew and gives ``pkg.nodes.node``'s fingerprint."""
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    sources = {"nodes": NODES, "helpers": HELPERS, "constants": CONSTANTS}
    for name, source in sources.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))

    def fingerprint(**changed: str) -> str:
        for name, source in changed.items():
            (folder / f"{name}.py").write_text(textwrap.dedent(source))
        cache._module_index.cache_clear()  # noqa: SLF001 - modules read anew
        return cache.code_fingerprint(importlib.import_module("pkg.nodes").node)

    yield fingerprint
    cache._module_index.cache_clear()  # noqa: SLF001
    for name in [name for name in sys.modules if name.split(".")[0] == "pkg"]:
        del sys.modules[name]


def test_a_node_s_code_key_changes_with_what_it_runs(package):
    first = package()

    assert package() == first
    assert package(nodes=NODES.replace("# a comment", "# another")) == first
    assert package(nodes=NODES + "\n\ndef more(x):\n    return x\n") == first
    assert package(helpers=HELPERS.replace("return x\n", "return -x\n", 1)) == first
    assert package(nodes=NODES.replace("[:LIMIT]", "[:LIMIT - 1]")) != first
    assert package(nodes=NODES.replace("LIMIT = 3", "LIMIT = 4")) != first
    assert package(nodes=NODES, helpers=HELPERS.replace("x * 2", "x * 3")) != first
    assert package(helpers=HELPERS, constants="OFFSET = 2\n") != first


def test_a_project_node_s_code_covers_the_project_code_it_calls():
    units = cache.code_sources(train_model)

    assert {
        "mnist_kedro.pipelines.training.nodes:train_model",
        "mnist_kedro.pipelines.training.nodes:learning_rate",  # a helper
        "mnist_kedro.pipelines.training.nodes:RECALIBRATION_IMAGES",  # a constant
        "mnist_kedro.model.network:build_model",  # imported in its body
        "mnist_kedro.model.resume:resumable_training",
        "mnist_kedro.model.tensorflow_settings:",  # a module it uses whole
        "mnist_kedro.parameters:TrainingParams",  # its parameters' model
        "mnist_kedro.parameters:ModelPreset",  # named by TrainingParams
    } <= set(units)
    assert "mnist_kedro.pipelines.training.nodes:epoch_metrics" not in units
    assert not any(unit.startswith("mnist_kedro.serving") for unit in units)


def test_files_are_fingerprinted_by_their_bytes(tmp_path):
    fs = LocalFileSystem()
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"weights")
    first = cache.files_fingerprint(fs, [str(folder)])

    (folder / "a.bin").write_bytes(b"weighty")

    assert list(first) == ["model/a.bin"]  # by its place in what was fingerprinted
    assert cache.files_fingerprint(fs, [str(folder)]) != first
    assert cache.files_fingerprint(fs, [str(tmp_path / "gone")]) == {}


def double(x):
    return x * 2


def test_a_node_tagged_no_cache_runs_and_so_does_what_follows_it(tmp_path):
    catalog = DataCatalog.from_config(
        {
            "cache_records": {
                "type": "partitions.PartitionedDataset",
                "path": str(tmp_path / "09_cache"),
                "dataset": "mnist_kedro.datasets.atomic.JSONDataset",
                "filename_suffix": ".json",
            },
            **{
                name: {
                    "type": "mnist_kedro.datasets.NumpyDataset",
                    "filepath": str(tmp_path / f"{name}.npy"),
                }
                for name in ("a", "b", "c")
            },
        }
    )
    catalog.save("a", np.arange(3))
    pipeline = Pipeline(
        [
            Node(double, "a", "b", name="first", tags=cache.NO_CACHE_TAG),
            Node(double, "b", "c", name="second"),
        ]
    )
    for node in pipeline.nodes:  # as a cached run would, once each has saved
        catalog.save(
            node.outputs[0],
            node.run({node.inputs[0]: catalog.load(node.inputs[0])})[node.outputs[0]],
        )
        cache.record(node, catalog, "key", "run-1")

    decisions, _ = cache.plan(pipeline, pipeline, catalog, params={})

    assert decisions["first"].reason == f"tagged {cache.NO_CACHE_TAG}"
    assert not decisions["first"].cacheable
    assert decisions["second"].reason == "first runs before it"

"""Fixtures shared by the tests: real MNIST, small synthetic data, parameters."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from kedro.config import OmegaConfigLoader
from kedro_project import (
    EXPERIMENT,
    clone_project,
    copy_project,
    preprocessed_project,
    quick_run_params,
    run_session,
)
from mlflow import MlflowClient
from object_storage import S3Server, seaweedfs_s3

from mnist_kedro.datasets import IdxDataset
from mnist_kedro.datasets.mnist_source_dataset import SPLIT_FILES
from mnist_kedro.model.tensorflow_settings import set_tensorflow_environment
from mnist_kedro.parameters import ProjectParams
from mnist_kedro.settings import CONFIG_LOADER_ARGS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CLASS_NAMES = [str(digit) for digit in range(10)]
# Session fixtures that take a minute to build. Under pytest-xdist (`-n 2
# --dist loadgroup`, as .ci/run runs), the modules that use one run on one
# worker, which builds it once; every other module runs whole on a worker, so
# that its module fixtures are built once too.
SHARED_FIXTURES = ("trained_project", "preprocessed")
# The groups that take longest (`--durations`), handed out first so that the
# two workers finish together; the rest follow in the order collected.
LONGEST_FIRST = (
    "test_benchmarks",
    "trained_project",
    "test_airflow",
    "preprocessed",
    "test_ensemble_pipeline",
    "test_object_storage_runs",
)


def pytest_configure() -> None:
    # Before any test module imports TensorFlow, as a Kedro run's hook does.
    set_tensorflow_environment()


@pytest.hookimpl(tryfirst=True)  # xdist reads the groups in this hook too
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.module.__name__, []).append(item)
    groups: dict[str, list[pytest.Item]] = {}
    for module, module_items in modules.items():
        used = {name for item in module_items for name in item.fixturenames}
        group = next((name for name in SHARED_FIXTURES if name in used), module)
        for item in module_items:
            item.add_marker(pytest.mark.xdist_group(group))
        groups.setdefault(group, []).extend(module_items)
    first = [group for group in LONGEST_FIRST if group in groups]
    rest = [group for group in groups if group not in first]
    items[:] = [item for group in first + rest for item in groups[group]]


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session", autouse=True)
def mlflow_store(tmp_path_factory) -> Iterator[str]:
    """One temporary MLflow store for every run that the tests start, in this
    process or in ``kedro run`` subprocesses; never the user's (their
    MLFLOW_TRACKING_URI or their project's mlflow.db). Its experiment keeps the
    artifacts beside it."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    MlflowClient(uri).create_experiment(
        EXPERIMENT, artifact_location=(folder / "artifacts").as_uri()
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        yield uri


@pytest.fixture(scope="session")
def mnist_idx_dir() -> Path:
    """The folder of the four real MNIST IDX files, from ``MNIST_IDX_DIR``.

    Skipped on a developer's machine without it; a failure in CI, where these
    tests must run.
    """
    folder = os.environ.get("MNIST_IDX_DIR")
    if not folder:
        message = "MNIST_IDX_DIR is not set to the folder of the four MNIST IDX files"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the tests on real MNIST.")
        pytest.skip(message)
    return Path(folder).resolve()


@pytest.fixture(scope="session")
def small_mnist_idx_dir(tmp_path_factory, mnist_idx_dir) -> Path:
    """The four IDX files of a slice of the real MNIST: its first 6,000
    training and 1,000 test images. For the runs that prove mechanics (an
    ensemble, a DAG, a benchmark's sections), where predicting the whole test
    set at every evaluation took most of the time and proved nothing more."""
    folder = tmp_path_factory.mktemp("small-mnist")
    sizes = {"train": 6000, "t10k": 1000}
    for stem in SPLIT_FILES.values():
        array = IdxDataset(filepath=str(mnist_idx_dir / f"{stem}.gz")).load()
        IdxDataset(filepath=str(folder / f"{stem}.gz")).save(
            array[: sizes[stem.split("-")[0]]]
        )
    return folder


@pytest.fixture(scope="session")
def base_parameters() -> ProjectParams:
    """The project's parameters as configured in ``conf/base``, loaded as a run
    loads them (interpolations resolved), validated."""
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"), **CONFIG_LOADER_ARGS
    )
    return ProjectParams.model_validate(loader["parameters"])


def _make_digits(
    count: int, seed: int = 0, size: int = 28
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images whose class is easy to learn (a bright bar at a row given by
    the label) with uint8 labels cycling through the ten classes."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(count) % 10).astype(np.uint8)
    images = rng.integers(0, 60, size=(count, size, size), dtype=np.uint8)
    for image, label in zip(images, labels):
        row = 3 + 2 * int(label)
        image[row : row + 2, 4:-4] = 255
    return images, labels


@pytest.fixture
def make_digits():
    """Makes ``count`` learnable synthetic uint8 images with their labels."""
    return _make_digits


@pytest.fixture
def synthetic_idx_dir(tmp_path: Path) -> Path:
    """A folder of the four IDX files holding small synthetic sets, gzipped as
    MNIST is distributed."""
    folder = tmp_path / "idx"
    train_images, train_labels = _make_digits(300, seed=1)
    test_images, test_labels = _make_digits(100, seed=2)
    arrays = (train_images, train_labels, test_images, test_labels)
    for stem, array in zip(SPLIT_FILES.values(), arrays):
        IdxDataset(filepath=str(folder / f"{stem}.gz")).save(array)
    return folder


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory, project_root, small_mnist_idx_dir) -> Path:
    """A copy of the project after one full ``kedro run`` on a slice of the real
    MNIST (6,000 training images, 3 epochs; 1,000 test images)."""
    project = copy_project(project_root, tmp_path_factory.mktemp("project"))
    run_session(project, quick_run_params(small_mnist_idx_dir))
    return project


@pytest.fixture(scope="session")
def preprocessed(tmp_path_factory, project_root, mnist_idx_dir) -> Path:
    """A copy of the project whose ingestion and preprocessing have run once, on
    3,000 real training images; tests train in clones of it
    (``prepared_project``), never in it."""
    return preprocessed_project(
        project_root,
        tmp_path_factory.mktemp("preprocessed") / "project",
        mnist_idx_dir,
        train_limit=3000,
    )


@pytest.fixture
def prepared_project(preprocessed, tmp_path) -> Path:
    """A project of its own, ready for ``kedro run --pipelines training``."""
    return clone_project(preprocessed, tmp_path / "project")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    """One real S3-compatible server (SeaweedFS) on loopback for the session;
    each test takes a bucket of its own (``S3Server.new_bucket``)."""
    with seaweedfs_s3(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server

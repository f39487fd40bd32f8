"""Bad parameters stop a run before it reads any data, with a message naming the
parameter, its value and what is allowed; bad data stop the stage that reads
them, naming the dataset. Neither touches earlier outputs."""

import shutil

import mlflow
import numpy as np
import pytest
from kedro.io import DatasetError
from kedro.validation.exceptions import ParameterValidationError
from kedro_project import (
    copy_project,
    fingerprints,
    quick_run_params,
    run_kedro,
    run_session,
)


@pytest.fixture
def project(tmp_path, project_root, synthetic_idx_dir):
    """A copy of the project with small synthetic IDX files as its raw data,
    which a run that is not stopped would go on to read."""
    project = copy_project(project_root, tmp_path / "project")
    shutil.copytree(synthetic_idx_dir, project / "data/01_raw/mnist")
    return project


BAD_PARAMETERS = {
    "unknown key": (
        {"training": {"presets": {"fast": {"batch_sizes": 64}}}},
        r"presets.fast.batch_sizes\s+Extra inputs are not permitted",
    ),
    "misspelt section": (
        {"trainig": {"epochs": 3}},
        r"trainig\s+Extra inputs are not permitted",
    ),
    "wrong type": (
        {"training": {"presets": {"fast": {"epochs": "many"}}}},
        r"epochs\s+Input should be a valid integer.*input_value='many'",
    ),
    "validation fraction of 1": (
        {"preprocessing": {"validation_fraction": 1.0}},
        r"validation_fraction\s+Input should be less than 1.*input_value=1.0",
    ),
    "validation fraction of 0": (
        {"preprocessing": {"validation_fraction": 0}},
        r"validation_fraction\s+Input should be greater than 0",
    ),
    "dropout of 1": (
        {"training": {"presets": {"deep": {"dropout": 1}}}},
        r"presets.deep.dropout\s+Input should be less than 1",
    ),
    "no epochs": (
        {"training": {"presets": {"seed": {"epochs": 0}}}},
        r"epochs\s+Input should be greater than 0.*input_value=0",
    ),
    "negative batch size": (
        {"training": {"presets": {"fast": {"batch_size": -32}}}},
        r"batch_size\s+Input should be greater than 0.*input_value=-32",
    ),
    "unknown model preset": (
        {"training": {"model": "resnet50"}},
        r"model 'resnet50' is not one of the presets seed, fast, deep",
    ),
    "the ensemble as a preset": (
        {"training": {"model": "best"}},
        r"training.model=best: the ensemble is a pipeline, not a preset: "
        r"run `kedro run --pipelines best`",
    ),
    "negative rotation": (
        {"training": {"presets": {"fast": {"augmentation": {"rotation_degrees": -5}}}}},
        r"rotation_degrees\s+Input should be greater than or equal to 0",
    ),
    "warm-up as long as training": (
        {"training": {"presets": {"fast": {"warmup_epochs": 15}}}},
        r"warmup_epochs must be fewer than epochs \(presets \['fast'\]\)",
    ),
    "several steps per call on several devices": (
        {"training": {"distribution": "mirrored"}},
        r"training.distribution=mirrored trains one step per call into "
        r"TensorFlow: add training.steps_per_execution=1",
    ),
    "a change to a preset not trained": (
        {"training": {"presets": {"deep": {"epochs": 3}}}},
        r"--params changes training.presets.deep, but this run trains 'fast' "
        r"only.*Add training.model=deep",
    ),
    "unknown source": (
        {"ingestion": {"source": "kaggle"}},
        r"ingestion.source\s+Input should be 'auto', 'idx' or 'tfds'.*input_value='kaggle'",
    ),
    "repeated class names": (
        {"class_names": ["0", "1", "1"]},
        r"class names must be distinct",
    ),
    "a single class": (
        {"class_names": ["digit"]},
        r"at least two class names are needed",
    ),
}


@pytest.mark.parametrize(
    ("override", "message"), BAD_PARAMETERS.values(), ids=BAD_PARAMETERS.keys()
)
def test_bad_parameter_stops_the_run_before_any_work(project, override, message):
    before = fingerprints(project / "data")

    with pytest.raises(ParameterValidationError, match=f"(?s){message}"):
        run_session(project, override)

    assert fingerprints(project / "data") == before
    assert mlflow.active_run() is None  # no MLflow run left behind either


def test_async_is_refused_for_a_run_of_the_training_node(project):
    """Kedro would save the generator that train_model is, after training."""
    before = fingerprints(project / "data")

    refused = run_kedro(project, "--async", "--pipelines", "training")

    assert refused.returncode == 2
    assert (
        "--async cannot save the outputs of train_model (a generator node"
        in " ".join(refused.stderr.split())
    )
    assert fingerprints(project / "data") == before


def test_class_names_that_do_not_cover_the_labels_stop_ingestion(project):
    before = fingerprints(project / "data")

    with pytest.raises(
        ValueError, match="The train labels go up to 9 but only 3 class names"
    ):
        run_session(project, {"class_names": ["zero", "one", "two"]})

    assert fingerprints(project / "data") == before


@pytest.mark.slow
def test_a_stage_checks_the_data_it_reads_and_names_the_dataset(
    trained_project, small_mnist_idx_dir
):
    x_test = trained_project / "data/05_model_input/x_test.npy"
    original = x_test.read_bytes()
    np.save(x_test, np.full((10, 28, 28, 1), 255, dtype=np.uint8))  # unscaled images
    before = fingerprints(trained_project / "data")
    try:
        with pytest.raises(
            DatasetError, match=r"x_test.npy: array is of uint8, expected float32"
        ):
            run_session(
                trained_project,
                quick_run_params(small_mnist_idx_dir),
                pipeline_names=["evaluation"],
            )
        # Nodes that ran before the failing one may have added new versions.
        assert before.items() <= fingerprints(trained_project / "data").items()
    finally:
        x_test.write_bytes(original)

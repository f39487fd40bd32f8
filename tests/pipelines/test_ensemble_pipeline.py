"""The ``best`` pipeline: the training pipeline once per member in namespaces of
their own, run in parallel, combined into one model that the evaluation uses
unchanged; one member runs alone by its namespace."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.validation.exceptions import ParameterValidationError
from kedro_project import (
    EXPERIMENT,
    clone_project,
    copy_project,
    fingerprints,
    latest_version,
    run_benchmark,
    run_kedro,
    run_session,
)
from mlflow import MlflowClient

from mnist_kedro.model.network import build_model, ensemble
from mnist_kedro.parameters import ProjectParams
from mnist_kedro.pipelines.ensemble.nodes import average_histories, member_accuracies
from mnist_kedro.pipelines.ensemble.pipeline import MEMBERS
from mnist_kedro.settings import CONFIG_LOADER_ARGS

pytestmark = pytest.mark.slow

# One epoch of 540 images per member: seconds each, the mechanics only.
QUICK_ENSEMBLE = (
    "training.presets.deep.epochs=1,training.presets.deep.warmup_epochs=0,"
    "training.threads=1"
)


@pytest.fixture(scope="module")
def ensemble_project(tmp_path_factory, project_root, small_mnist_idx_dir):
    """A copy of the project after ``kedro run --pipelines best --cache`` with
    ``ParallelRunner``, on 600 real training images (and 1,000 test images)."""
    project = copy_project(project_root, tmp_path_factory.mktemp("ensemble"))
    run = run_kedro(
        project,
        "--cache",
        "--pipelines",
        "best",
        "--runner",
        "ParallelRunner",
        "--params",
        f"ingestion.idx_dir={small_mnist_idx_dir},preprocessing.train_limit=600,"
        f"{QUICK_ENSEMBLE}",
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "parallel_runner: Pipeline execution completed" in run.stdout + run.stderr
    return project


def member_model(project, member: str) -> keras.Model:
    folder = project / "data/06_models/ensemble" / member.removeprefix("ensemble.")
    return keras.models.load_model(latest_version(folder / "mnist_cnn.keras"))


def test_members_train_in_their_namespaces_and_combine_into_one_averaging_model(
    ensemble_project,
):
    data = ensemble_project / "data"
    x_test = np.load(data / "05_model_input/x_test.npy")[:200]
    members = [member_model(ensemble_project, member) for member in MEMBERS]
    each = np.array([member.predict(x_test, verbose=0) for member in members])
    assert not np.allclose(each[0], each[1])  # members differ by seed

    combined = keras.models.load_model(
        latest_version(data / "06_models/mnist_cnn.keras")
    )

    np.testing.assert_allclose(
        combined.predict(x_test, verbose=0), each.mean(axis=0), atol=1e-5
    )


def test_the_evaluation_reports_the_ensemble_and_each_member(ensemble_project):
    reports = ensemble_project / "data/08_reporting"
    accuracies = pd.read_csv(
        latest_version(reports / "ensemble/member_accuracies.csv"), index_col=0
    )
    metrics = json.loads(latest_version(reports / "metrics.json").read_text())
    histories = [
        pd.read_csv(latest_version(reports / f"ensemble/{m}/training_history.csv"))
        for m in ("member_1", "member_2", "member_3", "member_4")
    ]
    history = pd.read_csv(latest_version(reports / "training_history.csv"))

    assert list(accuracies.index) == [
        "member_1",
        "member_2",
        "member_3",
        "member_4",
        "ensemble",
    ]
    assert accuracies.loc["ensemble", "test_accuracy"] == pytest.approx(
        metrics["test_accuracy"]
    )
    assert ((accuracies > 0.1) & (accuracies <= 1)).all().all()
    assert history["val_loss"].tolist() == pytest.approx(
        [np.mean([h["val_loss"].iloc[0] for h in histories])]
    )
    assert metrics["epochs_trained"] == 1


def test_the_ensemble_is_one_mlflow_run_with_each_members_history(
    ensemble_project, mlflow_store
):
    client = MlflowClient(mlflow_store)
    version = latest_version(ensemble_project / "data/06_models/mnist_cnn.keras")
    experiment = client.get_experiment_by_name(EXPERIMENT)

    (run,) = client.search_runs(
        [experiment.experiment_id],
        f"tags.project_path = '{ensemble_project}' "
        f"and tags.run_id = '{version.parent.name}'",
    )

    assert run.info.status == "FINISHED"
    assert run.data.tags["preset"] == "best"
    assert run.data.params["ensemble.member_2.training.seed"] == "2"
    for member in MEMBERS:
        name = f"{member.removeprefix('ensemble.')}.val_accuracy"
        assert len(client.get_metric_history(run.info.run_id, name)) == 1
    assert "test_accuracy" in run.data.metrics


def test_one_member_runs_alone_by_its_namespace(ensemble_project):
    models = ensemble_project / "data/06_models/ensemble"
    versions = {
        member: len(list((models / member / "mnist_cnn.keras").iterdir()))
        for member in ("member_1", "member_2", "member_3", "member_4")
    }

    run = run_kedro(
        ensemble_project,
        "--pipelines",
        "best",
        "--namespaces",
        "ensemble.member_2",
        "--params",
        QUICK_ENSEMBLE,
    )

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Completed 2 out of 2 tasks" in run.stdout + run.stderr  # train, log
    after = {
        member: len(list((models / member / "mnist_cnn.keras").iterdir()))
        for member in versions
    }
    assert after == {**versions, "member_2": versions["member_2"] + 1}


def test_a_cached_run_retrains_only_the_member_whose_seed_changed(
    ensemble_project, small_mnist_idx_dir, tmp_path
):
    project = clone_project(ensemble_project, tmp_path / "project")
    params = (
        f"ingestion.idx_dir={small_mnist_idx_dir},preprocessing.train_limit=600,"
        f"{QUICK_ENSEMBLE},ensemble.member_2.changes.seed=7"
    )

    def cached_run(*selection: str) -> str:
        run = run_kedro(
            project, "--cache", "--pipelines", "best", *selection, "--params", params
        )
        assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
        return run.stdout + run.stderr

    output = cached_run("--to-nodes", "ensemble.combine_members")
    member_alone = cached_run("--namespaces", "ensemble.member_2")

    assert set(re.findall(r"cli: (\S+): runs \(", output)) == {
        "ensemble.member_2.train_model",
        "ensemble.combine_members",
    }
    assert "ensemble.member_1.train_model: reused from run" in output
    # The member alone: its training reused; its epoch metrics, which the run
    # up to the combination left out, run.
    assert "ensemble.member_2.train_model: reused from run" in member_alone
    assert re.findall(r"cli: (\S+): runs \(", member_alone) == [
        "ensemble.member_2.log_epoch_metrics"
    ]


def test_the_selection_script_chooses_on_validation_within_the_training_budget(
    ensemble_project, tmp_path
):
    project = clone_project(ensemble_project, tmp_path / "project")
    # Members 3 and 4 counted as a second preset: 3 × 3 − 1 compositions.
    conf = project / "conf/base/parameters_ensemble.yml"
    conf.write_text(
        re.sub(r"model: deep, seed: ([34])", r"model: fast, seed: \1", conf.read_text())
    )
    reports = project / "data/08_reporting/ensemble"
    accuracies = pd.read_csv(
        latest_version(reports / "member_accuracies.csv"), index_col=0
    )
    seconds = [
        pd.read_csv(latest_version(reports / f"{m}/training_history.csv"))[
            "seconds"
        ].sum()
        for m in ("member_1", "member_2", "member_3", "member_4")
    ]
    # Room for any one member, not for all four two at a time.
    budget_minutes = max(seconds) / 60 * 1.001
    figures_file = tmp_path / "selection.json"

    result = run_benchmark(
        "ensemble_selection.py",
        "--project",
        str(project),
        "--budget-minutes",
        str(budget_minutes),
        "--json",
        str(figures_file),
        timeout=300,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    rows = {
        (row["members"]["deep"], row["members"]["fast"]): row
        for row in figures["compositions"]
    }
    assert len(figures["compositions"]) == len(rows) == 8
    # The average of all four is the pipeline's ensemble; one member is itself.
    for key, model in (
        ((2, 2), "ensemble"),
        ((1, 0), "member_1"),
        ((0, 1), "member_3"),
    ):
        for column in ("val_accuracy", "test_accuracy"):
            assert rows[key][column] == pytest.approx(
                accuracies.loc[model, column], abs=1e-4
            )
    assert [row["within_budget"] for row in rows.values()].count(True) >= 2
    assert not rows[(2, 2)]["within_budget"]
    ranked = [
        (-row["val_accuracy"], row["val_log_loss"]) for row in figures["compositions"]
    ]
    assert ranked == sorted(ranked)
    fitting = [row for row in figures["compositions"] if row["within_budget"]]
    assert figures["chosen"] == fitting[0]
    assert "Chosen" in result.stdout


def test_a_change_to_a_preset_no_member_trains_stops_the_ensemble(
    ensemble_project, mnist_idx_dir
):
    before = fingerprints(ensemble_project / "data")

    with pytest.raises(
        ParameterValidationError,
        match=r"changes training.presets.fast, but this run trains 'deep' only",
    ):
        run_session(
            ensemble_project,
            {"training": {"presets": {"fast": {"epochs": 3}}}},
            pipeline_names=["best"],
        )

    assert fingerprints(ensemble_project / "data") == before


def test_each_member_trains_training_with_its_changes_after_any_params(
    project_root,
):
    loader = OmegaConfigLoader(
        conf_source=str(project_root / "conf"),
        runtime_params={
            "training": {"presets": {"deep": {"epochs": 3}}},
            "ensemble": {"member_2": {"changes": {"seed": 7}}},
        },
        **CONFIG_LOADER_ARGS,
    )

    members = ProjectParams.model_validate(loader["parameters"]).ensemble

    assert list(members) == [member.split(".")[1] for member in MEMBERS]
    assert [member.training.seed for member in members.values()] == [1, 7, 3, 4]
    for member in members.values():
        assert member.training.model == "deep"
        assert member.training.preset.epochs == 3


def test_histories_average_epoch_by_epoch():
    first = pd.DataFrame({"epoch": [1, 2], "val_loss": [0.4, 0.2], "seconds": [10, 12]})
    second = pd.DataFrame({"epoch": [1, 2], "val_loss": [0.6, 0.4], "seconds": [20, 8]})

    history = average_histories(first, second)

    assert history.to_dict("list") == {
        "epoch": [1, 2],
        "val_loss": pytest.approx([0.5, 0.3]),
        "seconds": [15, 10],
    }


def test_member_accuracies_name_each_member_and_the_ensemble(base_parameters):
    preset = base_parameters.training.presets["seed"]
    members = [build_model((28, 28, 1), 10, preset) for _ in range(2)]
    images = np.random.default_rng(0).random((30, 28, 28, 1), dtype=np.float32)
    labels = members[0].predict(images, verbose=0).argmax(axis=1)

    table = member_accuracies(
        images[:10], labels[:10], images[10:], labels[10:], ensemble(members), *members
    )

    assert list(table.index) == ["member_1", "member_2", "ensemble"]
    assert table.loc["member_1"].tolist() == [1.0, 1.0]

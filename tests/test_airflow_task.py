"""What an Airflow task makes of its DAG run, without Airflow: the conf as the
run's parameters (the tasks themselves run in tests/test_airflow.py)."""

from mnist_kedro.airflow_task import runtime_params


def test_a_dag_runs_conf_takes_dotted_and_nested_keys_as_kedro_run_params_does():
    conf = {
        "training.presets.fast.epochs": 3,
        "training": {"seed": 7, "presets": {"fast": {"batch_size": 64}}},
        "preprocessing.train_limit": 2000,
    }

    assert runtime_params(conf) == {
        "training": {"seed": 7, "presets": {"fast": {"epochs": 3, "batch_size": 64}}},
        "preprocessing": {"train_limit": 2000},
    }


def test_an_empty_conf_changes_no_parameter():
    assert runtime_params({}) == {}

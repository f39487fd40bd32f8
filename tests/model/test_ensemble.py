"""Members combine into one model that averages their class probabilities."""

import keras
import numpy as np
import pytest

from mnist_kedro.datasets import KerasModelDataset
from mnist_kedro.model.network import build_model, ensemble


def test_the_ensemble_averages_its_members_and_survives_a_save_and_load(
    base_parameters, tmp_path
):
    preset = base_parameters.training.presets["seed"]
    members = []
    for seed in (1, 2, 3):
        keras.utils.set_random_seed(seed)
        members.append(build_model((28, 28, 1), 10, preset))
    images = np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32)
    each = [member.predict(images, verbose=0) for member in members]

    combined = ensemble(members)

    np.testing.assert_allclose(
        combined.predict(images, verbose=0), np.mean(each, axis=0), atol=1e-6
    )
    dataset = KerasModelDataset(filepath=str(tmp_path / "ensemble.keras"))
    dataset.save(combined)
    np.testing.assert_allclose(
        dataset.load().predict(images, verbose=0), np.mean(each, axis=0), atol=1e-6
    )


def test_members_of_other_shapes_are_refused(base_parameters):
    preset = base_parameters.training.presets["seed"]

    with pytest.raises(ValueError, match="must take images of one shape"):
        ensemble(
            [build_model((28, 28, 1), 10, preset), build_model((32, 32, 1), 10, preset)]
        )

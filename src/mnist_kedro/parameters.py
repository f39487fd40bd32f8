"""The project's parameters as pydantic models.

Nodes declare these types for their ``params:`` inputs, so Kedro validates
``conf/base/parameters*.yml`` and any ``--params`` against them when a run
starts, before any data is read, and hands the nodes validated objects.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    RootModel,
    field_validator,
    model_validator,
)


class _Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassNames(RootModel[list[str]]):
    """One name per class, in label order: label 0 is named first."""

    @field_validator("root")
    @classmethod
    def _distinct_and_enough(cls, names: list[str]) -> list[str]:
        if len(names) < 2:  # noqa: PLR2004
            raise ValueError("at least two class names are needed")
        if len(set(names)) != len(names) or not all(name.strip() for name in names):
            raise ValueError("class names must be distinct and non-empty")
        return names

    def __len__(self) -> int:
        return len(self.root)

    def __iter__(self):
        return iter(self.root)

    def __getitem__(self, label: int) -> str:
        return self.root[label]


class PreprocessingParams(_Parameters):
    validation_fraction: float = Field(gt=0, lt=1)
    train_limit: PositiveInt | None = None
    seed: int


class AugmentationParams(_Parameters):
    """Random changes to each training image, redrawn every epoch; never applied
    to validation, test or served images."""

    rotation_degrees: float = Field(ge=0, le=180)  # at most, either way
    shift: float = Field(ge=0, lt=1)  # at most, as a fraction of height and width
    zoom: float = Field(ge=0, lt=1)  # at most, in or out, as a fraction


class ModelPreset(_Parameters):
    """A CNN and how to train it. One block per entry of ``filters``, an
    optional dense layer, dropout and softmax. A ``pooled`` block is a
    convolution of ``kernel_size``, then 2×2 max pooling; a ``strided`` block is
    two convolutions of ``kernel_size``, then a 5×5 convolution of stride 2 in
    place of the pooling (deeper: ``deep`` computes 6× more per training
    image than ``fast``)."""

    block: Literal["pooled", "strided"] = "pooled"
    filters: list[PositiveInt] = Field(min_length=1)
    kernel_size: PositiveInt = 3
    batch_norm: bool = False  # after each convolution and the dense layer
    dense_units: NonNegativeInt = 0  # 0: straight from the last block to softmax
    dropout: float = Field(ge=0, lt=1)  # before the softmax layer
    block_dropout: float = Field(default=0, ge=0, lt=1)  # after each block's pooling
    augmentation: AugmentationParams | None = None
    # The share of each training label's probability spread evenly over all
    # classes (Keras' label_smoothing): a less confident fit of the training set.
    label_smoothing: float = Field(default=0, ge=0, lt=1)
    learning_rate: PositiveFloat  # Adam's; the peak of a cosine schedule
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_epochs: NonNegativeInt = 0  # of the cosine schedule, from a tenth
    batch_size: PositiveInt
    epochs: PositiveInt  # at most
    patience: NonNegativeInt  # epochs without a better val_loss before stopping
    # n > 0: the model gets the mean of the weights of the best epoch (lowest
    # val_loss) and of the n - 1 before it, as many as ran (tail averaging, as
    # in Izmailov et al.'s SWA); 0: the best epoch's weights.
    average_last_epochs: NonNegativeInt = 0


# The pipeline that trains an ensemble in place of one CNN: not a preset, and
# chosen as Kedro chooses a DAG, with ``--pipelines best``.
ENSEMBLE = "best"


class TrainingParams(_Parameters):
    model: str  # the preset trained, a key of ``presets``
    presets: dict[str, ModelPreset]
    seed: int
    deterministic: bool = True
    # "mirrored": one replica per device of ``devices`` (default: every local
    # GPU, else the CPU), each on ``batch_size`` images of every global batch.
    distribution: Literal["none", "mirrored"] = "none"
    devices: list[str] | None = Field(default=None, min_length=1)
    # TensorFlow's threads for the run's training (default: one per core); 1
    # when trainings run side by side, e.g. the members under ParallelRunner.
    threads: PositiveInt | None = None
    # Training steps per call into TensorFlow: fewer returns to Python per
    # epoch; callbacks see every n-th batch.
    steps_per_execution: PositiveInt = 1
    # "bfloat16": Keras' mixed_bfloat16 policy for the training (weights kept
    # in float32; the saved model is float32); "auto": bfloat16 where the CPU
    # computes it natively (AMX or AVX512_BF16), float32 elsewhere.
    precision: Literal["float32", "bfloat16", "auto"] = "float32"
    backup_dir: str = "data/06_models/training_backup"

    @model_validator(mode="after")
    def _model_is_a_preset(self) -> TrainingParams:
        if ENSEMBLE in self.presets:
            raise ValueError(
                f"{ENSEMBLE!r} names the ensemble's pipeline: give the preset in "
                "training.presets another name"
            )
        if self.model == ENSEMBLE:
            raise ValueError(
                f"training.model={ENSEMBLE}: the ensemble is a pipeline, not a "
                f"preset: run `kedro run --pipelines {ENSEMBLE}` (its members: "
                "conf/base/parameters_ensemble.yml)"
            )
        if self.model not in self.presets:
            raise ValueError(
                f"model {self.model!r} is not one of the presets "
                f"{', '.join(self.presets)} in training.presets"
            )
        warmup_too_long = [
            name
            for name, preset in self.presets.items()
            if preset.warmup_epochs >= preset.epochs
        ]
        if warmup_too_long:
            raise ValueError(
                f"warmup_epochs must be fewer than epochs (presets {warmup_too_long})"
            )
        if self.distribution == "mirrored" and self.steps_per_execution > 1:
            # Keras' loop of several steps fails under MirroredStrategy ("You
            # must feed a value for placeholder tensor", keras-team/keras#19246).
            raise ValueError(
                "training.distribution=mirrored trains one step per call into "
                "TensorFlow: add training.steps_per_execution=1"
            )
        return self

    @property
    def preset(self) -> ModelPreset:
        return self.presets[self.model]

    def with_preset(self, **changes) -> TrainingParams:
        """A validated copy whose chosen preset has ``changes``, e.g. ``epochs=3``."""
        parameters = self.model_dump()
        parameters["presets"][self.model].update(changes)
        return TrainingParams.model_validate(parameters)


class EvaluationParams(_Parameters):
    grid_size: PositiveInt = Field(le=20)


class ExportParams(_Parameters):
    """How the exported models are checked against Keras."""

    check_images: PositiveInt  # the first test images, predicted by every format
    tolerance: PositiveFloat  # the largest difference allowed in a probability


class IngestionParams(_Parameters):
    """``--params`` overrides of the raw source in ``conf/base/catalog.yml``."""

    source: Literal["auto", "idx", "tfds"] = "auto"
    idx_dir: str | None = None
    tfds_name: str | None = None


class MemberParams(_Parameters):
    """A member of the ``best`` ensemble: ``training`` with ``changes`` (e.g. its
    own preset and seed), merged in ``conf/base/parameters_ensemble.yml``."""

    changes: dict[str, object]
    training: TrainingParams


class ProjectParams(_Parameters):
    """All parameters: catches a misspelt or unknown section too."""

    class_names: ClassNames
    ingestion: IngestionParams = IngestionParams()
    preprocessing: PreprocessingParams
    training: TrainingParams
    ensemble: dict[str, MemberParams] = {}
    evaluation: EvaluationParams
    export: ExportParams

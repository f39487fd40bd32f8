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


class TrainingParams(_Parameters):
    model: Literal["seed"] = "seed"  # the model preset; "seed" is the original CNN
    filters: tuple[PositiveInt, PositiveInt]
    dropout: float = Field(ge=0, lt=1)
    learning_rate: PositiveFloat
    batch_size: PositiveInt
    epochs: PositiveInt
    patience: NonNegativeInt
    seed: int
    deterministic: bool = True
    backup_dir: str = "data/06_models/training_backup"


class EvaluationParams(_Parameters):
    grid_size: PositiveInt = Field(le=20)


class IngestionParams(_Parameters):
    """``--params`` overrides of the raw source in ``conf/base/catalog.yml``."""

    source: Literal["auto", "idx", "tfds"] = "auto"
    idx_dir: str | None = None
    tfds_name: str | None = None


class ProjectParams(_Parameters):
    """All parameters: catches a misspelt or unknown section too."""

    class_names: ClassNames
    ingestion: IngestionParams = IngestionParams()
    preprocessing: PreprocessingParams
    training: TrainingParams
    evaluation: EvaluationParams

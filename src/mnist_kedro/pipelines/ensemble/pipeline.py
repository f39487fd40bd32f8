"""The ensemble pipeline, in the namespace ``ensemble``: the training pipeline
once per member, each in a namespace of its own (``ensemble.member_1`` …, whose
model is ``ensemble.member_1.mnist_cnn``), then one model averaging the
members, saved as ``mnist_cnn`` for the evaluation and the service."""

from kedro.pipeline import Node, Pipeline

from mnist_kedro.pipelines import training

from .nodes import average_histories, combine_members, member_accuracies

# Each takes its parameters from this section of parameters_ensemble.yml.
MEMBERS = [f"ensemble.member_{number}" for number in range(1, 5)]


def create_pipeline(**kwargs) -> Pipeline:
    members = sum(
        Pipeline(
            training.create_pipeline(),
            namespace=member,
            # Shared by all; the rest (params:training, the model and the
            # history) becomes the member's own: params:ensemble.member_1.training …
            inputs={"x_train", "y_train", "x_val", "y_val"},
            parameters={"params:class_names"},
        )
        for member in MEMBERS
    )
    combination = Pipeline(
        [
            Node(
                func=combine_members,
                inputs=[f"{member}.mnist_cnn" for member in MEMBERS],
                outputs="mnist_cnn",
                name="combine_members",
                namespace="ensemble",
            ),
            Node(
                func=average_histories,
                inputs=[f"{member}.training_history" for member in MEMBERS],
                outputs="training_history",
                name="average_histories",
                namespace="ensemble",
            ),
            Node(
                func=member_accuracies,
                inputs=[
                    "x_val",
                    "y_val",
                    "x_test",
                    "test_labels",
                    "mnist_cnn",
                    *(f"{member}.mnist_cnn" for member in MEMBERS),
                ],
                outputs="ensemble.member_accuracies",
                name="member_accuracies",
                namespace="ensemble",
            ),
        ]
    )
    return Pipeline(members + combination, tags="ensemble")

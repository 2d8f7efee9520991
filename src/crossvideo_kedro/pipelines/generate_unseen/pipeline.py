"""``generate_unseen``: ``params:generate`` with ``predict.unseen`` overrides → ``predict_sequences`` (HOI4D raw
layout in its own folder). Real-data environments point ``predict_sequences`` at a read-only reader instead and run
``predict`` alone."""

from kedro.pipeline import Node, Pipeline

from crossvideo_kedro.pipelines.predict.nodes import generate_unseen_sequences


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([Node(func=generate_unseen_sequences, inputs=["params:generate", "params:predict"],
                          outputs="predict_sequences", name="generate_unseen_sequences")],
                    tags={"predict"})

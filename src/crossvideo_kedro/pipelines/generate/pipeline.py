"""``generate``: parameters → ``raw_sequences`` (HOI4D raw layout under data/01_raw/generated)."""

from kedro.pipeline import Node, Pipeline

from crossvideo_kedro.pipelines.generate.nodes import generate_raw_sequences


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=generate_raw_sequences,
                inputs="params:generate",
                outputs="raw_sequences",
                name="generate_raw_sequences",
            )
        ]
    )

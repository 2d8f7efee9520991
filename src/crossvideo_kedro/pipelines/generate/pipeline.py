"""``generate``: parameters → ``generated_sequences`` (labelled) and ``generated_unlabelled_sequences`` (the pool).

Both are the project's own data (HOI4D raw layout under data/01_raw/generated and generated_unlabelled). ``ingest``
reads ``raw_sequences`` / ``unlabelled_sequences``, which point at these folders in ``conf/base`` and at real data
in the real-data environments; ``generate`` never writes a real source.
"""

from kedro.pipeline import Node, Pipeline

from crossvideo_kedro.pipelines.generate.nodes import generate_raw_sequences, generate_unlabelled_sequences


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=generate_raw_sequences,
                inputs="params:generate",
                outputs="generated_sequences",
                name="generate_raw_sequences",
            ),
            Node(
                func=generate_unlabelled_sequences,
                inputs="params:generate",
                outputs="generated_unlabelled_sequences",
                name="generate_unlabelled_sequences",
            ),
        ]
    )

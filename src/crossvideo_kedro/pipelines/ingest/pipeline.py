"""``ingest``: raw sequences → ``point_cloud_videos``, ``image_videos``, ``sequence_index`` (docs/design.md §3).

Reads the labelled source ``raw_sequences``, the unlabelled pretraining pool ``unlabelled_sequences`` (may be an
empty ``MemoryDataset``) and the optional fixed split ``split_file`` (``{}`` unless ``ingest.split: file``).
"""

from kedro.pipeline import Node, Pipeline

from crossvideo_kedro.pipelines.ingest.nodes import build_sequence_index, ingest_sequences, plot_ingest_preview


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=ingest_sequences,
                inputs=["raw_sequences", "unlabelled_sequences", "params:ingest", "split_file"],
                outputs=["point_cloud_videos", "image_videos", "sequence_table", "class_names", "ingest_skipped"],
                name="ingest_sequences",
            ),
            Node(
                func=build_sequence_index,
                inputs=["sequence_table", "split_file", "ingest_skipped", "params:ingest"],
                outputs="sequence_index",
                name="build_sequence_index",
            ),
            Node(
                func=plot_ingest_preview,
                inputs=["point_cloud_videos", "image_videos", "sequence_index", "class_names"],
                outputs="ingest_preview_plot",
                name="plot_ingest_preview",
            ),
        ]
    )

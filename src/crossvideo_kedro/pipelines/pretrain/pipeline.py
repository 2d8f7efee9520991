"""``pretrain``: ``pretrain_pool`` (+ the contracts) → ``pretrained_encoders`` (one run per seed) → ``clip_embeddings``,
held-out retrieval metrics and the loss-curve plot."""

from kedro.pipeline import Node, Pipeline

from crossvideo_kedro.pipelines.pretrain.nodes import (
    embed_clips,
    evaluate_retrieval,
    plot_pretrain_history,
    pretrain_encoders,
)

CONTRACTS = ["point_cloud_videos", "image_videos", "sequence_index"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=pretrain_encoders,
                inputs=["pretrain_pool", "point_cloud_videos", "image_videos", "params:augment", "params:pretrain"],
                outputs=["pretrained_encoders", "pretrain_history"],
                name="pretrain_encoders",
            ),
            Node(
                func=embed_clips,
                inputs=["pretrained_encoders", *CONTRACTS, "params:pretrain"],
                outputs="clip_embeddings",
                name="embed_clips",
            ),
            Node(
                func=evaluate_retrieval,
                inputs=["pretrained_encoders", *CONTRACTS, "params:pretrain"],
                outputs="retrieval_metrics",
                name="evaluate_retrieval",
            ),
            Node(
                func=plot_pretrain_history,
                inputs="pretrain_history",
                outputs="pretrain_loss_plot",
                name="plot_pretrain_history",
            ),
        ]
    )

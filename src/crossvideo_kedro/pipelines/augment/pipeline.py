"""``augment``: ``sequence_index`` → ``pretrain_pool`` (the sequences pretraining draws fresh views from) and a preview
plot of the views."""

from kedro.pipeline import Node, Pipeline

from crossvideo_kedro.pipelines.augment.nodes import build_pretrain_pool, plot_pretrain_views


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=build_pretrain_pool,
                inputs=["sequence_index", "params:augment"],
                outputs="pretrain_pool",
                name="build_pretrain_pool",
            ),
            Node(
                func=plot_pretrain_views,
                inputs=["pretrain_pool", "point_cloud_videos", "image_videos", "params:augment"],
                outputs="pretrain_views_plot",
                name="plot_pretrain_views",
            ),
        ]
    )

"""``augment``: point/image videos → ``pretrain_views`` (view pairs with timestamps) and a plot of one pair."""

from kedro.pipeline import Node, Pipeline

from crossvideo_kedro.pipelines.augment.nodes import build_pretrain_views, plot_pretrain_views


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=build_pretrain_views,
                inputs=["point_cloud_videos", "image_videos", "sequence_index", "params:augment"],
                outputs="pretrain_views",
                name="build_pretrain_views",
            ),
            Node(
                func=plot_pretrain_views,
                inputs=["point_cloud_videos", "pretrain_views"],
                outputs="pretrain_views_plot",
                name="plot_pretrain_views",
            ),
        ]
    )

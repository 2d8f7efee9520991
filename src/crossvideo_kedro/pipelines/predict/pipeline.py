"""``predict``: ``predict_sequences`` (any raw reader) → ingest's preprocessing → one variant's trained models →
per-frame actions (CSV + timeline), per-point labels (one PLY per frame + picture + interactive 3-D view), clip
embeddings and, where the recording has labels, its scores.

The variant (``predict.variant``) picks the input ``<variant>.downstream_models``; like the study's variants it is
read when pipelines are built (``$KEDRO_ENV`` applies, ``--params`` does not).
"""

from __future__ import annotations

import os
import warnings

from kedro.pipeline import Node, Pipeline

from crossvideo_kedro.pipelines.predict import nodes


def predict_variant() -> str:
    """``predict.variant`` from the project's parameters (base + ``$KEDRO_ENV``), ``crossvideo`` if unset."""
    from kedro.framework.project import settings  # noqa: PLC0415

    from crossvideo_kedro.study import project_root  # noqa: PLC0415

    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(project_root() / settings.CONF_SOURCE),
                                          env=os.environ.get("KEDRO_ENV"), **settings.CONFIG_LOADER_ARGS)
    return (loader["parameters"].get("predict") or {}).get("variant", "crossvideo")


def create_pipeline(variant: str | None = None, **kwargs) -> Pipeline:
    variant = variant or predict_variant()
    labels = ["predicted_labels", "predict_point_videos"]
    context = ["downstream_models", "class_names", "params:predict"]
    pipeline = Pipeline(
        [
            Node(func=nodes.preprocess_recording, inputs=["predict_sequences", "params:ingest"],
                 outputs=["predict_point_videos", "predict_image_videos"], name="preprocess_recording"),
            Node(func=nodes.predict_labels,
                 inputs=["downstream_models", "predict_point_videos", "predict_image_videos", "params:predict"],
                 outputs="predicted_labels", name="predict_labels"),
            Node(func=nodes.action_table, inputs=[*labels, *context], outputs="predicted_actions",
                 name="predicted_action_table"),
            Node(func=nodes.labelled_point_clouds, inputs=labels, outputs="predicted_point_clouds",
                 name="labelled_point_clouds"),
            Node(func=nodes.embed_clips,
                 inputs=["pretrained_encoders", "predict_point_videos", "predict_image_videos", "params:predict"],
                 outputs="predict_clip_embeddings", name="embed_predict_clips"),
            Node(func=nodes.score_predictions, inputs=[*labels, "downstream_models", "params:predict"],
                 outputs="predict_metrics", name="score_predictions"),
            Node(func=nodes.plot_predicted_actions, inputs=[*labels, *context], outputs="predict_timeline_plot",
                 name="plot_predicted_actions"),
            Node(func=nodes.plot_predicted_points, inputs=[*labels, *context], outputs="predict_points_plot",
                 name="plot_predicted_points"),
            Node(func=nodes.view_predicted_points_3d, inputs=[*labels, *context], outputs="predict_points_3d",
                 name="view_predicted_points_3d"),
        ],
        tags={"predict"},
    )
    with warnings.catch_warnings():  # reading a variant's namespaced output is the point of this pipeline
        warnings.filterwarnings("ignore", message=".*reserved for automatic namespacing.*")
        return Pipeline(pipeline, inputs={"downstream_models": f"{variant}.downstream_models"})

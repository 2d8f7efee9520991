"""``predict``: ``predict_sequences`` (any raw reader) → ingest's preprocessing → one variant's trained models →
per-frame actions (CSV + timeline), per-point labels (one PLY per frame + picture + interactive 3-D view), clip
embeddings and, where the recording has labels, its scores.

The variant (``predict.variant``) picks the input ``<variant>.downstream_models``; like the study's variants it is
read when pipelines are built, from the run's parameters (``--env`` and ``--params`` apply; outside a run, base +
``$KEDRO_ENV``).
"""

from __future__ import annotations

import warnings

from kedro.pipeline import Node, Pipeline

from crossvideo_kedro.pipelines.predict import nodes


def predict_variant() -> str:
    """``predict.variant`` of the running session (env + ``--params``; outside a run base + ``$KEDRO_ENV``),
    ``crossvideo`` if unset."""
    from crossvideo_kedro.framework.build_parameters import load_build_parameters  # noqa: PLC0415

    return load_build_parameters("predict").get("variant") or "crossvideo"


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

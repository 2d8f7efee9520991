"""``evaluate``: every selected variant's ``downstream_metrics`` → ``metrics`` table, ``ablation_table``/summary
(with paired differences to scratch and their 95 % intervals) and plots; plots that do not apply return None."""

from __future__ import annotations

import warnings

from kedro.pipeline import Node, Pipeline

from crossvideo_kedro.pipelines.evaluate import nodes
from crossvideo_kedro.study import load_study_parameters, variants_of


def create_pipeline(**kwargs) -> Pipeline:
    study = load_study_parameters()
    variants = [v.name for v in variants_of(study)]
    if not variants:
        return Pipeline([])
    compare = [v for v in study.get("plots", {}).get("compare", []) if v in variants] or variants[:1]
    showcase = compare[-1]
    # Nodes name plain datasets; the Pipeline maps them onto the variants' namespaced outputs.
    metrics_of = {v: f"downstream_metrics_{v}" for v in variants}
    predictions_of = {v: f"downstream_predictions_{v}" for v in {*compare, showcase}}
    study = Pipeline(
        [
            Node(func=nodes.collect_metrics, inputs=[metrics_of[v] for v in variants],
                 outputs=["metrics", "metrics_csv"], name="collect_metrics"),
            Node(func=nodes.count_class_points, inputs=["point_cloud_videos", "sequence_index", "params:evaluate"],
                 outputs="semantic_class_points", name="count_class_points"),
            Node(func=nodes.summarise_study,
                 inputs=["metrics", "params:evaluate", "class_names", "semantic_class_points"],
                 outputs=["ablation_table", "ablation_summary"], name="summarise_study"),
            Node(func=nodes.plot_label_efficiency, inputs="metrics", outputs="label_efficiency_plot",
                 name="plot_label_efficiency"),
            Node(func=nodes.plot_action_timelines,
                 inputs=["point_cloud_videos", "class_names", "params:evaluate",
                         *[predictions_of[v] for v in compare]],
                 outputs="action_timeline_plot", name="plot_action_timelines"),
            Node(func=nodes.plot_action_confusion,
                 inputs=["point_cloud_videos", "class_names", predictions_of[showcase], "params:evaluate"],
                 outputs="action_confusion_plot", name="plot_action_confusion"),
            Node(func=nodes.plot_per_class_iou, inputs=["metrics", "class_names", "params:evaluate"],
                 outputs="per_class_iou_plot", name="plot_per_class_iou"),
            Node(func=nodes.plot_embedding_tsne,
                 inputs=["clip_embeddings", "point_cloud_videos", "class_names", "params:evaluate"],
                 outputs="embedding_tsne_plot", name="plot_embedding_tsne"),
            Node(func=nodes.plot_semantic_frame,
                 inputs=["point_cloud_videos", "class_names", predictions_of[showcase], "params:evaluate"],
                 outputs="semantic_frame_plot", name="plot_semantic_frame"),
        ],
        tags={"study"},
    )
    renames = {plain: f"{v}.downstream_metrics" for v, plain in metrics_of.items()}
    renames |= {plain: f"{v}.downstream_predictions" for v, plain in predictions_of.items()}
    with warnings.catch_warnings():  # reading other namespaces' outputs is the point of this pipeline
        warnings.filterwarnings("ignore", message=".*reserved for automatic namespacing.*")
        return Pipeline(study, inputs=renames)

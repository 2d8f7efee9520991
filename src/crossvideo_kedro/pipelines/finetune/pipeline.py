"""``finetune``: one namespaced pipeline per study variant (``evaluate.variants`` in parameters_evaluate.yml).

Inside namespace ``<variant>``: (its own pretraining, when ``init: pretrain``: the lead's ``pretrain_encoders`` on
``pretrain_pool`` with the variant's loss weights, every pretraining seed) → ``finetune_variant`` over the study grid
and replicates → ``<variant>.downstream_metrics``, ``<variant>.downstream_predictions``,
``<variant>.downstream_models``. Only the variants selected by ``evaluate.include`` get a namespace. Shared inputs
(the ingest contracts, ``pretrain_pool``, the base parameters) keep their global names.
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from crossvideo_kedro.pipelines.finetune.nodes import finetune_variant, finetune_variant_from_scratch, pretrain_variant
from crossvideo_kedro.configs import Variant
from crossvideo_kedro.study import load_variants

SHARED_INPUTS = {"point_cloud_videos", "image_videos", "sequence_index", "class_names"}
SHARED_PARAMS = {"params:pretrain", "params:finetune", "params:evaluate"}


def _named(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def variant_pipeline(variant: Variant) -> Pipeline:
    """The namespaced pipeline of one variant."""
    data = ["point_cloud_videos", "image_videos", "sequence_index", "class_names"]
    params = ["params:pretrain", "params:finetune", "params:evaluate", f"params:evaluate.variants.{variant.name}"]
    outputs = ["downstream_metrics", "downstream_predictions", "downstream_models"]
    nodes, inputs = [], set(SHARED_INPUTS)
    if variant.init == "pretrain":
        nodes.append(Node(
            func=_named(pretrain_variant, variant_name=variant.name),
            inputs=["pretrain_pool", "point_cloud_videos", "image_videos", "params:augment", "params:pretrain",
                    f"params:evaluate.variants.{variant.name}"],
            outputs=["pretrained_encoders", "pretrain_history"],
            name="pretrain_variant",
        ))
        inputs.add("pretrain_pool")
    if variant.init == "scratch":
        nodes.append(Node(func=_named(finetune_variant_from_scratch, variant_name=variant.name),
                          inputs=data + params, outputs=outputs, name="finetune_variant"))
    else:
        nodes.append(Node(func=_named(finetune_variant, variant_name=variant.name),
                          inputs=["pretrained_encoders", *data, *params], outputs=outputs, name="finetune_variant"))
    if variant.init == "pretrained":  # reuse the `pretrain` pipeline's encoders
        inputs.add("pretrained_encoders")
    shared_params = SHARED_PARAMS | ({"params:augment"} if variant.init == "pretrain" else set())
    return Pipeline(nodes, namespace=variant.name, inputs=inputs,
                    parameters=shared_params | {f"params:evaluate.variants.{variant.name}"},
                    tags={"study", variant.name})


def create_pipeline(**kwargs) -> Pipeline:
    return sum((variant_pipeline(v) for v in load_variants()), Pipeline([]))

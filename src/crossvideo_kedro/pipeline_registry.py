"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline, pipeline

from crossvideo_kedro.raw_source import ingest_wiring

# The order of the study; __default__ runs them all.
STAGES = ("generate", "ingest", "augment", "pretrain", "finetune", "evaluate")


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    # Ingest reads generate's outputs only where the active configuration points it at the generated folders;
    # the default run then generates exactly those, and never runs generate for a real source (read-only).
    wiring = ingest_wiring()
    if "ingest" in pipelines and wiring:
        pipelines["ingest"] = pipeline(pipelines["ingest"], inputs=wiring)
    stages = {name: pipelines[name] for name in STAGES if name in pipelines}
    if "generate" in stages:
        stages["generate"] = (stages["generate"].only_nodes_with_outputs(*wiring.values()) if wiring
                              else Pipeline([]))
    pipelines["__default__"] = sum(stages.values(), Pipeline([]))
    return pipelines

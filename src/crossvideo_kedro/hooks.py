"""Project hooks."""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline

from crossvideo_kedro.training.distributed import env_dist_info

logger = logging.getLogger(__name__)


class DistributedOutputsHook:
    """Under ``torchrun``, only rank 0 writes catalog outputs: other ranks keep theirs in memory.

    Every rank runs the same pipeline (its training node joins the process group); without this hook each rank would
    save its own copy of every output.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        info = env_dist_info()
        if info.is_main:
            return
        for name in pipeline.all_outputs():
            catalog[name] = MemoryDataset(copy_mode="assign")
        logger.info("rank %d of %d: outputs of this run stay in memory", info.rank, info.world_size)


class MlflowMetricsHook:
    """Logs the study's metrics to the active MLflow run when kedro-mlflow is installed (``pip install -e .[mlflow]``).

    kedro-mlflow opens one run per ``kedro run`` and logs the parameters (its own hook, configured in
    ``conf/base/mlflow.yml``); this hook adds the numbers: retrieval top-k after pretraining and, after ``evaluate``,
    the mean over seeds of every metric, named ``<variant>/<task>/<protocol>/<fraction>/<metric>``.
    Without mlflow installed it does nothing.
    """

    @hook_impl
    def after_node_run(self, node, outputs: dict) -> None:
        try:
            import mlflow  # noqa: PLC0415 - optional dependency
        except ImportError:
            return
        if mlflow.active_run() is None:
            return
        if "retrieval_metrics" in outputs:
            mlflow.log_metrics({f"retrieval/{k}": float(v) for k, v in outputs["retrieval_metrics"].items()
                                if isinstance(v, int | float)})
        if "ablation_table" in outputs:
            mlflow.log_metrics(study_metrics(outputs["ablation_table"]))


def study_metrics(ablation_table) -> dict[str, float]:
    """``{"<variant>/<task>/<protocol>/<fraction>/<metric>": mean}`` from the ``ablation_table``."""
    return {
        f"{r.variant}/{r.task}/{r.protocol}/{r.label_fraction:g}/{r.metric}".replace("@", "_at_"): float(r.mean)
        for r in ablation_table.itertuples()
    }

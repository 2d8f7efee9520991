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

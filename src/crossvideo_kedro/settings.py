"""Project settings (https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

import os
import warnings

# omegaconf 2.4 deprecates register_new_resolver(), which Kedro's config loader calls for every resolver on every
# command: 3-6 multi-line warnings that say nothing about this project. Filtered here, before the loader is imported,
# so `kedro run`, `kedro catalog`, `kedro viz` and notebooks are all quiet (pytest has the same filter).
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)

# No telemetry: these machines have no network, and kedro-telemetry would try it on every command.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

# Environments such as conf/seven_scenes override single keys of a pipeline's parameters, not whole blocks (the
# soft merge): defined beside the code that reads parameters outside a session.
from crossvideo_kedro.framework.build_parameters import (  # noqa: E402
    CONFIG_LOADER_ARGS,
    CONFIG_LOADER_CLASS,
    StudyParametersHook,
)
from crossvideo_kedro.framework.hooks import DistributedOutputsHook, MlflowMetricsHook, RunGuardHook  # noqa: E402
from crossvideo_kedro.raw_source import RawSourceHook  # noqa: E402

__all__ = ["CONFIG_LOADER_ARGS", "CONFIG_LOADER_CLASS", "HOOKS"]

# RawSourceHook last, so it runs first in after_context_created: StudyParametersHook records the study parameters,
# registers the pipelines, and the registry must already know which raw sources are generated.
# pluggy calls the last registered hook first: RunGuardHook (parameters, lock, pinned inputs) is the first
# before_pipeline_run hook, ahead of DistributedOutputsHook and MlflowMetricsHook.
HOOKS = (DistributedOutputsHook(), MlflowMetricsHook(), RunGuardHook(), StudyParametersHook(), RawSourceHook())

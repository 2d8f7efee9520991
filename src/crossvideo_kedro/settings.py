"""Project settings (https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

import os

from kedro.config import OmegaConfigLoader

# No telemetry: these machines have no network, and kedro-telemetry would try it on every command.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Environments such as conf/seven_scenes override single keys of a pipeline's parameters, not whole blocks.
    "merge_strategy": {"parameters": "soft"},
}

from crossvideo_kedro.hooks import DistributedOutputsHook, MlflowMetricsHook  # noqa: E402

HOOKS = (DistributedOutputsHook(), MlflowMetricsHook())

"""The parameters pipelines are built from, and the config loader settings that read them.

The study's namespaces (``evaluate``) and the models ``predict`` reads are decided when pipelines are registered,
before any node runs. :class:`StudyParametersHook` records those blocks of the running session (``--env`` and
``--params`` included); :func:`load_build_parameters` returns them, or reads the configuration where no session runs
(a notebook, ``kedro registry``). ``settings.py`` takes :data:`CONFIG_LOADER_CLASS` and :data:`CONFIG_LOADER_ARGS`
from here, so reading parameters outside a session needs no import of the project's settings (and its hooks).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.framework.hooks import hook_impl

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Environments such as conf/seven_scenes override single keys of a pipeline's parameters, not whole blocks.
    "merge_strategy": {"parameters": "soft"},
}


def project_root() -> Path:
    """The Kedro project being run: the nearest folder at or above the working directory whose ``pyproject.toml``
    has a ``[tool.kedro]`` table (as ``kedro`` itself finds it), else the source checkout of this package."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.kedro]" in pyproject.read_text(encoding="utf-8"):
            return folder
    return Path(__file__).resolve().parents[3]


def load_build_parameters(key: str, conf_source: str | Path | None = None, env: str | None = None) -> dict[str, Any]:
    """The ``key`` block of the parameters (``evaluate``, ``predict``): the ones pipelines are built from.

    Inside ``kedro run`` they are the run's own parameters (``--env`` and ``--params`` included), recorded by
    :class:`StudyParametersHook` when the context is created, before pipelines are registered. Elsewhere (a notebook,
    ``kedro registry``) they are read with the project's config loader, ``env`` defaulting to ``$KEDRO_ENV``.
    """
    if conf_source is None and env is None and _ACTIVE.get(key) is not None:
        return _ACTIVE[key]

    if conf_source is None:
        from kedro.framework.project import settings  # noqa: PLC0415 - Kedro's settings (CONF_SOURCE), not ours

        conf_source = project_root() / settings.CONF_SOURCE
    env = env or os.environ.get("KEDRO_ENV")
    loader = CONFIG_LOADER_CLASS(conf_source=str(conf_source), env=env, **CONFIG_LOADER_ARGS)
    return loader["parameters"].get(key) or {}


BUILD_KEYS = ("evaluate", "predict")  # parameter blocks that decide how pipelines are built
_ACTIVE: dict[str, Any] = {}  # the running session's BUILD_KEYS parameters (set by StudyParametersHook)


class StudyParametersHook:
    """Records the run's ``evaluate`` and ``predict`` parameters (env + ``--params``) so pipelines are built from them.

    Kedro creates the context (and calls ``after_context_created``) before it first registers pipelines, so
    ``kedro run --env ablations`` and ``--params "evaluate.include=scratch+cross_only"`` shape the namespaces, and
    ``--params predict.variant=scratch`` the models ``predict`` reads.
    The parameters are read from the config loader (env + ``--params``), not from ``context.params``: Kedro's
    parameter validation behind ``context.params`` registers every pipeline, which would build the study's
    namespaces from the parameters of a run that has not been recorded yet (the base ones).
    """

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        parameters = context.config_loader["parameters"]
        for key in BUILD_KEYS:
            _ACTIVE[key] = parameters.get(key)

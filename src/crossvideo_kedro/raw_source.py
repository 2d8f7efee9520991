"""Which raw sources the running configuration points ingest at: the project's generated data, or real data.

Real raw data is read-only to the project. ``generate`` writes only ``generated_sequences`` and
``generated_unlabelled_sequences``; ``ingest`` reads ``raw_sequences`` and ``unlabelled_sequences``. In
``conf/base`` those two point at the generated folders; a real-data environment points them at its reader (and
``unlabelled_sequences`` at a reader or an empty ``MemoryDataset``).

The pipeline registry asks :func:`ingest_wiring` which of ingest's inputs are generated under the active
configuration: those are wired to ``generate``'s outputs (so the default run orders generate → ingest), and
``__default__`` includes the ``generate`` nodes that make them — only those, so ``kedro run --env <real>`` never
generates, and never writes into a real source. :class:`RawSourceHook` records the active catalog configuration
(after ``--env``) when Kedro creates the context, which it does before it first registers pipelines.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

#: ingest input → the generate output it is when the configuration points it at the generated folder.
GENERATED = {"raw_sequences": "generated_sequences", "unlabelled_sequences": "generated_unlabelled_sequences"}
_ACTIVE: dict[str, Any] = {}  # the running session's catalog configuration (set by RawSourceHook)


def _same_entry(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Two catalog entries that read the same folder with the same dataset class."""
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return False
    where = ("path", "filepath")
    return a.get("type") == b.get("type") and any(a.get(k) is not None and a.get(k) == b.get(k) for k in where)


def ingest_wiring(catalog_config: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``{ingest input: generate output}`` for the ingest inputs that are the generated data.

    Args:
        catalog_config: The resolved catalog configuration; default: the running session's (else ``conf/base``).

    Returns:
        e.g. ``{"raw_sequences": "generated_sequences", "unlabelled_sequences": "generated_unlabelled_sequences"}``
        on the default configuration, ``{}`` when both point at real data.
    """
    config = catalog_config if catalog_config is not None else _ACTIVE.get("catalog")
    if config is None:
        config = _base_catalog()
    return {name: generated for name, generated in GENERATED.items()
            if _same_entry(config.get(name), config.get(generated))}


def _base_catalog() -> dict[str, Any]:
    """The catalog of the project in the working directory: ``--env`` of the running command, else ``$KEDRO_ENV``,
    else ``local``, over ``base``.

    Used when no session recorded its catalog (``kedro viz``, a notebook importing the registry).
    """
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415

    conf = Path.cwd() / "conf"
    if not conf.is_dir():
        return {}
    env = _cli_env() or os.environ.get("KEDRO_ENV") or "local"
    try:
        return dict(OmegaConfigLoader(str(conf), base_env="base", default_run_env=env)["catalog"])
    except Exception as error:  # noqa: BLE001 - a broken catalog is reported by Kedro itself, later
        logger.debug("could not read the catalog to wire ingest: %s", error)
        return {}


def _cli_env() -> str | None:
    """``--env`` of the running ``kedro`` command, if any (a fallback should the hook not have run yet)."""
    try:
        import click  # noqa: PLC0415

        ctx = click.get_current_context(silent=True)
    except ImportError:
        return None
    while ctx is not None:
        if ctx.params.get("env"):
            return str(ctx.params["env"])
        ctx = ctx.parent
    return None


class RawSourceHook:
    """Records the run's catalog configuration (``--env`` applied) for :func:`ingest_wiring`."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        try:
            _ACTIVE["catalog"] = dict(context.config_loader["catalog"])
        except Exception as error:  # noqa: BLE001 - Kedro reports a broken catalog itself
            logger.debug("could not read the catalog configuration: %s", error)
            _ACTIVE.pop("catalog", None)

"""Project hooks."""

from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset, DataCatalog, MemoryDataset
from kedro.io.core import Version
from kedro.pipeline import Pipeline

from crossvideo_kedro import runs
from crossvideo_kedro.parameters import parameter_keys, validate_parameters
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


class RunGuardHook:
    """Checks a run before its first node and commits it after its last (see :mod:`crossvideo_kedro.runs`).

    ``before_pipeline_run``, in order: every parameter block the pipeline consumes is validated (all problems in
    one message); the data folder's run lock is taken (a second concurrent run is refused); staging litter of killed
    runs is removed; every versioned input the run does not produce itself is pinned to the version a finished run
    recorded (inputs made by one run come from one run), the run's own outputs are pinned to its save version; a
    missing input is refused with one line naming it and the command that makes it.
    ``after_pipeline_run`` writes the run manifest (the commit) and releases the lock; ``on_pipeline_error``
    records the nodes whose outputs all exist, as a ``failed`` manifest, and releases the lock.
    """

    def __init__(self) -> None:
        self._lock: runs.RunLock | None = None
        self._loaded: dict[str, str] = {}
        self._data: Path | None = None

    # ------------------------------------------------------------------------------------------------ before
    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        blocks = {key: catalog[f"params:{key}"].load() for key in parameter_keys(pipeline.inputs())
                  if f"params:{key}" in catalog}
        problems = validate_parameters(blocks)
        if problems:
            raise runs.RunRefused("parameters refused before any node ran: " + "; ".join(problems))
        self._data = data = Path(run_params.get("project_path") or ".") / "data"
        legacy = not runs.runs_folder(data).is_dir()  # no run recorded here yet (a fresh or a pre-manifest folder)
        info = env_dist_info()
        self._lock = runs.RunLock(data) if info.is_main else None
        if self._lock is not None:
            self._lock.acquire({"pipelines": run_params.get("pipeline_names") or ["__default__"],
                                "save_version": _save_version(run_params, catalog)})
        try:
            if self._lock is not None:
                runs.clean_staging(_staging_folders(catalog, pipeline), before=self._lock.started)
            self._loaded = self._pin(run_params, pipeline, catalog, data, legacy)
        except BaseException:
            self._release()
            raise

    def _pin(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog, data: Path,
             legacy: bool) -> dict[str, str]:
        save_version = _save_version(run_params, catalog)
        user_pins = dict(run_params.get("load_versions") or {})
        for name in pipeline.all_outputs():  # the run reads its own outputs, never a concurrent run's
            dataset = _versioned(catalog, name)
            if dataset is not None and name not in user_pins and save_version:
                _set_version(dataset, Version(save_version, save_version))
        needed = {name for name in pipeline.inputs() if _versioned(catalog, name) is not None} - user_pins.keys()
        loaded = {name: user_pins[name] for name in pipeline.inputs() if name in user_pins}
        if not needed:
            return loaded
        manifests = runs.read_manifests(data)
        if legacy and not manifests and any(_newest_on_disk(_versioned(catalog, name)) for name in needed):
            logger.warning("%s has no run manifests yet (made before runs were recorded): this run loads each "
                           "input's newest version; runs from now on load only versions of finished runs", data)
            return loaded | {name: v for name in needed if (v := _newest_on_disk(_versioned(catalog, name)))}
        pins, source = runs.resolve_pins(needed, manifests)
        missing = sorted(needed - pins.keys())
        if missing:
            raise runs.RunRefused(_missing_message(missing, catalog, manifests, run_params.get("env")))
        for name, version in sorted(pins.items()):
            _set_version(_versioned(catalog, name), Version(version, save_version))
            newest = runs.newest_recorded(name, manifests)
            if newest and newest > version:
                logger.info("%s: loading version %s (recorded with the run %s that made this run's other inputs); "
                            "a newer finished version %s exists - rerun its downstream pipelines to use it",
                            name, version, source[name], newest)
        logger.info("inputs pinned to finished runs: %s", ", ".join(f"{n}={v}" for n, v in sorted(pins.items())))
        return loaded | pins

    # ------------------------------------------------------------------------------------------------ after
    @hook_impl
    def after_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        try:
            if self._lock is not None:
                self._commit(run_params, pipeline, catalog, complete=True)
        finally:
            self._release()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        try:
            if self._lock is not None:
                self._commit(run_params, pipeline, catalog, complete=False)
        finally:
            self._release()

    def _commit(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog, complete: bool) -> None:
        save_version = _save_version(run_params, catalog)
        if not save_version or self._data is None:
            return
        saved: dict[str, str] = {}
        for node in pipeline.nodes:
            written = {name: _saved(catalog, name, save_version) for name in node.outputs}
            written = {name: ok for name, ok in written.items() if ok is not None}  # versioned outputs only
            if complete:
                saved |= {name: save_version for name, ok in written.items() if ok}
            elif written and all(written.values()):  # a failed run keeps only nodes that saved everything
                saved |= dict.fromkeys(written, save_version)
        if not saved and not complete:
            return
        manifest = runs.Manifest(version=save_version, saved=saved, loaded=self._loaded,
                                 status="complete" if complete else "failed",
                                 pipelines=list(run_params.get("pipeline_names") or ["__default__"]),
                                 finished=time.time())
        path = runs.write_manifest(self._data, manifest)
        logger.info("run %s recorded (%d dataset versions%s): %s", save_version, len(saved),
                    "" if complete else ", failed run: only nodes whose outputs all exist", path)

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
        self._lock = None


def _save_version(run_params: dict, catalog: DataCatalog) -> str | None:
    return getattr(catalog, "_save_version", None) or run_params.get("run_id") or run_params.get("session_id")


def _versioned(catalog: DataCatalog, name: str) -> AbstractVersionedDataset | None:
    """The dataset behind ``name`` if it is versioned (factory patterns resolved), else ``None``."""
    if name.startswith("params:") or name == "parameters":
        return None
    try:
        dataset = catalog.get(name)
    except Exception:  # noqa: BLE001 - a dataset the catalog cannot build fails later, with Kedro's own message
        return None
    dataset = getattr(dataset, "_dataset", dataset)  # CachedDataset
    if isinstance(dataset, AbstractVersionedDataset) and dataset._version is not None:
        return dataset
    return None


def _set_version(dataset: AbstractVersionedDataset, version: Version) -> None:
    dataset._version = version
    dataset._clear_version_cache()


def _saved(catalog: DataCatalog, name: str, version: str) -> bool | None:
    """Whether versioned dataset ``name`` has a saved ``version`` on disk (``None``: not a versioned dataset)."""
    dataset = _versioned(catalog, name)
    if dataset is None:
        return None
    return Path(str(dataset._get_versioned_path(version))).exists()


def _newest_on_disk(dataset: AbstractVersionedDataset | None) -> str | None:
    if dataset is None:
        return None
    versions = sorted(p.parent.name for p in Path(str(dataset._filepath)).glob(f"*/{dataset._filepath.name}"))
    return versions[-1] if versions else None


def _staging_folders(catalog: DataCatalog, pipeline: Pipeline) -> list[Path]:
    """Where atomic writes of this run's datasets stage: each versioned dataset's version folders."""
    folders = []
    for name in sorted(set(catalog.keys()) | pipeline.datasets()):
        dataset = _versioned(catalog, name)
        if dataset is None:
            continue
        root = Path(str(dataset._filepath))
        if root.is_dir():
            folders += [root, *(p for p in root.iterdir() if p.is_dir())]
    return folders


def _missing_message(missing: list[str], catalog: DataCatalog, manifests: list[runs.Manifest],
                     env: str | None = None) -> str:
    """One line: which inputs have no finished version and the ``kedro run`` that makes them."""
    from crossvideo_kedro.pipeline_registry import STAGES  # noqa: PLC0415

    registered = {}
    for stage in STAGES:  # built here: during a run Kedro's registry holds only the pipelines asked for
        try:
            registered[stage] = importlib.import_module(f"crossvideo_kedro.pipelines.{stage}").create_pipeline()
        except Exception:  # noqa: BLE001, S112 - a stage that cannot be built is left out of the advice
            continue
    available = {name for m in manifests for name in m.view}
    producers: dict[str, str] = {}
    for stage in STAGES:
        if stage in registered:
            for name in registered[stage].all_outputs():
                producers.setdefault(name, stage)
    stages: set[str] = set()

    def need(name: str) -> None:
        stage = producers.get(name)
        if stage is None or stage in stages:
            return
        stages.add(stage)
        for upstream in registered[stage].inputs():
            if upstream not in available and _versioned(catalog, upstream) is not None:
                need(upstream)

    for name in missing:
        need(name)
    on_disk = [name for name in missing if _newest_on_disk(_versioned(catalog, name))]
    what = ", ".join(missing)
    reason = ("no version from a finished run (the versions on disk are from a killed or failed run)"
              if on_disk else "no saved version yet")
    order = [stage for stage in STAGES if stage in stages]
    env_option = f" --env {env}" if env and env != "local" else ""
    command = f"run `kedro run --pipelines {','.join(order)}{env_option}` first" if order else "make it first"
    return f"{what} {'has' if len(missing) == 1 else 'have'} {reason}: {command}"


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

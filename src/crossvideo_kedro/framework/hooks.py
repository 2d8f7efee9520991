"""Project hooks."""

from __future__ import annotations

import importlib
import logging
import os
import time
from pathlib import Path

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset, DataCatalog, MemoryDataset
from kedro.io.core import Version
from kedro.pipeline import Pipeline

from crossvideo_kedro.framework import kedro_internals, runs
from crossvideo_kedro.framework.parameters import parameter_keys, unknown_blocks, validate_parameters
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
    """Checks a run before its first node and commits it after its last (see :mod:`crossvideo_kedro.framework.runs`).

    ``before_pipeline_run``, in order: every ``--params`` key must name a configured block, and every parameter
    block the pipeline consumes is validated (all problems in one message); the data folder's run lock is taken (a second concurrent run is refused); staging litter of killed
    runs is removed; every versioned input the run does not produce itself is pinned to the version a finished run
    recorded (inputs made by one run come from one run), the run's own outputs are pinned to its save version; a
    missing input is refused with one line naming it and the command that makes it.
    ``after_pipeline_run`` writes the run manifest (the commit) and releases the lock; ``on_pipeline_error``
    records the nodes whose outputs all exist, as a ``failed`` manifest, and releases the lock.

    Manifests key datasets by their storage path relative to the project, so two catalog entries on one folder
    (``generated_sequences`` written by ``generate``, ``raw_sequences`` read by ``ingest``) are one dataset.
    """

    def __init__(self) -> None:
        self._lock: runs.RunLock | None = None
        self._loaded: dict[str, str] = {}
        self._project = Path(".")

    # ------------------------------------------------------------------------------------------------ before
    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        blocks = {key: catalog[f"params:{key}"].load() for key in parameter_keys(pipeline.inputs())
                  if f"params:{key}" in catalog}
        runtime = run_params.get("runtime_params") or {}
        problems = unknown_blocks(runtime, _configured_blocks(run_params)) if runtime else []
        problems += validate_parameters(blocks)
        if problems:
            raise runs.RunRefused("parameters refused before any node ran: " + "; ".join(problems))
        self._project = Path(run_params.get("project_path") or ".")
        data = self._project / "data"
        self._lock = runs.RunLock(data) if env_dist_info().is_main else None
        if self._lock is not None:
            self._lock.acquire({"pipelines": run_params.get("pipeline_names") or ["__default__"],
                                "save_version": _save_version(run_params, catalog)})
        try:
            if self._lock is not None:
                runs.clean_staging(_staging_folders(catalog, pipeline), before=self._lock.started)
            epoch = runs.tracking_epoch(data, _save_version(run_params, catalog), write=self._lock is not None)
            self._loaded = self._pin(run_params, pipeline, catalog, epoch)
        except BaseException:
            self._release()
            raise

    def _key(self, catalog: DataCatalog, name: str) -> str | None:
        return dataset_key(versioned_dataset(catalog, name), self._project)

    def _pin(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog, epoch: str | None) -> dict[str, str]:
        """Pin loads; returns ``{dataset key: version}`` of every versioned input the run will load.

        ``epoch``: the save version of the first run recorded in this data folder; versions older than it were made
        before runs were recorded and are loaded the old way (newest first) when no manifest has the dataset.
        """
        save_version = _save_version(run_params, catalog)
        user_pins = dict(run_params.get("load_versions") or {})
        # The run reads its own outputs, never a concurrent run's. (With --only-missing-outputs Kedro asks the
        # outputs whether they exist already: they keep their newest-version loads then.)
        for name in () if run_params.get("only_missing_outputs") else pipeline.all_outputs():
            dataset = versioned_dataset(catalog, name)
            if dataset is not None and name not in user_pins and save_version:
                _set_version(dataset, Version(save_version, save_version))
        produced = {self._key(catalog, name) for name in pipeline.all_outputs()} - {None}
        keys = {name: key for name in pipeline.inputs() if (key := self._key(catalog, name))}
        for name in [name for name, key in keys.items() if key in produced and name not in user_pins]:
            _set_version(versioned_dataset(catalog, name), Version(save_version, save_version))  # another name, this run
            del keys[name]
        loaded = {keys[name]: version for name, version in user_pins.items() if name in keys}
        needed = {name: key for name, key in keys.items() if name not in user_pins}
        if not needed:
            return loaded
        manifests = runs.read_manifests(self._project / "data")
        on_disk = {name: _newest_on_disk(versioned_dataset(catalog, name)) for name in needed}
        pins, source = runs.resolve_pins(set(needed.values()), manifests)
        for name, key in sorted(needed.items()):
            older = _newest_on_disk(versioned_dataset(catalog, name), before=epoch) if epoch and key not in pins else None
            if older:  # made before this folder recorded runs: loaded the old way, newest first
                pins[key], source[key] = older, "(before run manifests)"
                logger.warning("%s: no finished run records it; loading version %s, made before this data folder "
                               "recorded runs (its consistency with the other inputs is not known)", name, older)
        optional = {name for name in needed if getattr(versioned_dataset(catalog, name), "_allow_empty", False)
                    and not on_disk[name]}  # e.g. an unlabelled pool never generated: loads as empty
        missing = sorted(name for name, key in needed.items() if key not in pins and name not in optional)
        if missing:
            raise runs.RunRefused(_missing_message(missing, catalog, manifests, self._project, run_params.get("env")))
        for name, key in sorted(needed.items()):
            if key not in pins:
                continue
            _set_version(versioned_dataset(catalog, name), Version(pins[key], save_version))
            newest = runs.newest_recorded(key, manifests)
            if newest and newest > pins[key]:
                logger.info("%s: loading version %s (recorded with run %s, which made this run's other inputs); a "
                            "newer finished version %s exists - rerun the pipelines downstream of it to use it",
                            name, pins[key], source[key], newest)
        logger.info("inputs pinned to finished runs: %s",
                    ", ".join(f"{name}={pins[key]}" for name, key in sorted(needed.items()) if key in pins))
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
        if not save_version:
            return
        saved: dict[str, str] = {}
        names: dict[str, str] = {}
        for node in pipeline.nodes:
            written = {}
            for name in node.outputs:
                dataset = versioned_dataset(catalog, name)
                if dataset is not None:
                    names[dataset_key(dataset, self._project)] = name
                    written[dataset_key(dataset, self._project)] = _saved(dataset, save_version)
            if complete:
                saved |= {key: save_version for key, ok in written.items() if ok}
            elif written and all(written.values()):  # a failed run keeps only nodes that saved everything
                saved |= dict.fromkeys(written, save_version)
        if not saved and not complete:
            return
        manifest = runs.Manifest(version=save_version, saved=saved, loaded=self._loaded,
                                 status="complete" if complete else "failed",
                                 pipelines=list(run_params.get("pipeline_names") or ["__default__"]),
                                 finished=time.time(), names={k: v for k, v in names.items() if k in saved},
                                 parents={k: v for k, v in self._lineage(pipeline, catalog).items() if k in saved})
        path = runs.write_manifest(self._project / "data", manifest)
        logger.info("run %s recorded (%d dataset versions%s): %s", save_version, len(saved),
                    "" if complete else "; failed run: only the nodes whose outputs all exist", path)

    def _lineage(self, pipeline: Pipeline, catalog: DataCatalog) -> dict[str, list[str]]:
        """``{output key: [keys of the versioned datasets it was made from]}``, through in-memory intermediates."""
        ancestors: dict[str, set[str]] = {}
        for node in pipeline.nodes:  # topologically sorted
            upstream = set()
            for name in node.inputs:
                upstream |= {name} | ancestors.get(name, set())
            for name in node.outputs:
                ancestors[name] = upstream
        lineage = {}
        for name, upstream in ancestors.items():
            if (key := self._key(catalog, name)) is not None:
                lineage[key] = sorted({k for n in upstream if (k := self._key(catalog, n)) is not None} - {key})
        return lineage

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
        self._lock = None


def pin_to_finished_runs(catalog: DataCatalog, names: list[str], project_path: str | Path = ".",
                         missing: str = "raise") -> dict[str, str]:
    """Pin ``names`` in a catalog outside a run (a notebook) as a run would: one finished run's consistent set.

    Example (notebook)::

        pin_to_finished_runs(catalog, ["point_cloud_videos", "sequence_index"], "..")
        videos = catalog.load("point_cloud_videos")

    Args:
        missing: ``"raise"``: a dataset no finished run recorded raises :class:`~crossvideo_kedro.framework.runs.RunRefused`;
            ``"skip"``: such datasets are left unpinned (Kedro's newest version, or "no saved version" on a fresh
            clone) and the others are pinned together.

    Returns:
        ``{dataset key: version}`` pinned.
    """
    from kedro.pipeline import Node  # noqa: PLC0415

    if missing not in ("raise", "skip"):
        raise ValueError(f"pin_to_finished_runs: missing must be 'raise' or 'skip', got {missing!r}")
    guard = RunGuardHook()
    guard._project = Path(project_path)
    epoch = runs.tracking_epoch(guard._project / "data", None, write=False)
    if missing == "skip":
        manifests = runs.read_manifests(guard._project / "data")
        names = [name for name in names
                 if (key := guard._key(catalog, name)) and runs.newest_recorded(key, manifests) is not None]
        if not names:
            return {}
    reader = Pipeline([Node(lambda *_: None, list(names), None, name="read_finished_runs")])
    return guard._pin({"load_versions": {}, "only_missing_outputs": True}, reader, catalog, epoch)


def _configured_blocks(run_params: dict) -> set[str]:
    """The top-level parameter blocks of the run's configuration (base + ``--env``), without ``--params``."""
    from kedro.framework.project import settings  # noqa: PLC0415 - the configured project's settings

    project = Path(run_params.get("project_path") or ".")
    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(project / settings.CONF_SOURCE), env=run_params.get("env"),
                                          **settings.CONFIG_LOADER_ARGS)
    return set(loader["parameters"])


def _save_version(run_params: dict, catalog: DataCatalog) -> str | None:
    return kedro_internals.catalog_save_version(catalog) or run_params.get("run_id") or run_params.get("session_id")


def versioned_dataset(catalog: DataCatalog, name: str) -> AbstractVersionedDataset | None:
    """The dataset behind ``name`` if it is versioned (factory patterns resolved), else ``None``."""
    if name.startswith("params:") or name == "parameters":
        return None
    try:
        dataset = catalog.get(name)
    except Exception:  # noqa: BLE001 - a dataset the catalog cannot build fails later, with Kedro's own message
        return None
    dataset = kedro_internals.unwrap(dataset)
    return dataset if kedro_internals.is_versioned(dataset) else None


def dataset_key(dataset: AbstractVersionedDataset | None, project: Path) -> str | None:
    """Where a versioned dataset lives, relative to the project: its identity in run manifests."""
    if dataset is None:
        return None
    path = os.path.abspath(str(kedro_internals.storage_path(dataset)))
    try:
        return Path(os.path.relpath(path, os.path.abspath(project))).as_posix()
    except ValueError:  # another drive (Windows)
        return Path(path).as_posix()


def _set_version(dataset: AbstractVersionedDataset, version: Version) -> None:
    kedro_internals.pin_version(dataset, version)


def _saved(dataset: AbstractVersionedDataset, version: str) -> bool:
    """Whether ``version`` of a versioned dataset is on disk."""
    return kedro_internals.version_path(dataset, version).exists()


def _newest_on_disk(dataset: AbstractVersionedDataset | None, before: str | None = None) -> str | None:
    """The newest saved version of a dataset (older than ``before`` if given), whether recorded or not."""
    if dataset is None:
        return None
    root = kedro_internals.storage_path(dataset)
    versions = sorted(p.parent.name for p in Path(str(root)).glob(f"*/{root.name}")
                      if before is None or p.parent.name < before)
    return versions[-1] if versions else None


def _staging_folders(catalog: DataCatalog, pipeline: Pipeline) -> list[Path]:
    """Where atomic writes of this run's datasets stage: each versioned dataset's version folders."""
    folders = []
    for name in sorted(pipeline.datasets()):
        dataset = versioned_dataset(catalog, name)
        if dataset is None:
            continue
        root = Path(str(kedro_internals.storage_path(dataset)))
        if root.is_dir():
            folders += [root, *(p for p in root.iterdir() if p.is_dir())]
    return folders


def _missing_message(missing: list[str], catalog: DataCatalog, manifests: list[runs.Manifest], project: Path,
                     env: str | None = None) -> str:
    """One line: which inputs have no finished version and the ``kedro run`` that makes them."""
    from crossvideo_kedro.pipeline_registry import STAGES  # noqa: PLC0415

    registered = {}
    for stage in STAGES:  # built here: during a run Kedro's registry holds only the pipelines asked for
        try:
            registered[stage] = importlib.import_module(f"crossvideo_kedro.pipelines.{stage}").create_pipeline()
        except Exception:  # noqa: BLE001, S112 - a stage that cannot be built is left out of the advice
            continue
    key = lambda name: dataset_key(versioned_dataset(catalog, name), project)  # noqa: E731
    available = {k for m in manifests for k in m.view}
    producers: dict[str, str] = {}
    for stage, stage_pipeline in registered.items():
        for name in stage_pipeline.all_outputs():
            if (k := key(name)) is not None:
                producers.setdefault(k, stage)
    stages: set[str] = set()

    def need(name: str) -> None:
        stage = producers.get(key(name))
        if stage is None or stage in stages:
            return
        stages.add(stage)
        for upstream in registered[stage].inputs():
            if (k := key(upstream)) is not None and k not in available:
                need(upstream)

    for name in missing:
        need(name)
    on_disk = [name for name in missing if _newest_on_disk(versioned_dataset(catalog, name))]
    reason = ("no version from a finished run (the versions on disk are from a killed or failed run)"
              if on_disk else "no saved version yet")
    order = [stage for stage in STAGES if stage in stages]
    env_option = f" --env {env}" if env and env != "local" else ""
    command = f"run `kedro run --pipelines {','.join(order)}{env_option}` first" if order else "make it first"
    return f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} {reason}: {command}"


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

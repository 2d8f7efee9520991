"""Project commands: ``kedro run`` as Kedro defines it with errors the user caused shown short, and ``kedro prune``.

Kedro takes the ``run`` command of a project's ``cli.py`` in place of its own and loads the ``cli`` group next to its
own commands (so this file stays at the package root). ``run``'s options are Kedro's, unchanged; see
:mod:`crossvideo_kedro.framework.errors` for what is shortened and :mod:`crossvideo_kedro.framework.prune` for pruning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from crossvideo_kedro.framework.errors import user_errors
from crossvideo_kedro.framework.hooks import dataset_key, versioned_dataset
from crossvideo_kedro.framework.prune import apply_prune, plan_prune

logger = logging.getLogger(__name__)


@click.group(name="crossvideo_kedro")
def cli() -> None:
    """Project commands."""


def _run(**options: Any) -> Any:
    with user_errors():
        return kedro_run.callback(**options)


run = click.Command(name="run", callback=_run, params=list(kedro_run.params), help=kedro_run.help,
                    short_help=kedro_run.short_help, context_settings=kedro_run.context_settings)
cli.add_command(run)  # `kedro run`; `python -m crossvideo_kedro` takes the module's `run`


@cli.command()
@click.option("--keep", default=1, show_default=True, type=click.IntRange(min=1),
              help="Newest finished runs to keep (with the runs whose outputs they loaded).")
@click.option("--apply", "apply_", is_flag=True, help="Delete. Without it: only print what would go.")
@click.option("--env", "-e", default=None, help="Kedro configuration environment whose catalog lists the datasets.")
def prune(keep: int, apply_: bool, env: str | None) -> None:
    """Remove dataset versions that no kept finished run records, and staging litter of killed runs.

    A dry run by default: prints every path that would go, its size and why, and the totals.
    """
    project = Path.cwd()
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env) as session:
        catalog = session.load_context().catalog
        keys = versioned_keys(catalog, project)
    plan = (apply_prune if apply_ else plan_prune)(Path("."), keys, keep)  # paths shown relative to the project
    click.echo(plan.summary())
    if not apply_ and plan.removals:
        click.echo("dry run: nothing deleted; rerun with --apply to delete")


def versioned_keys(catalog, project: Path) -> list[str]:
    """Storage paths (relative to ``project``) of every versioned dataset the catalog and the pipelines name."""
    names = set(catalog.keys()) if hasattr(catalog, "keys") else set(catalog.list())
    for pipeline in pipelines.values():
        names |= pipeline.datasets()
    return sorted({key for name in names if (key := dataset_key(versioned_dataset(catalog, name), project)) is not None})

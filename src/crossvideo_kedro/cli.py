"""Project commands: ``kedro run`` as Kedro defines it, with errors the user caused shown short.

Kedro takes the ``run`` command of a project's ``cli.py`` in place of its own (so this file stays at the package
root). Its options are Kedro's, unchanged; see :mod:`crossvideo_kedro.framework.errors` for what is shortened.
"""

from __future__ import annotations

from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

from crossvideo_kedro.framework.errors import user_errors


@click.group(name="crossvideo_kedro")
def cli() -> None:
    """Project commands."""


def _run(**options: Any) -> Any:
    with user_errors():
        return kedro_run.callback(**options)


run = click.Command(name="run", callback=_run, params=list(kedro_run.params), help=kedro_run.help,
                    short_help=kedro_run.short_help, context_settings=kedro_run.context_settings)
cli.add_command(run)  # `kedro run`; `python -m crossvideo_kedro` takes the module's `run`

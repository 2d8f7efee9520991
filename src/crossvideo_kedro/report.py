"""Write a run's result tables into ``docs/results.md``, from the run's own artefacts.

``python -m crossvideo_kedro.report`` takes the newest ``ablation_summary`` that a finished run recorded (the Markdown
that ``evaluate``'s ``summarise_study`` wrote) and the same run's ``retrieval_metrics`` where it has them, and puts
them between the markers ``<!-- results:begin -->`` and ``<!-- results:end -->`` of the results document, under one
provenance line: commit, CPU model, run version, command. Nothing is recomputed; the rest of the document is kept.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from crossvideo_kedro.pipelines.evaluate.nodes import paired_differences

logger = logging.getLogger(__name__)

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
SUMMARY = Path("08_reporting") / "ablation_summary.md"
RETRIEVAL = Path("08_reporting") / "retrieval_metrics.json"
METRICS = Path("08_reporting") / "metrics.parquet"
COMMAND = "python -m crossvideo_kedro.report"


def finished_versions(data: Path, entry: str) -> list[str]:
    """Versions of the catalog entry ``entry`` that a finished run recorded in ``data/.runs/*.json``, newest first."""
    versions = set()
    for path in (data / ".runs").glob("*.json"):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("report: skipping unreadable run manifest %s", path)
            continue
        version = manifest.get("saved", {}).get(entry) if isinstance(manifest, dict) else None
        if version:
            versions.add(str(version))
    return sorted(versions, reverse=True)


def newest_summary(data: Path, version: str | None = None) -> tuple[str, Path]:
    """(version, path) of the ``ablation_summary`` to report: ``version`` if given, else the newest finished one.

    Raises:
        FileNotFoundError: naming the folder and the command that makes a summary.
    """
    folder = data / SUMMARY
    if version is None:
        candidates = finished_versions(data, "ablation_summary")
        if not candidates:  # data folders without run manifests: the newest version on disk
            candidates = sorted((p.name for p in folder.iterdir() if p.is_dir()), reverse=True) if folder.is_dir() \
                else []
        version = next((v for v in candidates if (folder / v / SUMMARY.name).is_file()), None)
    path = folder / str(version) / SUMMARY.name
    if version is None or not path.is_file():
        raise FileNotFoundError(f"no ablation_summary in {folder}{'' if version is None else f' at {version}'}: "
                                "run `kedro run` (or `kedro run --pipelines evaluate`) first")
    return version, path


def retrieval_table(metrics: dict[str, Any]) -> str:
    """A Markdown table of ``retrieval_metrics`` (percentages, mean over pretraining seeds), or '' if undefined."""
    if not isinstance(metrics, dict) or not metrics.get("defined", False):
        return ""

    def cell(level: dict[str, Any], key: str) -> str:
        value = level.get(key)
        return "" if not isinstance(value, int | float) else f"{value:.1f} %"

    lines = [f"## Held-out retrieval ({'+'.join(metrics.get('splits', []))}, point → image, mean over pretraining "
             "seeds)", "", "| level | top-1 [min–max over seeds] | top-5 | chance top-1 / top-5 |",
             "|---|---|---|---|"]
    for name in ("video", "frame", "sequence", "pixel"):
        level = metrics.get(name)
        if not isinstance(level, dict):
            continue
        spread = f" [{level['top1_min']:.1f}–{level['top1_max']:.1f}]" if "top1_min" in level else ""
        chance = " / ".join(c for c in (cell(level, "chance_top1"), cell(level, "chance_top5")) if c)
        lines.append(f"| {name} | {cell(level, 'top1')}{spread} | {cell(level, 'top5')} | {chance} |")
    return "\n".join(lines) + "\n"


def against_table(metrics: pd.DataFrame, control: str) -> str:
    """A Markdown table of every variant's paired difference to ``control`` (not to scratch) on the headline metric,
    with the study's interval (:func:`~crossvideo_kedro.pipelines.evaluate.nodes.paired_differences`).

    Raises:
        ValueError: when ``control`` is no variant of the run.
    """
    variants = sorted(set(metrics["variant"]))
    if control not in variants:
        raise ValueError(f"--against {control!r}: the run has the variants {variants}")
    rows = paired_differences(metrics, control=control)
    lines = [f"## Paired difference to {control}", "",
             f"Mean difference to `{control}` on the headline metric, 95 % t interval over pretraining seeds "
             "(each seed's differences averaged over its fine-tuning seeds); * = interval excludes 0.", "",
             "| variant | task | protocol | labels | difference | pretraining seeds |", "|---|---|---|---|---|---|"]
    for row in rows.itertuples():
        star = " *" if row.ci_low > 0 or row.ci_high < 0 else ""
        lines.append(f"| {row.variant} | {row.task} ({row.metric}) | {row.protocol} | {100 * row.label_fraction:.0f} % "
                     f"| {row.mean_diff:+.1f} [{row.ci_low:+.1f}, {row.ci_high:+.1f}]{star} | {row.n} |")
    return "\n".join(lines) + "\n"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_commit(root: Path) -> str:
    """The short commit of ``root`` (with ``+changes`` when the tree differs from it), or 'unknown'."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def results_block(summary: str, version: str, commit: str, cpu: str, retrieval: str = "") -> str:
    """The text between the markers: the provenance line, then the run's summary one heading level down."""
    provenance = f"Provenance: commit {commit}, {cpu}, run {version}, written by `{COMMAND}`."
    body = summary.strip().replace("\n## ", "\n### ").replace("\n# ", "\n## ")
    body = "## " + body[2:] if body.startswith("# ") else body  # the summary's sections under the document's
    return "\n".join([BEGIN, provenance, "", body, "", retrieval.strip(), END]).replace("\n\n" + END, "\n" + END)


def replace_block(document: str, block: str) -> str:
    """``document`` with the text from BEGIN to END replaced by ``block``.

    Raises:
        ValueError: when the markers are missing or out of order.
    """
    start, stop = document.find(BEGIN), document.find(END)
    if start < 0 or stop < start:
        raise ValueError(f"the results document needs the markers {BEGIN} and {END} (in that order)")
    return document[:start] + block + document[stop + len(END):]


def write_report(data: Path, docs: Path, version: str | None = None, root: Path | None = None,
                 against: str | None = None) -> str:
    """Write the newest finished run's tables into ``docs``; returns the version reported. ``against`` adds every
    variant's paired difference to that variant, from the same run's ``metrics`` table."""
    version, path = newest_summary(data, version)
    retrieval_path = data / RETRIEVAL / version / RETRIEVAL.name
    retrieval = retrieval_table(json.loads(retrieval_path.read_text(encoding="utf-8"))) \
        if retrieval_path.is_file() else ""
    if against is not None:
        metrics_path = data / METRICS / version / METRICS.name
        if not metrics_path.is_file():
            raise FileNotFoundError(f"--against needs the run's metrics table, and {metrics_path} is missing")
        retrieval = against_table(pd.read_parquet(metrics_path), against) + "\n" + retrieval
    block = results_block(path.read_text(encoding="utf-8"), version, git_commit(root or docs.parent), cpu_model(),
                          retrieval)
    docs.write_text(replace_block(docs.read_text(encoding="utf-8"), block), encoding="utf-8")
    logger.info("report: wrote %s from %s", docs, path)
    return version


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m crossvideo_kedro.report [--data data] [--docs docs/results.md] [--version V]
    [--against VARIANT]``."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data"), help="the project's data folder")
    parser.add_argument("--docs", type=Path, default=Path("docs/results.md"), help="the document to update")
    parser.add_argument("--version", default=None, help="the ablation_summary version (default: newest finished)")
    parser.add_argument("--against", default=None, help="also pair every variant with this one (not only scratch)")
    args = parser.parse_args(argv)
    try:
        version = write_report(args.data, args.docs, args.version, root=Path.cwd(), against=args.against)
    except (FileNotFoundError, ValueError) as error:
        parser.exit(1, f"Error: {error}\n")
    print(f"{args.docs}: tables of run {version}")  # noqa: T201 - the command's one line of output


if __name__ == "__main__":
    main()

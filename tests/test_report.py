"""``python -m crossvideo_kedro.report``: a run's ablation summary and retrieval metrics into docs/results.md."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from crossvideo_kedro.pipelines.evaluate.nodes import summarise_study
from crossvideo_kedro.report import BEGIN, END, main, write_report

STUDY = {
    "variants": {"scratch": {"init": "scratch"}, "crossvideo": {"init": "pretrained"}},
    "include": ["scratch", "crossvideo"],
    "runs": [{"task": "action_segmentation", "protocol": "full", "label_fractions": [0.1]}],
    "seeds": [0],
    "showcase": {"protocol": "full", "label_fraction": 0.1, "seed": 0},
    "plots": {"compare": ["scratch"]},
}
DOC = "# Results\n\nIntro kept.\n\n" + BEGIN + "\nold tables\n" + END + "\n\n## Below, kept\n"


def fake_metrics() -> pd.DataFrame:
    """Three pretraining seeds, two variants: crossvideo beats scratch by 8, 10 and 12 points."""
    rows = []
    for seed, (scratch, cross) in enumerate([(50.0, 58.0), (52.0, 62.0), (54.0, 66.0)]):
        for variant, value in (("scratch", scratch), ("crossvideo", cross)):
            rows.append({"variant": variant, "task": "action_segmentation", "protocol": "full",
                         "label_fraction": 0.1, "pretrain_seed": seed, "seed": 0, "metric": "accuracy",
                         "value": value})
    return pd.DataFrame(rows)


def save_run(data: Path, version: str, summary: str, finished: bool = True) -> None:
    """Write a summary (and retrieval metrics) the way the versioned catalog does, plus the run's manifest."""
    folder = data / "08_reporting" / "ablation_summary.md" / version
    folder.mkdir(parents=True)
    (folder / "ablation_summary.md").write_text(summary)
    retrieval = data / "08_reporting" / "retrieval_metrics.json" / version
    retrieval.mkdir(parents=True)
    (retrieval / "retrieval_metrics.json").write_text(json.dumps({
        "defined": True, "splits": ["val"],
        "video": {"top1": 8.7, "top5": 31.7, "chance_top1": 2.4, "chance_top5": 11.9, "top1_min": 2.4,
                  "top1_max": 11.9}}))
    if finished:
        (data / ".runs").mkdir(exist_ok=True)
        (data / ".runs" / f"{version}.json").write_text(json.dumps(
            {"version": version, "saved": {"ablation_summary": version, "retrieval_metrics": version}}))


def test_report_writes_the_newest_finished_run_between_the_markers(tmp_path: Path) -> None:
    _, summary = summarise_study(fake_metrics(), STUDY)
    data, doc = tmp_path / "data", tmp_path / "results.md"
    doc.write_text(DOC)
    save_run(data, "2026-01-01T00.00.00.000Z", "# CrossVideo study\n\nan older run\n")
    save_run(data, "2026-01-02T00.00.00.000Z", summary)
    save_run(data, "2026-01-03T00.00.00.000Z", "# CrossVideo study\n\na killed run\n", finished=False)

    assert write_report(data, doc) == "2026-01-02T00.00.00.000Z"
    text = doc.read_text()
    assert text.startswith("# Results\n\nIntro kept.\n") and text.endswith(END + "\n\n## Below, kept\n")
    block = text[text.index(BEGIN):text.index(END)]
    assert "old tables" not in block and "a killed run" not in block and "an older run" not in block
    provenance = block.splitlines()[1]
    assert provenance.startswith("Provenance: commit ") and "run 2026-01-02T00.00.00.000Z" in provenance
    assert "python -m crossvideo_kedro.report" in provenance
    # the paired difference of the fake table: mean +10.0, t(0.975, 2) * sd 2 / sqrt 3 = 4.97 -> [+5.0, +15.0]
    assert "+10.0 [+5.0, +15.0] *" in block
    assert "| crossvideo | 62.0 ± 4.0 |" in block and "| scratch | 52.0 ± 2.0 |" in block
    assert "| video | 8.7 % [2.4–11.9] | 31.7 % | 2.4 % / 11.9 % |" in block
    assert "\n# " not in block  # the summary's title became a section of the document

    write_report(data, doc)  # idempotent: a second write gives the same document
    assert doc.read_text() == text


def test_report_refuses_a_document_without_markers_and_an_empty_data_folder(tmp_path: Path) -> None:
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n")
    with pytest.raises(FileNotFoundError, match="run `kedro run`"):
        write_report(tmp_path / "data", doc)
    save_run(tmp_path / "data", "2026-01-01T00.00.00.000Z", "# CrossVideo study\n")
    with pytest.raises(ValueError, match="results:begin"):
        write_report(tmp_path / "data", doc)
    assert doc.read_text() == "# Results\n"


def test_command_line_names_the_missing_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "results.md"
    doc.write_text(DOC)
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(tmp_path / "data"), "--docs", str(doc)])
    assert exit_info.value.code == 1
    assert "no ablation_summary in" in capsys.readouterr().err


def test_against_pairs_every_variant_with_the_named_one(tmp_path: Path) -> None:
    """Two pretrained variants: ``--against crossvideo_no_dense`` pairs crossvideo with it, from the run's metrics."""
    metrics = fake_metrics()
    no_dense = metrics[metrics["variant"] == "crossvideo"].assign(variant="crossvideo_no_dense")
    no_dense["value"] -= [1.0, 2.0, 3.0]  # crossvideo 1, 2, 3 points above it; scratch 7, 8, 9 below
    metrics = pd.concat([metrics, no_dense], ignore_index=True)
    data, doc = tmp_path / "data", tmp_path / "results.md"
    doc.write_text(DOC)
    version = "2026-01-02T00.00.00.000Z"
    save_run(data, version, summarise_study(metrics, STUDY)[1])
    folder = data / "08_reporting" / "metrics.parquet" / version
    folder.mkdir(parents=True)
    metrics.to_parquet(folder / "metrics.parquet")

    write_report(data, doc, against="crossvideo_no_dense")
    block = doc.read_text()
    assert "## Paired difference to crossvideo_no_dense" in block
    # mean +2.0, t(0.975, 2) = 4.303 * sd 1 / sqrt 3 = 2.48 -> [-0.5, +4.5], no star
    assert "| crossvideo | action_segmentation (accuracy) | full | 10 % | +2.0 [-0.5, +4.5] | 3 |" in block
    assert "| scratch | action_segmentation (accuracy) | full | 10 % | -8.0 [-10.5, -5.5] * | 3 |" in block
    with pytest.raises(ValueError, match=r"--against 'fusion': the run has the variants \['crossvideo', "):
        write_report(data, doc, against="fusion")

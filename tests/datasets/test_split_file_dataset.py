"""Fixed splits from CSV, JSON and HOI4D-style list files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kedro.io import DataCatalog, DatasetError

from crossvideo_kedro.datasets import SplitFileDataset


def test_csv_with_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "split.csv"
    path.write_text("sequence,subject,split\nS01_A01,1,train\nS02_A01,2,test\n S03_A01 ,3, val\n")
    assert SplitFileDataset(str(path)).load() == {"S01_A01": "train", "S02_A01": "test", "S03_A01": "val"}


def test_json_both_forms_and_names_as_readers_give_them(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"ZY1/H1/T1": "train", "ZY1/H1/T2": "unlabelled"}))
    assert SplitFileDataset(str(tmp_path / "a.json")).load() == {"ZY1__H1__T1": "train", "ZY1__H1__T2": "unlabelled"}
    (tmp_path / "b.json").write_text(json.dumps({"train": ["x", "y"], "test": ["z"]}))
    assert SplitFileDataset(str(tmp_path / "b.json")).load() == {"x": "train", "y": "train", "z": "test"}


def test_hoi4d_style_lists_through_the_catalog(tmp_path: Path) -> None:
    (tmp_path / "train_list.txt").write_text("ZY20210800001/H1/C1/N19/S100/s02/T1\n\n# a comment\nZY2/H2/T3\n")
    (tmp_path / "test_list.txt").write_text("ZY20210800001/H1/C1/N19/S100/s02/T2  # trailing comment\n")
    catalog = DataCatalog.from_config({"split_file": {
        "type": "crossvideo_kedro.datasets.SplitFileDataset",
        "lists": {"train": str(tmp_path / "train_list.txt"), "test": str(tmp_path / "test_list.txt")},
    }})
    assert catalog.load("split_file") == {"ZY20210800001__H1__C1__N19__S100__s02__T1": "train", "ZY2__H2__T3": "train",
                                          "ZY20210800001__H1__C1__N19__S100__s02__T2": "test"}


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("s.csv", "name,fold\na,1\n", r"s\.csv: a split CSV needs a header with 'sequence' and 'split' columns"),
        ("s.csv", "sequence,split\na,train\nb,holdout\n", r"s\.csv:3: split 'holdout' of 'b' is not one of"),
        ("s.csv", "sequence,split\na,train\na,test\n", r"s\.csv:3: sequence 'a' is in both 'train' and 'test'"),
        ("s.json", "{oops", r"s\.json: split file is not valid JSON"),
        ("s.json", '{"a": "train", "test": ["b"]}', r"not a mix"),
        ("s.csv", "sequence,split\n", r"names no sequence"),
    ],
)
def test_bad_split_files_name_the_file_and_line(tmp_path: Path, name: str, content: str, match: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(DatasetError, match=match):
        SplitFileDataset(str(tmp_path / name)).load()


def test_bad_options_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of filepath"):
        SplitFileDataset()
    with pytest.raises(ValueError, match=r"must end in \.csv or \.json"):
        SplitFileDataset(str(tmp_path / "split.txt"))
    with pytest.raises(ValueError, match="lists keys must be among"):
        SplitFileDataset(lists={"holdout": "x.txt"})
    with pytest.raises(DatasetError, match="split file does not exist"):
        SplitFileDataset(str(tmp_path / "none.csv")).load()
    with pytest.raises(DatasetError, match="read-only"):
        SplitFileDataset(str(tmp_path / "none.csv")).save({"a": "train"})

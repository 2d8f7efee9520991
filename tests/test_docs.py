"""The documentation cites only what exists, the README stays short, and no text speaks of how it was developed."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "crossvideo_kedro"
PIPELINES = ("generate", "ingest", "augment", "pretrain", "finetune", "evaluate", "predict")
MAX_README_LINES = 200
#: Documents that arrive with the code they describe; a link to one is checked once it exists.
DOCS_WRITTEN_WITH_THEIR_CODE = {"reliability.md", "storage.md", "study-runner.md", "real-data-benchmarks.md",
                                "semantic-segmentation.md"}

#: Process words, forbidden in the user-facing text (README, docs/, conf/).
PROSE_WORDS = re.compile(r"\bsessions?\b|\bstop \d+|\bissues?\b|\bhelpers?\b|\bthis machine\b|\buntil now\b", re.I)
#: In code and notebooks "session" (Kedro's) and "helper" are ordinary words; the process phrases are not.
CODE_WORDS = re.compile(r"\b(?:this|previous|next|helper) session\b|\bsession's machine\b|\bstop \d+\b|\bissues? \d+"
                        r"|\bthe [\w-]+ issue\b|\bthis machine\b|\buntil now\b|\buntil this\b", re.I)

CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
PATH_TOKEN = re.compile(r"(?<![\w/.<{-])((?:[\w.-]+/)*[\w.-]+\.(?:py|yml|yaml|md|ipynb|sh|toml))\b")
ENV_FLAG = re.compile(r"--env[ =]([\w-]+)")
PARAM_KEY = re.compile(rf"(?<![\w./-])(?:params:)?((?:{'|'.join(PIPELINES)})(?:\.[A-Za-z_]\w*)+)")
PARAMS_BLOCK = re.compile(r"(?<![\w.])params:(\w+)")


def doc_files() -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def code_spans(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every inline code span and every fenced code line of a Markdown file."""
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            yield number, line
        else:
            for span in CODE_SPAN.findall(line):
                yield number, span


def environments() -> set[str]:
    """The environments the project ships: the folders of conf/."""
    return {p.name for p in (ROOT / "conf").iterdir() if p.is_dir()}


def parameter_keys() -> set[str]:
    """Every dotted parameter key (and each of its prefixes) set in any environment's parameters files."""
    keys: set[str] = set()

    def walk(prefix: str, value: object) -> None:
        keys.add(prefix)
        if isinstance(value, dict):
            for key, child in value.items():
                walk(f"{prefix}.{key}", child)

    for path in (ROOT / "conf").glob("*/parameters*.yml"):
        for key, value in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            walk(str(key), value)
    return keys


def path_exists(token: str, doc: Path) -> bool:
    """Whether a cited file exists: from the repository root, the package, tests/, docs/ or the citing file."""
    token = token.removeprefix("./")
    if Path(token).name in DOCS_WRITTEN_WITH_THEIR_CODE and not (ROOT / "docs" / Path(token).name).exists():
        return True
    if "/" not in token:  # a bare file name: any file of that name in the project
        return token in repository_file_names()
    bases = (ROOT, ROOT / "src", PACKAGE, ROOT / "tests", ROOT / "docs", doc.parent)
    return any((base / token).exists() for base in bases)


@functools.cache
def repository_file_names() -> frozenset[str]:
    """Names of the project's own files (not data/, not hidden folders)."""
    return frozenset(p.name for top in ("src", "conf", "tests", "benchmarks", "notebooks", "docs")
                     for p in (ROOT / top).rglob("*") if p.is_file()) | {p.name for p in ROOT.iterdir()}


def cited_paths(text: str) -> Iterator[str]:
    """File paths in a piece of Markdown code; generated outputs under data/ and templated paths are left out."""
    for match in PATH_TOKEN.finditer(text):
        token = match.group(1)
        if token.startswith(("data/", "build/", "/")) or re.search(r"[<>{}*]", text[max(0, match.start() - 1):
                                                                                  match.end() + 1]):
            continue
        yield token


def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; keep it to {MAX_README_LINES}"


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    run = 'python3.11 -m venv .venv && . .venv/bin/activate && pip install -e . && kedro run'
    test = 'python3.11 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && pytest'
    assert run in text and test in text
    assert text.index(run) < text.index("## "), "the two commands come before the first section"


def test_cited_files_exist() -> None:
    missing = []
    for doc in doc_files():
        for number, span in code_spans(doc):
            missing += [f"{doc.relative_to(ROOT)}:{number}: {p}" for p in cited_paths(span) if not path_exists(p, doc)]
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
            for target in LINK.findall(line):
                if not re.match(r"[a-z]+:", target) and not path_exists(target, doc):
                    missing.append(f"{doc.relative_to(ROOT)}:{number}: link {target}")
    assert not missing, "cited files that do not exist:\n" + "\n".join(missing)


def test_cited_environments_exist() -> None:
    envs = environments()
    unknown = [f"{doc.relative_to(ROOT)}:{number}: --env {env}" for doc in doc_files()
               for number, span in code_spans(doc) for env in ENV_FLAG.findall(span) if env not in envs]
    assert not unknown, f"environments not in conf/ ({sorted(envs)}):\n" + "\n".join(unknown)


def test_cited_parameter_keys_exist() -> None:
    keys = parameter_keys()
    unknown = []
    for doc in doc_files():
        for number, span in code_spans(doc):
            cited = {k.rstrip(".") for k in PARAM_KEY.findall(span)
                     if not re.search(r"\.(?:py|yml|md)$|\.[A-Z]", k)} | set(PARAMS_BLOCK.findall(span))
            unknown += [f"{doc.relative_to(ROOT)}:{number}: {key}" for key in sorted(cited) if key not in keys]
    assert not unknown, "parameter keys set in no conf/*/parameters*.yml:\n" + "\n".join(unknown)


def test_parameter_key_check_catches_a_misspelt_key(tmp_path: Path) -> None:
    """The key pattern finds dotted keys and params: blocks in code spans, so the test above can fail."""
    doc = tmp_path / "x.md"
    doc.write_text("Set `ingest.num_pointz` or `params:ingest` and run `kedro run --params pretrain.steps=3`.\n")
    found = {k for _, span in code_spans(doc) for k in PARAM_KEY.findall(span)}
    assert found == {"ingest.num_pointz", "pretrain.steps"}
    assert "ingest.num_pointz" not in parameter_keys() and "pretrain.steps" in parameter_keys()


@pytest.mark.parametrize("text, words", [
    ("Measured in this session on stop 21's machine.", ["session", "stop 21"]),
    ("Until now the helper fixed the issue.", ["Until now", "helper", "issue"]),
    ("The pool is read by ingest.", []),
])
def test_process_words_are_found(text: str, words: list[str]) -> None:
    assert PROSE_WORDS.findall(text) == words


def test_no_process_words_in_docs_and_conf() -> None:
    files = [*doc_files(), *sorted((ROOT / "conf").rglob("*.yml"))]
    hits = [f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}" for path in files
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
            if PROSE_WORDS.search(line)]
    assert not hits, "text that speaks of how the project was developed:\n" + "\n".join(hits)


def test_no_process_words_in_code_and_notebooks() -> None:
    hits = []
    test_words = ROOT / "tests" / "test_docs.py"  # holds the examples of what is refused
    code = [path for part in ("src", "benchmarks", "tests") for path in (ROOT / part).rglob("*.py")]
    for path in sorted(p for p in code if p != test_words):
        hits += [f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}"
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                 if CODE_WORDS.search(line)]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            hits += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in CODE_WORDS.finditer(source)]
    assert not hits, "text that speaks of how the project was developed:\n" + "\n".join(hits)


def test_no_citation_of_the_retired_blueprint() -> None:
    """Design references point at docs/design.md, never at a DESIGN.md or a note outside the repository."""
    shipped = [*(ROOT / "src").rglob("*.py"), *(ROOT / "conf").rglob("*.yml"), *(ROOT / "benchmarks").rglob("*.py"),
               *(ROOT / "notebooks").glob("*.ipynb"), *doc_files()]
    tests = [p for p in (ROOT / "tests").rglob("*.py") if p != Path(__file__).resolve()]
    hits = [str(p.relative_to(ROOT)) for p in shipped if re.search(r"DESIGN\.md|/work/", p.read_text(encoding="utf-8"))]
    hits += [str(p.relative_to(ROOT)) for p in tests if "DESIGN.md" in p.read_text(encoding="utf-8")]
    assert not hits, f"cite docs/design.md instead: {hits}"


def test_every_base_parameter_key_is_documented() -> None:
    """docs/pipelines.md's reference names every key set in conf/base/parameters_*.yml (free-form blocks as one)."""
    reference = (ROOT / "docs" / "pipelines.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([\w.]+)` \|", reference, flags=re.M))
    blocks = {"generate.grammar", "generate.durations", "generate.categories", "evaluate.variants", "evaluate.runs",
              "generate.scene.table_colors", "generate.scene.hand_colors", "ingest.split", "evaluate.showcase",
              "pretrain.model.point", "pretrain.model.head"}
    keys = set()

    def walk(prefix: str, value: object) -> None:
        keys.add(prefix)
        if isinstance(value, dict) and prefix not in blocks:
            for key, child in value.items():
                walk(f"{prefix}.{key}", child)

    for path in (ROOT / "conf" / "base").glob("parameters_*.yml"):
        for top, value in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            for key, child in (value or {}).items():
                walk(f"{top}.{key}", child)
    undocumented = sorted(keys - documented)
    assert not undocumented, "parameters missing from docs/pipelines.md: " + ", ".join(undocumented)


def test_design_section_citations_resolve() -> None:
    """Every ``docs/design.md §N`` in code, conf and docs names a numbered section of docs/design.md."""
    sections = set(re.findall(r"^## (\d+)\.", (ROOT / "docs" / "design.md").read_text(encoding="utf-8"), re.M))
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "conf").rglob("*.yml"), *doc_files()]
    bad = [f"{p.relative_to(ROOT)}: §{n}" for p in files
           for cite in re.findall(r"design\.md,? ((?:§\d+,? ?)+)", p.read_text(encoding="utf-8"))
           for n in re.findall(r"§(\d+)", cite) if n not in sections]
    assert sections and not bad, f"sections of docs/design.md that do not exist: {bad}"


def test_versioned_outputs_are_cited_with_their_version_folder() -> None:
    """A versioned catalog entry's file lies under ``<filepath>/<version>/``: its bare filepath is not a file."""
    catalog = yaml.safe_load((ROOT / "conf" / "base" / "catalog.yml").read_text(encoding="utf-8"))
    flat = {entry["filepath"] for entry in catalog.values()
            if isinstance(entry, dict) and entry.get("versioned") and "{" not in entry.get("filepath", "{")}
    bad = [f"{doc.relative_to(ROOT)}:{number}: {path}" for doc in doc_files() for number, span in code_spans(doc)
           for path in flat if re.search(re.escape(path) + r"(?![/\w])", span)]
    assert flat and not bad, "cite versioned outputs as <filepath>/<version>/<file>:\n" + "\n".join(bad)

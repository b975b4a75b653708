"""The user docs stay true: their Python examples run, their links resolve, the required pages and
tables are there, and no passage tells how or when the project was made."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# pages the README links that other parts of the project provide; a checkout without them passes
EXPECTED_PAGES = {
    "docs/napari.md",
    "docs/scaling.md",
    "docs/models.md",
    "docs/samples.md",
    "docs/guarantees.md",
    "docs/images/modalities.png",
}
HISTORY = re.compile(
    r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\d+(st|nd|rd|th)|this|"
    r"that|next|last|previous|earlier|later) (session|sitting)s?\b"
    r"|\bafter \w+ sessions\b|\bsittings?\b|\bas before\b|\bwe tried\b|\bthe old\b|\bpreviously\b"
    r"|\bno longer\b|\bprevious (rule|version|engine|LPF|sweep|placeholder)\b|\bengineers?\b"
    r"|\bother developers\b|developers' jobs|\bstatus \(\d{4}-\d\d-\d\d",
    re.IGNORECASE,
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _user_texts() -> list[Path]:
    texts = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "NOTES.md"]
    texts += sorted(DOCS.rglob("*.md"))
    return texts + sorted((ROOT / "src").rglob("*.py")) + sorted((ROOT / "scripts").glob("*"))


def _code_blocks(path: Path, language: str) -> list[str]:
    return [code for lang, code in FENCE.findall(path.read_text()) if lang == language]


def _section(path: Path, heading: str) -> str:
    text = path.read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def _headings(path: Path) -> set[str]:
    found = re.findall(r"^#+ (?:\d+\. )?(.+?)\s*$", path.read_text(), re.MULTILINE)
    return {h.lower() for h in found}


def test_no_passage_tells_how_or_when_the_project_was_made():
    hits = []
    for path in _user_texts():
        if path.is_file():
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if HISTORY.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert hits == []


def test_the_history_check_catches_what_it_is_for():
    for line in (
        "Status (2026-11-25, after nine sessions): the table",
        "**Ninth session: L_RC only where the noise is correlated**",
        "the threshold rule changed in the fifth session",
        "with the previous rule, as before",
        "the old placeholder that we tried first",
    ):
        assert HISTORY.search(line), line
    for line in ("settings saved between sessions", "the older snapshot is restored"):
        assert not HISTORY.search(line), line


def test_relative_links_resolve():
    missing = set()
    docs = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "NOTES.md"]
    for doc in docs + sorted(DOCS.glob("*.md")):
        for target in LINK.findall(doc.read_text()):
            target = target.split("#")[0]
            if not target or re.match(r"[a-z]+:", target):
                continue
            resolved = (doc.parent / target).resolve()
            if not resolved.exists():
                missing.add(resolved.relative_to(ROOT).as_posix())
    assert missing <= EXPECTED_PAGES, sorted(missing - EXPECTED_PAGES)


def test_readme_opens_with_the_modalities_picture_and_links_the_user_docs():
    text = (ROOT / "README.md").read_text()
    first_image = re.search(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert first_image is not None and first_image.group(1) == "docs/images/modalities.png"
    assert text.index("![") < text.index("\n## ")
    for page in ("napari", "cli", "python", "method", "benchmarks"):
        assert f"](docs/{page}.md)" in text, page
    assert 'pip install -e ".[all]"' in text
    assert 'pip install "napari-nsn2n[all]"' in text
    assert "src/napari_nsn2n/tuned.py" in text and "synthetic phantoms" in text


def test_readme_set_up_is_the_two_commands():
    section = _section(ROOT / "README.md", "## Set-up on a fresh Debian 12 machine (Python 3.11)")
    commands = [
        line.split("#")[0].strip()
        for block in FENCE.findall(section)
        for line in block[1].splitlines()
        if line.split("#")[0].strip()
    ]
    assert commands == ["bash scripts/run-napari.sh", "bash scripts/test.sh"]
    assert re.search(r'nsn2n"? demo', (ROOT / "scripts" / "run-napari.sh").read_text())


def test_benchmarks_page_is_short_with_a_table_per_modality():
    path = DOCS / "benchmarks.md"
    assert len(path.read_text().splitlines()) <= 200
    for heading in ("## CT", "## MRI", "## Fluorescence"):
        section = next(
            s for s in path.read_text().split("\n## ") if ("## " + s).startswith(heading)
        )
        assert "NS-N2N defaults" in section and "| BM3D" in section, heading
        assert "```bash" in section, heading
    assert "synthetic" in path.read_text().lower()


def test_method_lists_every_departure_in_one_table_with_its_effect():
    text = (DOCS / "method.md").read_text()
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \|", line)]
    topics = " ".join(row.split("|")[2] for row in rows).lower()
    for topic in (
        "training samples",
        "augmentation",
        "depth",
        "width",
        "activation",
        "output",
        "batch size",
        "loss reduction",
        "learning-rate schedule",
        "l_rc",
        "variance stabilisation",
        "threshold",
        "divergence guard",
        "held-out loss",
        "cuda",
    ):
        assert topic in topics, topic
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == 6 and cells[4], row  # every row says what was measured (or not)


def test_tuned_constants_cite_sections_that_exist_in_the_notes():
    """Each [Section] cited in tuned.py is a heading of benchmarks/NOTES.md, or of the doc
    named before a colon ([docs/samples.md: Thresholds])."""
    notes = _headings(ROOT / "benchmarks" / "NOTES.md")
    tuned = (ROOT / "src" / "napari_nsn2n" / "tuned.py").read_text()
    missing = []
    groups = re.findall(r"\[([A-Za-z][^\]]*)\]", tuned)
    for group in groups:
        headings = notes
        if ":" in group:
            doc, group = group.split(":", 1)
            headings = _headings(ROOT / doc.strip())
        for chunk in group.split(";"):
            missing += [p.strip() for p in chunk.split(",") if p.strip().lower() not in headings]
    assert groups and not missing, missing


TINY = "epochs=1, min_steps=None, patch_size=32, batch_size=4, device='cpu', num_threads=1"
SHRINK = {  # what the examples train, cut to seconds
    'TrainConfig.preset("auto", seed=1)': f"TrainConfig.preset('auto', seed=1, {TINY})",
    'TrainConfig.preset("auto", validation_fraction=0.05)': (
        f"TrainConfig.preset('auto', validation_fraction=0.05, validation_every=2, {TINY})"
    ),
    'config = TrainConfig.preset("auto")\n': f"config = TrainConfig.preset('auto', {TINY})\n",
    "ct_stack((32, 128, 128))": "ct_stack((8, 48, 48))",
    "threshold=sample.suggested_threshold)": (
        f"threshold=sample.suggested_threshold, config=TrainConfig.preset('auto', {TINY}))"
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "writes"),
    [
        ("README.md", ["scan_denoised.nii.gz", "scan.pt"]),
        ("docs/python.md", ["scan_denoised.nii.gz", "scan.pt", "out.nii.gz", "out.tif"]),
    ],
)
def test_python_examples_run(page, writes, tmp_path, monkeypatch):
    from napari_nsn2n.io import Volume, write_volume
    from napari_nsn2n.samples import ct_stack

    sample = ct_stack((8, 48, 48))
    for name in ("scan.nii.gz", "stack.tif"):
        write_volume(tmp_path / name, Volume(sample.noisy, "ZYX", spacing=sample.spacing))
    monkeypatch.chdir(tmp_path)
    source = "\n".join(_code_blocks(ROOT / page, "python"))
    shrunk = 0
    for long, short in SHRINK.items():
        shrunk += source.count(long)
        source = source.replace(long, short)
    assert shrunk > 0  # the examples still say what this test shrinks
    assert 'TrainConfig.preset("' not in source  # no example left at its full length
    namespace: dict = {"next_scan": sample.noisy[::-1].copy()}
    exec(compile(source, page, "exec"), namespace)
    assert namespace["clean"].shape == sample.noisy.shape
    assert np.isfinite(namespace["clean"]).all()
    assert 0 < namespace["model"].threshold < 1
    for name in writes:
        assert (tmp_path / name).is_file(), name

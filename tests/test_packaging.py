"""Packaging: the engine imports no Qt/napari, and napari finds the manifest in a built wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_engine_and_cli_import_no_qt_or_napari():
    code = (
        "import sys, napari_nsn2n.pipeline, napari_nsn2n.cli, napari_nsn2n.io, napari_nsn2n.samples;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('napari', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'qtpy', 'magicgui', 'vispy'));"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_manifest_found_from_the_installed_package():
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="napari.manifest") if e.name == "napari-nsn2n"]
    assert entry.value == "napari_nsn2n:napari.yaml"
    from importlib.resources import files

    text = files("napari_nsn2n").joinpath("napari.yaml").read_text()
    assert "name: napari-nsn2n" in text
    assert (ROOT / "napari.yaml").read_text() == text  # the top-level file is the same manifest


@pytest.mark.slow
def test_built_wheel_contains_the_manifest_and_entry_points(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = tmp_path.glob("napari_nsn2n-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "napari_nsn2n/napari.yaml" in names
        assert "name: napari-nsn2n" in archive.read("napari_nsn2n/napari.yaml").decode()
        (entry_txt,) = [n for n in names if n.endswith("entry_points.txt")]
        entry_points = archive.read(entry_txt).decode()
    assert "napari-nsn2n = napari_nsn2n:napari.yaml" in entry_points
    assert "nsn2n = napari_nsn2n.cli:main" in entry_points

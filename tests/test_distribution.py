"""What a release uploads: the sdist and the wheel build without deprecation warnings, pass
``twine check --strict`` and carry the licence, one version and the metadata the napari hub lists
(classifiers, project URLs); the Python versions agree between pyproject.toml, tox.ini and CI."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import napari_nsn2n

ROOT = Path(__file__).resolve().parents[1]
SOURCE_IGNORE = shutil.ignore_patterns(
    ".*", "build", "dist", "*.egg-info", "__pycache__", "artifacts", "results", "*.pt"
)


def _copy_source(target: Path) -> None:
    """The files a clean clone has (tracked or not ignored by git), else the tree minus clutter."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
    )
    if listed.returncode != 0:
        shutil.copytree(ROOT, target, ignore=SOURCE_IGNORE, symlinks=True)
        return
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file() or source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name, follow_symlinks=False)


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _python_classifiers(classifiers: list[str]) -> list[str]:
    prefix = "Programming Language :: Python :: 3."
    return sorted(
        (
            c.removeprefix("Programming Language :: Python :: ")
            for c in classifiers
            if c.startswith(prefix)
        ),
        key=lambda v: int(v.split(".")[1]),
    )


def test_licence_is_bsd3_declared_once_as_an_spdx_string():
    project = _pyproject()["project"]
    assert project["license"] == "BSD-3-Clause"
    assert project["license-files"] == ["LICENSE"]
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "napari-nsn2n developers" in text


def test_the_version_comes_from_the_package_only():
    data = _pyproject()
    assert "version" not in data["project"]
    assert data["project"]["dynamic"] == ["version"]
    assert data["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "napari_nsn2n._version.__version__"
    }
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|rc\d+)?", napari_nsn2n.__version__)


def test_python_versions_agree_across_classifiers_tox_and_ci():
    yaml = pytest.importorskip("yaml")
    project = _pyproject()["project"]
    versions = _python_classifiers(project["classifiers"])
    assert project["requires-python"] == f">={versions[0]}"
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    envs = re.fullmatch(r"py\{([\d,]+)\}-\{linux,macos,windows\}", tox["tox"]["envlist"])
    assert envs is not None
    assert envs.group(1).split(",") == [v.replace(".", "") for v in versions]
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]
    assert matrix["python-version"] == versions
    assert sorted(matrix["platform"]) == ["macos-latest", "ubuntu-latest", "windows-latest"]
    assert "Framework :: napari" in project["classifiers"]
    assert {"Source Code", "Bug Tracker", "Documentation"} <= set(project["urls"])


@pytest.mark.slow
def test_sdist_and_wheel_build_cleanly_and_pass_twine_check(tmp_path):
    pytest.importorskip("build")
    pytest.importorskip("twine")
    source = tmp_path / "source"
    _copy_source(source)
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    log = built.stdout + built.stderr
    assert not re.search(r"deprecat", log, re.IGNORECASE), log[-3000:]
    version = napari_nsn2n.__version__
    wheel = dist / f"napari_nsn2n-{version}-py3-none-any.whl"
    sdist = dist / f"napari_nsn2n-{version}.tar.gz"
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(
            archive.read(f"napari_nsn2n-{version}.dist-info/METADATA").decode()
        )
    assert f"napari_nsn2n-{version}.dist-info/licenses/LICENSE" in names
    assert metadata["Version"] == version
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "Framework :: napari" in metadata.get_all("Classifier")
    assert any(url.startswith("Source Code, https://") for url in metadata.get_all("Project-URL"))
    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
        "tests/conftest.py",
        "docs/method.md",
    } <= members

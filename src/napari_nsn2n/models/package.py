"""Reading a bioimage.io model package that napari-nsn2n exported, without bioimageio.core.

An exported package holds, besides what the bioimage.io format asks for, ``napari-nsn2n.json``:
the model file's settings (training config, normalisation, threshold, meta) and the name of the
state-dict weights. Reading those back gives the same :class:`~napari_nsn2n.models.ModelBundle`
as the ``.pt`` file it was exported from, so the engine applies it exactly as it applies the
original, with only torch and the standard library. A package from another tool is refused with
a message that says so (docs/models.md gives the reasons).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelFormatError

SETTINGS_FILE = "napari-nsn2n.json"
STATE_DICT_FILE = "weights_state_dict.pt"
DESCRIPTION_FILES = ("bioimageio.yaml", "rdf.yaml")


def is_package(path: str | Path) -> bool:
    """True for a ``.zip`` file, or a zip archive holding a bioimage.io description under any
    name (a ``.pt`` model file is a zip archive too, of other contents)."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith(DESCRIPTION_FILES) for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def read_package_payload(path: str | Path) -> dict[str, Any]:
    """The model payload (as a ``.pt`` model file holds it) of a package napari-nsn2n exported;
    :class:`ModelFormatError` saying why for a corrupt zip, a zip that is no bioimage.io package,
    or a package from another tool."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if SETTINGS_FILE not in names:
                raise ModelFormatError(_foreign_message(path, names))
            settings = json.loads(archive.read(SETTINGS_FILE).decode("utf-8"))
            weights = settings.get("weights_file", STATE_DICT_FILE)
            if weights not in names:
                raise ModelFormatError(f"{path}: the package lacks its weights file {weights}")
            state = torch.load(
                io.BytesIO(archive.read(weights)), map_location="cpu", weights_only=True
            )
    except ModelFormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ModelFormatError(f"{path} is a corrupt zip file ({exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{path}: {SETTINGS_FILE} is not readable JSON ({exc})") from exc
    except OSError as exc:
        raise ModelFormatError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # torch.load of damaged weights raises many kinds
        raise ModelFormatError(
            f"{path}: the package's weights are unreadable ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(settings, dict):
        raise ModelFormatError(f"{path}: {SETTINGS_FILE} does not hold model settings")
    settings.pop("weights_file", None)
    return {**settings, "state": state, "sample": None}


def _foreign_message(path: Path, names: set[str]) -> str:
    if any(name.endswith(DESCRIPTION_FILES) for name in names):
        return (
            f"{path} is a bioimage.io model package from another tool; napari-nsn2n applies the "
            "packages it exported itself (run other packages with bioimageio.core, e.g. "
            "`bioimageio predict`, or the napari plugin of the tool that made them)"
        )
    return f"{path} is a zip file but not a bioimage.io model package (no bioimageio.yaml)"

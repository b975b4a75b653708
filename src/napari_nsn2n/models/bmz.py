"""Exporting a trained model as a bioimage.io model package (format 0.5), tested before writing.

The package is built with the format's own libraries (``bioimageio.spec`` describes and zips it,
``bioimageio.core`` runs its model test), which the ``[bmz]`` extra installs; the rest of the
engine does not need them. What goes in: the weights as a PyTorch state dict (with the U-Net's
source file and arguments, so any consumer can rebuild it) and as TorchScript; the min-max
normalisation as scale_linear pre- and post-processing (so the output comes back in the input's
units); a slice of the training stack and the network's output on it as test tensors; a cover
image; a README (package_docs.py); and ``napari-nsn2n.json``, from which ``load_model`` rebuilds
the model exactly (package.py). The model test runs on the finished zip, offline (no URL in the
description, no GitHub user names), and only a package that passes is moved to its destination.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import NSN2NError, OutputError
from ..stack import PreparedStack
from .bmz_compat import adjust_bioimageio_spec
from .bmz_describe import PackageInfo, describe
from .bundle import ModelBundle, check_model_output
from .sample import TrainingSample, sample_from_stack

INSTALL_HINT = "pip install 'napari-nsn2n[bmz]'"


class PackageExportError(NSN2NError):
    """A bioimage.io package could not be built or did not pass its model test."""


def stack_sample(
    bundle: ModelBundle, data: Any, axis: int | str | None = None, axes: str | None = None
) -> TrainingSample:
    """Test slices for ``bundle`` from a stack (the training stack, for a model file that holds
    none): its middle pair, scaled as the training stack was, with W_i for the model's threshold."""
    prepared = PreparedStack.from_array(data, axis, axes, bundle.normalizer)
    threshold = bundle.threshold if bundle.config.use_mask else None
    return sample_from_stack(prepared, threshold)


def export_bioimageio(
    bundle: ModelBundle,
    path: str | os.PathLike,
    info: PackageInfo | None = None,
    *,
    sample: TrainingSample | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``bundle`` as a bioimage.io model package (a ``.zip``) at ``path`` and return it.

    The test tensors come from ``sample`` or else the slices the model holds from its training
    stack (``stack_sample`` makes one for a model file without them). Nothing is written unless
    bioimageio.core's model test passes on the package; :class:`PackageExportError` says why.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() != ".zip":
        raise OutputError(f"a bioimage.io package is a .zip file, not {path.name}")
    check_model_output(path, overwrite)
    sample = sample or bundle.sample
    if sample is None:
        raise PackageExportError(
            "this model holds no slices of its training stack for the package's test tensors; "
            "give the training stack (nsn2n export --sample STACK, or sample=stack_sample(...))"
        )
    spec, core = _bioimageio()
    with _random_state_kept(), tempfile.TemporaryDirectory(prefix="nsn2n-bmz-") as folder:
        try:
            descr = describe(bundle, sample, info or PackageInfo(), Path(folder))
        except ValueError as exc:  # pydantic's ValidationError: the description breaks the format
            raise PackageExportError(f"the package description is invalid: {_errors(exc)}") from exc
        _test_and_write(spec, core, descr, path)
    return path


def _test_and_write(spec: Any, core: Any, descr: Any, path: Path) -> None:
    """Zip ``descr`` next to ``path``, run the model test on the zip, and move it onto ``path``
    only if the test passed (the temporary zip is removed in every case)."""
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".zip", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        spec.save_bioimageio_package(descr, output_path=tmp)
        summary = core.test_model(tmp, devices=["cpu"])
        if summary.status != "passed":
            raise PackageExportError(f"the package failed its test: {_failures(summary)}")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@functools.cache
def bioimageio_available() -> bool:
    """bioimageio.spec and bioimageio.core (the ``[bmz]`` extra) can be imported; looked up
    once, without importing them."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("bioimageio", "bioimageio.spec", "bioimageio.core")
    )


def _bioimageio():
    try:
        import bioimageio.core as core
        import bioimageio.spec as spec
    except ImportError as exc:
        raise PackageExportError(
            f"exporting a bioimage.io package needs bioimageio.spec and bioimageio.core "
            f"({INSTALL_HINT})"
        ) from exc
    adjust_bioimageio_spec()
    return spec, core


@contextlib.contextmanager
def _random_state_kept() -> Iterator[None]:
    """Building the U-Net draws from torch's generator, and bioimageio.core's test seeds numpy
    and torch and sets torch's deterministic-algorithms flag: the caller's generators and flag
    are put back afterwards."""
    numpy_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        yield
    finally:
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        torch.use_deterministic_algorithms(deterministic)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _errors(exc: ValueError) -> str:
    """pydantic's validation errors as 'field: message' clauses."""
    if not hasattr(exc, "errors"):
        return str(exc)
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )


def _failures(summary: Any) -> str:
    """The failed checks of a bioimage.io validation summary, one clause each."""
    reasons = []
    for detail in summary.details:
        if detail.status == "failed":
            errors = "; ".join(str(error.msg).splitlines()[0] for error in detail.errors)
            reasons.append(f"{detail.name}: {errors}" if errors else detail.name)
    return " | ".join(reasons) or f"status {summary.status}"

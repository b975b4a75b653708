"""What a run will read and write, checked before any work starts.

``plan_jobs`` names every output (volumes and models) of a list of inputs, ``check_plan`` finds
every collision and unwritable path among them, and ``inspect_inputs`` reads and checks every
input, so that the tenth input's problem is known before the first one trains. Plain functions
over lists, for the single-machine loop in ``cli.denoise`` and for cohort runs alike.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import NSN2NError, OutputError
from ..io import Volume, check_output_path, check_outputs, read_volume
from ..io.atomic import check_writable
from ..io.registry import is_plain_folder, output_name, output_stem
from ..io.volume import suffix_of
from .options import UsageError

OVERWRITE = "--overwrite"
MODEL_SUFFIX = ".pt"


@dataclass
class Job:
    """One input and what it becomes: ``output`` (the denoised volume) and ``model`` (or None)."""

    source: str
    output: Path
    model: Path | None = None
    residual: Path | None = None  # noisy - denoised, with --residual
    folders: tuple[Path, ...] = ()  # the output / model folders a many-input run makes
    volume: Volume | None = field(default=None, repr=False)  # kept when read up front
    problem: str | None = None  # why it cannot be denoised (found up front)


def is_folder_name(path: Path, typed: str) -> bool:
    """``path`` means a folder of outputs: it is one (not an OME-Zarr), or it was typed with a
    trailing slash."""
    return is_plain_folder(path) or typed.endswith(("/", os.sep))


def plan_jobs(
    inputs: Sequence[str],
    output: str | os.PathLike,
    save_model: str | os.PathLike | None = None,
    residual: bool = False,
) -> list[Job]:
    """The jobs of ``nsn2n denoise INPUT... -o OUTPUT [--save-model MODEL]``.

    One input and an ``output`` that is not a folder: ``output`` itself (its folder must exist).
    Otherwise ``output`` is a folder (made when missing) holding ``<name>_denoised<suffix>`` per
    input. Models follow the same rule: one input, a ``.pt`` file; several inputs, a folder of
    ``<name>.pt``.
    """
    typed_out, out = str(output), Path(output).expanduser()
    many = len(inputs) > 1 or is_folder_name(out, typed_out)
    if not many and out.suffix == "" and not out.exists() and suffix_of(out) == "":
        raise UsageError(f"-o {typed_out}: give a file name with a suffix, or a folder ending in /")
    typed_model = None if save_model is None else str(save_model)
    model_path = None if save_model is None else Path(save_model).expanduser()
    model_folder = model_path is not None and (
        len(inputs) > 1 or is_folder_name(model_path, typed_model or "")
    )
    if model_path is not None and not model_folder and model_path.suffix != MODEL_SUFFIX:
        raise UsageError(f"--save-model {typed_model}: a model file ends in {MODEL_SUFFIX}")
    if model_path is not None and model_folder and model_path.is_file():
        raise UsageError(
            f"--save-model {typed_model} is a file; with {len(inputs)} inputs it must be a folder"
        )
    if many and out.is_file():
        raise UsageError(f"-o {typed_out} is a file; with {len(inputs)} inputs it must be a folder")
    folders = tuple(f for f, made in ((out, many), (model_path, model_folder)) if made)
    jobs = []
    for source in inputs:
        stem = output_stem(source)
        target = out / output_name(source) if many else out
        model = None
        if model_path is not None:
            model = model_path / f"{stem}{MODEL_SUFFIX}" if model_folder else model_path
        beside = target.parent / output_name(target, "_residual") if residual else None
        jobs.append(Job(source, target, model, beside, folders))
    return jobs


def folders_to_create(jobs: Sequence[Job]) -> list[Path]:
    """The output folders of a many-input run that do not exist yet (a single output's folder
    must exist: a mistyped folder name is an error, not a new folder)."""
    wanted = {f for job in jobs for f in job.folders if not f.exists()}
    return sorted(wanted, key=lambda f: len(f.parts))


def check_plan(jobs: Sequence[Job], overwrite: bool = False) -> None:
    """Every collision (two results on one path, a result over an input) and every path that
    cannot be written, before any work; OutputError names them in one line."""
    sources = [job.source for job in jobs]
    pairs = [
        (p, job.source)
        for job in jobs
        for p in (job.output, job.residual, job.model)
        if p is not None
    ]
    check_outputs(sources, [p for p, _ in pairs], [o for _, o in pairs])
    problems = [r for r in map(_cannot_create, folders_to_create(jobs)) if r]
    for job in jobs:
        try:
            later = job.output.parent in job.folders
            check_output_path(job.output, overwrite, OVERWRITE, folder_later=later)
            if job.residual is not None:
                check_output_path(job.residual, overwrite, OVERWRITE, folder_later=later)
            if job.model is not None:
                later = job.model.parent in job.folders
                check_writable(job.model, overwrite, OVERWRITE, folder_later=later)
        except NSN2NError as exc:
            problems.append(str(exc))
    if problems:
        unique = list(dict.fromkeys(problems))
        more = f" (and {len(unique) - 3} more)" if len(unique) > 3 else ""
        raise OutputError("; ".join(unique[:3]) + more)


def create_folders(jobs: Sequence[Job]) -> list[Path]:
    """Make the missing output folders (after every check passed); returns those made."""
    made = folders_to_create(jobs)
    for folder in made:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output folder {folder}: {exc.strerror}") from None
    return made


def _cannot_create(folder: Path) -> str | None:
    """Why ``folder`` cannot be made (None when it can): its nearest existing ancestor must be a
    writable folder."""
    ancestor = folder
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot create the output folder {folder}: {ancestor} is not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot create the output folder {folder}: {ancestor} is not writable"
    return None


def read_input(source: str, read_options: dict, axes: str | None = None) -> Volume:
    """Read one input (memory-mapped where the format allows), with ``axes`` (--axes) naming
    its axes when given."""
    volume = read_volume(source, mmap=True, **read_options)
    if axes is None:
        return volume
    if len(axes) != volume.data.ndim:
        raise UsageError(
            f"--axes {axes} names {len(axes)} axes; {source} has {volume.data.ndim} "
            f"(shape {tuple(volume.data.shape)})"
        )
    if volume.axes_known and volume.axes != axes:
        volume.notes.append(f"--axes {axes} replaces the file's axes {volume.axes}")
    spacing = volume.spacing if volume.axes_known or volume.spacing is None else None
    return replace(volume, axes=axes, axes_known=True, spacing=spacing)


def inspect_inputs(jobs: Sequence[Job], check, read_options: dict, axes: str | None) -> None:
    """Read every input and run ``check(volume)`` on it (raises NSN2NError when it cannot be
    denoised); the reason lands in ``job.problem``. With one input the volume is kept."""
    for job in jobs:
        try:
            volume = read_input(job.source, read_options, axes)
            check(volume)
        except NSN2NError as exc:
            job.problem = str(exc)
            continue
        if len(jobs) == 1:
            job.volume = volume

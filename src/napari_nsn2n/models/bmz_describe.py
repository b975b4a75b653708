"""The bioimage.io description (format 0.5) of a trained model and the files it points to.

``describe`` writes the package's files into a folder (weights in both formats, the U-Net's
source, test tensors, cover, README, ``napari-nsn2n.json``) and returns the ``ModelDescr`` that
bioimageio.spec zips; bmz.py tests and writes it. bioimageio.spec is imported only here, and
only when a package is made.
"""

from __future__ import annotations

import getpass
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._version import __version__
from ..method import unet
from ..tuned import PACKAGE_TOLERANCE
from .bundle import MODEL_FORMAT, MODEL_VERSION, ModelBundle
from .package import SETTINGS_FILE, STATE_DICT_FILE
from .package_docs import PAPER_CITATION, PAPER_DOI, TileSizes, readme_text, save_cover
from .sample import TrainingSample, central_crop

INPUT_ID, OUTPUT_ID = "noisy", "denoised"
TORCHSCRIPT_FILE = "weights_torchscript.pt"


@dataclass(frozen=True)
class PackageInfo:
    """What a package says about its model beyond the weights.

    ``authors``: names, or dicts with ``name`` and optionally ``affiliation``, ``email``,
    ``orcid`` (default: the user's login name). ``license``: an SPDX id. ``modality``: the source
    modality in words ("CT", "MRI", "fluorescence microscopy"), for the README and the tags.
    ``name`` / ``description``: default from the model. ``tags``: added to napari-nsn2n's.
    """

    name: str | None = None
    authors: Sequence[str | Mapping[str, str]] = ()
    license: str = "CC-BY-4.0"
    modality: str | None = None
    description: str | None = None
    tags: Sequence[str] = field(default_factory=tuple)


def tile_sizes(depth: int, side: int) -> TileSizes:
    """Sizes for a U-Net of ``depth`` whose test tensor has ``side`` pixels (a multiple of
    2**depth): steps of 2**depth, a halo of its receptive-field radius (5 (2**d - 1) + 2**(d+1):
    two 3x3 convolutions per level down and up, the pools and the bottleneck), rounded up to half
    a step, as large as the test tensor allows; the minimum is the least size above two halos."""
    step = 2**depth
    half = step // 2 if step > 1 else 1
    radius = 5 * (step - 1) + 2 * step
    halo = min(-(-radius // half) * half, ((side - step) // 2) // half * half)
    minimum = (2 * halo // step + 1) * step
    return TileSizes(minimum=minimum, step=step, halo=max(halo, 0))


def _network_output(bundle: ModelBundle, noisy: np.ndarray) -> np.ndarray:
    """The network on one slice in input units, as the package describes it: scale to [0, 1],
    f_theta, scale back (float32, on the CPU)."""
    model = bundle.build("cpu")
    x = torch.from_numpy(bundle.normalizer.forward(noisy)[None, None])
    with torch.no_grad():
        y = model(x)[0, 0].numpy()
    return bundle.normalizer.inverse(y)


def _write_files(
    bundle: ModelBundle, sample: TrainingSample, folder: Path, test_input: np.ndarray
) -> dict[str, Path]:
    files = {name: folder / name for name in (STATE_DICT_FILE, TORCHSCRIPT_FILE)}
    torch.save(bundle.state, files[STATE_DICT_FILE])
    model = bundle.build("cpu")
    example = torch.from_numpy(bundle.normalizer.forward(test_input)[None, None])
    with warnings.catch_warnings():  # tracing is the TorchScript export the format reads
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example)
        traced.save(str(files[TORCHSCRIPT_FILE]))
    files["unet.py"] = folder / "unet.py"
    files["unet.py"].write_text(Path(unet.__file__).read_text(encoding="utf-8"), "utf-8")
    test_output = _network_output(bundle, test_input)
    for name, array in (("test_input.npy", test_input), ("test_output.npy", test_output)):
        files[name] = folder / name
        np.save(files[name], array[None, None].astype(np.float32))
    files["cover.png"] = save_cover(
        folder / "cover.png", sample, _network_output(bundle, sample.slices[0]), bundle.threshold
    )
    payload = {k: v for k, v in bundle.to_payload().items() if k not in ("state", "sample")}
    payload["weights_file"] = STATE_DICT_FILE
    files[SETTINGS_FILE] = folder / SETTINGS_FILE
    files[SETTINGS_FILE].write_text(json.dumps(payload, indent=1, default=float), "utf-8")
    return files


def _tags(info: PackageInfo) -> list[str]:
    modality = (info.modality or "").lower()
    category = "other"
    for words, tag in (
        (("cryo",), "cryo-electron-microscopy"),
        (("electron", "sem", "tem"), "electron-microscopy"),
        (("fluoresc", "confocal", "light-sheet", "lightsheet"), "fluorescence-light-microscopy"),
        (("x-ray micro", "xray micro"), "x-ray-microscopy"),
        (("brightfield", "bright-field", "transmission"), "transmission-light-microscopy"),
    ):
        if any(word in modality for word in words):
            category = tag
            break
    own = re.sub(r"[^a-z0-9]+", "-", modality).strip("-")
    tags = ["denoising", "2d", "pytorch", "unet", "self-supervised", "noise2noise", "ns-n2n"]
    tags += [category, own, "napari-nsn2n", *info.tags]
    return list(dict.fromkeys(t for t in tags if t))


def _authors(spec_v0_5: Any, info: PackageInfo) -> list[Any]:
    entries = list(info.authors) or [getpass.getuser()]
    return [
        spec_v0_5.Author(name=entry) if isinstance(entry, str) else spec_v0_5.Author(**entry)
        for entry in entries
    ]


def _name(info: PackageInfo) -> str:
    if info.name:
        return info.name
    modality = re.sub(r"[^A-Za-z0-9_+\- ()]+", " ", info.modality or "").strip()
    return f"NS-N2N denoiser ({modality})" if modality else "NS-N2N denoiser"


def _tensors(
    v0_5: Any, bundle: ModelBundle, files: dict[str, Path], sizes: TileSizes
) -> tuple[Any, Any]:
    """The input and output tensor descriptions: (batch, channel, y, x) in the input's units,
    scale_linear to the network's [0, 1] before it and back after it."""
    norm = bundle.normalizer
    ensure = v0_5.EnsureDtypeDescr(kwargs=v0_5.EnsureDtypeKwargs(dtype="float32"))
    halo = {"halo": sizes.halo} if sizes.halo else {}
    out_axis = v0_5.SpaceOutputAxisWithHalo if sizes.halo else v0_5.SpaceOutputAxis
    reference = {"tensor_id": v0_5.TensorId(INPUT_ID)}
    space = {
        INPUT_ID: [
            v0_5.SpaceInputAxis(
                id=v0_5.AxisId(a), size=v0_5.ParameterizedSize(min=sizes.minimum, step=sizes.step)
            )
            for a in "yx"
        ],
        OUTPUT_ID: [
            out_axis(
                id=v0_5.AxisId(a),
                size=v0_5.SizeReference(**reference, axis_id=v0_5.AxisId(a)),
                **halo,
            )
            for a in "yx"
        ],
    }

    def common(tensor_id: str, test_file: str, description: str) -> dict[str, Any]:
        channel = v0_5.ChannelAxis(channel_names=[v0_5.Identifier(tensor_id)])
        return {
            "id": v0_5.TensorId(tensor_id),
            "description": description,
            "axes": [v0_5.BatchAxis(), channel, *space[tensor_id]],
            "test_tensor": v0_5.FileDescr(source=files[test_file]),
            "data": v0_5.IntervalOrRatioDataDescr(type="float32"),
        }

    to_unit = v0_5.ScaleLinearKwargs(gain=1.0 / norm.scale, offset=-norm.low / norm.scale)
    inputs = v0_5.InputTensorDescr(
        **common(INPUT_ID, "test_input.npy", "one slice in the training stack's units"),
        preprocessing=[ensure, v0_5.ScaleLinearDescr(kwargs=to_unit)],
    )
    back = v0_5.ScaleLinearKwargs(gain=norm.scale, offset=norm.low)
    outputs = v0_5.OutputTensorDescr(
        **common(OUTPUT_ID, "test_output.npy", "the slice denoised, in the input's units"),
        postprocessing=[v0_5.ScaleLinearDescr(kwargs=back), ensure],
    )
    return inputs, outputs


def _weights(v0_5: Any, bundle: ModelBundle, files: dict[str, Path]) -> Any:
    """The state dict with the U-Net's source and arguments, and the TorchScript made from it."""
    torch_version = v0_5.Version(torch.__version__.split("+")[0])
    config = bundle.config
    weights = v0_5.WeightsDescr(
        pytorch_state_dict=v0_5.PytorchStateDictWeightsDescr(
            source=files[STATE_DICT_FILE],
            architecture=v0_5.ArchitectureFromFileDescr(
                source=files["unet.py"],
                callable=v0_5.Identifier("UNet"),
                kwargs={
                    "base_channels": config.base_channels,
                    "depth": config.depth,
                    "residual": config.residual,
                    "norm": config.group_norm,
                },
            ),
            pytorch_version=torch_version,
        ),
        torchscript=v0_5.TorchscriptWeightsDescr(
            source=files[TORCHSCRIPT_FILE],
            pytorch_version=torch_version,
            parent="pytorch_state_dict",
            comment="traced at the test input's size; valid for every declared size",
        ),
    )
    return weights


def describe(bundle: ModelBundle, sample: TrainingSample, info: PackageInfo, folder: Path) -> Any:
    """Write the package's files for ``bundle`` into ``folder`` and return its description."""
    from bioimageio.spec.model import v0_5  # the [bmz] extra, imported on use

    window = central_crop(sample.slices.shape, max(sample.slices.shape), 2**bundle.config.depth)
    test_input = np.ascontiguousarray(sample.slices[0][window], dtype=np.float32)
    sizes = tile_sizes(bundle.config.depth, min(test_input.shape))
    files = _write_files(bundle, sample, folder, test_input)
    name = _name(info)
    files["README.md"] = folder / "README.md"
    files["README.md"].write_text(
        readme_text(bundle, name, info.modality, sizes, __version__), "utf-8"
    )
    inputs, outputs = _tensors(v0_5, bundle, files, sizes)
    weights = _weights(v0_5, bundle, files)
    config = bundle.config
    tolerance = PACKAGE_TOLERANCE * bundle.normalizer.scale
    bioimageio_config = v0_5.BioimageioConfig(
        reproducibility_tolerance=[
            v0_5.ReproducibilityTolerance(relative_tolerance=0.0, absolute_tolerance=tolerance)
        ],
        architecture_type="2D U-Net",
        modality=info.modality,
        task="denoising",
        model_parameter_count=sum(int(t.numel()) for t in bundle.state.values()),
        training=v0_5.TrainingDetails(
            training_epochs=float(bundle.meta.get("epochs", config.epochs)),
            training_batch_size=float(config.batch_size),
            initial_learning_rate=config.learning_rate,
            learning_rate_schedule=config.lr_schedule,
            loss_function="NS-N2N: masked reconstruction + lambda_RC L_RC + lambda_IC L_IC",
            optimizer="torch.optim.Adam",
        ),
    )
    return v0_5.ModelDescr(
        name=name,
        description=info.description
        or "Self-supervised NS-N2N denoiser of 2D slices, trained by napari-nsn2n on one noisy stack.",
        authors=_authors(v0_5, info),
        cite=[v0_5.CiteEntry(text=PAPER_CITATION, doi=v0_5.Doi(PAPER_DOI))],
        license=v0_5.LicenseId(info.license),
        documentation=v0_5.FileDescr(source=files["README.md"]),
        covers=[v0_5.FileDescr(source=files["cover.png"])],
        tags=_tags(info),
        attachments=[v0_5.FileDescr(source=files[SETTINGS_FILE])],
        inputs=[inputs],
        outputs=[outputs],
        weights=weights,
        config=v0_5.Config(
            bioimageio=bioimageio_config,
            **{"napari-nsn2n": {"format": MODEL_FORMAT, "version": MODEL_VERSION}},
        ),
    )

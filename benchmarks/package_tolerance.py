"""How closely bioimageio.core reproduces an exported package's test output (tuned.PACKAGE_TOLERANCE).

Trains the fast preset's U-Net briefly on a synthetic CT and a microscopy stack, exports each as a
bioimage.io package, and runs the package through bioimageio.core's prediction pipeline (its
scale_linear pre- and post-processing, then each weight format) on the test input and on a
whole slice, both as it is and padded by the halo as ``predict`` does. Prints the largest
difference from napari-nsn2n's own output, as a fraction of the training stack's range, inside
and within the halo of the border, and the error against the clean slice in that border band for
three padding modes. Needs the [bmz] extra. A few minutes on two cores.

    python benchmarks/package_tolerance.py --steps 100 --side 160
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from napari_nsn2n import TrainConfig, apply_model, denoise
from napari_nsn2n.models.bmz import PackageInfo, export_bioimageio
from napari_nsn2n.models.bmz_describe import tile_sizes
from napari_nsn2n.samples.ct import ct_stack
from napari_nsn2n.samples.microscopy import microscopy_stack


def core_outputs(package: Path, image: np.ndarray, pad: str | None) -> dict[str, np.ndarray]:
    """bioimageio.core's output for ``image`` (y, x) with each weight format of ``package``;
    ``pad``: as ``predict`` runs it (input padded by the halo in this mode, output cropped), or
    None: the image as it is."""
    from bioimageio.core import create_prediction_pipeline, load_model_description
    from bioimageio.core.digest_spec import create_sample_for_model
    from bioimageio.spec.model import v0_5

    descr = load_model_description(package, perform_io_checks=False)
    if pad is not None:
        modes = {"symmetric": v0_5.SymmetricPadding(), "reflect": v0_5.ReflectPadding()}
        descr.inputs[0].pad = modes.get(pad, v0_5.EdgePadding())
    outputs = {}
    for weights in ("pytorch_state_dict", "torchscript"):
        with create_prediction_pipeline(descr, weight_format=weights, devices=["cpu"]) as pp:
            sample = create_sample_for_model(descr, inputs={"noisy": image[None, None]})
            result = pp.predict_sample_without_blocking(
                sample, skip_input_padding=pad is None, skip_output_cropping=pad is None
            )
            outputs[weights] = np.asarray(result.members["denoised"].data)[0, 0]
    return outputs


def band_rmse(result: np.ndarray, clean: np.ndarray, band: np.ndarray, scale: float) -> float:
    """RMSE against the clean slice inside ``band``, as a fraction of the range ``scale``."""
    return float(np.sqrt(np.mean((result - clean)[band] ** 2)) / scale)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--side", type=int, default=160)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    config = replace(
        TrainConfig.preset("fast", device="cpu"), epochs=1, min_steps=args.steps, device="cpu"
    )
    shape = (8, args.side, args.side)
    report = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, case in (("ct", ct_stack(shape)), ("microscopy", microscopy_stack(shape))):
            _, bundle = denoise(case.noisy, config=config, return_model=True)
            package = export_bioimageio(bundle, Path(folder) / f"{name}.zip", PackageInfo())
            scale, halo = bundle.normalizer.scale, tile_sizes(bundle.config.depth, args.side).halo
            middle = len(case.noisy) // 2
            ours = apply_model(bundle, case.noisy, device="cpu", keep_structure=False)[middle]
            image = np.asarray(case.noisy[middle], dtype=np.float32)
            band = np.ones(image.shape, dtype=bool)
            band[halo:-halo, halo:-halo] = False

            report[f"{name} napari-nsn2n, border band RMSE vs clean"] = band_rmse(
                ours, case.clean[middle], band, scale
            )
            for weights, out in core_outputs(package, image, pad=None).items():
                report[f"{name} {weights} as is, max"] = float(np.abs(out - ours).max() / scale)
            for pad in ("symmetric", "reflect", "edge"):
                out = core_outputs(package, image, pad=pad)["torchscript"]
                error = np.abs(out - ours) / scale
                report[f"{name} {pad}-padded, interior max"] = float(error[~band].max())
                report[f"{name} {pad}-padded, border band max"] = float(error[band].max())
                report[f"{name} {pad}-padded, p99"] = float(np.percentile(error, 99))
                report[f"{name} {pad}-padded, border band RMSE vs clean"] = band_rmse(
                    out, case.clean[middle], band, scale
                )
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

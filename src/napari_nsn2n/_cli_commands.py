"""What the ``nsn2n`` sub-commands do (kept apart from argument parsing)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from .config import TrainConfig
from .errors import OutputError


def _config(args: argparse.Namespace) -> TrainConfig:
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "lr_schedule": args.lr_schedule,
        "lambda_rc": args.lambda_rc,
        "lambda_ic": args.lambda_ic,
        "num_threads": args.threads,
    }
    config = TrainConfig.preset(args.preset, device=args.device)
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    if args.patch_size is not None:
        config = replace(config, patch_size=args.patch_size or None)
    if args.min_steps is not None:
        config = replace(config, min_steps=args.min_steps or None)
    elif args.epochs is not None:  # explicit epochs are trained as asked
        config = replace(config, min_steps=None)
    return replace(config, seed=args.seed, device=args.device, use_mask=not args.no_mask)


def _output_paths(inputs: list[str], output: Path) -> list[Path]:
    if len(inputs) == 1 and not output.is_dir():
        return [output]
    if not output.is_dir():
        raise OutputError(f"with {len(inputs)} inputs, -o must be an existing folder ({output})")
    paths = []
    for name in inputs:
        source = Path(name.rstrip("/"))
        suffix = "".join(source.suffixes[-2:]) if source.name.endswith(".nii.gz") else source.suffix
        if source.is_dir() or suffix not in (".tif", ".tiff", ".nii", ".nii.gz", ".npy"):
            suffix = ".tif"
        stem = (
            source.name[: len(source.name) - len(suffix)]
            if source.name.endswith(suffix)
            else source.name
        )
        paths.append(output / f"{stem}_denoised{suffix}")
    return paths


def run_denoise(args: argparse.Namespace) -> int:
    from .api import apply_model, run
    from .events import Finished
    from .io import check_output_path, read_volume, write_volume
    from .masks import LowpassSettings
    from .model_io import check_model_output, load_model, save_model
    from .progress import ProgressBar

    outputs = _output_paths(args.inputs, args.output)
    for path in outputs:
        check_output_path(path, args.overwrite)
    if args.save_model is not None:
        check_model_output(args.save_model, args.overwrite)
    bundle = load_model(args.model) if args.model is not None else None
    config = _config(args)
    for source, target in zip(args.inputs, outputs, strict=True):
        volume = read_volume(source, mmap=True)  # big stacks stay on disk (see api.PreparedStack)
        if bundle is not None:
            denoised = apply_model(
                bundle,
                volume.data,
                args.axis,
                volume.axes,
                args.device,
                tta=args.tta,
                cast_output=args.keep_dtype,
                rician=args.rician,
            )
        else:
            with ProgressBar(Path(source).name, disable=args.quiet) as bar:
                for event in run(
                    volume.data,
                    args.threshold,
                    config,
                    args.axis,
                    volume.axes,
                    lowpass=LowpassSettings(stabilize=args.stabilize),
                    tta=args.tta,
                    cast_output=args.keep_dtype,
                    rician=args.rician,
                ):
                    bar.update(event)
                    if isinstance(event, Finished):
                        denoised, trained = event.denoised, event.model
            if trained.meta.get("lambda_rc_auto"):
                weight = trained.config.lambda_rc
                # a weight > 0 is the paper's: correlated noise, or none checked (--no-mask)
                why = "the paper's weight" if weight else "pixel-independent noise"
                print(f"L_RC weight {weight:g} (auto: {why})", file=sys.stderr)
            sigma = trained.meta.get("rician_sigma")
            if sigma:
                print(f"Rician bias removed (sigma {sigma:.4g})", file=sys.stderr)
            if args.save_model is not None:
                save_model(trained, args.save_model, overwrite=True)
                print(f"model: {args.save_model}", file=sys.stderr)
        write_volume(target, volume.with_data(denoised), overwrite=args.overwrite)
        print(f"denoised: {target}", file=sys.stderr)
    return 0


def run_mask(args: argparse.Namespace) -> int:
    from .api import compute_differences, resolve_threshold
    from .config import TrainConfig
    from .io import check_output_path, read_volume, write_volume
    from .masks import LowpassSettings

    check_output_path(args.output, args.overwrite)
    volume = read_volume(args.input, mmap=True)
    settings = LowpassSettings(stabilize=args.stabilize)
    differences = compute_differences(volume.data, args.axis, volume.axes, settings)
    # "auto" suggests th for a run of the default preset (as `nsn2n denoise` would train)
    threshold = resolve_threshold(args.threshold, differences, TrainConfig.preset("auto"))
    if differences.stabilizer is not None:
        print(
            f"LPF on variance-stabilised slices ({differences.stabilizer.describe()})",
            file=sys.stderr,
        )
    labels = differences.mask_volume(threshold)
    write_volume(args.output, volume.with_data(labels), overwrite=args.overwrite)
    print(
        f"threshold {threshold:.5g}: {differences.matched_fraction(threshold):.1%} of pixels "
        f"matched (W = 1); mask: {args.output} (0 no pair, 1 W=1, 2 W=0)",
        file=sys.stderr,
    )
    return 0

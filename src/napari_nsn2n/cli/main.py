"""The ``nsn2n`` command line: argument parsing, the sub-commands, and exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import demo, denoise, export, mask

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
COMMANDS = {"denoise": denoise, "mask": mask, "demo": demo, "export": export}


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="nsn2n",
        description="Neighboring Slice Noise2Noise: self-supervised denoising of one 3D stack.",
        epilog=denoise.EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; the exit code is 0 on success, 1 for an error the user can fix
    (one line on stderr), 2 for bad arguments, 130 when interrupted."""
    from ..errors import NSN2NError

    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except NSN2NError as exc:
        print(f"nsn2n: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("nsn2n: interrupted; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

"""The ``nsn2n`` command line: argument parsing, the sub-commands, and exit codes.

Exit codes (docs/guarantees.md): 0 everything asked for was written; 1 an error the user can fix,
one line on stderr (with several inputs: at least one failed, the others are listed as written);
2 bad or conflicting options; 130 interrupted (Ctrl-C); 128 + N killed by signal N (143 for
SIGTERM, 129 for SIGHUP). After an error or a signal the last line says what was written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import demo, denoise, export, mask
from .signals import Terminated, termination_as_exception

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
    """Run one sub-command and return its exit code (see the module docstring)."""
    from ..errors import NSN2NError
    from .options import UsageError

    args = build_parser().parse_args(argv)
    try:
        with termination_as_exception():
            return COMMANDS[args.command].run(args)
    except UsageError as exc:
        print(f"nsn2n {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NSN2NError as exc:
        print(f"nsn2n: error: {exc}{_written(args, '; ')}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"nsn2n: interrupted; {_written(args) or 'nothing written'}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated as exc:
        print(f"nsn2n: stopped by {exc}; {_written(args) or 'nothing written'}", file=sys.stderr)
        return exc.exit_code


def _written(args: argparse.Namespace, lead: str = "") -> str:
    """What the run wrote before it ended, when it wrote anything."""
    report = getattr(args, "outcome", None)
    if report is None or not report.written:
        return ""
    return lead + report.summary()


if __name__ == "__main__":
    sys.exit(main())

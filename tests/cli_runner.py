"""``nsn2n ARGS`` in this process (``cli.main.main``), with stdout / stderr captured by capsys."""

from __future__ import annotations

import subprocess

from napari_nsn2n.cli.main import main

# two epochs of a tiny run on one thread, on the CPU whatever the machine has
FAST = [
    *("--epochs", "2", "--batch-size", "2", "--patch-size", "32", "--threads", "1"),
    *("--device", "cpu", "-q"),
]


def run_cli(capsys, *args) -> subprocess.CompletedProcess:
    """(returncode, stdout, stderr) as a CompletedProcess, like a subprocess run would give."""
    capsys.readouterr()
    argv = [str(a) for a in args]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --help (0), bad options (2)
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out, err)

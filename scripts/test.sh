#!/usr/bin/env bash
# Install everything (apt + pip) and run the linter and the whole test suite, with no display needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/_setup_env.sh
VENV="${VENV:-.venv}"
unset QT_QPA_PLATFORM   # napari image layers need Xvfb + xcb (pytest-xvfb starts Xvfb)
"$VENV/bin/ruff" check $(ls -d src tests benchmarks scripts 2>/dev/null)
set +e
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
[ "$rc" -eq 5 ] && rc=0   # "no tests collected" is not a failure
exit "$rc"

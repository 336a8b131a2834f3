#!/usr/bin/env bash
# Build the one-folder bundle (dist/SpecChat/) with PyInstaller and run its own self-test.
# Usage: packaging/build_bundle.sh [PYTHON]   (default: .venv/bin/python, as `make bundle` sets up)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
"$PY" -m pip install --quiet "pyinstaller==6.22.3"
started=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/specchat.spec
echo "bundle built in $(( $(date +%s) - started )) s: dist/SpecChat ($(du -sh dist/SpecChat | cut -f1))"
# the bundle must run on its own: no source tree, no venv on its path
env -u PYTHONPATH QT_QPA_PLATFORM=offscreen dist/SpecChat/specchat --self-test

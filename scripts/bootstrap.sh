#!/usr/bin/env bash
# Creates .venv with the project and its dev tools if it is missing or stale. Sourced by dev.sh and test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${O2C_PYTHON:-python3}"
stamp="$venv/.o2c-installed"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "o2c needs Python 3.11 or newer")'
    "$python" -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[dev]"
    touch "$stamp"
fi
export PATH="$venv/bin:$PATH"

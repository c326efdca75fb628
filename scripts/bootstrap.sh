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
# Bytecode for our own packages: the workflow sandbox re-imports a workflow's module for every run it
# starts, and with PYTHONDONTWRITEBYTECODE set (as on this project's machines) Python would compile that
# module from source every time. compileall writes it anyway and skips what is up to date.
"$venv/bin/python" -m compileall -q -j 0 "$root/models" "$root/workflows" "$root/activities" "$root/workers" \
    "$root/o2c" >/dev/null
export PATH="$venv/bin:$PATH"

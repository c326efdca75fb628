#!/usr/bin/env bash
# README command 2: lint, type-check and the whole test suite (SQLite and PostgreSQL).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$root"
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"; mypy o2c workflows activities workers models
echo "== pytest"; exec python -m pytest "$@"

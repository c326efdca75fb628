#!/usr/bin/env bash
# README command 1: the embedded stack (Temporal dev server + UI, worker, webhook receiver, localstripe,
# SendGrid sink) with demo orders. Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$root"
exec o2c dev --demo "$@"

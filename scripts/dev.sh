#!/usr/bin/env bash
# README command 1: the embedded stack (Temporal dev server + UI, worker, webhook receiver, localstripe,
# SendGrid sink) with demo orders, all on 127.0.0.1. A child that dies is started again; Ctrl-C stops everything
# it started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$root"
exec o2c dev --demo "$@"

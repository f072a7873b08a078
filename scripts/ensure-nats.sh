#!/usr/bin/env bash
# Make sure a nats-server binary is available for the multi-host end-to-end
# tests (test/e2e/cluster.test.ts), installing Debian's `nats-server` package
# when it is missing. Idempotent: does nothing but print the version when the
# binary is already there. Prints the binary's path on the last line so
# callers can use it. NATS_SERVER_BIN overrides the search.
#
# Exit codes: 0 available, 1 not available and could not be installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/ensure-debian-package.sh"

# The package may enable a system nats-server on :4222; the tests never use
# it (they start their own on a free port).
ensure_debian_package nats-server NATS_SERVER_BIN nats-server nats-server
"$ensured_bin" --version 2>&1 | head -n 1 >&2
echo "$ensured_bin"

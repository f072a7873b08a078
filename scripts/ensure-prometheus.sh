#!/usr/bin/env bash
# Make sure a Prometheus server binary is available for the end-to-end metrics
# test (test/e2e/prometheus.test.ts), installing Debian's `prometheus` package
# when it is missing. Idempotent: does nothing but print the version when the
# binary is already there. Prints the binary's path on the last line so
# callers can use it. PROMETHEUS_BIN overrides the search.
#
# Exit codes: 0 available, 1 not available and could not be installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/ensure-debian-package.sh"

# On a host with systemd the package also enables a system prometheus on
# :9090; the test never uses it.
ensure_debian_package Prometheus PROMETHEUS_BIN prometheus prometheus
"$ensured_bin" --version 2>&1 | head -n 1 >&2
echo "$ensured_bin"

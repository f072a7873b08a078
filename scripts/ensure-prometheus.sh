#!/usr/bin/env bash
# Make sure a Prometheus server binary is available for the end-to-end metrics
# test (test/e2e/prometheus.test.ts), installing Debian's `prometheus` package
# when it is missing. Idempotent: does nothing but print the version when the
# binary is already there. Prints the binary's path on the last line so
# callers can use it.
#
# Exit codes: 0 available, 1 not available and could not be installed.
set -euo pipefail

find_prometheus() {
  if [[ -n "${PROMETHEUS_BIN:-}" && -x "${PROMETHEUS_BIN}" ]]; then echo "${PROMETHEUS_BIN}"; return 0; fi
  command -v prometheus 2>/dev/null && return 0
  # Debian installs to /usr/bin, but PATH may be trimmed in CI shells.
  [[ -x /usr/bin/prometheus ]] && { echo /usr/bin/prometheus; return 0; }
  return 1
}

if ! bin=$(find_prometheus); then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-prometheus: prometheus is not installed and apt-get is unavailable; install Prometheus or set PROMETHEUS_BIN" >&2
    exit 1
  fi
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "ensure-prometheus: prometheus is not installed and installing it needs root (or passwordless sudo)" >&2
      exit 1
    fi
  fi
  echo "ensure-prometheus: installing Debian's prometheus package" >&2
  # noninteractive: no debconf prompts in CI. On a host with systemd the
  # package also enables a system prometheus on :9090; the test never uses it.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >&2
  if ! bin=$(find_prometheus); then
    echo "ensure-prometheus: the prometheus package installed but no prometheus binary was found" >&2
    exit 1
  fi
fi

"$bin" --version 2>&1 | head -n 1 >&2
echo "$bin"

#!/usr/bin/env bash
# Make sure a nats-server binary is available for the multi-host end-to-end
# tests (test/e2e/cluster.test.ts), installing Debian's `nats-server` package
# when it is missing. Idempotent: does nothing but print the version when the
# binary is already there. Prints the binary's path on the last line so
# callers can use it.
#
# Exit codes: 0 available, 1 not available and could not be installed.
set -euo pipefail

find_nats() {
  if [[ -n "${NATS_SERVER_BIN:-}" && -x "${NATS_SERVER_BIN}" ]]; then echo "${NATS_SERVER_BIN}"; return 0; fi
  command -v nats-server 2>/dev/null && return 0
  # Debian installs to /usr/bin (or /usr/sbin), but PATH may be trimmed in CI shells.
  for p in /usr/bin/nats-server /usr/sbin/nats-server; do [[ -x $p ]] && { echo "$p"; return 0; }; done
  return 1
}

if ! bin=$(find_nats); then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-nats: nats-server is not installed and apt-get is unavailable; install nats-server or set NATS_SERVER_BIN" >&2
    exit 1
  fi
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "ensure-nats: nats-server is not installed and installing it needs root (or passwordless sudo)" >&2
      exit 1
    fi
  fi
  echo "ensure-nats: installing Debian's nats-server package" >&2
  # noninteractive: no debconf prompts in CI. The package may enable a system
  # nats-server on :4222; the tests never use it (they start their own on a free port).
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nats-server >&2
  if ! bin=$(find_nats); then
    echo "ensure-nats: the nats-server package installed but no nats-server binary was found" >&2
    exit 1
  fi
fi

"$bin" --version 2>&1 | head -n 1 >&2
echo "$bin"

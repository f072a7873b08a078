#!/usr/bin/env bash
# Make sure a Chromium binary is available for the browser end-to-end tests
# (test/e2e/browser.test.ts), installing Debian's `chromium` package when it
# is missing. Idempotent: does nothing but print the version when the binary
# is already there. Prints the binary's path on the last line so callers can
# use it. No browser is downloaded from anywhere but the distribution's own
# package archive (puppeteer-core never downloads one).
#
# Exit codes: 0 available, 1 not available and could not be installed.
set -euo pipefail

find_chromium() {
  if [[ -n "${CHROMIUM_BIN:-}" && -x "${CHROMIUM_BIN}" ]]; then echo "${CHROMIUM_BIN}"; return 0; fi
  for name in chromium chromium-browser; do
    command -v "$name" 2>/dev/null && return 0
  done
  # Debian installs to /usr/bin, but PATH may be trimmed in CI shells.
  [[ -x /usr/bin/chromium ]] && { echo /usr/bin/chromium; return 0; }
  return 1
}

if ! bin=$(find_chromium); then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: chromium is not installed and apt-get is unavailable; install Chromium or set CHROMIUM_BIN" >&2
    exit 1
  fi
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "ensure-chromium: chromium is not installed and installing it needs root (or passwordless sudo)" >&2
      exit 1
    fi
  fi
  echo "ensure-chromium: installing Debian's chromium package" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2
  # fonts-dejavu-core: the pages and charts ask for DejaVu Sans.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core >&2
  if ! bin=$(find_chromium); then
    echo "ensure-chromium: the chromium package installed but no chromium binary was found" >&2
    exit 1
  fi
fi

# Debian's wrapper script prints shell noise on some hosts; only the first line matters.
"$bin" --version 2>/dev/null | head -n 1 >&2 || true
echo "$bin"

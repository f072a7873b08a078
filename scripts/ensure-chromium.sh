#!/usr/bin/env bash
# Make sure a Chromium binary is available for the browser end-to-end tests
# (test/e2e/browser.test.ts), installing Debian's `chromium` package when it
# is missing. Idempotent: does nothing but print the version when the binary
# is already there. Prints the binary's path on the last line so callers can
# use it. CHROMIUM_BIN overrides the search. No browser is downloaded from
# anywhere but the distribution's own package archive (puppeteer-core never
# downloads one).
#
# Exit codes: 0 available, 1 not available and could not be installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/ensure-debian-package.sh"

# fonts-dejavu-core: the pages and charts ask for DejaVu Sans.
ensure_debian_package Chromium CHROMIUM_BIN "chromium fonts-dejavu-core" chromium chromium-browser
# Debian's wrapper script prints shell noise on some hosts; only the first line matters.
"$ensured_bin" --version 2>/dev/null | head -n 1 >&2 || true
echo "$ensured_bin"

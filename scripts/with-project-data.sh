#!/usr/bin/env bash
# Runs a command with FASHION_MNIST_DIR pointing at this project's offline copy
# of Fashion-MNIST, ../shared/data/fashion-mnist beside the repository, on the
# machines that have one (unless FASHION_MNIST_DIR is already set). The figures
# in the README were measured on that copy; this keeps new benchmark runs on the
# same data. Elsewhere the command finds its data as on any user's machine. The
# product itself never looks beside the repository.
set -euo pipefail
offline="$(cd "$(dirname "$0")/.." && pwd)/../shared/data/fashion-mnist"
if [ -z "${FASHION_MNIST_DIR:-}" ] && [ -d "$offline" ]; then
  FASHION_MNIST_DIR="$(cd "$offline" && pwd)"
  export FASHION_MNIST_DIR
  echo "data: FASHION_MNIST_DIR=$FASHION_MNIST_DIR (this machine's offline copy)" >&2
fi
exec "$@"

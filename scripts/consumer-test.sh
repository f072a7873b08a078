#!/usr/bin/env bash
# The package as a user gets it: `npm pack`, install the tarball into a fresh
# project, type-check test/consumer/consumer.ts there with `tsc --strict
# --noEmit` against the installed declarations, then compile and run it
# (train a few steps with onStep, abort a second run through its
# AbortSignal, evaluate, predict).
#
# Needs the npm registry (the tarball's dependencies) and Fashion-MNIST:
# FASHION_MNIST_DIR, or the cache/download the library itself falls back to.
# @tensorflow/tfjs-node is an optional dependency whose install script
# downloads libtensorflow; where that fails (offline) npm drops it and the
# package runs on wasm. We do not pass --omit=optional: that would also drop
# sharp's and resvg's platform binaries, which are optional dependencies too.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/pixelsense-consumer-XXXXXX")"
trap 'rm -rf "$work"' EXIT
t0=$SECONDS
say() { printf 'consumer-test [%3ds] %s\n' "$((SECONDS - t0))" "$*"; }

cd "$root"
say "npm pack"
tarball="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
listing="$(tar -tzf "$work/$tarball")"
for want in package/dist/src/index.js package/dist/src/index.d.ts package/configs/smoke.yaml package/README.md package/dist/src/coordinator/cli/cli.js; do
  grep -qx "$want" <<<"$listing" || { echo "consumer-test: $want is not in $tarball" >&2; exit 1; }
done
if grep -Eq '^package/(dist/)?test/|^package/src/' <<<"$listing"; then
  echo "consumer-test: $tarball ships tests or TypeScript sources" >&2
  exit 1
fi
say "$tarball: $(wc -l <<<"$listing") files, $(du -k "$work/$tarball" | cut -f1) KiB"

# A 28x28 trouser-like PNG for predict, drawn with the repo's sharp (the consumer has no image library of its own).
node --input-type=module -e "
import sharp from 'sharp';
const px = Buffer.alloc(28 * 28);
for (let y = 2; y < 26; y++) for (let x = 8; x < 20; x++) if (x < 13 || x > 14 || y < 8) px[y * 28 + x] = 220;
await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile('$work/item.png');
"

app="$work/app"
mkdir -p "$app"
cd "$app"
printf '{ "name": "pixelsense-consumer", "private": true, "type": "module" }\n' >package.json
say "npm install $tarball (+ typescript, @types/node)"
ts_version="$(node -p "require('$root/node_modules/typescript/package.json').version")"
types_version="$(node -p "require('$root/node_modules/@types/node/package.json').version")"
npm install --no-audit --no-fund --loglevel=error "$work/$tarball" "typescript@$ts_version" "@types/node@$types_version"
if [ -d node_modules/@tensorflow/tfjs-node ]; then say "@tensorflow/tfjs-node installed"; else say "@tensorflow/tfjs-node not installed (optional; runs on wasm)"; fi

cp "$root/test/consumer/consumer.ts" .
flags=(--module nodenext --moduleResolution nodenext --target es2022 --lib es2022 --types node)
say "tsc --strict --noEmit consumer.ts"
npx tsc --strict --noEmit "${flags[@]}" consumer.ts
# Emit only: the line above already type-checked it.
npx tsc --strict --noCheck "${flags[@]}" --outDir out consumer.ts
say "node consumer.js"
node out/consumer.js "$work/runs" "$work/item.png"
say "passed"

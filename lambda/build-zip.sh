#!/usr/bin/env bash
# Builds the Lambda deployment zip for provided.al2023 on x86_64:
#   bootstrap           the binary (release profile: fat LTO, stripped; PROFILE=bench for a quicker build)
#   lib/libssl.so.3     OpenSSL 3 (libgit2's HTTPS), which the provided.al2023 image may lack;
#   lib/libcrypto.so.3  Lambda puts /var/task/lib on LD_LIBRARY_PATH
# and checks what AL2023 can load (glibc <= 2.34) and the 10 MB budget.
#
#   lambda/build-zip.sh            -> $CARGO_TARGET_DIR/lambda/bootstrap-x86_64.zip
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=${PROFILE:-release}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
MAX_BYTES=$((10 * 1024 * 1024))

[ "$(uname -m)" = x86_64 ] || { echo "build-zip: only x86_64 hosts are supported (see lambda/NOTES.md for aarch64)" >&2; exit 1; }
(cd "$ROOT" && cargo build -p shipline-lambda --bin bootstrap --profile "$PROFILE")
dir=$PROFILE; [ "$PROFILE" = dev ] && dir=debug
bin=$TARGET_DIR/$dir/bootstrap

glibc_max() { objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1; }
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib"
cp "$bin" "$stage/bootstrap"
for lib in libssl.so.3 libcrypto.so.3; do
  path=$(ldd "$bin" | awk -v l="$lib" '$1 == l {print $3}')
  [ -n "$path" ] || continue
  cp -L "$path" "$stage/lib/$lib"
done
for f in "$stage/bootstrap" "$stage"/lib/*; do
  v=$(glibc_max "$f")
  if [ "$(printf '%s\n2.34\n' "$v" | sort -V | tail -1)" != 2.34 ]; then
    echo "build-zip: $(basename "$f") needs glibc $v; provided.al2023 has 2.34: build on an older distribution or with cargo-lambda (zig)" >&2
    exit 1
  fi
done
mkdir -p "$TARGET_DIR/lambda"
zip=$TARGET_DIR/lambda/bootstrap-x86_64.zip
rm -f "$zip"
python3 - "$zip" "$stage" <<'PY'
import os, sys, zipfile
out, stage = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for root, _, files in os.walk(stage):
        for name in sorted(files):
            path = os.path.join(root, name)
            z.write(path, os.path.relpath(path, stage))
PY
size=$(stat -c %s "$zip")
echo "build-zip: $zip: $size bytes (binary $(stat -c %s "$bin") bytes, profile $PROFILE)"
[ "$size" -le "$MAX_BYTES" ] || { echo "build-zip: over the 10 MB budget" >&2; exit 1; }

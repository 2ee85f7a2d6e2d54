#!/usr/bin/env bash
# Sets up and runs every test of shipline on this machine:
#   1. installs what the tests need (Debian packages, a Python venv with the AWS emulators, a
#      kube-apiserver built once into ~/.cache/shipline),
#   2. checks formatting and clippy (-D warnings),
#   3. builds the workspace, starts the real services on 127.0.0.1, runs `cargo test`,
#   4. stops the services, also on failure.
# Build outputs live in $CARGO_TARGET_DIR (default ~/.cache/shipline/target), outside the clone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export SHIPLINE_CACHE=${SHIPLINE_CACHE:-$HOME/.cache/shipline}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$SHIPLINE_CACHE/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
step() { printf '\n==> %s (%ss)\n' "$*" "$SECONDS" >&2; }

step "install test services"
tests/services/ctl.sh install

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build tests and binaries"
cargo test --workspace --locked --no-run
# The Lambda e2e tests run the real `bootstrap` binary; building it with the workspace keeps one
# feature set (a `-p` build from inside the tests would re-resolve features and rebuild deps).
cargo build --workspace --locked --bins
export SHIPLINE_LAMBDA_BOOTSTRAP="$CARGO_TARGET_DIR/debug/bootstrap" SHIPLINE_BIN="$CARGO_TARGET_DIR/debug/shipline"

step "start services"
trap 'tests/services/ctl.sh down' EXIT
tests/services/ctl.sh up
# shellcheck disable=SC1091
source "${SHIPLINE_SERVICES_DIR:-/tmp/shipline-services}/env"

step "cargo test"
export SHIPLINE_CORPUS_SUMMARY="$CARGO_TARGET_DIR/kustomize-corpus-summary.txt"
rm -f "$SHIPLINE_CORPUS_SUMMARY"
cargo test --workspace --locked
cat "$SHIPLINE_CORPUS_SUMMARY"
step "done"

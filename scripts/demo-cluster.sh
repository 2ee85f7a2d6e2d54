#!/usr/bin/env bash
# The whole flow on a real single-node Kubernetes on this machine (opt-in; needs root, ~2 GB of
# disk, and the test services installed by tests/services/ctl.sh install):
#   build an image offline -> shipline push (branch-commit-build tag) to the ECR emulator ->
#   ECR push event -> the Lambda (in ministack) commits the overlay change -> the in-cluster
#   reconciler (installed from manifests/ with kubectl apply -k) rolls it out -> Pods Ready,
#   then a tag that was never pushed: the rollout stalls (ImagePullBackOff) and is reported
#   while the previous Pods keep serving.
# It runs the end-to-end test that checks exactly this (tests/e2e/cluster/flow.rs) with its
# output shown (timings: push to Ready), between `ctl.sh up` and `ctl.sh down`.
# scripts/demo.sh stays the default demo: a dry run that needs nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export SHIPLINE_CACHE=${SHIPLINE_CACHE:-$HOME/.cache/shipline}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$SHIPLINE_CACHE/target}
tests/services/ctl.sh install
cargo build --workspace --locked --bins
cargo test --workspace --locked --no-run
export SHIPLINE_LAMBDA_BOOTSTRAP="$CARGO_TARGET_DIR/debug/bootstrap" SHIPLINE_BIN="$CARGO_TARGET_DIR/debug/shipline"
trap 'tests/services/ctl.sh down' EXIT
SHIPLINE_NODE=1 tests/services/ctl.sh up
# shellcheck disable=SC1091
source "${SHIPLINE_SERVICES_DIR:-/tmp/shipline-services}/env"
cargo test --workspace --locked --test e2e -- --exact --nocapture \
  cluster::flow::push_event_lambda_commit_reconcile_rollout_then_a_missing_tag_stalls

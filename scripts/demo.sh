#!/usr/bin/env bash
# The main job as a local dry run: no AWS account, no cluster, nothing written outside the
# build directory. Builds the shipline CLI and shows what it would do for this checkout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${SHIPLINE_CACHE:-$HOME/.cache/shipline}/target}

cargo build --locked -q -p shipline
shipline() { "$CARGO_TARGET_DIR/debug/shipline" "$@"; }
show() { printf '\n$ shipline %s\n' "$*"; shipline "$@"; }

echo "== 1. The image tag for this checkout (branch, HEAD, commit count as build number)"
show tag
show tag --json

echo
echo "== 2. The same build as CodeBuild would see it (environment variables, no flags)"
printf '\n$ CODEBUILD_WEBHOOK_HEAD_REF=refs/heads/feature/Login-Page CODEBUILD_RESOLVED_SOURCE_VERSION=1f49071... CODEBUILD_BUILD_NUMBER=24 shipline tag\n'
CODEBUILD_WEBHOOK_HEAD_REF=refs/heads/feature/Login-Page \
CODEBUILD_RESOLVED_SOURCE_VERSION=1f49071c2e5d8d1f0d3c0f0c6f3b3a9d8e7f6a5b \
CODEBUILD_BUILD_NUMBER=24 shipline tag

echo
echo "== 3. That image lands in ECR: what shipline would change in the development overlay"
echo "   (manifests/examples/sock-shop, Flux \$imagepolicy markers; --dry-run writes nothing)"
TAG=$(shipline tag --branch main)
show update --dry-run \
  --set "flux-system:front-end=123456789012.dkr.ecr.us-east-1.amazonaws.com/front-end:$TAG" \
  manifests/examples/sock-shop/overlays/development

echo
echo "== 4. The overlay, built natively (byte-identical to kustomize build)"
show build manifests/examples/sock-shop/overlays/development

echo
echo "== 5. The same update as JSON, for machines"
show update --dry-run --json \
  --set "flux-system:front-end=123456789012.dkr.ecr.us-east-1.amazonaws.com/front-end:$TAG" \
  manifests/examples/sock-shop/overlays/development

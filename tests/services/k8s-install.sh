#!/usr/bin/env bash
# Build the Kubernetes v1.20.2 binaries the tests run (kube-apiserver, kube-controller-manager, and
# for the real node: kube-scheduler, kubelet, kube-proxy, kubectl in skew) from Debian bookworm's
# "kubernetes" source package (full upstream tree with vendor/), using Debian's Go and etcd.
# Installed once into a cache directory outside the clone; a second run with the binaries present is a no-op.
#   K8S_PREFIX  where bin/kube-apiserver lands   (default $SHIPLINE_CACHE/k8s)
#   K8S_WORK    build tree, removed after success (default $SHIPLINE_CACHE/k8s-build)
#   SHIPLINE_CACHE  default ~/.cache/shipline; Go's build cache lives under it too, so a cold
#               cache directory means a truly cold build.
set -euo pipefail
CACHE=${SHIPLINE_CACHE:-$HOME/.cache/shipline}
PREFIX=${K8S_PREFIX:-$CACHE/k8s}
WORK=${K8S_WORK:-$CACHE/k8s-build}
export GOCACHE=${GOCACHE:-$CACHE/go-build}
SRCVER=1.20.5+really1.20.2-1.1+deb12u1
SRCDIR=kubernetes-1.20.5+really1.20.2

BINS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"

have() { for b in $BINS; do [ -x "$PREFIX/bin/$b" ] || return 1; done
         "$PREFIX/bin/kube-apiserver" --version 2>/dev/null | grep -q 'v1.20.2'; }

export DEBIAN_FRONTEND=noninteractive
# etcd is needed at run time even when the API server is cached.
if ! command -v etcd >/dev/null; then apt-get update -qq && apt-get install -y -qq --no-install-recommends etcd-server >/dev/null; fi
if have; then echo "Kubernetes binaries cached: $("$PREFIX/bin/kube-apiserver" --version)"; exit 0; fi

apt-get update -qq
apt-get install -y -qq --no-install-recommends golang-go make rsync jq patch xz-utils dpkg-dev openssl curl \
  ca-certificates golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev >/dev/null
# deb-src entries mirroring the configured deb entries, in a private apt state dir (system apt config untouched)
A="$WORK/apt"; mkdir -p "$A/parts" "$A/lists/partial" "$A/cache/archives/partial"
sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$A/parts/debian-src.sources"
APTSRC=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$A/parts" -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache")
apt-get "${APTSRC[@]}" update -qq
cd "$WORK"
[ -d "$SRCDIR" ] || apt-get "${APTSRC[@]}" source -qq "kubernetes=$SRCVER" 2>&1 | grep -v 'unsandboxed' || true
[ -d "$SRCDIR" ] || { echo "k8s-install: apt-get source kubernetes=$SRCVER produced no $SRCDIR" >&2; exit 1; }
cd "$SRCDIR"
# Go >= 1.18 crashes the vendored reflect2 1.0.1 (SIGSEGV in mapiterinit): swap in Debian's reflect2 1.0.2 / json-iterator 1.1.12.
for d in github.com/modern-go/reflect2 github.com/json-iterator/go; do
  rm -rf "vendor/$d"; mkdir -p "vendor/$d"
  find "/usr/share/gocode/src/$d" -maxdepth 1 -type f ! -name '*_test.go' -exec cp {} "vendor/$d/" \;
done
export CGO_ENABLED=0 KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 KUBE_GIT_TREE_STATE=clean \
       KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
# nice: a cargo build running beside this keeps priority (one Go build of all six shares its cache).
nice -n 19 make WHAT="$(printf 'cmd/%s ' $BINS)"
install -d "$PREFIX/bin"
for b in $BINS; do install -m755 "_output/bin/$b" "$PREFIX/bin/"; done
"$PREFIX/bin/kube-apiserver" --version
# The source tree and Go objects are ~2 GB; the binaries are all a later run needs.
cd / && rm -rf "$WORK"

#!/usr/bin/env bash
# Assembles the reconciler's container image without Docker, as an OCI image layout:
#
#   scripts/build-image.sh BINARY OUT_DIR
#   shipline push --oci-layout OUT_DIR --repository 123456789012.dkr.ecr.us-east-1.amazonaws.com/shipline --tag v0.1.0
#
# BINARY is a `shipline` built on this Debian 12 machine (recommended: the release build,
# `cargo build --release --locked -p shipline`; the tests use the debug build to save the
# ~10-minute fat-LTO link, so their image is larger). The image holds:
#   /shipline                          BINARY, stripped (a deterministic operation)
#   the shared libraries BINARY links  exactly what `ldd` resolves (glibc, libgcc_s, OpenSSL, ...),
#                                      copied from this machine's Debian packages, with each
#                                      package's copyright file and the package list as a label
#   /etc/ssl/certs/ca-certificates.crt Debian's ca-certificates bundle (SSL_CERT_FILE)
#   /etc/passwd, /etc/group            root and nonroot (65532), the user the image runs as
#   /tmp                               1777 (the Deployment mounts an emptyDir there)
# and no shell, no package manager. Reproducible: the same binary and the same Debian packages
# give the same manifest digest (scripts/oci-image.py; SOURCE_DATE_EPOCH, default 0).
# Prints the manifest digest, the layer size and the Debian packages used.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BINARY OUT_DIR" >&2; exit 2; }
BINARY=$1 OUT=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -x "$BINARY" ] || { echo "build-image: $BINARY is not an executable" >&2; exit 1; }
for c in ldd objcopy dpkg-query python3; do command -v "$c" >/dev/null || { echo "build-image: $c missing" >&2; exit 1; }; done
[ -f /etc/ssl/certs/ca-certificates.crt ] || { echo "build-image: install ca-certificates" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
objcopy --strip-all "$BINARY" "$work/shipline"
"$work/shipline" --version >/dev/null

entries=("file:$work/shipline:/shipline:755" "file:/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:644" "dir:/tmp:1777")
# Debian 12 is merged-/usr: /lib and /lib64 are links into /usr, as in the image.
entries+=("symlink:/lib:usr/lib" "symlink:/lib64:usr/lib64")
# shellcheck source=scripts/lib/debian-libs.sh
. "$HERE/lib/debian-libs.sh"
debian_linked_libs "$work/shipline"
declare -A pkgs=()
for pkg in "${!LIB_PKGS[@]}"; do pkgs[$pkg]=1; done
for lib in "${LINKED_LIBS[@]}"; do
  linked=${lib%%:*} real=${lib#*:}
  case $linked in /lib/*|/lib64/*) dest=/usr$linked ;; *) dest=$linked ;; esac
  # the file under the name the loader looks for (the soname), its content the resolved file
  entries+=("file:$real:$dest:755")
done
pkgs[ca-certificates]=1
labels=()
sorted_pkgs=$(printf '%s\n' "${!pkgs[@]}" | sort)
# shellcheck disable=SC2086 # package names have no spaces
plist=$(debian_pkg_versions $sorted_pkgs)
for pkg in $sorted_pkgs; do
  base=${pkg%%:*}
  [ -f "/usr/share/doc/$base/copyright" ] && entries+=("file:/usr/share/doc/$base/copyright:/usr/share/doc/$base/copyright:644")
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n' >"$work/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$work/group"
entries+=("file:$work/passwd:/etc/passwd:644" "file:$work/group:/etc/group:644")
labels+=(--label "dev.shipline.debian-packages=$plist"
         --label "org.opencontainers.image.title=shipline"
         --label "org.opencontainers.image.version=$("$work/shipline" --version | awk '{print $2}')")

python3 "$HERE/oci-image.py" --out "$OUT" --name "shipline:$("$work/shipline" --version | awk '{print $2}')" \
  --entrypoint '["/shipline"]' --user 65532:65532 --workdir / --expose 8080/tcp \
  --env PATH=/ --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --env HOME=/tmp \
  "${labels[@]}" "${entries[@]}" | sed "s|}\$|, \"debian_packages\": \"$plist\"}|"

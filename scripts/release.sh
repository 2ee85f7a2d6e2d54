#!/usr/bin/env bash
# Packs the `shipline` CLI as the artifact CodeBuild buildspecs download (see buildspec/README.md):
#
#   scripts/release.sh [--binary PATH | --profile PROFILE] [--out DIR]
#
#   --binary PATH     pack this binary (the tests pack the debug build this way: same code path)
#   --profile PROFILE build it first: `cargo build --locked --profile PROFILE --bin shipline`
#                     (default release; fat LTO, ~10 minutes on 2 cores), then pack
#                     target/PROFILE/shipline
#   --out DIR         where to write the artifact (default dist/)
#
# Writes DIR/shipline-VERSION-x86_64-linux-gnu.tar.gz and beside it .tar.gz.sha256 (the
# `sha256sum` line: "HEX  NAME"), and prints {"artifact", "sha256", "bytes", "debian_packages"}.
#
# No fully static build: the musl target is not installed on the build machine (and cannot be
# offline), so the tarball carries the binary plus exactly the shared libraries it links, taken
# from this Debian machine's packages by scripts/lib/debian-libs.sh (the same set the reconciler
# image gets), and runs them through the loader it ships, not the host's:
#
#   shipline/bin/shipline       sh wrapper: exec lib/ld-linux-x86-64.so.2 --library-path lib libexec/shipline
#   shipline/libexec/shipline   the binary, stripped
#   shipline/lib/               the loader, glibc, libgcc_s, OpenSSL, zlib (what `ldd` resolves)
#   shipline/share/doc/PKG/copyright, shipline/PACKAGES (Debian package=version, one a line)
#
# so it needs from the host only an x86_64 Linux kernel and /bin/sh (Amazon Linux 2 and 2023,
# Ubuntu CodeBuild images). Reproducible: entries sorted, owner 0:0, mtime $SOURCE_DATE_EPOCH
# (default 0), gzip without timestamp (scripts/lib/reprotar.py); the same binary and packages give
# the same SHA-256. Nothing half-written: the tarball and its checksum are written under
# temporary names and renamed, the checksum last.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
usage() { echo "usage: $0 [--binary PATH | --profile PROFILE] [--out DIR]" >&2; exit 2; }
die() { echo "release: $*" >&2; exit 1; }

binary="" profile="" out="$ROOT/dist"
while [ $# -gt 0 ]; do
  case $1 in
    --binary) [ $# -ge 2 ] || usage; binary=$2; shift 2 ;;
    --profile) [ $# -ge 2 ] || usage; profile=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    *) usage ;;
  esac
done
[ -z "$binary" ] || [ -z "$profile" ] || die "--binary and --profile exclude each other"
for c in objcopy python3 sha256sum tar; do command -v "$c" >/dev/null || die "$c missing"; done
[ "$(uname -m)" = x86_64 ] || die "the artifact is named x86_64-linux-gnu; this machine is $(uname -m)"

if [ -z "$binary" ]; then
  profile=${profile:-release}
  (cd "$ROOT" && cargo build --locked --profile "$profile" --bin shipline)
  dir=$profile; [ "$profile" = dev ] && dir=debug
  binary="${CARGO_TARGET_DIR:-$ROOT/target}/$dir/shipline"
fi
[ -f "$binary" ] && [ -x "$binary" ] || die "$binary is not an executable file"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
objcopy --strip-all "$binary" "$work/shipline"
version=$("$work/shipline" --version | awk '{print $2}')
[ -n "$version" ] || die "$binary --version printed no version"

# shellcheck source=scripts/lib/debian-libs.sh
. "$HERE/lib/debian-libs.sh"
debian_linked_libs "$work/shipline"
entries=("file:$work/shipline:shipline/libexec/shipline:755")
loader=""
for lib in "${LINKED_LIBS[@]}"; do
  linked=${lib%%:*} real=${lib#*:}
  # under the name the loader looks for (the soname), flat in lib/
  entries+=("file:$real:shipline/lib/${linked##*/}:755")
  case ${linked##*/} in ld-linux*) loader=${linked##*/} ;; esac
done
[ -n "$loader" ] || die "$binary has no ELF interpreter (ldd listed no ld-linux): not a dynamic glibc binary?"

sorted_pkgs=$(printf '%s\n' "${!LIB_PKGS[@]}" | sort)
for pkg in $sorted_pkgs; do
  base=${pkg%%:*}
  [ -f "/usr/share/doc/$base/copyright" ] && entries+=("file:/usr/share/doc/$base/copyright:shipline/share/doc/$base/copyright:644")
done
# shellcheck disable=SC2086 # package names have no spaces
plist=$(debian_pkg_versions $sorted_pkgs)
printf '%s\n' $plist >"$work/PACKAGES"
cat >"$work/wrapper" <<WRAPPER
#!/bin/sh
# shipline $version: runs the binary with the loader and shared libraries shipped beside it
# (from Debian 12), never the host's, so the host's glibc version does not matter.
here=\$(dirname "\$(readlink -f "\$0")")/..
exec "\$here/lib/$loader" --library-path "\$here/lib" "\$here/libexec/shipline" "\$@"
WRAPPER
entries+=("file:$work/wrapper:shipline/bin/shipline:755" "file:$work/PACKAGES:shipline/PACKAGES:644")

name="shipline-$version-x86_64-linux-gnu.tar.gz"
mkdir -p "$out"
python3 "$HERE/lib/reprotar.py" "$work/$name" "${entries[@]}" >/dev/null

# The artifact must run as packed: unpack it and ask the wrapper for the version.
mkdir "$work/check"
tar -xzf "$work/$name" -C "$work/check"
got=$("$work/check/shipline/bin/shipline" --version) || die "the packed shipline does not run"
[ "$got" = "shipline $version" ] || die "the packed shipline printed '$got', expected 'shipline $version'"

sum=$(cd "$work" && sha256sum "$name")
mv "$work/$name" "$out/$name.partial" && mv "$out/$name.partial" "$out/$name"
printf '%s\n' "$sum" >"$out/$name.sha256.partial" && mv "$out/$name.sha256.partial" "$out/$name.sha256"
printf '{"artifact": "%s", "sha256": "%s", "bytes": %s, "debian_packages": "%s"}\n' \
  "$out/$name" "${sum%% *}" "$(stat -c %s "$out/$name")" "$plist"

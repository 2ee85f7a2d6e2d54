# Sourced by scripts/build-image.sh (the reconciler image) and scripts/release.sh (the CLI
# tarball): which shared libraries a binary links, resolved on this Debian machine, and which
# Debian packages they come from. One copy of this logic, so the image and the tarball carry the
# same set.
#
#   debian_linked_libs BINARY
# fills (globals, reset on each call)
#   LINKED_LIBS   "LINKED_PATH:REAL_PATH" for each library `ldd` resolves and for the loader (the
#                 ELF interpreter), LINKED_PATH being the name the loader looks for (the soname)
#                 and REAL_PATH the file it resolves to; linux-vdso (the kernel's) is left out
#   LIB_PKGS      associative: Debian package -> 1, for every library
# and exits with a message on a library `ldd` cannot find or no Debian package owns.
#   debian_pkg_versions PKG...   prints "pkg=version" for each, space-separated, in the given order
# (Callers pass package names through `sort` first, so the list is the same on every run.)

debian_linked_libs() {
  local binary=$1 line linked real pkg
  LINKED_LIBS=()
  declare -gA LIB_PKGS=()
  for c in ldd dpkg-query; do command -v "$c" >/dev/null || { echo "debian-libs: $c missing" >&2; exit 1; }; done
  while read -r line; do
    case $line in
      *linux-vdso*) continue ;;
      *"=> not found"*) echo "debian-libs: $binary: $line" >&2; exit 1 ;;
      *"=> "/*) linked=$(echo "$line" | sed -E 's/.*=> ([^ ]+) .*/\1/') ;;
      /*) linked=${line%% *} ;;   # the loader
      *) echo "debian-libs: unexpected ldd line: $line" >&2; exit 1 ;;
    esac
    real=$(readlink -f "$linked")
    LINKED_LIBS+=("$linked:$real")
    pkg=$(dpkg-query -S "$real" 2>/dev/null | head -n1 | cut -d: -f1) || true
    [ -n "$pkg" ] || pkg=$(dpkg-query -S "$linked" 2>/dev/null | head -n1 | cut -d: -f1) || true
    [ -n "$pkg" ] || { echo "debian-libs: $linked ($real) belongs to no Debian package" >&2; exit 1; }
    LIB_PKGS[$pkg]=1
  done < <(ldd "$binary")
}

debian_pkg_versions() {
  local out="" pkg
  for pkg in "$@"; do out+="${out:+ }$pkg=$(dpkg-query -W -f='${Version}' "$pkg")"; done
  printf '%s' "$out"
}

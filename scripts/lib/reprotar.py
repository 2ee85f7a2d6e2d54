"""Reproducible tar archives from local files: the one tar writer of scripts/oci-image.py (image
layers) and scripts/release.sh (the CLI release tarball).

The same inputs give the same bytes: entries in path order, owner 0:0 with no user or group
names, mtime $SOURCE_DATE_EPOCH (default 0), GNU format, gzip with a zero timestamp and no name.

ENTRY:  file:SRC:DEST[:MODE]   a regular file (MODE octal, default 644)
        dir:DEST[:MODE]        a directory (default 755; parents are added as 755)
        symlink:DEST:TARGET    a symbolic link

Run as a script it writes a .tar.gz:  reprotar.py OUT.tar.gz ENTRY...
and prints {"sha256": ..., "bytes": ...}.
"""
import gzip, hashlib, io, json, os, sys, tarfile


def epoch():
    """The timestamp every entry gets: $SOURCE_DATE_EPOCH, default 0."""
    return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


def parse_entries(entries, error_prefix):
    """ENTRY strings -> {path: (kind, mode, source-or-target)}, parents added as directories."""
    items = {}

    def add_parents(path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            items.setdefault("/".join(parts[:i]), ("dir", 0o755, None))

    for e in entries:
        kind, _, rest = e.partition(":")
        if kind == "file":
            src, dest, *mode = rest.split(":")
            dest = dest.strip("/")
            add_parents(dest)
            items[dest] = ("file", int(mode[0], 8) if mode else 0o644, src)
        elif kind == "dir":
            dest, *mode = rest.split(":")
            dest = dest.strip("/")
            add_parents(dest)
            items[dest] = ("dir", int(mode[0], 8) if mode else 0o755, None)
        elif kind == "symlink":
            dest, target = rest.split(":", 1)
            dest = dest.strip("/")
            add_parents(dest)
            items[dest] = ("symlink", 0o777, target)
        else:
            sys.exit(f"{error_prefix}: unknown entry {e!r} (file:, dir: or symlink:)")
    return items


def tar_bytes(items, mtime):
    """The uncompressed tar of `items` (from parse_entries), entries in path order."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for path in sorted(items):
            kind, mode, arg = items[path]
            ti = tarfile.TarInfo(path)
            ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname, ti.mode = mtime, 0, 0, "", "", mode
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, arg
                t.addfile(ti)
            else:
                with open(arg, "rb") as f:
                    data = f.read()
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return raw.getvalue()


def gzip_bytes(data):
    """`data` gzip-compressed with no timestamp and no file name (so the bytes are stable)."""
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", compresslevel=6, mtime=0, filename="") as g:
        g.write(data)
    return gz.getvalue()


def main(argv):
    if len(argv) < 2 or not argv[0].endswith(".tar.gz"):
        sys.exit("usage: reprotar.py OUT.tar.gz ENTRY...")
    out, entries = argv[0], argv[1:]
    data = gzip_bytes(tar_bytes(parse_entries(entries, "reprotar"), epoch()))
    # Written beside the target and renamed: a failed run leaves no half-written archive.
    tmp = out + ".partial"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out)
    print(json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}))


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/env python3
"""Builds a single-layer OCI image layout from local files, without a container engine.

Reproducible: the same inputs give the same bytes, hence the same manifest digest. The layer is
written by scripts/lib/reprotar.py (owner 0:0, no user/group names, mtime $SOURCE_DATE_EPOCH,
default 0, entries in path order, gzip with a zero timestamp), and the config's `created` is
$SOURCE_DATE_EPOCH too.

usage: oci-image.py --out DIR [--archive FILE] [--name REF] [--entrypoint JSON] [--cmd JSON]
                    [--user UID:GID] [--env K=V]... [--label K=V]... [--workdir DIR]
                    [--expose PORT/tcp]... ENTRY...
ENTRY:  file:SRC:DEST[:MODE]   a regular file (MODE octal, default 644)
        dir:DEST[:MODE]        a directory (default 755; parents are added as 755)
        symlink:DEST:TARGET    a symbolic link
--out DIR      the OCI image layout (created; must not exist or be empty)
--archive FILE also a tar of the layout, importable with `ctr images import` (needs --name)
--name REF     annotates the image with its name (org.opencontainers.image.ref.name and
               io.containerd.image.name)
Prints the manifest digest, the layer's compressed size and the image's total size as JSON.
"""
import argparse, hashlib, io, json, os, sys, tarfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import reprotar  # noqa: E402  (the tar writer shared with scripts/release.sh)


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--archive")
    ap.add_argument("--name")
    ap.add_argument("--entrypoint")
    ap.add_argument("--cmd")
    ap.add_argument("--user")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--label", action="append", default=[])
    ap.add_argument("--workdir", default="/")
    ap.add_argument("--expose", action="append", default=[])
    ap.add_argument("entries", nargs="+")
    a = ap.parse_args(argv)
    epoch = reprotar.epoch()
    layer_tar = reprotar.tar_bytes(reprotar.parse_entries(a.entries, "oci-image"), epoch)
    layer = reprotar.gzip_bytes(layer_tar)

    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    config = {"Env": a.env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "WorkingDir": a.workdir}
    if a.entrypoint:
        config["Entrypoint"] = json.loads(a.entrypoint)
    if a.cmd:
        config["Cmd"] = json.loads(a.cmd)
    if a.user:
        config["User"] = a.user
    if a.label:
        config["Labels"] = dict(kv.split("=", 1) for kv in a.label)
    if a.expose:
        config["ExposedPorts"] = {p: {} for p in a.expose}
    cfg = json.dumps({
        "architecture": "amd64", "os": "linux", "created": created, "config": config,
        "rootfs": {"type": "layers", "diff_ids": [sha(layer_tar)]},
        "history": [{"created": created, "created_by": "scripts/oci-image.py"}],
    }, sort_keys=True, separators=(",", ":")).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(layer), "size": len(layer)}],
    }, sort_keys=True, separators=(",", ":")).encode()
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest), "size": len(manifest)}
    if a.name:
        tag = a.name.rsplit(":", 1)[1] if ":" in a.name.rsplit("/", 1)[-1] else "latest"
        desc["annotations"] = {"io.containerd.image.name": a.name, "org.opencontainers.image.ref.name": tag}
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [desc]},
                       sort_keys=True, separators=(",", ":")).encode()

    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
    for blob in (layer, cfg, manifest):
        files["blobs/sha256/" + sha(blob)[7:]] = blob
    if os.path.isdir(a.out) and os.listdir(a.out):
        sys.exit(f"oci-image: {a.out} exists and is not empty")
    for rel, data in files.items():
        p = os.path.join(a.out, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    if a.archive:
        if not a.name:
            sys.exit("oci-image: --archive needs --name")
        with tarfile.open(a.archive, "w", format=tarfile.GNU_FORMAT) as t:
            for rel in sorted(files):
                ti = tarfile.TarInfo(rel)
                ti.size, ti.mtime, ti.mode = len(files[rel]), epoch, 0o644
                t.addfile(ti, io.BytesIO(files[rel]))
    print(json.dumps({"digest": desc["digest"], "layer_bytes": len(layer), "uncompressed_bytes": len(layer_tar),
                      "size": len(layer) + len(cfg) + len(manifest)}))


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/env python3
"""Packs layers into a docker-archive (the `docker save` format) that `ctr images import`
accepts: no Docker engine, no registry. Standard library only.

usage: mkimage.py OUT.tar IMAGE_REF --layer DIR_OR_TAR [--layer ...] [--cmd JSON]
                  [--env K=V ...] [--workdir /]

A directory is packed with GNU tar (numeric owners, hard links kept; /dev, /proc and /sys
left empty, since runc mounts its own); a .tar file is taken as an already packed layer.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def pack_dir(directory: str, out: str) -> None:
    subprocess.run(
        [
            "tar",
            "--numeric-owner",
            "--one-file-system",
            "--sort=name",
            "--mtime=@0",
            "-cf",
            out,
            "-C",
            directory,
            "--exclude=./dev/*",
            "--exclude=./proc/*",
            "--exclude=./sys/*",
            "--exclude=./var/cache/apt/*",
            "--exclude=./var/lib/apt/lists/*",
            "--exclude=./debootstrap",
            "--exclude=__pycache__",
            ".",
        ],
        check=True,
    )


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("ref")
    ap.add_argument("--layer", action="append", required=True)
    ap.add_argument("--cmd", default='["/bin/sh"]')
    ap.add_argument("--env", action="append", default=[DEFAULT_PATH])
    ap.add_argument("--workdir", default="/")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        layers = []
        for i, source in enumerate(a.layer):
            path = os.path.join(tmp, f"layer{i}.tar")
            if os.path.isdir(source):
                pack_dir(source, path)
            else:
                shutil.copyfile(source, path)
            layers.append((sha256(path), path))
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": a.env, "Cmd": json.loads(a.cmd), "WorkingDir": a.workdir},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{h}" for h, _ in layers]},
            "history": [{"created_by": f"mkimage.py --layer {s}"} for s in a.layer],
        }
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        manifest = [
            {
                "Config": config_name,
                "RepoTags": [a.ref],
                "Layers": [f"{h}/layer.tar" for h, _ in layers],
            }
        ]
        partial = a.out + ".partial"
        with tarfile.open(partial, "w") as out:

            def add_bytes(name: str, data: bytes) -> None:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = int(time.time())
                out.addfile(info, io.BytesIO(data))

            add_bytes(config_name, config_bytes)
            for h, path in layers:
                out.add(path, arcname=f"{h}/layer.tar")
            add_bytes("manifest.json", json.dumps(manifest).encode())
        os.replace(partial, a.out)
    print(f"{a.ref} -> {a.out} ({os.path.getsize(a.out) >> 20} MiB, {len(layers)} layer(s))")


if __name__ == "__main__":
    main()

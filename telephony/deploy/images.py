"""Base images made on this machine, since no image registry can be reached.

Each is a debootstrap root fed to `docker import` and tagged with the name the
Dockerfile's FROM uses, so the same Dockerfiles build here and, from the
official images, anywhere else. The roots already hold every Debian package
the Dockerfiles ask for, which makes their install steps no-ops here.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from telephony.deploy.engine import DockerEngine, say
from telephony.lab.runtime import apt_mirror, build_sid_root, find_runtime, write_hosts
from telephony.settings import cache_dir

# FROM line -> (suite, packages added to a minbase root)
SID_PACKAGES = ("python3", "python3-jinja2", "espeak-ng", "sox")
BOOKWORM_PACKAGES = ("python3", "python3-venv", "redis-server", "postgresql-15",
                     "postgresql-client-15", "ca-certificates", "espeak-ng", "sox")
BASES = {
    "debian:sid-slim": "sid",                  # docker/asterisk (Asterisk 22 is only in sid)
    "python:3.11-slim-bookworm": "bookworm",   # docker/controller
    "debian:bookworm-slim": "bookworm",        # docker/local: redis and postgres
}
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
              "LANG": "C"}
APT = ["apt-get", "-q", "-o", "Acquire::Check-Valid-Until=false"]


def _run(cmd: list[str], **kw) -> None:
    say("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kw)


def ensure_base_images(engine: DockerEngine) -> None:
    """Import each missing base image (once: they live in the engine's data root)."""
    wanted: dict[str, list[str]] = {}
    for tag, suite in BASES.items():
        if not engine.image_exists(tag):
            wanted.setdefault(suite, []).append(tag)
    for suite, tags in wanted.items():
        root = _sid_root() if suite == "sid" else _bookworm_root()
        try:
            _import(engine, root, tags)
        finally:
            _remove_root(root)


def _chroot(root: Path, *args: str) -> None:
    _run(["chroot", str(root), *args], env=CHROOT_ENV)


def _install(root: Path, packages: tuple[str, ...]) -> None:
    # no service may start inside a root being built
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    _chroot(root, *APT, "update")
    _chroot(root, *APT, "install", "-y", "--no-install-recommends", *packages)
    _chroot(root, "apt-get", "clean")
    policy.unlink()
    # what slim images leave out too: under vfs every container copies its image whole
    for junk in ("var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info",
                 "usr/share/locale"):
        shutil.rmtree(root / junk, ignore_errors=True)
    write_hosts(root)


def _sid_root() -> Path:
    """A copy of the lab's cached sid root (Asterisk), plus Python and the prompt tools."""
    runtime = find_runtime()
    lab_root = cache_dir() / "sid-root"
    if runtime is None or not runtime.chrooted:
        if not (lab_root / "usr/sbin/asterisk").exists():
            build_sid_root(lab_root)
    root = cache_dir() / "docker" / "roots" / "sid"
    _remove_root(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    say(f"copying the lab's sid root to {root}")
    root.mkdir()
    # the lab may be running in it: leave out its live directories (tmp/, proc/),
    # and take files it changes meanwhile as they are (tar exit 1)
    pack = subprocess.Popen(["tar", "-C", str(lab_root), "--exclude=./tmp", "--exclude=./proc",
                             "--warning=no-file-changed", "--ignore-failed-read",
                             "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-xpf", "-"], stdin=pack.stdout,
                   check=True)
    assert pack.stdout is not None
    pack.stdout.close()
    if pack.wait() not in (0, 1):
        raise RuntimeError(f"copying {lab_root} failed")
    for inner in ("tmp", "proc"):
        (root / inner).mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)
    _install(root, SID_PACKAGES)
    return root


def _bookworm_root() -> Path:
    root = cache_dir() / "docker" / "roots" / "bookworm"
    _remove_root(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    say(f"building a Debian bookworm minbase root in {root}")
    _run(["debootstrap", "--variant=minbase", "bookworm", str(root), apt_mirror()])
    # the images run their own cluster in a volume; no default one in the image
    conf = root / "etc/postgresql-common/createcluster.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text("create_main_cluster = false\n")
    _install(root, BOOKWORM_PACKAGES)
    return root


def _import(engine: DockerEngine, root: Path, tags: list[str]) -> None:
    say(f"importing {root} as {', '.join(tags)}")
    tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."],
                           stdout=subprocess.PIPE)
    engine.docker("import", "--change", 'CMD ["/bin/bash"]', "-", tags[0], stdin=tar.stdout)
    assert tar.stdout is not None
    tar.stdout.close()
    if tar.wait() != 0:
        raise RuntimeError(f"tar of {root} failed")
    for tag in tags[1:]:
        engine.docker("tag", tags[0], tag)


def _remove_root(root: Path) -> None:
    if root.exists():
        proc = root / "proc"
        if os.path.ismount(proc):
            subprocess.run(["umount", "-l", str(proc)], check=False)
        shutil.rmtree(root)

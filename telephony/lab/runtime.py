"""Find or provision an Asterisk to run the lab on.

Debian bookworm ships no Asterisk, and sid's packages need a newer libc, so
the lab runs sid's Asterisk inside a cached debootstrap root via `chroot`.
A local `asterisk` binary, when present, is preferred.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from telephony.settings import cache_dir, child_environment, local_asterisk

ASTERISK_PACKAGES = (
    "asterisk",
    "asterisk-modules",
    "asterisk-core-sounds-en-gsm",
    "asterisk-moh-opsound-gsm",
)
READY_MARKER = ".hotline-ready"


def say(message: str) -> None:
    """Progress lines go to stderr, unbuffered, so a long install is visible."""
    print(f"[lab] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class AsteriskRuntime:
    """How to start Asterisk: directly, or inside a chroot.

    `root` is the filesystem root Asterisk sees; site config dirs must be
    created under it and are passed to Asterisk as paths inside it.
    """

    root: Path
    binary: str

    @property
    def chrooted(self) -> bool:
        return self.root != Path("/")

    def host_path(self, inner: str) -> Path:
        """The host path of a path as Asterisk sees it."""
        return self.root / inner.lstrip("/")

    def command(self, *args: str) -> list[str]:
        cmd = [self.binary, *args]
        return ["chroot", str(self.root), *cmd] if self.chrooted else cmd




def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine already uses, read from its apt config.

    We never hard-code a registry host: the mirror is whatever apt points at.
    """
    for path in sorted((sources_dir / "sources.list.d").glob("*.sources")):
        uris = suites = None
        for block in path.read_text().split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", block, re.MULTILINE)
            suites = re.search(r"^Suites:\s*(.+)$", block, re.MULTILINE)
            if uris and suites and not all(
                s.endswith("-security") for s in suites.group(1).split()
            ):
                return uris.group(1).rstrip("/")
    for path in [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*.list"))]:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            m = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line.strip())
            if m and not m.group(2).endswith("-security"):
                return m.group(1).rstrip("/")
    raise RuntimeError("no Debian mirror found in the apt configuration (/etc/apt)")


def _run(cmd: list[str], **kw) -> None:
    say("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kw)


def find_runtime() -> AsteriskRuntime | None:
    """A usable Asterisk without installing anything, or None."""
    local = local_asterisk() or shutil.which("asterisk")
    if local:
        return AsteriskRuntime(root=Path("/"), binary=local)
    root = cache_dir() / "sid-root"
    if (root / READY_MARKER).exists() and (root / "usr/sbin/asterisk").exists():
        return AsteriskRuntime(root=root, binary="/usr/sbin/asterisk")
    return None


def ensure_runtime() -> AsteriskRuntime:
    """Find Asterisk, or build the cached sid root once (idempotent)."""
    runtime = find_runtime()
    if runtime:
        say(f"asterisk: {'chroot ' + str(runtime.root) if runtime.chrooted else runtime.binary}")
        return runtime
    if os.geteuid() != 0:
        raise RuntimeError("no asterisk binary, and building the sid root needs root")
    return build_sid_root(cache_dir() / "sid-root")


def build_sid_root(root: Path) -> AsteriskRuntime:
    if root.exists():
        say(f"removing incomplete sid root {root}")
        _unmount_proc(root)
        shutil.rmtree(root)
    if not shutil.which("debootstrap"):
        _run(["apt-get", "install", "-y", "-q", "debootstrap"],
             env=child_environment(DEBIAN_FRONTEND="noninteractive"))
    mirror = apt_mirror()
    root.parent.mkdir(parents=True, exist_ok=True)
    say(f"building a Debian sid root for Asterisk in {root} (about a minute, once)")
    _run(["debootstrap", "--variant=minbase", "--include=ca-certificates", "sid", str(root), mirror])
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C"}
    # The mirror serves a dated snapshot: sid's Release file looks expired without this.
    _run(["chroot", str(root), "apt-get", "-q", "-o", "Acquire::Check-Valid-Until=false", "update"], env=env)
    _run(["chroot", str(root), "apt-get", "install", "-y", "-q", "--no-install-recommends",
          *ASTERISK_PACKAGES], env=env)
    _run(["chroot", str(root), "apt-get", "clean"], env=env)
    write_hosts(root)
    (root / READY_MARKER).write_text(" ".join(ASTERISK_PACKAGES) + "\n")
    say("sid root ready")
    return AsteriskRuntime(root=root, binary="/usr/sbin/asterisk")


def write_hosts(root: Path) -> None:
    """Name this machine and the root server Asterisk looks up inside the sid root.

    Without them every lookup goes to the machine's resolver while Asterisk
    sets up calls; a burst of them stalls its SIP threads for seconds.
    """
    import socket

    hosts = root / "etc/hosts"
    text = (f"127.0.0.1 localhost {socket.gethostname()}\n"
            "127.0.0.1 A.ROOT-SERVERS.NET\n")
    if not hosts.exists() or hosts.read_text() != text:
        hosts.write_text(text)


def _unmount_proc(root: Path) -> None:
    proc = root / "proc"
    if os.path.ismount(proc):
        subprocess.run(["umount", "-l", str(proc)], check=False)

"""A Docker engine to build and run the deployment on.

An engine that already answers (DOCKER_HOST, or the default socket) is used as
it is. Otherwise we start our own `dockerd`, with every directory under
HOTLINE_CACHE_DIR, on this machine's terms: vfs storage, no iptables, no
default bridge (containers use host networking), and stop only that daemon.

vfs gives every image step and every container a whole copy of its image: two
copies of 0.4-1 GB per container, about 14 s a container here on ext4, most of
`compose up`.
Docker copies a file by cloning it where the filesystem can (FICLONE), so our
engine keeps its data on an XFS filesystem with reflinks, in a sparse file
mounted through a loop device: a copy then shares the blocks of its image. Where
that cannot be had (no xfsprogs, no loop device, not root), the data stays in a
plain directory and everything works as before, only slower.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from telephony.settings import cache_dir, child_environment, docker_host


def say(message: str) -> None:
    print(f"[docker] {message}", file=sys.stderr, flush=True)


class EngineError(RuntimeError):
    """No Docker engine could be had; the message says why."""


def docker_cli() -> str:
    """Debian's docker CLI (docker.io) first: it matches the daemon we start."""
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise EngineError("no docker CLI: install Debian's docker.io (./run does)")


class DockerEngine:
    def __init__(self, base: Path | None = None):
        self.base = base or cache_dir() / "docker"
        self.socket = self.base / "engine" / "docker.sock"
        self.pidfile = self.base / "engine" / "dockerd.pid"
        self.log = self.base / "engine" / "dockerd.log"
        self.host = docker_host()
        self.started: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        env = child_environment()
        if self.host:
            env["DOCKER_HOST"] = self.host
        return env

    def docker(self, *args: str, check: bool = True, capture: bool = True,
               **kw) -> subprocess.CompletedProcess:
        return subprocess.run([docker_cli(), *args], env=self.env, check=check, text=True,
                              capture_output=capture, **kw)

    def answers(self) -> bool:
        try:
            return self.docker("version", "--format", "{{.Server.Version}}", check=False,
                               timeout=10).returncode == 0
        except (subprocess.TimeoutExpired, EngineError):
            return False

    def ensure(self) -> None:
        """Use the engine that answers, else start ours (and remember that we did)."""
        if self.answers():
            say(f"using the Docker engine at {self.host or 'the default socket'}")
            return
        self.host = f"unix://{self.socket}"
        if self.answers():
            say(f"using the Docker engine at {self.host}")
            return
        self._start()

    def _start(self) -> None:
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        if not os.access(dockerd, os.X_OK):
            raise EngineError("no Docker engine answers and dockerd is missing: "
                              "install Debian's docker.io (./run does)")
        if os.geteuid() != 0:
            raise EngineError("no Docker engine answers, and starting dockerd needs root")
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        data_root = self._data_root()
        cmd = [dockerd, f"--data-root={data_root}", f"--exec-root={self.base / 'exec'}",
               f"--pidfile={self.pidfile}", f"-H={self.host}", "--storage-driver=vfs",
               "--iptables=false", "--ip6tables=false", "--bridge=none"]
        say(f"starting dockerd (log {self.log})")
        with open(self.log, "ab") as log:
            self.started = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self.answers():
            if self.started.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise EngineError(f"dockerd did not come up; see {self.log}")
            time.sleep(0.2)
        say(f"dockerd {self.started.pid} answers at {self.host}")

    def stop(self) -> None:
        """Stop the daemon this object started, and nothing else."""
        proc, self.started = self.started, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._unmount_leftovers()
        if os.path.ismount(self.reflink_root):
            subprocess.run(["umount", str(self.reflink_root)], check=False, capture_output=True)
        say(f"dockerd {proc.pid} stopped")

    @property
    def reflink_root(self) -> Path:
        return self.base / "data-xfs"

    def _data_root(self) -> Path:
        """The XFS-with-reflinks data root if it can be had, else the plain directory."""
        plain = self.base / "data"
        if os.environ.get("HOTLINE_DOCKER_REFLINK", "1") == "0":
            return plain
        try:
            mount_reflink_fs(self.base / "data.xfs", self.reflink_root)
        except (subprocess.CalledProcessError, OSError) as exc:
            stderr = getattr(exc, "stderr", None) or b""
            why = stderr.decode(errors="replace").strip() or str(exc)
            say(f"engine data in {plain} (no XFS with reflinks: {why}); "
                "containers are created by whole copies")
            return plain
        say(f"engine data on XFS with reflinks at {self.reflink_root}")
        return self.reflink_root

    def _unmount_leftovers(self) -> None:
        """dockerd leaves its default network namespace mounted under its exec root;
        without this the cache directory cannot be removed."""
        exec_root = str(self.base / "exec") + "/"
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            ours = [line.split()[1] for line in mounts if line.split()[1].startswith(exec_root)]
        for point in sorted(ours, reverse=True):
            subprocess.run(["umount", point], check=False, capture_output=True)

    def image_exists(self, tag: str) -> bool:
        return self.docker("image", "inspect", tag, check=False).returncode == 0


REFLINK_FS_SIZE = "200G"   # sparse: only what is written takes disk, and discard gives it back


def mount_reflink_fs(image: Path, mount_point: Path) -> None:
    """Mount `image` (an XFS filesystem with reflinks, made on first use) at `mount_point`.
    Raises OSError or CalledProcessError when this machine cannot."""
    if os.path.ismount(mount_point):
        return
    mkfs = shutil.which("mkfs.xfs") or "/usr/sbin/mkfs.xfs"
    if not os.access(mkfs, os.X_OK):
        raise OSError("mkfs.xfs missing (Debian's xfsprogs; ./run installs it)")
    if os.geteuid() != 0:
        raise OSError("mounting a filesystem needs root")
    image.parent.mkdir(parents=True, exist_ok=True)
    made = image.with_suffix(".made")
    if not (image.exists() and made.exists()):
        image.unlink(missing_ok=True)
        subprocess.run(["truncate", "-s", REFLINK_FS_SIZE, str(image)], check=True,
                       capture_output=True)
        subprocess.run([mkfs, "-q", "-m", "reflink=1", str(image)], check=True,
                       capture_output=True)
        made.write_text("xfs reflink=1\n")
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-o", "loop,discard", str(image), str(mount_point)], check=True,
                   capture_output=True)

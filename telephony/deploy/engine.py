"""A Docker engine to build and run the deployment on.

An engine that already answers (DOCKER_HOST, or the default socket) is used as
it is. Otherwise we start our own `dockerd`, with every directory under
HOTLINE_CACHE_DIR, on this machine's terms: vfs storage, no iptables, no
default bridge (containers use host networking), and stop only that daemon.
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
        cmd = [dockerd, f"--data-root={self.base / 'data'}", f"--exec-root={self.base / 'exec'}",
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
        say(f"dockerd {proc.pid} stopped")

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

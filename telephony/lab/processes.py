"""Start, find and stop the lab's background processes.

`lab down` must stop only what `lab up` started, so each process is recorded
with its pid and its kernel start time: a recycled pid never matches.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Started:
    name: str
    pid: int
    start_ticks: int
    log: str


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 3 is the state, field 22 the start time; field 2 may hold spaces
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None  # exited, not yet reaped
    return int(fields[19])


def alive(proc: Started) -> bool:
    return _start_ticks(proc.pid) == proc.start_ticks


class ProcessBook:
    """The lab's record of the processes it started (a JSON file)."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> dict[str, Started]:
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {name: Started(**entry) for name, entry in raw.items()}

    def _save(self, book: dict[str, Started]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: asdict(v) for k, v in book.items()}, indent=1))
        tmp.replace(self.path)

    def running(self, name: str) -> Started | None:
        proc = self.load().get(name)
        return proc if proc and alive(proc) else None

    def start(self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> Started:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=env, cwd=cwd,
            )
        ticks = None
        for _ in range(50):
            ticks = _start_ticks(popen.pid)
            if ticks is not None:
                break
            time.sleep(0.01)
        proc = Started(name=name, pid=popen.pid, start_ticks=ticks or -1, log=str(log))
        book = self.load()
        book[name] = proc
        self._save(book)
        return proc

    def stop(self, name: str, timeout: float = 10.0, sig: int = signal.SIGTERM) -> bool:
        """Stop one recorded process; True if it was running."""
        book = self.load()
        proc = book.pop(name, None)
        self._save(book)
        if not proc or not alive(proc):
            return False
        os.kill(proc.pid, sig)
        deadline = time.monotonic() + timeout
        while alive(proc) and time.monotonic() < deadline:
            _reap(proc.pid)
            time.sleep(0.05)
        if alive(proc):
            os.kill(proc.pid, signal.SIGKILL)
            while alive(proc):
                _reap(proc.pid)
                time.sleep(0.05)
        return True


def _reap(pid: int) -> None:
    """Collect a child we started in this process, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass

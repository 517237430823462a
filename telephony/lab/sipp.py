"""Drive SIPp (Debian's sip-tester) as citizens and seats, and read back
exactly what each SIP peer received."""
from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from telephony.settings import REPO_ROOT

SCENARIOS = REPO_ROOT / "lab" / "sipp"
_ports = itertools.count(int(os.environ.get("HOTLINE_SIPP_PORT_BASE", "15060")) + (os.getpid() % 50) * 200)


def sipp_binary() -> str:
    binary = shutil.which("sipp")
    if not binary:
        raise RuntimeError("sipp not found: install Debian's sip-tester")
    return binary


def free_udp_port(ip: str) -> int:
    """A UDP port free on `ip`, from a per-process range so parallel runs do not collide."""
    for _ in range(1000):
        port = next(_ports)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((ip, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free UDP port on {ip}")


@dataclass
class SipMessage:
    start_line: str
    headers: list[tuple[str, str]]
    body: str

    @property
    def method(self) -> str:
        return self.start_line.split(" ", 1)[0]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]


def parse_message_log(text: str) -> list[tuple[str, SipMessage]]:
    """(direction, message) for each message in a SIPp -trace_msg log."""
    out = []
    blocks = re.split(r"^-{10,}.*$", text, flags=re.MULTILINE)
    for block in blocks:
        head = re.search(r"message (received|sent)", block)
        if not head:
            continue
        body_start = block.find("\n\n", head.end())
        raw = block[body_start:].strip("\n") if body_start >= 0 else ""
        if not raw:
            continue
        lines = raw.splitlines()
        headers, body, i = [], "", 1
        while i < len(lines) and lines[i].strip():
            if ":" in lines[i]:
                k, v = lines[i].split(":", 1)
                headers.append((k.strip(), v.strip()))
            i += 1
        body = "\n".join(lines[i + 1:])
        out.append((head.group(1), SipMessage(lines[0].strip(), headers, body)))
    return out


@dataclass
class SippRun:
    name: str
    proc: asyncio.subprocess.Process
    message_log: Path
    screen_log: Path
    workdir: Path
    local: tuple[str, int]
    returncode: int | None = field(default=None)

    async def wait(self, timeout: float = 60.0) -> int:
        if self.returncode is None:
            try:
                self.returncode = await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.proc.kill()
                self.returncode = await self.proc.wait()
                raise
        return self.returncode

    def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()

    def messages(self, direction: str = "received") -> list[SipMessage]:
        try:
            text = self.message_log.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [m for d, m in parse_message_log(text) if d == direction]

    def received(self, method: str) -> list[SipMessage]:
        return [m for m in self.messages() if m.method == method]

    def output(self) -> str:
        try:
            return self.screen_log.read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""


async def start_sipp(scenario: str, target: str, *, local_ip: str, service: str,
                     variables: dict[str, str] | None = None, extra: list[str] | None = None,
                     local_port: int | None = None, calls: int = 1, timeout_s: int = 60,
                     name: str | None = None, workdir: Path | None = None) -> SippRun:
    """Start one SIPp instance; `target` is host:port (ignored for a UAS scenario)."""
    port = local_port or free_udp_port(local_ip)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="hotline-sipp-"))
    name = name or f"{Path(scenario).stem}-{port}"
    message_log = workdir / f"{name}.messages.log"
    screen_log = workdir / f"{name}.screen.log"
    cmd = [sipp_binary()]
    if target:
        cmd.append(target)
    cmd += ["-sf", str(SCENARIOS / scenario), "-s", service, "-i", local_ip, "-p", str(port),
            "-m", str(calls), "-timeout", f"{timeout_s}s", "-timeout_error", "-nostdin",
            "-trace_msg", "-message_file", str(message_log),
            "-trace_screen", "-screen_file", str(screen_log),
            "-mi", local_ip, "-mp", str(free_udp_port(local_ip))]
    for key, value in (variables or {}).items():
        cmd += ["-set", key, value]
    cmd += extra or []
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL, cwd=workdir)
    return SippRun(name, proc, message_log, screen_log, workdir, (local_ip, port))


async def register_seat(seat: str, password: str, registrar: str, *, contact_ip: str,
                        contact_port: int, expires: int = 3600) -> SippRun:
    """Register a seat's contact and wait for the 200 OK."""
    run = await start_sipp(
        "seat_register.xml", registrar, local_ip=contact_ip, service=seat,
        variables={"contact_ip": contact_ip, "contact_port": str(contact_port),
                   "expires": str(expires)},
        extra=["-au", seat, "-ap", password], timeout_s=10, name=f"register-{seat}-{contact_port}")
    code = await run.wait(15)
    if code != 0:
        raise RuntimeError(f"seat {seat} did not register (sipp exit {code}): {run.output()}")
    return run

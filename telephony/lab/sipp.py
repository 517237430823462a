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
from datetime import datetime
from pathlib import Path
from typing import Any

from telephony.lab.rtp_pcap import write_rfc2833_pcap, write_tone_pcap
from telephony.settings import REPO_ROOT, sipp_port_base

SCENARIOS = REPO_ROOT / "lab" / "sipp"
# steps of 4: SIPp's media port -mp also binds -mp+2 (its video echo)
_ports = itertools.count(
    sipp_port_base() + (os.getpid() % 50) * 400, 4)


def sipp_binary() -> str:
    binary = shutil.which("sipp")
    if not binary:
        raise RuntimeError("sipp not found: install Debian's sip-tester")
    return binary


def free_udp_port(ip: str) -> int:
    """A UDP port free on `ip`, from a per-process range so parallel runs do not collide."""
    for _ in range(1000):
        port = next(_ports)
        if all(_udp_free(ip, p) for p in range(port, port + 4)):
            return port
    raise RuntimeError(f"no free UDP port on {ip}")


def _udp_free(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((ip, port))
        except OSError:
            return False
        return True


@dataclass
class SipMessage:
    start_line: str
    headers: list[tuple[str, str]]
    body: str
    at: datetime | None = None   # when SIPp sent or received it (its -trace_msg stamp)

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
    # each message follows a line of dashes and SIPp's local time stamp
    parts = re.split(r"^-{10,}(.*)$", text, flags=re.MULTILINE)
    stamps = [None, *(_stamp(p) for p in parts[1::2])]
    for block, at in zip(parts[::2], stamps, strict=True):
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
        out.append((head.group(1), SipMessage(lines[0].strip(), headers, body, at)))
    return out


def _stamp(text: str) -> datetime | None:
    """SIPp's "2026-12-01 19:41:36.817756" (local time) as an aware datetime."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S.%f").astimezone()
    except ValueError:
        return None


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


async def unregister_all(seat: str, password: str, registrar: str, *, local_ip: str) -> None:
    """Remove every contact of a seat (REGISTER Contact: *, Expires: 0)."""
    run = await start_sipp(
        "seat_unregister_all.xml", registrar, local_ip=local_ip, service=seat,
        variables={"expires": "0"}, extra=["-au", seat, "-ap", password], timeout_s=10,
        name=f"unregister-{seat}")
    code = await run.wait(15)
    if code != 0:
        raise RuntimeError(f"seat {seat} could not be unregistered (sipp exit {code}): "
                           f"{run.output()}")


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


# ---- an agent's softphone that presses feature keys ---------------------------------
_DIALOG_VARS = """
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="inv_from" />
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="inv_to" />
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="remote_contact" />
    </action>
  """

_ANSWER = """  <recv request="INVITE" crlf="true">{dialog_vars}</recv>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTagA[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
    ]]>
  </send>
  <recv request="ACK" crlf="true" />
"""

_INFO = """  <send retrans="500">
    <![CDATA[
      INFO {uri} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: {from_}
      To: {to}
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: {contact}
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration=160
    ]]>
  </send>
  <recv response="200" />
"""

# one DTMF digit as SIP INFO, from the callee's side (a seat) or the caller's (a citizen)
_AGENT_DIALOG = {"uri": "[$remote_contact]", "from_": "[$inv_to];tag=[pid]SIPpTagA[call_number]",
                 "to": "[$inv_from]", "contact": "<sip:[local_ip]:[local_port]>"}
_CITIZEN_DIALOG = {
    "uri": "sip:[service]@[remote_ip]:[remote_port]",
    "from_": '"[$citizen]" <sip:[$citizen]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]',
    "to": "<sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]",
    "contact": "<sip:[$citizen]@[local_ip]:[local_port]>"}


# a request received in the dialog, answered 200 OK with no body
_OK_TO_LAST = """  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"""

_BYE_IN = ("""  <recv request="BYE" timeout="{timeout}" />
""" + _OK_TO_LAST + """  <timewait milliseconds="300" />
""")


# wait for the test's signal: an in-dialog OPTIONS (see poke()), answered 200
_AWAIT = """  <recv request="OPTIONS" timeout="{timeout}" />
""" + _OK_TO_LAST


def poke(run: SippRun, call_id: str) -> None:
    """Release a scenario waiting at an ("await", ms) step: an OPTIONS in its dialog."""
    host, port = run.local
    message = (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {host}:9;branch=z9hG4bK-poke-{abs(hash(call_id)) % 10**9}\r\n"
               f"From: <sip:test@{host}>;tag=poke\r\nTo: <sip:{host}:{port}>\r\n"
               f"Call-ID: {call_id}\r\nCSeq: 900 OPTIONS\r\nMax-Forwards: 70\r\n"
               "Content-Length: 0\r\n\r\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), (host, port))


def _step_xml(kind: str, arg: str | int, cseq: int,
              dialog: dict[str, str]) -> tuple[list[str], int] | None:
    """A step both scenarios know ("pause", "await", "info") as XML, and the next CSeq;
    None for any other step."""
    if kind == "pause":
        return [f'  <pause milliseconds="{int(arg)}" />\n'], cseq
    if kind == "await":
        return [_AWAIT.format(timeout=int(arg))], cseq
    if kind == "info":
        digits = str(arg)
        return ([_INFO.format(cseq=cseq + i, digit=digit, **dialog)
                 for i, digit in enumerate(digits)], cseq + len(digits))
    return None


def agent_scenario(path: Path, steps: list[tuple[str, str | int]], bye_timeout_ms: int = 60000) -> Path:
    """Write a SIPp UAS scenario: answer, then each step, then wait for BYE.

    Steps: ("pause", ms), ("info", "*1") sends each digit as SIP INFO,
    ("rfc2833", "*1") plays the digits as RTP telephone-events (RFC 2833/4733),
    ("storm", digits) plays them as fast as 200 keys a second,
    ("await", ms) waits up to ms for the test's poke(),
    ("tone", seconds) starts a PCMU tone (the agent's voice) and goes on at once.
    ("audio", pcap path) plays RTP audio from the UA's media port.
    """
    # SIPp refuses variables set but never used: capture the dialog only for INFO
    sends_info = any(kind == "info" for kind, _ in steps)
    body, cseq = [_ANSWER.replace("{dialog_vars}", _DIALOG_VARS if sends_info else "")], 1
    for kind, arg in steps:
        common = _step_xml(kind, arg, cseq, _AGENT_DIALOG)
        if common is not None:
            xml, cseq = common
            body += xml
        elif kind == "tone":   # the agent talks: a PCMU tone for `arg` seconds, in the background
            pcap = write_tone_pcap(path.with_name(f"{path.stem}-tone.pcap"), float(arg))
            body.append(f'  <nop><action><exec play_pcap_audio="{pcap}" /></action></nop>\n')
        elif kind == "audio":   # an RTP pcap (rtp_pcap.write_audio_pcap), not waited for
            body.append(f'  <nop><action><exec play_pcap_audio="{arg}" /></action></nop>\n')
        elif kind in ("rfc2833", "storm"):
            # a storm: 200 keys a second, each a short burst of telephone-events
            fast: dict[str, Any] = {"packets_per_digit": 2, "packet_s": 0.0025,
                                    "gap_s": 0.0} if kind == "storm" else {}
            name = f"{path.stem}-{kind}-{abs(hash(str(arg))) % 10**8}.pcap"
            pcap = write_rfc2833_pcap(path.with_name(name), str(arg), **fast)
            body.append(f'  <nop><action><exec play_pcap_audio="{pcap}" /></action></nop>\n')
        else:
            raise ValueError(f"unknown agent step {kind!r}")
    body.append(_BYE_IN.format(timeout=bye_timeout_ms))
    path.write_text('<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE scenario SYSTEM '
                    '"sipp.dtd">\n<scenario name="agent">\n' + "".join(body) + "</scenario>\n")
    return path


# ---- a citizen who presses digits while waiting ---------------------------------------
_CITIZEN_BYE = """  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[$citizen]" <sip:[$citizen]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true" />
"""


def citizen_scenario(path: Path, steps: list[tuple[str, str | int]],
                     hang_up: bool = True, bye_timeout_ms: int = 30000) -> Path:
    """The citizen.xml call, then steps ("pause", ms) / ("info", "12") / ("await", ms) /
    ("audio", pcap path: RTP played from the citizen's media port, without waiting), then
    our BYE, or (hang_up=False) a wait for the far end's BYE."""
    base = (SCENARIOS / "citizen.xml").read_text()
    head = base[:base.index("  <pause />")]
    body, cseq = [head], 2
    for kind, arg in steps:
        common = _step_xml(kind, arg, cseq, _CITIZEN_DIALOG)
        if common is None and kind == "audio":
            body.append(f'  <nop><action><exec play_pcap_audio="{arg}" /></action></nop>\n')
            continue
        if common is None:
            raise ValueError(f"unknown citizen step {kind!r}")
        xml, cseq = common
        body += xml
    body.append(_CITIZEN_BYE.format(cseq=cseq) if hang_up else _BYE_IN.format(timeout=bye_timeout_ms))
    body.append("</scenario>\n")
    path.write_text("".join(body))
    return path


# ---- UAs whose audio goes to an RtpProbe (rtp_probe.py): what a phone really heard -----
def probe_answer_scenario(path: Path, rtp_ip: str, rtp_port: int,
                          steps: list[tuple[str, str | int]] = (),
                          bye_timeout_ms: int = 60000) -> Path:
    """agent_scenario, with the answer's SDP naming the probe's socket for the audio."""
    agent_scenario(path, list(steps), bye_timeout_ms)
    text = path.read_text().replace("c=IN IP[media_ip_type] [media_ip]", f"c=IN IP4 {rtp_ip}")
    path.write_text(text.replace("m=audio [media_port]", f"m=audio {rtp_port}"))
    return path


def probe_citizen_scenario(path: Path, rtp_ip: str, rtp_port: int,
                           steps: list[tuple[str, str | int]]) -> Path:
    """citizen_scenario, with the offer's SDP naming the probe's socket for the audio."""
    citizen_scenario(path, steps)
    text = path.read_text().replace("c=IN IP[media_ip_type] [media_ip]", f"c=IN IP4 {rtp_ip}")
    path.write_text(text.replace("m=audio [media_port]", f"m=audio {rtp_port}"))
    return path

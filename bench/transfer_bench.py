"""Transfer latency benchmark (issue 3): the controller's *1 hand-over against
Asterisk's own features.conf blind transfer (blindxfer), in one run, on one lab.

Run from the repository root:

    /work/main/.venv/bin/python bench/transfer_bench.py            # 1, 50, 100 concurrent calls
    /work/main/.venv/bin/python bench/transfer_bench.py --quick    # a smoke run (1 and 5)

It starts its own lab (bench/topology.toml: 127.0.0.21-23, Redis 127.0.0.20,
controller API 127.0.0.1:8081, lab dir /tmp/hotline-bench), so the default
lab can run beside it, and stops it at the end. Writes bench/results/transfer.md.

What is timed, per call: from the agent's last transfer digit arriving at the
12345 site (the SIP INFO of `1` in `*1`, or of the destination's last digit
after `#1`) to the INVITE arriving at the 110 seat's UA, both read from one
tcpdump capture of the loopback.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LAB_DIR = Path("/tmp/hotline-bench")
# set before telephony.lab is imported (it reads HOTLINE_LAB_DIR at import), and
# inherited by the controller the lab starts
BENCH_ENV = {
    "HOTLINE_MODE": "lab",
    "HOTLINE_TOPOLOGY": str(ROOT / "bench" / "topology.toml"),
    "HOTLINE_LAB_DIR": str(LAB_DIR),
    "HOTLINE_API_PORT": "8081",
    "HOTLINE_REDIS_URL": "redis://127.0.0.20:6379/0",
    # No knowledge-base audio: a fresh lab imports the 223-answer seed, and its controller
    # renders each answer (espeak-ng and sox, its children) for minutes in the background.
    # Those children's CPU is counted with the controller's and the consumer's (cutime)
    # and was 7-10 % of a core of "idle" in a capacity run; no call waits on it.
    "HOTLINE_KB_SOUND_DIR": "",
}
os.environ.update(BENCH_ENV)

from bench.cpu_cost import cpu_seconds, wait_quiet
from bench.sipcap import CallTimes, concurrency_at, sip_packets, transfers
from telephony.lab import sipp as lab_sipp  # the seat softphone the agent scenario builds on
from telephony.lab.lab import Lab
from telephony.lab.runtime import AsteriskRuntime, ensure_runtime
from telephony.lab.sipp import SCENARIOS, free_udp_port, sipp_binary
from telephony.settings import Settings, load_settings

CITIZEN_IP = "127.0.1.21"   # the lab's PSTN gateway network
AGENT_IP = "127.0.3.1"      # one SIPp UAS is every 12345 seat's softphone
TARGET_IP = "127.0.3.2"     # one SIPp UAS is every 110 seat's softphone

PATHS = ("controller", "native")
# concurrent calls -> calls measured. At 100, 1000 hand-overs a run: the p99 is then the
# 10th slowest, not the 3rd of 300, whose run-to-run spread (2-12x, bench/results/
# transfer-bisect.md) was larger than any change it was meant to judge
FULL_LEVELS = {1: 30, 50: 200, 100: 1000}
QUICK_LEVELS = {1: 3, 5: 10}
HOLD_MS = 6000                 # the citizen hangs up this long after the answer
AGENT_PAUSE_MS = (1000, 2500)  # the agent presses the keys uniformly in this window
NATIVE_PROMPT_MS = 300         # after #1, as a person waits for "transfer" before dialling
# Each key is a SIP INFO with Duration=DIGIT_MS, sent DIGIT_GAP_MS after the previous
# key's 200 OK. The gap must exceed the duration plus Asterisk's 45 ms minimum DTMF gap:
# keys sent back to back are queued behind the previous key's emulated duration (measured:
# 224 ms from the INFO of `1` to the transfer with no gap, 12 ms with this gap).
DIGIT_MS = 160
DIGIT_GAP_MS = 250


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---- SIPp scenarios ------------------------------------------------------------------------
CITIZEN_XML = """<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- a citizen per line of the injection file: number;dialled; holds HOLD ms, hangs up -->
<scenario name="bench citizen">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTagC[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=citizen 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
    ]]>
  </send>
  <recv response="100" optional="true" />
  <recv response="180" optional="true" />
  <recv response="183" optional="true" />
  <recv response="200" rtd="true" />
  <send>
    <![CDATA[
      ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTagC[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="HOLD" />
  <send retrans="500">
    <![CDATA[
      BYE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTagC[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true" />
</scenario>
"""

# the seat softphone of telephony/lab/sipp.py (its INVITE, 200 OK and ACK), plus the
# agent's own seat number taken from the INVITE, then a random pause before the keys
_SEAT_FROM_INVITE = """      <ereg regexp="INVITE sip:1([0-9])([0-9])([0-9])@" search_in="msg" check_it="true"
            assign_to="seat,s1,s2,s3" />
"""
_AGENT_HEAD = ("""<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- every 12345 seat's softphone: answers, waits, presses the transfer keys by SIP INFO,
     then waits for the BYE that releases it -->
<scenario name="bench agent">
"""
               + lab_sipp._ANSWER.replace("{dialog_vars}", lab_sipp._DIALOG_VARS.replace(
                   "    </action>", _SEAT_FROM_INVITE + "    </action>"))
               + '  <pause distribution="uniform" min="PMIN" max="PMAX" />\n')

_AGENT_INFO = """  <send retrans="500">
    <![CDATA[
      INFO [$remote_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$inv_to];tag=[pid]SIPpTagA[call_number]
      To: [$inv_from]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: <sip:[local_ip]:[local_port]>
      Max-Forwards: 70
      X-Bench-Seat: [$seat] [$s1][$s2][$s3]
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration={duration}
    ]]>
  </send>
  <recv response="200" />
"""

_AGENT_TAIL = """  <recv request="BYE" timeout="60000" />
  <send>
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
  <timewait milliseconds="300" />
</scenario>
"""


def agent_xml(path: str) -> str:
    """The controller's `*1`; or native `#1`, a pause, then the 110 seat with the agent's
    own seat suffix (agent 1042 transfers to 2042): `_2XXX` in [from-seat], unambiguous
    at the fourth digit, so Asterisk waits no transferdigittimeout. Keys are
    DIGIT_GAP_MS apart, as a person presses them (see DIGIT_GAP_MS)."""
    keys: list[str | int] = ["*", "1"] if path == "controller" else \
        ["#", "1", NATIVE_PROMPT_MS, "2", "[$s1]", "[$s2]", "[$s3]"]
    body = [_AGENT_HEAD.replace("PMIN", str(AGENT_PAUSE_MS[0]))
            .replace("PMAX", str(AGENT_PAUSE_MS[1]))]
    cseq = 1
    for i, key in enumerate(keys):
        if isinstance(key, int):
            body.append(f'  <pause milliseconds="{key}" />\n')
            continue
        if i > 0 and not isinstance(keys[i - 1], int):
            body.append(f'  <pause milliseconds="{DIGIT_GAP_MS}" />\n')
        body.append(_AGENT_INFO.format(cseq=cseq, digit=key, duration=DIGIT_MS))
        cseq += 1
    body.append(_AGENT_TAIL)
    return "".join(body)


# ---- processes ----------------------------------------------------------------------------
@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    screen: Path | None = None

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        if self.running():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self.popen.wait()

    def output(self) -> str:
        if self.screen and self.screen.exists():
            return self.screen.read_text(errors="replace")[-2500:]
        return ""


def start_sipp(name: str, scenario: Path, workdir: Path, *, local_ip: str, port: int,
               target: str | None = None, extra: list[str] | None = None) -> Proc:
    screen = workdir / f"{name}.screen.log"
    cmd = [sipp_binary()]
    if target:
        cmd.append(target)
    cmd += ["-sf", str(scenario), "-i", local_ip, "-p", str(port), "-nostdin",
            "-mi", local_ip, "-mp", str(free_udp_port(local_ip)),
            "-trace_screen", "-screen_file", str(screen),
            "-trace_err", "-error_file", str(workdir / f"{name}.errors.log"), *(extra or [])]
    popen = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Proc(name, popen, screen)


def start_capture(path: Path, sites: list[str]) -> Proc:
    """Every SIP message to or from the two sites (port 5060), with microsecond times."""
    hosts = " or ".join(f"host {ip}" for ip in sites)
    popen = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-n", "-s", "0", "-B", "32768", "-U",
         "--time-stamp-precision=micro", "-w", str(path), f"udp port 5060 and ({hosts})"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert popen.stderr is not None
    line = popen.stderr.readline()     # "listening on lo ..." once the filter is in place
    if "listening" not in line:
        popen.kill()
        raise RuntimeError(f"tcpdump did not start: {line}{popen.stderr.read()}")
    return Proc("tcpdump", popen)


def stop_capture(proc: Proc) -> str:
    proc.stop(signal.SIGINT)
    assert proc.popen.stderr is not None
    return proc.popen.stderr.read()


# ---- the lab ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrivateHostsRuntime(AsteriskRuntime):
    """The shared sid root, but each site sees an /etc/hosts that names this machine.

    Asterisk resolves the machine's hostname (ast_find_ourip, then A.ROOT-SERVERS.NET)
    as it sets up RTP; the sid root's /etc/hosts lacks the hostname, so each lookup goes
    to the machine's DNS server, which under a burst drops queries: 60 parallel lookups
    took a median 10 s (5 s resolver timeouts), and every PJSIP task behind one waited.
    The bind mount lives in the site's own mount namespace; the root is not changed.
    """

    hosts: Path = Path("/dev/null")

    def command(self, *args: str) -> list[str]:
        inner = super().command(*args)
        if not self.chrooted:
            return inner
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh",
                str(self.hosts), str(self.root / "etc" / "hosts"), *inner]


def bench_runtime(lab_dir: Path) -> AsteriskRuntime:
    base = ensure_runtime()
    if not base.chrooted:
        return base
    hosts = lab_dir / "hosts"
    lab_dir.mkdir(parents=True, exist_ok=True)
    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {socket.gethostname()}\n")
    return PrivateHostsRuntime(root=base.root, binary=base.binary, hosts=hosts)


def fresh_lab(lab: Lab, lab_dir: Path) -> None:
    """Stop the bench lab and empty its order database and Redis, so every run starts
    alike. What earlier runs left (tens of thousands of call-log rows, calls stored when
    a lab was stopped, adopted and ended at the next start) grew the consumer's work and
    the start-up run after run, and "not this bench" with them."""
    lab.down()
    for name in ("data", "redis"):
        shutil.rmtree(lab_dir / name, ignore_errors=True)


class LabView:
    """The bench lab's controller health and each site's channels, read-only."""

    def __init__(self, settings: Settings, lab: Lab):
        self.settings, self.lab = settings, lab
        creds = settings.credentials
        self._auth = "Basic " + base64.b64encode(
            f"{creds.ari_user}:{creds.ari_password}".encode()).decode()

    def channels(self, site: str) -> list[dict]:
        url = f"{self.settings.site(site).ari_url}/channels"
        request = urllib.request.Request(url, headers={"Authorization": self._auth})
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read())

    def seats_available(self) -> int:
        seats = (self.lab.health() or {}).get("seats", {})
        return sum(1 for site in ("12345", "110") for state in seats.get(site, {}).values()
                   if state == "available")

    def ari(self, site: str, method: str, path: str, timeout: float = 5, **params: str) -> None:
        """One ARI request to `site` whose reply body is not needed."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(f"{self.settings.site(site).ari_url}{path}{query}",
                                         method=method, headers={"Authorization": self._auth})
        urllib.request.urlopen(request, timeout=timeout).close()

    def hang_up_everything(self) -> int:
        """Hang up whatever a failed phase left, so it cannot weigh on the next one."""
        count = 0
        for site in ("12345", "110"):
            for channel in self.channels(site):
                try:
                    self.ari(site, "DELETE", f"/channels/{channel['id']}")
                    count += 1
                except OSError:
                    pass
        return count

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """No channel left on the two sites, no call in the controller, every seat free."""
        want = len(self.settings.site("12345").seats) + len(self.settings.site("110").seats)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.lab.health() or {}
            if (not self.channels("12345") and not self.channels("110")
                    and not health.get("calls") and self.seats_available() == want):
                return True
            time.sleep(0.5)
        return False


def register_seats(settings: Settings, workdir: Path, site_name: str, contact_ip: str,
                   contact_port: int) -> None:
    """Every seat of the site registers the same contact: one SIPp per seat, 20 at a time
    (`lab/sipp/seat_register.xml` with -au/-ap: SIPp 3.6 cannot take the credentials of
    its [authentication] keyword from an injection file)."""
    site = settings.site(site_name)
    for i in range(0, len(site.seats), 20):
        batch = [start_sipp(f"register-{seat}", SCENARIOS / "seat_register.xml", workdir,
                            local_ip=contact_ip, port=free_udp_port(contact_ip),
                            target=f"{site.address}:{site.sip_port}",
                            extra=["-s", seat, "-au", seat,
                                   "-ap", settings.credentials.seat_password(seat),
                                   "-set", "contact_ip", contact_ip,
                                   "-set", "contact_port", str(contact_port),
                                   "-set", "expires", "3600", "-m", "1",
                                   "-timeout", "10s", "-timeout_error"])
                 for seat in site.seats[i:i + 20]]
        for proc in batch:
            if proc.popen.wait(20) != 0:
                raise RuntimeError(f"{proc.name} failed: {proc.output()}")


# ---- CPU ----------------------------------------------------------------------------------
def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# ---- one phase: one path at one concurrency ------------------------------------------------
@dataclass
class Phase:
    path: str
    level: int
    calls: int
    latencies: list[float] = field(default_factory=list)
    origin: list[float] = field(default_factory=list)     # last digit -> INVITE on the trunk
    far: list[float] = field(default_factory=list)        # trunk INVITE -> INVITE at the seat
    concurrency: list[int] = field(default_factory=list)  # calls up at each transfer
    failures: dict[str, int] = field(default_factory=dict)
    sipp_ok: int = 0
    sipp_failed: int = 0
    wall_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)   # % of one core over the phase
    capture_note: str = ""
    leftovers: int = 0       # channels still up 60 s after the phase, hung up by the bench


def run_phase(phase: Phase, index: int, settings: Settings, lab: Lab, view: LabView,
              workdir: Path, agent_port: int, pids: dict[str, int]) -> Phase:
    agents = settings.site("12345").seats
    numbers = [f"139{index:02d}{i:06d}" for i in range(phase.calls)]
    dialled = ["12345" if phase.path == "controller" else f"9{agents[i % len(agents)]}"
               for i in range(phase.calls)]
    tag = f"{phase.path}-{phase.level}"
    inf = workdir / f"citizens-{tag}.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{n};{d};\n" for n, d in zip(numbers, dialled)))
    agent_sf = workdir / f"agent-{phase.path}.xml"
    agent_sf.write_text(agent_xml(phase.path))
    citizen_sf = workdir / "citizen.xml"
    citizen_sf.write_text(CITIZEN_XML.replace("HOLD", str(HOLD_MS)))

    pcap = workdir / f"{tag}.pcap"
    site_ips = [settings.site("12345").address, settings.site("110").address]
    capture = start_capture(pcap, site_ips)
    procs: list[Proc] = []
    try:
        agent = start_sipp(f"agent-{tag}", agent_sf, workdir, local_ip=AGENT_IP,
                           port=agent_port)
        procs.append(agent)
        time.sleep(0.3)
        rate = max(2.0, phase.level / 2.5)    # ramps to the level in about 2.5 s
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        before["sipp agent"], busy0 = cpu_seconds(agent.popen.pid), machine_busy()
        before["tcpdump"] = cpu_seconds(capture.popen.pid)
        t0 = time.monotonic()
        citizens = start_sipp(
            f"citizens-{tag}", citizen_sf, workdir, local_ip=CITIZEN_IP,
            port=free_udp_port(CITIZEN_IP), target=f"{settings.site('12345').address}:5060",
            extra=["-inf", str(inf), "-m", str(phase.calls), "-l", str(phase.level),
                   "-r", f"{rate:g}", "-rp", "1000", "-timeout", "600s", "-timeout_error",
                   "-trace_stat", "-stf", str(workdir / f"citizens-{tag}.stat.csv")])
        procs.append(citizens)
        say(f"{tag}: {phase.calls} calls, at most {phase.level} at once, {rate:g} new calls/s")
        citizens_cpu = 0.0
        while citizens.running():
            citizens_cpu = cpu_seconds(citizens.popen.pid)
            time.sleep(0.2)
        phase.wall_s = time.monotonic() - t0
        busy1 = machine_busy()
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        after["sipp agent"] = cpu_seconds(agent.popen.pid)
        after["tcpdump"] = cpu_seconds(capture.popen.pid)
        phase.cpu = {name: 100 * (after[name] - before.get(name, 0.0)) / phase.wall_s
                     for name in after}
        phase.cpu["sipp citizens"] = 100 * citizens_cpu / phase.wall_s
        machine = (100 * (os.cpu_count() or 1) * (busy1[0] - busy0[0])
                   / max(1, busy1[1] - busy0[1]))
        # whatever else ran on the machine meanwhile (other engineers' tests share it)
        phase.cpu["not this bench"] = max(0.0, machine - sum(phase.cpu.values()))
        phase.cpu["whole machine"] = machine
        phase.sipp_ok, phase.sipp_failed = sipp_counts(citizens.output())
        if not view.wait_idle(60):
            phase.leftovers = view.hang_up_everything()
            say(f"{tag}: the lab did not go idle within 60 s; hung up {phase.leftovers} "
                "channels")
            if not view.wait_idle(40):
                say(f"{tag}: still not idle; the next phase starts anyway")
    finally:
        for proc in reversed(procs):
            proc.stop()
        note = stop_capture(capture)
    phase.capture_note = " ".join(line.strip() for line in note.splitlines() if "packets" in line)
    analyse(phase, pcap, numbers, settings)
    save_metrics(lab, workdir / f"metrics-{index:02d}-{tag}.txt")
    return phase


def save_metrics(lab: Lab, path: Path) -> None:
    """The controller's /metrics after a phase, with the raw data: its loop lag, ARI event
    lag and request times say where a slow transfer waited (the histograms are totals since
    the lab started: a phase's own are the difference from the one before)."""
    url = f"http://{lab.settings.api_host}:{lab.controller_port()}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            path.write_bytes(resp.read())
    except OSError as exc:
        say(f"metrics not saved: {exc}")


def sipp_counts(screen: str) -> tuple[int, int]:
    ok = failed = 0
    for line in screen.splitlines():
        cols = line.split("|")
        if line.strip().startswith("Successful call") and len(cols) >= 3:
            ok = int(cols[2].split()[0])
        if line.strip().startswith("Failed call") and len(cols) >= 3:
            failed = int(cols[2].split()[0])
    return ok, failed


def analyse(phase: Phase, pcap: Path, numbers: list[str], settings: Settings) -> None:
    calls = transfers(sip_packets(pcap), citizen_net=CITIZEN_IP.rsplit(".", 1)[0] + ".",
                      origin=settings.site("12345").address, far=settings.site("110").address,
                      agent_ip=AGENT_IP, target_ip=TARGET_IP)
    want = "*1" if phase.path == "controller" else "#12"
    for number in numbers:
        c = calls.get(number) or CallTimes(number)
        why = failure(c, want)
        if why:
            phase.failures[why] = phase.failures.get(why, 0) + 1
            continue
        assert c.latency_ms is not None and c.last_digit is not None
        phase.latencies.append(c.latency_ms)
        if c.origin_ms is not None and c.far_ms is not None:
            phase.origin.append(c.origin_ms)
            phase.far.append(c.far_ms)
        phase.concurrency.append(concurrency_at(calls, c.last_digit))


def failure(c: CallTimes, keys: str) -> str | None:
    if c.start is None:
        return "citizen INVITE not seen"
    if c.agent_invite is None:
        return "agent never rung"
    pressed = "".join(d for _, d in c.digits)
    if not pressed.startswith(keys):
        return f"keys {pressed or 'none'} sent"
    if c.target_invite is None:
        return "no INVITE at the 110 seat"
    if c.target_invite < c.digits[-1][0]:
        return "110 seat rung before the last key"
    return None


# ---- figures --------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """Nearest rank at or above q (the repository's bench convention: sorted[int(q * n)])."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"p50": pct(values, .50), "p95": pct(values, .95), "p99": pct(values, .99),
            "max": max(values), "min": min(values)}


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def machine_facts() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    sipp = subprocess.run([sipp_binary(), "-v"], check=False, capture_output=True,
                          text=True).stdout
    sipp = next((ln.strip().rstrip(".") for ln in sipp.splitlines() if "SIPp" in ln), "SIPp")
    return {"cpu": f"{os.cpu_count()} cores, {model}", "cores": str(os.cpu_count()), "kernel": platform.release(),
            "python": platform.python_version(), "sipp": sipp}


def code_version() -> str:
    """The commit, and the controller files edited on top of it (others share the checkout)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, check=False, capture_output=True,
                              text=True).stdout.rstrip()   # porcelain lines start with a space
    dirty = [line[3:] for line in git("status", "--porcelain", "telephony", "services",
                                      "dialplan").splitlines()]
    return f"commit {git('rev-parse', '--short', 'HEAD')}" + (
        f" with uncommitted changes to {', '.join(dirty)}" if dirty else "")


def asterisk_version(view: LabView) -> str:
    url = f"{view.settings.site('12345').ari_url}/asterisk/info"
    request = urllib.request.Request(url, headers={"Authorization": view._auth})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read()).get("system", {}).get("version", "?")
    except OSError:
        return "?"


def median_of_runs(runs: list[Phase], q: str) -> float | None:
    """The median over repeated runs of one quantile of each run's latencies."""
    got = sorted(v for p in runs if p.latencies and (v := summary(p.latencies).get(q)) is not None)
    return statistics.median(got) if got else None


def report(phases: list[Phase], facts: dict[str, str], quick: bool, started: str) -> str:
    by: dict[tuple[str, int], list[Phase]] = {}
    for p in phases:
        by.setdefault((p.path, p.level), []).append(p)
    levels = sorted({p.level for p in phases})
    rows = []
    for level in levels:
        for p in (*by.get(("controller", level), ()), *by.get(("native", level), ())):
            s = summary(p.latencies)
            conc = sorted(p.concurrency)
            rows.append(
                f"| {level} | {p.path} | {len(p.latencies)}/{p.calls} | "
                f"{sum(p.failures.values())} | {fmt(s.get('p50'))} | {fmt(s.get('p95'))} | "
                f"{fmt(s.get('p99'))} | {fmt(s.get('max'))} | "
                f"{conc[len(conc) // 2] if conc else '–'} ({conc[0] if conc else '–'}–"
                f"{conc[-1] if conc else '–'}) |")
    ratios = []
    for level in levels:
        ctl, nat = by.get(("controller", level), []), by.get(("native", level), [])
        c = {q: median_of_runs(ctl, q) for q in ("p50", "p95", "p99")}
        n = {q: median_of_runs(nat, q) for q in ("p50", "p95", "p99")}
        if None in c.values() or None in n.values():
            continue
        verdict = []
        if level == max(levels):
            verdict.append("p99 ≤ 100 ms: " + ("yes" if c["p99"] <= 100 else "**no**"))
        verdict.append("p99 ≤ 1.4× native: " + ("yes" if c["p99"] <= 1.4 * n["p99"] else "**no**"))
        runs = f"{len(ctl)}/{len(nat)}"
        ratios.append(f"| {level} | {runs} | {c['p50'] / n['p50']:.2f} | "
                      f"{c['p95'] / n['p95']:.2f} | {c['p99'] / n['p99']:.2f} | "
                      f"{'; '.join(verdict)} |")
    split = []
    for p in phases:
        o, f = summary(p.origin), summary(p.far)
        split.append(f"| {p.level} | {p.path} | {fmt(o.get('p50'))} | {fmt(o.get('p99'))} | "
                     f"{fmt(f.get('p50'))} | {fmt(f.get('p99'))} |")
    cpu_names = sorted({k for p in phases for k in p.cpu})
    cpu = [f"| {p.level} | {p.path} | {p.wall_s:.0f} s | "
           + " | ".join(f"{p.cpu.get(k, 0):.0f}" for k in cpu_names) + " |" for p in phases]
    fails = [f"- {p.path} at {p.level}: " + (", ".join(f"{k}: {v}" for k, v in p.failures.items())
                                               or "none")
             + (f"; {p.leftovers} channels still up 60 s after the phase were hung up"
                if p.leftovers else "")
             + f" (SIPp citizens: {p.sipp_ok} successful, {p.sipp_failed} failed; capture: "
             f"{p.capture_note or '?'})" for p in phases]
    smoke = "**A smoke or probe run, not the figures of record.**\n\n" if quick else ""
    return f"""# Transfer latency benchmark (issue 3)

{smoke}Run `/work/main/.venv/bin/python bench/transfer_bench.py` from the repository root
(`--quick` for a smoke run). Figures below: {started}, {facts['cpu']}, Linux
{facts['kernel']}, Python {facts['python']}, Asterisk {facts['asterisk']} (sid root, chroot),
{facts['sipp']}. Code: {facts['code']}. Both paths ran in the same run, on the same lab, one after the other at each
level (controller first).

## Figures

Latency, ms: the agent's last transfer digit arriving at the 12345 site → the INVITE arriving
at the 110 seat's UA. "Concurrency" is the number of citizens' calls up at the moment of each
transfer (median, min–max), counted from the same capture.

| concurrent calls | path | measured/placed | failures | p50 | p95 | p99 | max | concurrency at transfer |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Controller / native ratio, of each quantile's median over the runs (target, issue 17: p99 at
100 concurrent calls ≤ 1.4× native, as the median of three runs; and ≤ 100 ms):

| concurrent calls | runs controller/native | p50 ratio | p95 ratio | p99 ratio | verdict |
|---|---|---|---|---|---|
{chr(10).join(ratios)}

Where the time goes, ms (last digit → INVITE leaving 12345 on the trunk; trunk INVITE → INVITE
at the 110 seat):

| concurrent calls | path | origin p50 | origin p99 | far p50 | far p99 |
|---|---|---|---|---|---|
{chr(10).join(split)}

CPU during each phase, % of one core (from /proc/<pid>/stat and /proc/stat; the whole machine
is out of {facts['cores']}00; "not this bench" is what other processes on the shared machine used):

| concurrent calls | path | wall | {" | ".join(cpu_names)} |
|---|---|---|{"---|" * len(cpu_names)}
{chr(10).join(cpu)}

Failures:

{chr(10).join(fails)}

## Method

- **Lab.** The benchmark starts its own lab from `bench/topology.toml` (sites 12345, 110 and
  remote on 127.0.0.21–23, Redis 127.0.0.20, controller API 127.0.0.1:8081, lab dir
  `/tmp/hotline-bench`, 120 seats on each platform) through `telephony.lab.lab.Lab`, so the
  default lab can run at the same time, and stops it at the end. The controller runs as
  `hotline controller` does in the lab (default warm transfer, INFO logging). Before the
  first phase the bench waits until the controller and its order consumer use under 5 % of
  a core (`bench/cpu_cost.py: wait_quiet`). A consumer still applying an earlier run's
  events competes with the phase; one run's first controller phase had twice the p50 of the
  next two, likely for that reason.
- **Name lookups.** Each bench site runs in its own mount namespace where the sid root's
  `/etc/hosts` also names this machine (a bind mount; the shared root is not changed).
  Asterisk resolves the hostname as it sets up RTP, and the root's `/etc/hosts` lacks it, so
  every lookup went to the machine's DNS server, which drops queries under a burst: in a
  first run, 60 parallel lookups took a median 10 s (5 s resolver timeouts), PJSIP tasks
  waited 5–20 s behind them, and both paths failed at 50 calls. The default lab has the
  same defect (see the report of this benchmark).
- **UAs.** All 120 seats of 12345 register one contact, a single SIPp UAS on {AGENT_IP}
  (the agents); all 120 seats of 110 register another, a single SIPp UAS on {TARGET_IP}
  (`lab/sipp/seat_answer.xml`: 180, 200, waits for BYE). Citizens are one SIPp UAC on
  {CITIZEN_IP}, each call with its own number (`139…`, from an injection file).
- **Load.** At each level N the citizens' SIPp keeps at most N calls up (`-l N`), opens new
  ones at N/2.5 calls/s (at least 2/s) until the phase's calls are placed, and each citizen
  hangs up {HOLD_MS} ms after being answered. The agent answers at once and presses the keys
  after a pause drawn uniformly from {AGENT_PAUSE_MS[0]}–{AGENT_PAUSE_MS[1]} ms, so transfers
  are spread over the calls' life, not fired in one burst; the concurrency column shows how
  many calls were up when each transfer happened.
- **Keys.** Every key is one SIP INFO (`application/dtmf-relay`, `Duration={DIGIT_MS}`), sent
  {DIGIT_GAP_MS} ms after the previous key's 200 OK, as a person presses keys. Asterisk holds
  a digit that arrives while it still plays out the previous one's signalled duration (plus a
  45 ms minimum gap): with keys sent back to back, the `1` of `*1` was seen 224 ms after its
  INFO arrived, with this gap 12 ms; the native path's last digit behaves the same way.
- **Controller path.** The citizen dials 12345; the controller rings the longest-idle 12345
  seat; the agent sends `*` then `1` as SIP INFO (`application/dtmf-relay`); the controller
  originates `PJSIP/110@trunk-110`; site 110's controller rings its longest-idle seat.
- **Native baseline.** The citizen dials `9<seat>` (`[from-citizen] _9XXXX`, lab only:
  `Dial(PJSIP/<seat>,,tT)`, no controller); the agent sends `#` `1` (features.conf `blindxfer
  = #1`), waits {NATIVE_PROMPT_MS} ms as a person waits for the "transfer" prompt, then dials
  the 110 seat `2xxx` with its own seat's last three digits. `[from-seat]` has, in lab mode
  only, `exten => _2XXX,1,Dial(PJSIP/${{EXTEN}}@trunk-110,...)`; nothing longer matches, so
  Asterisk transfers on the fourth digit without waiting `transferdigittimeout`. Site 110's
  `[from-trunk] _X.` rings the seat from the dialplan (header copy included). What is timed is
  Asterisk's own work from the last dialled digit: digit collection ends, the blind transfer,
  the Dial over the trunk, the far site's dialplan and Dial. The 300 ms prompt wait is not
  timed.
- **Timing.** `tcpdump -i lo` captures every UDP packet to or from port 5060 of the 12345 and
  110 sites (kernel timestamps, µs) for each phase. Per call: t0 = first transmission of the
  agent's last INFO (the dialog found by the citizen's number in the From of the INVITE to the
  agent, the INFO by that Call-ID), t1 = first INVITE to the 110 UA whose From carries the
  citizen's number (both paths keep it). Loopback timestamps are taken as the packet is sent,
  which on `lo` is when it arrives. A call counts as a failure when any of these is missing.
  Percentiles are nearest rank, `sorted[int(q·n)]`, as in `bench/routing_bench.py`.
- **Both paths, one run.** For each level the controller path runs, the lab is waited on until
  no channel, call or busy seat is left, then the native path runs; the raw captures, SIPp
  screens and logs stay in a temp dir named in the run's output.
"""


# ---- main ---------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 and 5 calls at once")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="leave the bench lab running")
    parser.add_argument("--levels", help="e.g. 50:200,100:300 (concurrent:calls), for probing")
    parser.add_argument("--paths", default=",".join(PATHS), help="controller,native")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each path at the highest level (the ratio is of medians)")
    args = parser.parse_args()
    # a plain `kill` still stops the lab and the UAs (the finally blocks run)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    levels = QUICK_LEVELS if args.quick else FULL_LEVELS
    if args.levels:
        levels = {int(a): int(b) for a, b in (x.split(":") for x in args.levels.split(","))}
    paths = tuple(p for p in args.paths.split(",") if p in PATHS)
    workdir = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    # a smoke run's figures are not the ones of record: they stay with its raw data
    out = args.out or (workdir / "transfer-partial.md" if args.quick or args.levels
                       or paths != PATHS else ROOT / "bench" / "results" / "transfer.md")
    if not shutil.which("tcpdump"):
        raise SystemExit("tcpdump is needed")
    settings = load_settings()
    lab = Lab(settings, LAB_DIR, runtime=bench_runtime(LAB_DIR))
    view = LabView(settings, lab)
    say(f"work dir {workdir}")
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    code = code_version()   # what the controller started below runs
    agent_port = free_udp_port(AGENT_IP)
    target_port = free_udp_port(TARGET_IP)
    target: Proc | None = None
    phases: list[Phase] = []
    try:
        fresh_lab(lab, LAB_DIR)   # and always measure the controller of this checkout
        lab.up()
        target = start_sipp("target", SCENARIOS / "seat_answer.xml", workdir,
                            local_ip=TARGET_IP, port=target_port)
        register_seats(settings, workdir, "12345", AGENT_IP, agent_port)
        register_seats(settings, workdir, "110", TARGET_IP, target_port)
        if not view.wait_idle(30):
            raise RuntimeError(f"seats not all available: {view.seats_available()}")
        say(f"{view.seats_available()} seats available")
        book = lab.book.load()
        waited = wait_quiet(book["controller"].pid, say)
        say(f"controller and order consumer quiet after {waited:.0f} s")
        pids = {"controller": book["controller"].pid,
                "asterisk 12345": book["asterisk-12345"].pid,
                "asterisk 110": book["asterisk-110"].pid}
        pids["sipp targets"] = target.popen.pid
        index = 0
        top = max(levels)
        for level, calls in levels.items():
            for path in [p for _ in range(max(1, args.repeat) if level == top else 1)
                         for p in paths]:
                index += 1
                phase = run_phase(Phase(path, level, calls), index, settings, lab, view,
                                  workdir, agent_port, pids)
                s = summary(phase.latencies)
                say(f"{path} at {level}: {len(phase.latencies)}/{calls} measured, "
                    f"p50 {fmt(s.get('p50'))} p95 {fmt(s.get('p95'))} p99 {fmt(s.get('p99'))} "
                    f"ms; failures {phase.failures or 'none'}")
                phases.append(phase)
        facts = {**machine_facts(), "asterisk": asterisk_version(view), "code": code}
    finally:
        if target is not None:
            target.stop()
        if not args.keep:
            lab.down()
    text = report(phases, facts, args.quick or bool(args.levels) or paths != PATHS, started)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    (workdir / "phases.json").write_text(json.dumps(
        [p.__dict__ for p in phases], indent=1, default=str))
    print(text)
    say(f"wrote {out}; raw data in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

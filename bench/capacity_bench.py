"""Capacity benchmark (issue 8): how many concurrent bridged calls the controller
holds with no failure, against the same load through a bare dialplan, in one run.

Run from the repository root:

    /work/main/.venv/bin/python bench/capacity_bench.py            # 50 ... 1000 calls
    /work/main/.venv/bin/python bench/capacity_bench.py --quick    # a smoke run (20, 50)

It starts its own lab from bench/capacity_topology.toml (the transfer benchmark's
addresses 127.0.0.21-23, Redis 127.0.0.20, API 127.0.0.1:8081, 1000 seats a side;
lab dir /tmp/hotline-capacity), stops it at the end, and writes
bench/results/capacity.md and bench/results/capacity.png.

Each step N places N citizens' calls at N/RAMP_S calls/s (--ramp sets the seconds);
each citizen holds HOLD_S after the answer, so all N calls are up together for
HOLD_S - RAMP_S.
Controller path: citizens dial 12345, the controller rings a 12345 seat, and
30 % of the agents press *1 (SIP INFO): the controller hands the citizen to a
110 seat. Baseline: citizens dial 9<seat> (a plain Dial, no controller) and
the same 30 % of agents blind-transfer with #1 2xxx (Asterisk's features).
The SIPp scenarios, lab helpers and capture parser are bench/transfer_bench.py's
and bench/sipcap.py's, imported.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LAB_DIR = Path("/tmp/hotline-capacity")
CAPACITY_ENV = {
    "HOTLINE_TOPOLOGY": str(ROOT / "bench" / "capacity_topology.toml"),
    "HOTLINE_LAB_DIR": str(LAB_DIR),
}
# transfer_bench sets its own lab's environment as it is imported; ours replaces
# the topology and the lab dir (addresses, Redis and API port stay its own)
import bench.transfer_bench as tb

os.environ.update(CAPACITY_ENV)

from bench.cpu_cost import (
    CONSUMER,
    cost_table,
    cpu_snapshot,
    idle_rates,
    per_call_ms,
    settled,
)
from bench.extras import missing, refusal
from bench.op_counts import OpCounter, per_call, stats_redis_url, totals
from bench.sipcap import sip_packets, transfers
from telephony.lab.lab import Lab
from telephony.lab.sipp import SCENARIOS, _udp_free, free_udp_port
from telephony.settings import Settings, load_settings

PATHS = ("controller", "baseline")
FULL_STEPS = (50, 100, 200, 300, 400, 600, 800, 1000)
QUICK_STEPS = (20, 50)
RAMP_S = 10.0            # each step's calls are placed over this long: rate = N / RAMP_S
HOLD_S = 30.0            # each citizen hangs up this long after the answer
QUICK_HOLD_S = 18.0
TRANSFER_SHARE = 3       # of every 10 calls, this many are handed over
PROFILE_S = 25           # py-spy record length in the profiled extra phase
COST_LEVEL = 400         # the step whose CPU per call is the figure of record (40 calls/s)
DRAIN_MAX_S = 90         # at most this long after the lab is idle for the consumer to catch up
say = tb.say


# ---- scenarios: transfer_bench's, with the agent pressing keys on 3 calls of 10 --------
def agent_xml(path: str, bye_timeout_ms: int) -> str:
    """transfer_bench's agent, but a citizen whose number starts 139 is not handed
    over: the agent jumps from the ACK straight to waiting for the BYE."""
    xml = tb.agent_xml("controller" if path == "controller" else "native")
    edits = [
        ('<ereg regexp=".*" search_in="hdr" header="From:" assign_to="inv_from" />',
         ('<ereg regexp=".*" search_in="hdr" header="From:" assign_to="inv_from" />\n'
          '      <ereg regexp="sip:139" search_in="hdr" header="From:" check_it="false" '
          'assign_to="stay" />')),
        ('<recv request="ACK" crlf="true" />',
         '<recv request="ACK" crlf="true" next="9" test="stay" />'),
        ('  <recv request="BYE" timeout="60000" />',
         f'  <label id="9" />\n  <recv request="BYE" timeout="{bye_timeout_ms}" />'),
    ]
    for old, new in edits:
        if xml.count(old) != 1:
            raise RuntimeError(f"transfer_bench's agent scenario changed: {old!r}")
        xml = xml.replace(old, new)
    return xml


def numbers_for(index: int, n: int) -> list[tuple[str, bool]]:
    """(citizen number, handed over?): 138… are handed over, 139… stay."""
    out = []
    for i in range(n):
        xfer = i % 10 < TRANSFER_SHARE
        out.append((f"{138 if xfer else 139}{index:02d}{i:06d}", xfer))
    return out


# ---- /proc sampling -----------------------------------------------------------------
def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Sampler(threading.Thread):
    """CPU seconds of each process, the machine's busy jiffies and the controller's
    RSS, every 0.5 s."""

    def __init__(self, pids: dict[str, int], controller_pid: int | None):
        super().__init__(daemon=True)
        self.pids, self.controller_pid = pids, controller_pid
        self.samples: list[tuple[float, dict[str, float], tuple[float, float], float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((*cpu_snapshot(self.pids), tb.machine_busy(),
                                 rss_mb(self.controller_pid) if self.controller_pid else 0.0))
            self._halt.wait(0.5)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def window(self, t0: float, t1: float) -> dict[str, float]:
        """% of one core of each process between t0 and t1 (nearest samples)."""
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2:
            return {}
        (a, ca, ma, _), (b, cb, mb, _) = inside[0], inside[-1]
        out = {k: 100 * (cb[k] - ca.get(k, 0.0)) / (b - a) for k in cb}
        machine = 100 * (os.cpu_count() or 1) * (mb[0] - ma[0]) / max(1, mb[1] - ma[1])
        own = sum(v for k, v in out.items() if k != CONSUMER)   # the consumer is in "controller"
        out["not this bench"] = max(0.0, machine - own)
        out["whole machine"] = machine
        return out

    def cpu(self) -> list[tuple[float, dict[str, float]]]:
        return [(t, c) for t, c, *_ in list(self.samples)]

    def peak_rss(self) -> float:
        return max((s[3] for s in self.samples), default=0.0)


def sipp_stat(path: Path) -> dict[str, int]:
    """The last line of a SIPp -trace_stat file: cumulative counters (C)."""
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    head, last = lines[0].split(";"), lines[-1].split(";")
    out = {}
    for name, value in zip(head, last):
        if name.endswith("(C)") and value.strip().isdigit():
            out[name[:-3]] = int(value)
    return out


def stat_failures(stat: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in stat.items() if k.startswith("Failed") and k != "FailedCall" and v}


# ---- one step on one path ------------------------------------------------------------
@dataclass
class Step:
    path: str
    level: int
    hold_s: float
    ramp_s: float = RAMP_S   # the calls are placed over this long: rate = level / ramp_s
    rate: float = 0.0
    placed: int = 0
    answered: int = 0
    held_max: int = 0           # calls answered and not yet hung up, at most at once
    held_plateau: int = 0       # the same, median over the plateau
    cps: float = 0.0            # INVITEs per second, first to last
    failed: int = 0             # not answered, or a final error, or SIPp's failed calls
    dropped: int = 0            # hung up by the site before the citizen did
    transfers_expected: int = 0
    transfer_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    cpu_ramp: dict[str, float] = field(default_factory=dict)
    cpu_hold: dict[str, float] = field(default_factory=dict)
    rss_mb: float = 0.0
    sipp: dict[str, dict[str, int]] = field(default_factory=dict)
    wall_s: float = 0.0
    leftovers: int = 0
    profile: str = ""
    cpu_per_call: dict[str, float] = field(default_factory=dict)   # ms, whole step (cpu_cost)
    cpu_setup_per_call: dict[str, float] = field(default_factory=dict)   # ms, set-up window
    drain_s: float = 0.0        # from idle lab until the consumer had caught up
    ops_per_call: dict[str, float] = field(default_factory=dict)   # bench/op_counts.py

    @property
    def failures(self) -> int:
        return self.failed + self.dropped + sum(
            v for k, v in self.reasons.items() if k.startswith("transfer"))

    @property
    def ok(self) -> bool:
        return self.placed == self.level and self.failures == 0


def run_step(step: Step, index: int, settings: Settings, lab: Lab, view: tb.LabView,
             workdir: Path, ports: dict[str, int], pids: dict[str, int],
             profile_to: Path | None = None, idle: dict[str, float] | None = None) -> Step:
    n = step.level
    tag = f"{step.path}-{n}" + ("-profile" if profile_to else "")
    agents = settings.site("12345").seats
    calls = numbers_for(index, n)
    dialled = ["12345" if step.path == "controller" else f"9{agents[i % len(agents)]}"
               for i in range(n)]
    inf = workdir / f"citizens-{tag}.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{num};{d};\n"
                                            for (num, _), d in zip(calls, dialled)))
    bye_ms = int((step.hold_s + 60) * 1000)
    agent_sf = workdir / f"agent-{step.path}.xml"
    agent_sf.write_text(agent_xml(step.path, bye_ms))
    citizen_sf = workdir / f"citizen-{int(step.hold_s)}.xml"
    citizen_sf.write_text(tb.CITIZEN_XML.replace("HOLD", str(int(step.hold_s * 1000))))
    step.rate = n / step.ramp_s
    step.transfers_expected = sum(1 for _, x in calls if x)

    o_ip, f_ip = settings.site("12345").address, settings.site("110").address
    pcap = workdir / f"{tag}.pcap"
    capture = tb.start_capture(pcap, [o_ip, f_ip])
    procs: list[tb.Proc] = []
    stats = {name: workdir / f"{name}-{tag}.stat.csv" for name in ("citizens", "agents", "targets")}
    sampler: Sampler | None = None
    spy: subprocess.Popen | None = None
    spy_log = None
    try:
        uas = ["-l", "5000", "-trace_stat", "-fd", "1"]
        procs.append(tb.start_sipp(f"targets-{tag}", SCENARIOS / "seat_answer.xml", workdir,
                                   local_ip=tb.TARGET_IP, port=ports["target"],
                                   extra=[*uas, "-stf", str(stats["targets"])]))
        procs.append(tb.start_sipp(f"agents-{tag}", agent_sf, workdir, local_ip=tb.AGENT_IP,
                                   port=ports["agent"],
                                   extra=[*uas, "-stf", str(stats["agents"])]))
        time.sleep(0.5)
        run_pids = {**pids, "sipp agents": procs[1].popen.pid,
                    "sipp targets": procs[0].popen.pid, "tcpdump": capture.popen.pid}
        sampler = Sampler(run_pids, pids.get("controller"))
        sampler.start()
        counter = op_counter(settings, lab)
        ops_before = counter.snapshot()
        time.sleep(1.0)
        t0 = time.monotonic()
        citizens = tb.start_sipp(
            f"citizens-{tag}", citizen_sf, workdir, local_ip=tb.CITIZEN_IP,
            port=free_udp_port(tb.CITIZEN_IP), target=f"{o_ip}:5060",
            extra=["-inf", str(inf), "-m", str(n), "-l", str(n), "-r", f"{step.rate:g}",
                   "-rp", "1000", "-timeout", f"{int(step.ramp_s + step.hold_s + 90)}s",
                   "-timeout_error", "-trace_stat", "-fd", "1", "-stf", str(stats["citizens"])])
        procs.append(citizens)
        sampler.pids["sipp citizens"] = citizens.popen.pid
        say(f"{tag}: {n} calls at {step.rate:g}/s, each held {step.hold_s:g} s, "
            f"{step.transfers_expected} handed over")
        if profile_to is not None and pids.get("controller"):
            time.sleep(1.0)
            spy_log = open(workdir / f"py-spy-{tag}.log", "w")  # noqa: SIM115
            spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                 str(pids["controller"]), "--rate", "100", "--native", "--threads",
                 "--format", "raw",
                 "--duration", str(PROFILE_S), "--output", str(profile_to)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=spy_log)
        while citizens.running():
            time.sleep(0.2)
        t_end = time.monotonic()
        step.wall_s = t_end - t0
        time.sleep(0.6)
        # ramp: calls being set up and handed over; hold: all of them up, nothing else
        step.cpu_ramp = sampler.window(t0, t0 + step.ramp_s + 3)
        step.cpu_hold = sampler.window(t0 + step.ramp_s + 4, t0 + step.hold_s)
        if spy is not None:
            spy.wait(PROFILE_S + 30)
        if not view.wait_idle(60):
            step.leftovers = view.hang_up_everything()
            say(f"{tag}: not idle 60 s after the step; hung up {step.leftovers} channels")
            if not view.wait_idle(40):
                say(f"{tag}: still not idle; the next step starts anyway")
        # the step's calls cost CPU until the consumer has applied their events
        t_idle = time.monotonic()
        while (idle is not None and time.monotonic() - t_idle < DRAIN_MAX_S
               and not settled(sampler.cpu(), idle, "controller")):
            time.sleep(0.5)
        step.drain_s = time.monotonic() - t_idle
        step.ops_per_call = per_call(ops_before, counter.snapshot(), n)
        sampler.stop()
        step.rss_mb = sampler.peak_rss()
        if idle is not None and profile_to is None:
            cpu = sampler.cpu()
            first = next((s for s in cpu if s[0] >= t0 - 0.6), cpu[0])
            step.cpu_per_call = per_call_ms(first, cpu[-1], idle, n)
            setup_end = max((s for s in cpu if s[0] <= t0 + step.ramp_s + 3), key=lambda s: s[0])
            step.cpu_setup_per_call = per_call_ms(first, setup_end, idle, n)
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        if spy is not None and spy.poll() is None:
            spy.terminate()
            spy.wait(10)
        if spy_log is not None:
            spy_log.close()
        for proc in reversed(procs):
            proc.stop()
        tb.stop_capture(capture)
    step.sipp = {name: sipp_stat(path) for name, path in stats.items()}
    analyse(step, pcap, calls, settings)
    return step


def op_counter(settings: Settings, lab: Lab) -> OpCounter:
    return OpCounter(f"http://{settings.api_host}:{lab.controller_port()}/metrics",
                     stats_redis_url(settings.redis_url, lab),
                     lab.lab_dir / f"{lab.controller_name(1)}.log")


def ops_section(steps: list[Step], level: int) -> str:
    """Median per-call counts of the controller path at the cost level: where its CPU
    goes to other processes (ARI, Redis) or stays in it (events, log lines)."""
    runs = [s.ops_per_call for s in steps
            if s.path == "controller" and s.level == level and s.ops_per_call]
    if not runs:
        return ""

    def med(values: list[float]) -> float:
        values = sorted(values)
        return values[len(values) // 2]

    keys = sorted({k for r in runs for k in r})
    rows = [f"| {k} | {med([r.get(k, 0.0) for r in runs]):.2f} | "
            f"{min(r.get(k, 0.0) for r in runs):.2f}–{max(r.get(k, 0.0) for r in runs):.2f} |"
            for k in keys if med([r.get(k, 0.0) for r in runs]) >= 0.01]
    sums = [totals(r) for r in runs]
    counted_redis = any(k.startswith("redis ") for r in runs for k in r)
    head = [f"| **{k}** | **{med([t[k] for t in sums]):.2f}** | "
            f"{min(t[k] for t in sums):.2f}–{max(t[k] for t in sums):.2f} |" for k in sums[0]
            if counted_redis or k != "Redis commands"]
    unread = (" Redis is read as the lab Sentinels' user (the controller's may not run INFO);"
              " its counts include what runs on a timer (lease renewals and heartbeats: "
              "`evalsha`, `pexpire`, `time`, `z*`), over the whole step." if counted_redis else
              " Redis commands are not counted: the lab's Redis user may not run INFO "
              "(`-@dangerous`).")
    return (f"**Operations per call** on the controller path at {level} (`bench/op_counts.py`: "
            "the controller's /metrics, Redis INFO commandstats and its log, before and after "
            f"each step; median of {len(runs)}, whole step).{unread}\n\n"
            "| counted | per call | spread |\n|---|---|---|\n" + "\n".join(head + rows) + "\n")


def analyse(step: Step, pcap: Path, calls: list[tuple[str, bool]], settings: Settings) -> None:
    packets = sip_packets(pcap)
    o_ip, f_ip = settings.site("12345").address, settings.site("110").address
    net = tb.CITIZEN_IP.rsplit(".", 1)[0] + "."
    # the citizens' dialogs: INVITE, the answer, the first BYE and who sent it
    invite: dict[str, float] = {}
    answer: dict[str, float] = {}
    final_error: dict[str, int] = {}
    bye: dict[str, tuple[float, bool]] = {}    # call-id -> (time, sent by the site)
    number: dict[str, str] = {}
    for p in sorted(packets, key=lambda p: p.time):
        cid = p.call_id
        if p.is_request and p.method == "INVITE" and p.src[0].startswith(net):
            number.setdefault(cid, p.from_user)
            invite.setdefault(cid, p.time)
        elif cid not in invite:
            continue
        elif not p.is_request and p.method == "INVITE" and p.dst[0].startswith(net):
            status = p.status or 0
            if status == 200:
                answer.setdefault(cid, p.time)
            elif status >= 300:
                final_error.setdefault(cid, status)
        elif p.is_request and p.method == "BYE" and cid not in bye:
            bye[cid] = (p.time, p.dst[0].startswith(net))
    step.placed = len(invite)
    times = sorted(invite.values())
    step.cps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    reasons = step.reasons
    wanted = {num for num, _ in calls}
    seen = set(number.values())
    if len(wanted - seen):
        reasons["citizen INVITE not captured"] = len(wanted - seen)
    for cid, t in invite.items():
        if cid in answer:
            step.answered += 1
            step.answer_ms.append((answer[cid] - t) * 1000)
        else:
            step.failed += 1
            key = f"final {final_error[cid]}" if cid in final_error else "never answered"
            reasons[key] = reasons.get(key, 0) + 1
        if cid in bye and bye[cid][1]:
            step.dropped += 1
            reasons["hung up by the site"] = reasons.get("hung up by the site", 0) + 1
        elif cid in answer and cid not in bye:
            reasons["no BYE seen"] = reasons.get("no BYE seen", 0) + 1
            step.failed += 1
    # calls held: answered and not yet hung up (a sweep over the capture)
    edges = sorted([(answer[c], 1) for c in answer]
                   + [(bye[c][0], -1) for c in answer if c in bye])
    held, best, series = 0, 0, []
    for when, delta in edges:
        held += delta
        best = max(best, held)
        series.append((when, held))
    step.held_max = best
    if times:
        lo, hi = times[0] + step.ramp_s + 2, times[0] + step.hold_s - 1
        inside = sorted(h for w, h in series if lo <= w <= hi)
        step.held_plateau = inside[len(inside) // 2] if inside else best
    # SIPp's own verdict (a UA that got a message it did not expect fails the call)
    for name, stat in step.sipp.items():
        failed = stat.get("FailedCall", 0)
        if failed:
            reasons[f"SIPp {name}: failed"] = failed
            if name == "citizens":
                step.failed = max(step.failed, failed)
            else:
                step.failed += failed
    # hand-overs: the agent's keys and the 110 seat's INVITE, by citizen number
    found = transfers(packets, citizen_net=net, origin=o_ip, far=f_ip,
                      agent_ip=tb.AGENT_IP, target_ip=tb.TARGET_IP)
    keys = "*1" if step.path == "controller" else "#12"
    for num, xfer in calls:
        c = found.get(num)
        if not xfer or c is None or c.start is None:
            continue
        why = tb.failure(c, keys)
        if why:
            reasons[f"transfer: {why}"] = reasons.get(f"transfer: {why}", 0) + 1
        elif c.latency_ms is not None:
            step.transfer_ms.append(c.latency_ms)
    stray = sum(1 for num, xfer in calls if not xfer and (c := found.get(num))
                and (c.digits or c.target_invite))
    if stray:
        reasons["transfer: keys or a 110 INVITE on a call not handed over"] = stray


# ---- profile ----------------------------------------------------------------------------
IDLE_FRAMES = ("PyThread_acquire_lock_timed", "epoll_pwait", "epoll_wait", "select.select",
               "select.epoll.poll", "_queue_SimpleQueue_get")


def read_profile(path: Path, top: int = 14) -> dict:
    """py-spy --threads --format raw: `thread (tid): NAME;frame;…;leaf COUNT` per line,
    outermost first. With --native py-spy cannot tell a thread blocked on a lock or in
    epoll from a busy one, so those stacks are counted apart as idle."""
    stacks: list[tuple[str, list[str], int]] = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not (stack and count.isdigit()):
            continue
        frames = stack.split(";")
        thread = "?"
        if frames and frames[0].startswith("thread ("):
            thread = frames.pop(0).split(": ", 1)[-1]
        frames = [f for f in frames if not f.startswith("process ")]
        stacks.append((thread, frames, int(count)))
    all_samples = sum(c for _, _, c in stacks)
    idle_by_thread: dict[str, int] = {}
    busy: list[tuple[str, list[str], int]] = []
    for thread, frames, count in stacks:
        if any(f.split(" (", 1)[0] in IDLE_FRAMES for f in frames[-4:]):
            idle_by_thread[thread] = idle_by_thread.get(thread, 0) + count
        else:
            busy.append((thread, frames, count))
    total = sum(c for _, _, c in busy)
    if not total:
        return {"total": 0}

    def short(frame: str) -> str:
        # "function (path/to/file.py:123)" -> "path/file.py:function"; C frames keep the
        # library: "epoll_pwait (libc.so.6)" -> "libc.so.6:epoll_pwait"
        name, _, where = frame.partition(" (")
        where = where.rstrip(")")
        file = where.rsplit(":", 1)[0] if ".py:" in where or ".c:" in where \
            or ".h:" in where else where
        for marker in ("/site-packages/", str(ROOT) + "/", "/lib/python3.11/"):
            if marker in file:
                file = file.split(marker, 1)[1]
                break
        return f"{file}:{name}"

    def is_py(name: str) -> bool:
        return ".py:" in name

    ours_prefix = ("telephony/", "services/")
    entry = ("telephony/cli.py", "telephony/lab/commands.py")
    leaf: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    own_leaf: dict[str, int] = {}    # innermost frame of our own code
    task: dict[str, int] = {}        # outermost frame of our own code: the task or handler
    threads: dict[str, int] = {}
    libs: dict[str, int] = {}        # package of the innermost Python frame
    for thread, frames, count in busy:
        names = [short(f) for f in frames]
        threads[thread] = threads.get(thread, 0) + count
        leaf[names[-1]] = leaf.get(names[-1], 0) + count
        for name in set(names):
            inclusive[name] = inclusive.get(name, 0) + count
        ours = [n for n in names if n.startswith(ours_prefix) and not n.startswith(entry)]
        if ours:
            own_key, task_key = ours[-1], ours[0]
        else:
            own_key = task_key = (f"({thread}: no frame of ours; "
                                  + (next((n for n in reversed(names) if is_py(n)), names[-1]))
                                  + ")")
        own_leaf[own_key] = own_leaf.get(own_key, 0) + count
        task[task_key] = task.get(task_key, 0) + count
        py = [n for n in names if is_py(n) and not n.startswith(entry)
              and not n.startswith("asyncio/runners.py")]
        lib = py[-1].split("/", 1)[0].split(".py:", 1)[0] if py else \
            "(no Python frame: uvloop/libuv and C only)"
        if py and lib in ("telephony", "services"):
            lib = "/".join(py[-1].split("/")[:2]).split(":", 1)[0]
        libs[lib] = libs.get(lib, 0) + count

    def ranked(d: dict[str, int], n: int = top) -> list[tuple[str, float]]:
        return [(k, 100 * v / total) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:n]]

    ours_incl = {k: v for k, v in inclusive.items()
                 if k.startswith(ours_prefix) and not k.startswith(entry)}
    return {"total": total, "all_samples": all_samples,
            "idle": sorted(idle_by_thread.items(), key=lambda kv: -kv[1]),
            "threads_abs": sorted(threads.items(), key=lambda kv: -kv[1]),
            "leaf": ranked(leaf), "own": ranked(own_leaf), "task": ranked(task),
            "ours_inclusive": ranked(ours_incl, 20), "threads": ranked(threads),
            "libraries": ranked(libs)}


def profile_md(prof: dict, args: str, seconds: int = PROFILE_S) -> str:
    if not prof.get("total"):
        return "No profile was taken in this run."

    def lines(key: str) -> str:
        return "\n".join(f"| `{name}` | {share:.1f} |" for name, share in prof[key])
    ticks = seconds * 100
    busy_threads = ", ".join(f"{name} {n} ({100 * n / ticks:.0f} % of the wall ticks)"
                             for name, n in prof["threads_abs"])
    idle = ", ".join(f"{name} {n}" for name, n in prof["idle"]) or "none"
    return f"""py-spy {args}, {seconds} s at 100 Hz (about {ticks} ticks per thread):
{prof['all_samples']} samples, of which {prof['total']} busy. Busy samples by thread:
{busy_threads}. Left out as idle (a thread blocked on a lock or a queue, or the loop in
`epoll_pwait`; `--native` stops py-spy telling these apart itself): {idle}. Shares below are
% of the busy samples.

What the busy time was spent on, by the package of the innermost Python frame:

| package | % of busy samples |
|---|---|
{lines('libraries')}

By the outermost frame of our own code (the task or handler the work belongs to):

| function | % of busy samples |
|---|---|
{lines('task')}

By the innermost frame of our own code:

| function | % of busy samples |
|---|---|
{lines('own')}

Inclusive (anywhere on the stack), our own code:

| function | % of busy samples |
|---|---|
{lines('ours_inclusive')}

Leaf frame:

| function | % of busy samples |
|---|---|
{lines('leaf')}"""


# ---- report ------------------------------------------------------------------------------
PROCESS_ORDER = ("controller", "asterisk 12345", "asterisk 110", "asterisk remote", "redis",
                 "sipp citizens", "sipp agents", "sipp targets")


def cost_section(steps: list[Step], facts: dict, meta: dict) -> str:
    """## CPU per new call at the cost level, and the hand-over p99 the issue compares."""
    ramp = meta.get("ramp_s", RAMP_S)
    level = meta.get("cost_level", COST_LEVEL)
    at = [s for s in steps if s.level == level and s.cpu_per_call]
    if not at:
        return f"## CPU per new call\n\nNo step at {level} calls measured it.\n"
    runs = {path: [s.cpu_per_call for s in at if s.path == path] for path in PATHS}
    table, _ = cost_table(runs, PROCESS_ORDER, PATHS)
    setup_runs = {path: [s.cpu_setup_per_call for s in at if s.path == path] for path in PATHS}
    setup_table, _ = cost_table(setup_runs, PROCESS_ORDER, PATHS)
    reps = {path: len(r) for path, r in runs.items()}
    p99 = {path: [tb.summary(s.transfer_ms).get("p99") for s in at if s.path == path]
           for path in PATHS}
    base_p99 = sorted(v for v in p99["baseline"] if v is not None)
    ctl = capacity_of(steps, "controller")
    top = [tb.summary(s.transfer_ms).get("p99") for s in steps
           if s.path == "controller" and s.level == ctl]
    handover = (f"Hand-over p99 of the controller path at its capacity ({ctl}, the highest "
                f"of its runs): {f1(max((v for v in top if v is not None), default=None))} ms; "
                f"the bare dialplan's at {level}: "
                f"{f1(base_p99[len(base_p99) // 2] if base_p99 else None)}"
                " ms (median of its runs).")
    idle = facts.get("idle") or {}
    return f"""## CPU per new call

At {level} calls ({level / ramp:g} calls/s, 30 % handed over), each process's CPU over the
calls placed, less what it spends idle (`bench/cpu_cost.py`). Median of
{reps['controller']} controller and {reps['baseline']} baseline runs, lowest–highest in
brackets. Idle CPU taken off, % of a core: {", ".join(f"{k} {v}" for k, v in idle.items())}.

**Set-up** (issue 17's measure): the first {ramp:g}+3 s of the step, while the calls are
placed, answered and handed over.

{setup_table}
**Whole call**: from the step's first INVITE until the lab was idle again and the order
consumer had caught up: set-up, {meta.get('hold_s', HOLD_S):g} s of holding (Asterisk sends
RTP silence on every leg), the hang-ups, and the order and call-log events applied.

{table}
{handover}

{ops_section(steps, level)}"""


def capacity_of(steps: list[Step], path: str) -> int:
    best = 0
    for s in sorted((s for s in steps if s.path == path and not s.profile),
                    key=lambda s: s.level):
        if not s.ok:
            break
        best = s.level
    return best


def f1(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


def plot(steps: list[Step], out: Path) -> None:
    ramp = steps[0].ramp_s if steps else RAMP_S
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {"controller": ("tab:red", "o"), "baseline": ("tab:blue", "s")}
    for path in PATHS:
        mine = sorted((s for s in steps if s.path == path and not s.profile),
                      key=lambda s: s.level)
        color, marker = styles[path]
        pts = [(s.held_max, tb.summary(s.transfer_ms)) for s in mine if s.transfer_ms]
        if pts:
            ax1.plot([x for x, _ in pts], [m["p50"] for _, m in pts], marker=marker,
                     color=color, label=f"{path} p50")
            ax1.plot([x for x, _ in pts], [m["p99"] for _, m in pts], marker=marker,
                     color=color, linestyle="--", label=f"{path} p99")
        for s in mine:
            if not s.ok:
                ax1.annotate(f"{s.failures} failed", (s.held_max, 1), color=color,
                             fontsize=8, rotation=90, va="bottom")
        x = [s.held_max for s in mine]
        ax2.plot(x, [s.cpu_ramp.get("asterisk 12345", 0) for s in mine], marker=marker,
                 color=color, label=f"{path}: Asterisk 12345")
        ax2.plot(x, [s.cpu_ramp.get("asterisk 110", 0) for s in mine], marker=marker,
                 color=color, linestyle=":", label=f"{path}: Asterisk 110")
        ax2.plot(x, [s.cpu_ramp.get("whole machine", 0) for s in mine], marker=marker,
                 color=color, linestyle="-.", alpha=.5, label=f"{path}: whole machine")
        if path == "controller":
            ax2.plot(x, [s.cpu_ramp.get("controller", 0) for s in mine], marker="^",
                     color="black", label="controller process")
            ax2.plot(x, [s.cpu_hold.get("controller", 0) for s in mine], marker="v",
                     color="grey", linestyle="--", label="controller process, holding only")
    ax1.set_yscale("log")
    ax1.set_xlabel(f"concurrent calls held (max per step; placed at N/{ramp:g} calls/s)")
    ax1.set_ylabel("transfer latency, ms (last key → INVITE at the 110 seat)")
    ax1.set_title("Hand-over latency")
    ax1.grid(True, which="both", alpha=.3)
    ax1.legend(fontsize=8)
    ax2.axhline(100 * (os.cpu_count() or 1), color="grey", linewidth=.8)
    ax2.set_xlabel(f"concurrent calls held (max per step; placed at N/{ramp:g} calls/s)")
    ax2.set_ylabel("CPU, % of one core (set-up phase)")
    ax2.set_title(f"CPU while calls are placed ({os.cpu_count()} cores = "
                  f"{100 * (os.cpu_count() or 1)} %)")
    ax2.grid(True, alpha=.3)
    ax2.legend(fontsize=7)
    fig.suptitle("hotline-link capacity: controller (*1 hand-over) vs bare dialplan (Dial, #1)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def report(steps: list[Step], facts: dict[str, str], meta: dict) -> str:
    ramp = meta.get("ramp_s", RAMP_S)
    ctl, base = capacity_of(steps, "controller"), capacity_of(steps, "baseline")
    table_steps = [s for s in steps if not s.profile]
    rows = []
    for s in sorted(table_steps, key=lambda s: (s.level, PATHS.index(s.path))):
        x, a = tb.summary(s.transfer_ms), tb.summary(s.answer_ms)
        r, h = s.cpu_ramp, s.cpu_hold
        rows.append(
            f"| {s.level} | {s.path} | {s.placed}/{s.level} | {s.answered} | {s.held_max} "
            f"({s.held_plateau}) | {s.rate:g} / {s.cps:.1f} | {s.failed} | {s.dropped} | "
            f"{len(s.transfer_ms)}/{s.transfers_expected} | {f1(x.get('p50'))} / "
            f"{f1(x.get('p99'))} | {f1(a.get('p50'))} / {f1(a.get('p99'))} | "
            + (f"{r.get('controller', 0):.0f} / {h.get('controller', 0):.0f} | {s.rss_mb:.0f}"
               if s.path == "controller" else "– | –")
            + f" | {r.get('asterisk 12345', 0):.0f} / {h.get('asterisk 12345', 0):.0f} | "
            f"{r.get('asterisk 110', 0):.0f} / {h.get('asterisk 110', 0):.0f} | "
            f"{r.get('whole machine', 0):.0f} / {h.get('whole machine', 0):.0f} | "
            f"{r.get('not this bench', 0):.0f} | {'**yes**' if s.ok else '**no**'} |")
    fails = []
    for s in table_steps:
        if s.reasons or s.leftovers:
            fails.append(f"- {s.path} at {s.level}: " + ", ".join(
                f"{k}: {v}" for k, v in s.reasons.items())
                + (f"; {s.leftovers} channels left after the step, hung up" if s.leftovers
                   else ""))
    ratio = f"{ctl / base:.0%}" if base else "–"
    top = max((s.level for s in table_steps), default=0)
    bounded = ""
    if base == top and ctl == top and base:
        bounded = (f" Both paths passed every step run, up to {top}: neither capacity was "
                   f"reached, each is at least {top}, and the ratio is not determined beyond "
                   "this: the controller kept all of the bare dialplan's load that was tried.")
    elif base == top and base:
        bounded = (" The baseline passed every step it ran, so its capacity is at least "
                   f"{base} and the ratio is an upper bound of what the controller keeps.")
    elif ctl == top and ctl:
        bounded = (f" The controller passed every step it ran (at least {ctl}), so the ratio is "
                   "a lower bound.")
    ctl_ok = ctl >= 300
    verdict = (f"controller capacity {ctl} concurrent calls (target ≥ 300: "
               f"{'yes' if ctl_ok else '**no**'}); bare dialplan {base}; ratio {ratio} "
               f"(target ≥ 80 %: "
               + ("yes" if base and ctl / base >= 0.8 else "**no**") + ")." + bounded)
    prof_md = profile_md(meta.get("profile") or {}, meta.get("profile_args", ""))
    cost_md = cost_section(table_steps, facts, meta)
    smoke = ("**A smoke or partial run, not the figures of record.**\n\n"
             if meta.get("partial") else "")
    return f"""# Capacity benchmark (issue 8)

{smoke}Run `/work/main/.venv/bin/python bench/capacity_bench.py` from the repository root
(`--quick` for a smoke run; `--steps 50,100` to choose steps). Figures below: {meta['started']},
{facts['cpu']}, Linux {facts['kernel']}, Python {facts['python']}, Asterisk
{facts['asterisk']} (sid root, chroot), {facts['sipp']}. Code: {facts['code']}.
Wall time of the run: {meta['wall_min']:.1f} min.

![calls vs transfer latency and CPU](capacity.png)

## Result

{verdict}

{cost_md}

Capacity = the highest step at which every call was placed, answered, held and hung up by the
citizen, and every hand-over reached the 110 seat (0 failed, 0 dropped), all lower steps
passing too.

| step N | path | placed | answered | held max (plateau) | calls/s set / seen | failed | dropped | hand-overs measured/expected | hand-over p50 / p99 ms | answer p50 / p99 ms | controller CPU % ramp / hold | controller RSS MB | Asterisk 12345 CPU % ramp / hold | Asterisk 110 CPU % ramp / hold | machine CPU % ramp / hold | not this bench % (ramp) | 0 failures |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

CPU is % of one core ({facts['cores']} cores: the machine is out of {facts['cores']}00);
"ramp" is the first {ramp:g}+3 s of the step, while calls are placed and handed over; "hold"
is from {ramp:g}+4 s to {meta['hold_s']:g} s, when all calls are up and nothing else
happens. "Not this bench" is what other processes on the shared machine used.

Failures and their reasons:

{chr(10).join(fails) or '- none'}

## Method

- **Lab.** Its own lab from `bench/capacity_topology.toml`: the transfer benchmark's
  addresses (sites 12345, 110, remote on 127.0.0.21–23, Redis 127.0.0.20, controller API
  127.0.0.1:8081) with 1000 seats a side and 10000 RTP ports a site, lab dir
  `/tmp/hotline-capacity`, started and stopped through `telephony.lab.lab.Lab` with the
  transfer benchmark's private-`/etc/hosts` runtime (see `bench/results/transfer.md`). The
  controller runs as `hotline controller` does in the lab (warm transfer, INFO logging).
- **UAs** (all from `bench/transfer_bench.py`): the 1000 seats of 12345 register one contact,
  one SIPp UAS on {tb.AGENT_IP} (the agents); the 1000 seats of 110 another, one SIPp UAS on
  {tb.TARGET_IP} (`lab/sipp/seat_answer.xml`); citizens are one SIPp UAC on {tb.CITIZEN_IP},
  each call its own number. SIPp sends no RTP; Asterisk sends RTP to it (the lab's
  `transmit_silence`), the same on both paths.
- **Load.** Steps of N = {', '.join(str(n) for n in meta['steps'])} concurrent calls. At each
  step the citizens' SIPp places N calls at N/{ramp:g} calls/s (`-r`, at most N up, `-l N`);
  each citizen hangs up {meta['hold_s']:g} s after the answer, so all N calls are up together
  for about {meta['hold_s'] - ramp:g} s. Calls 0–2 of every 10 (citizen numbers `138…`) are
  handed over, the others (`139…`) stay with the agent until the citizen hangs up. A path
  stops at its first failing step; both paths run at each step, controller first, with the
  lab waited on until no channel, call or busy seat is left in between.
- **Controller path.** Citizens dial 12345; the controller rings the longest-idle 12345 seat;
  for a hand-over, the agent (1–2.5 s after answering) sends `*` then `1` as SIP INFO
  (`application/dtmf-relay`, 250 ms apart); the controller originates to 110 over the trunk
  and site 110's controller rings a 110 seat; the agent is released when it answers.
- **Baseline ("bare Asterisk").** Citizens dial `9<seat>` (`[from-citizen] _9XXXX`, lab only:
  `Dial(PJSIP/<seat>,,tT)`), one seat per call; for a hand-over the agent sends `#` `1`
  (features.conf blind transfer), waits 300 ms, dials `2xxx` (the 110 seat with its own last
  three digits; `[from-seat] _2XXX` dials it over the trunk). No controller is involved, though
  it stays running (its CPU in this phase is in the raw data).
- **Measured, from one tcpdump capture per step** of the SIP of sites 12345 and 110 (port
  5060, `bench/sipcap.py`): placed = citizens' INVITEs; answered = a 200 to it; failed = no
  200, a final error, no BYE, or a call SIPp's citizens, agents or 110 seats counted as failed
  (`-trace_stat`); dropped = the site sent the citizen a BYE (the citizen always hangs up
  first when all is well); held = calls answered and not yet hung up (maximum, and median over
  the plateau); calls/s seen = INVITEs over the time from the first to the last; hand-over
  latency = the agent's last key (INFO) arriving at 12345 → the INVITE arriving at the 110
  seat's UA (`sipcap.transfers`, as in the transfer benchmark); answer latency = citizen's
  INVITE → its 200 (on the controller path the controller answers the citizen before ringing
  the seat; on the baseline the seat's answer comes back). Percentiles nearest rank,
  `sorted[int(q·n)]`.
- **CPU and memory** from `/proc/<pid>/stat` (utime+stime) and `/proc/stat`, sampled every
  0.5 s; the controller's CPU includes its order consumer's (`hotline orders consume`, its
  child process: live children's utime+stime, ended ones' cutime+cstime); controller RSS is the peak `VmRSS` of `/proc/<pid>/status` over the step.
  The bench lab renders no knowledge-base audio (`HOTLINE_KB_SOUND_DIR` empty): the seed's
  answers rendered in the background (espeak-ng and sox, the controller's children) were
  counted with it through cutime, 7-10 % of a core, in runs before 2026-12-02.
- **Profile.** After the steps, one extra controller-path step at N = {meta.get('profile_level', '–')}
  (not in the table) with `py-spy record --rate 100 --native --threads --format raw` attached
  to the controller for {PROFILE_S} s from 1 s after the first call (`--native` shows uvloop's
  and other C extensions' frames; py-spy pauses the process for each sample, so the profiled
  step is not one of the measured ones).
- Raw data (captures, SIPp stats and screens, the profile, steps.json) stay in the run's temp
  dir: `{meta['workdir']}`.

## Profile of the controller under load

{prof_md}
"""


# ---- main ---------------------------------------------------------------------------------
def preflight(profiling: bool) -> None:
    refused = refusal(missing(Path(sys.executable).parent, profiling=profiling))
    if refused:
        raise SystemExit(refused)
    busy = subprocess.run(["pgrep", "-f", "bench/transfer_bench.py"], check=False,
                          capture_output=True, text=True).stdout.split()
    if busy:
        raise SystemExit(f"transfer_bench is running (pids {' '.join(busy)}): two load tests "
                         "on 2 cores skew both; wait for it")
    for ip in ("127.0.0.21", "127.0.0.22", "127.0.0.23"):
        if not _udp_free(ip, 5060):
            raise SystemExit(f"{ip}:5060 is in use: another bench lab is up")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: steps 20 and 50")
    parser.add_argument("--steps", help="e.g. 50,100,200")
    parser.add_argument("--hold", type=float, help="seconds each citizen holds")
    parser.add_argument("--ramp", type=float, default=RAMP_S,
                        help="seconds over which a step's N calls are placed (default 10: "
                             "N/10 calls a second); with a longer one, a high step tests how "
                             "many calls are held at once rather than how fast they come")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--profile-level", type=int, default=None,
                        help="N of the extra profiled controller step (default: 300, or the "
                             "highest step run; 0 = none)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each path at the cost level (median, lowest, highest)")
    parser.add_argument("--cost-level", type=int, default=COST_LEVEL,
                        help="the step whose CPU per call is reported (default 400)")
    parser.add_argument("--until", help="HH:MM UTC: start no step that may end after it")
    parser.add_argument("--out", type=Path, default=None, help="results dir")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    steps_n = tuple(int(x) for x in args.steps.split(",")) if args.steps else (
        QUICK_STEPS if args.quick else FULL_STEPS)
    hold = args.hold or (QUICK_HOLD_S if args.quick else HOLD_S)
    ramp = args.ramp
    if ramp <= 0 or hold < ramp + 6:
        raise SystemExit(f"--ramp must be positive, and --hold at least --ramp + 6 s "
                         f"({ramp + 6:g})")
    paths = tuple(p for p in args.paths.split(",") if p in PATHS)
    partial = (args.quick or bool(args.steps) or paths != PATHS or args.hold is not None
               or ramp != RAMP_S)
    workdir = Path(tempfile.mkdtemp(prefix="hotline-capacity-"))
    out_dir = args.out or (workdir if partial else ROOT / "bench" / "results")
    deadline = None
    if args.until:
        hh, mm = (int(x) for x in args.until.split(":"))
        now = time.gmtime()
        deadline = time.time() + ((hh * 60 + mm) - (now.tm_hour * 60 + now.tm_min)) * 60 \
            - now.tm_sec
    preflight(profiling="controller" in paths and args.profile_level != 0)
    settings = load_settings()
    for site, want in (("12345", max(steps_n)), ("110", max(steps_n))):
        if len(settings.site(site).seats) < want:
            raise SystemExit(f"site {site} has {len(settings.site(site).seats)} seats, "
                             f"fewer than {want}")
    lab = Lab(settings, LAB_DIR, runtime=tb.bench_runtime(LAB_DIR))
    view = tb.LabView(settings, lab)
    say(f"work dir {workdir}")
    started = time.strftime("%Y-%m-%d %H:%M %Z", time.gmtime())
    t_run = time.monotonic()
    code = tb.code_version()
    ports = {"agent": free_udp_port(tb.AGENT_IP), "target": free_udp_port(tb.TARGET_IP)}
    steps: list[Step] = []
    facts: dict[str, str] = {}
    profile: dict = {}
    profile_level = 0
    step_cost = ramp + hold + 25    # a step's wall time with its wait for idle, roughly
    try:
        tb.fresh_lab(lab, LAB_DIR)   # and always measure the controller of this checkout
        lab.up()
        tb.register_seats(settings, workdir, "12345", tb.AGENT_IP, ports["agent"])
        tb.register_seats(settings, workdir, "110", tb.TARGET_IP, ports["target"])
        if not view.wait_idle(60):
            raise RuntimeError(f"seats not all available: {view.seats_available()}")
        say(f"{view.seats_available()} seats available")
        book = lab.book.load()
        pids = {"controller": book["controller"].pid,
                "asterisk 12345": book["asterisk-12345"].pid,
                "asterisk 110": book["asterisk-110"].pid,
                "asterisk remote": book["asterisk-remote"].pid,
                "redis": book["redis"].pid if "redis" in book else 0}
        pids = {k: v for k, v in pids.items() if v}
        # what each process spends with no call: taken off each step's CPU per call
        idle = idle_rates(lambda: cpu_snapshot(pids), time.sleep, settle=CONSUMER, say=say)
        say("idle CPU, % of a core: " + ", ".join(f"{k} {100 * v:.1f}"
                                                   for k, v in idle.items()))
        facts_idle = {k: round(100 * v, 2) for k, v in idle.items()}
        stopped: set[str] = set()
        index = 0
        runs = [(n, path) for n in steps_n
                for _ in range(max(1, args.repeat) if n == args.cost_level else 1)
                for path in paths]
        for n, path in runs:
            if path in stopped:
                continue
            if deadline and time.time() + step_cost > deadline:
                say(f"skipping {path} at {n}: it may not end before {args.until} UTC")
                stopped.add(path)
                continue
            index += 1
            step = run_step(Step(path, n, hold, ramp), index, settings, lab, view, workdir,
                            ports, pids, idle=idle)
            steps.append(step)
            x = tb.summary(step.transfer_ms)
            say(f"{path} at {n}: held {step.held_max}, failed {step.failed}, dropped "
                f"{step.dropped}, hand-overs {len(step.transfer_ms)}/"
                f"{step.transfers_expected} p50 {f1(x.get('p50'))} p99 "
                f"{f1(x.get('p99'))} ms; controller CPU "
                f"{step.cpu_ramp.get('controller', 0):.0f} %; CPU per call, ms: "
                + ", ".join(f"{k} {v:.2f}" for k, v in step.cpu_per_call.items())
                + "; set-up only: "
                + ", ".join(f"{k} {v:.2f}" for k, v in step.cpu_setup_per_call.items())
                + f" (drained in {step.drain_s:.0f} s); {step.reasons or 'no failures'}")
            if not step.ok:
                stopped.add(path)
        if "controller" in paths:
            ran = [s.level for s in steps if s.path == "controller"]
            profile_level = args.profile_level if args.profile_level is not None else (
                300 if 300 in ran else max(ran, default=0))
            if profile_level and deadline and time.time() + step_cost > deadline:
                say("no profile step: it may not end before the deadline")
                profile_level = 0
            if profile_level:
                index += 1
                raw = workdir / f"py-spy-controller-{profile_level}.txt"
                step = run_step(Step("controller", profile_level, hold, ramp), index, settings,
                                lab, view, workdir, ports, pids, profile_to=raw)
                step.profile = str(raw)
                steps.append(step)
                if raw.exists():
                    profile = read_profile(raw)
        facts = {**tb.machine_facts(), "asterisk": tb.asterisk_version(view), "code": code,
                 "idle": facts_idle}
    finally:
        lab.down()
    meta = {"started": started, "steps": steps_n, "hold_s": hold, "ramp_s": ramp,
            "workdir": str(workdir),
            "partial": partial, "profile": profile, "profile_level": profile_level,
            "cost_level": args.cost_level, "repeat": args.repeat,
            "profile_args": "record --rate 100 --native --threads --format raw",
            "wall_min": (time.monotonic() - t_run) / 60}
    (workdir / "steps.json").write_text(json.dumps(
        [s.__dict__ for s in steps], indent=1, default=str))
    (workdir / "profile.json").write_text(json.dumps(profile, indent=1))
    (workdir / "run.json").write_text(json.dumps({"meta": meta, "facts": facts}, indent=1,
                                                 default=str))
    out_dir.mkdir(parents=True, exist_ok=True)
    plot(steps, out_dir / "capacity.png")
    text = report(steps, facts, meta)
    (out_dir / "capacity.md").write_text(text, encoding="utf-8")
    print(text)
    say(f"wrote {out_dir}/capacity.md and capacity.png; raw data in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Music on hold: Asterisk's CPU per waiting caller, Debian's GSM files against G.711 copies.

Run from the repository root:

    .venv/bin/python bench/moh_bench.py [--callers 100] [--rounds 3] [--out FILE]

Every citizen waiting for a seat hears music on hold. Debian ships the music as GSM, so
each waiting caller costs Asterisk a GSM decoder; `hotline lab up` writes a mu-law and an
A-law copy beside each file (telephony/prompts.py: moh_in_g711), which Asterisk prefers for
a G.711 call. This bench measures what that saves per caller and second of waiting.

It starts the capacity benchmark's lab (bench/capacity_topology.toml) with no seat on
duty, so every call to 12345 waits in the line with the music on. Each round places
`--callers` citizens' calls (PCMU, as a city gateway's G.711) at 25 calls/s, each held
HOLD_S; once all are in, Asterisk 12345's CPU (utime+stime from /proc) is read over
WINDOW_S; then the lab is left to go idle. The two cases alternate within one lab, round
by round (GSM only: the copies moved out of the music directory; G.711: moved back), so
the machine's drift falls on both alike. Asterisk opens a music file when a caller's
music starts, so moving the files changes the format of every new caller's stream.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench.capacity_bench as cb  # noqa: E402 - sets the capacity lab's environment
from bench.capacity_bench import tb  # noqa: E402
from bench.cpu_cost import cpu_seconds  # noqa: E402
from telephony.lab.lab import Lab  # noqa: E402
from telephony.lab.sipp import free_udp_port  # noqa: E402
from telephony.prompts import MOH_DIR, moh_in_g711  # noqa: E402
from telephony.settings import load_settings  # noqa: E402

RATE = 25.0        # calls/s
HOLD_S = 30.0      # each citizen hangs up this long after the answer
SETTLE_S = 2.0     # after the last call is placed, before the window opens
WINDOW_S = 20.0    # Asterisk 12345's CPU is read over this long, every caller waiting
CASES = ("gsm", "g711")


def say(message: str) -> None:
    print(f"[moh] {message}", file=sys.stderr, flush=True)


def use_case(case: str, moh: Path, aside: Path) -> None:
    """Music directory with (g711) or without (gsm) the G.711 copies."""
    aside.mkdir(parents=True, exist_ok=True)
    moh_in_g711(moh, say=say)   # both laws present, then move them out for "gsm"
    if case == "gsm":
        for copy in [*moh.glob("*.ulaw"), *moh.glob("*.alaw")]:
            shutil.move(copy, aside / copy.name)
    for law in ("ulaw", "alaw"):
        assert bool(list(moh.glob(f"*.{law}"))) == (case == "g711"), (case, law)


def place_callers(n: int, view: tb.LabView, workdir: Path, index: int,
                  hold_s: float = HOLD_S) -> tb.Proc:
    """n citizens' calls to 12345 at RATE, each hanging up hold_s after the answer."""
    inf = workdir / f"citizens-{index}.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"1370{index:02d}{i:05d};12345;\n"
                                            for i in range(n)))
    scenario = workdir / f"citizen-{int(hold_s)}.xml"
    scenario.write_text(tb.CITIZEN_XML.replace("HOLD", str(int(hold_s * 1000))))
    site = view.settings.site("12345")
    return tb.start_sipp(f"citizens-{index}", scenario, workdir, local_ip=tb.CITIZEN_IP,
                         port=free_udp_port(tb.CITIZEN_IP), target=f"{site.address}:5060",
                         extra=["-inf", str(inf), "-m", str(n), "-l", str(n),
                                "-r", f"{RATE:g}", "-rp", "1000",
                                "-timeout", f"{int(hold_s + 60)}s"])


def cpu_window(pid: int, seconds: float) -> float:
    """% of a core that process `pid` used over the next `seconds`."""
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)


def end_round(citizens: tb.Proc, view: tb.LabView, hold_s: float = HOLD_S) -> int:
    """Wait for the citizens to hang up; hang up what is left; how many were left."""
    try:
        citizens.popen.wait(hold_s + 60)   # each citizen hangs up by itself
    except subprocess.TimeoutExpired:
        citizens.stop()
    deadline = time.monotonic() + 60
    while view.channels("12345") and time.monotonic() < deadline:
        time.sleep(0.5)
    return view.hang_up_everything()


def window_row(case: str, callers: int, cpu_pct: float) -> dict:
    """One measured window: its case, callers and Asterisk CPU, and the CPU per caller."""
    ms = 10 * cpu_pct / callers if callers else float("nan")   # % of a core = 10 ms a second
    return {"case": case, "callers": callers, "cpu_pct": cpu_pct, "ms_per_caller_s": ms}


def say_row(round_no: int, row: dict) -> None:
    say(f"round {round_no} {row['case']}: {row['callers']} waiting, "
        f"{row['cpu_pct']:.1f} % of a core, {row['ms_per_caller_s']:.3f} ms per caller-second")


def one_round(case: str, n: int, view: tb.LabView, pid: int, workdir: Path,
              index: int) -> dict:
    citizens = place_callers(n, view, workdir, index)
    try:
        time.sleep(n / RATE + SETTLE_S)
        waiting = len(view.channels("12345"))
        pct = cpu_window(pid, WINDOW_S)
        callers = min(waiting, len(view.channels("12345")))
    finally:
        end_round(citizens, view)
    return window_row(case, callers, pct)


def report(rounds: list[dict], n: int, code: str, started: str) -> str:
    med = {c: statistics.median(r["ms_per_caller_s"] for r in rounds if r["case"] == c)
           for c in CASES}
    lines = [
        "# Music on hold: Asterisk CPU per waiting caller (GSM against G.711 copies)", "",
        f"`.venv/bin/python bench/moh_bench.py --callers {n} --rounds "
        f"{len(rounds) // 2}` on {started}, {code}; 2 cores, shared. Method: the "
        "docstring of `bench/moh_bench.py`.", "",
        "| round | music files | callers waiting | Asterisk 12345 CPU, % of a core | "
        "ms CPU per caller per second |",
        "|---|---|---|---|---|",
        *(f"| {i + 1} | {r['case']} | {r['callers']} | {r['cpu_pct']:.1f} | "
          f"{r['ms_per_caller_s']:.3f} |" for i, r in enumerate(rounds)),
        "",
        f"Median per caller and second of music: GSM {med['gsm']:.3f} ms, G.711 copies "
        f"{med['g711']:.3f} ms: the copies use {med['g711'] / med['gsm']:.2f}× the CPU "
        "(each median over its rounds; the window's whole Asterisk 12345 CPU, the idle "
        "site's own share included, over the callers counted as channels at both ends of "
        "the window).", "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each case")
    parser.add_argument("--out", type=Path, help="results file (default: print only)")
    args = parser.parse_args()
    settings = load_settings()
    lab = Lab(settings, cb.LAB_DIR, runtime=tb.bench_runtime(cb.LAB_DIR))
    view = tb.LabView(settings, lab)
    workdir = Path(tempfile.mkdtemp(prefix="hotline-moh-"))
    moh = lab.runtime.host_path(MOH_DIR)
    aside = workdir / "g711-aside"
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rounds: list[dict] = []
    try:
        tb.fresh_lab(lab, cb.LAB_DIR)
        lab.up()
        pid = lab.book.load()["asterisk-12345"].pid
        order = [CASES[(i + k) % 2] for i in range(args.rounds) for k in (0, 1)]
        for index, case in enumerate(order):
            use_case(case, moh, aside)
            rounds.append(one_round(case, args.callers, view, pid, workdir, index))
            say_row(index + 1, rounds[-1])
    finally:
        use_case("g711", moh, aside)
        lab.down()
    text = report(rounds, args.callers, tb.code_version(), started)
    print(text)
    if args.out:
        args.out.write_text(text)
        say(f"wrote {args.out}; raw data in {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Many waiting callers: each on music of its own, against one holding bridge with the music.

Run from the repository root:

    .venv/bin/python bench/moh_bridge_bench.py [--callers 100] [--rounds 3] [--out FILE]

bench/moh_bench.py found that a caller on music costs Asterisk about 4 ms of CPU a second,
decoding aside: Asterisk wakes each channel's thread 50 times a second to write its frame.
This bench asks, before any change to how the controller holds a waiting call, what one
holding bridge per site with the music started on the bridge (ARI `POST
/bridges/{id}/moh`) would cost instead.

It starts the capacity benchmark's lab with no seat on duty, so every call to 12345 waits
with the music on, as the controller holds it today ("own": the dialplan's
StartMusicOnHold). Each round places `--callers` calls and measures Asterisk 12345's CPU
over WINDOW_S in each case, the two cases in turn within the same calls; the next round
takes them in the other order. To reach the "bridge" case, this bench's own ARI requests
stop each channel's music, put every channel into one `holding` bridge and start the music
on the bridge; back to "own", it deletes the bridge and starts each channel's music again.
The controller sees channels it did not move; nothing in it acts on that while no seat is
on duty. A probe for a design decision, not a measure of a feature.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench.capacity_bench as cb  # noqa: E402 - sets the capacity lab's environment
from bench import moh_bench as mb  # noqa: E402
from bench.capacity_bench import tb  # noqa: E402
from telephony.lab.lab import Lab  # noqa: E402
from telephony.settings import load_settings  # noqa: E402

HOLD_S = 60.0      # long enough for both windows and the moves between them
WINDOW_S = 15.0
MOVE_SETTLE_S = 2.0
CASES = ("own", "bridge")
BRIDGE = "moh-probe"


def ari(view: tb.LabView, method: str, path: str, **params: str) -> None:
    view.ari("12345", method, path, timeout=10, **params)


def to_bridge(view: tb.LabView, channels: list[str]) -> None:
    ari(view, "POST", "/bridges", type="holding", bridgeId=BRIDGE)
    for channel in channels:
        ari(view, "DELETE", f"/channels/{channel}/moh")
    for i in range(0, len(channels), 50):
        ari(view, "POST", f"/bridges/{BRIDGE}/addChannel", channel=",".join(channels[i:i + 50]))
    ari(view, "POST", f"/bridges/{BRIDGE}/moh", mohClass="default")


def to_own(view: tb.LabView, channels: list[str]) -> None:
    ari(view, "DELETE", f"/bridges/{BRIDGE}")
    for channel in channels:
        ari(view, "POST", f"/channels/{channel}/moh", mohClass="default")


def one_round(first: str, n: int, view: tb.LabView, pid: int, workdir: Path,
              index: int) -> list[dict]:
    citizens = mb.place_callers(n, view, workdir, index, hold_s=HOLD_S)
    results = []
    try:
        time.sleep(n / mb.RATE + mb.SETTLE_S)
        channels = [c["id"] for c in view.channels("12345")]
        case = "own"
        for wanted in (first, CASES[1 - CASES.index(first)]):
            if wanted != case:
                (to_bridge if wanted == "bridge" else to_own)(view, channels)
                case = wanted
                time.sleep(MOVE_SETTLE_S)
            pct = mb.cpu_window(pid, WINDOW_S)
            callers = min(len(channels), len(view.channels("12345")))
            results.append(mb.window_row(case, callers, pct))
        if case == "bridge":
            ari(view, "DELETE", f"/bridges/{BRIDGE}")
    finally:
        mb.end_round(citizens, view, hold_s=HOLD_S)
    return results


def report(rows: list[dict], n: int, code: str, started: str) -> str:
    med = {c: statistics.median(r["ms_per_caller_s"] for r in rows if r["case"] == c)
           for c in CASES}
    return "\n".join([
        "# Waiting callers: music of their own against one holding bridge", "",
        f"`.venv/bin/python bench/moh_bridge_bench.py --callers {n} --rounds "
        f"{len(rows) // 2}` on {started}, {code}; 2 cores, shared. Method: the docstring "
        "of `bench/moh_bridge_bench.py`.", "",
        "| window | music | callers waiting | Asterisk 12345 CPU, % of a core | "
        "ms CPU per caller per second |",
        "|---|---|---|---|---|",
        *(f"| {i + 1} | {r['case']} | {r['callers']} | {r['cpu_pct']:.1f} | "
          f"{r['ms_per_caller_s']:.3f} |" for i, r in enumerate(rows)),
        "",
        f"Median per caller and second: own music {med['own']:.3f} ms, one holding bridge "
        f"{med['bridge']:.3f} ms ({med['bridge'] / med['own']:.2f}×).", "",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    settings = load_settings()
    lab = Lab(settings, cb.LAB_DIR, runtime=tb.bench_runtime(cb.LAB_DIR))
    view = tb.LabView(settings, lab)
    workdir = Path(tempfile.mkdtemp(prefix="hotline-moh-bridge-"))
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows: list[dict] = []
    try:
        tb.fresh_lab(lab, cb.LAB_DIR)
        lab.up()
        pid = lab.book.load()["asterisk-12345"].pid
        for index in range(args.rounds):
            first = CASES[index % 2]
            for row in one_round(first, args.callers, view, pid, workdir, index):
                mb.say_row(index + 1, row)
                rows.append(row)
    finally:
        lab.down()
    text = report(rows, args.callers, tb.code_version(), started)
    print(text)
    if args.out:
        args.out.write_text(text)
        mb.say(f"wrote {args.out}; raw data in {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

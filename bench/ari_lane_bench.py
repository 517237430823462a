"""What one urgent ARI request costs over HTTP against on the urgent lane (AriLane).

Run from the repository root:

    .venv/bin/python bench/ari_lane_bench.py [--requests 3000] [--rounds 3] [--out FILE]

A hand-over's two originates must not queue behind the events socket's other requests, so
they go on a socket of their own, or over HTTP while it is down. This bench measures the
transport's cost alone: the same request (`GET /asterisk/ping`, which touches no channel)
sent `--requests` times one after another, by the controller's own `AriClient`, over HTTP
(aiohttp, one kept-alive connection) and on the lane. Measured for each case: this
process's CPU (`time.process_time`), Asterisk 12345's (utime+stime from /proc, 10 ms
ticks) and the wall time, each divided by the requests. Each round runs both cases, the
order alternating from round to round; the table gives the median of the rounds with
their spread. It starts the capacity benchmark's lab (bench/capacity_topology.toml) and
stops it at the end; its controller runs, idle, and its idle CPU at Asterisk is in both
cases alike.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

import bench.capacity_bench as cb  # noqa: E402 - sets the capacity lab's environment
from bench.capacity_bench import tb  # noqa: E402
from telephony.ari.client import AriClient, AriLane  # noqa: E402
from telephony.lab.lab import Lab  # noqa: E402
from telephony.settings import load_settings  # noqa: E402

CASES = ("http", "lane")
SITE = "12345"
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def asterisk_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S   # utime, stime


async def one_case(case: str, n: int, url: str, user: str, password: str, pid: int) -> dict:
    async with aiohttp.ClientSession() as session:
        client = AriClient(session, url, user, password)
        lane_task = None
        if case == "lane":
            lane = AriLane(session, client, f"bench-lane-{os.getpid()}", site=SITE)
            lane_task = asyncio.create_task(lane.run())
            while not client.lane_up:
                await asyncio.sleep(0.05)
        await client.request("GET", "/asterisk/ping", urgent=True)   # connected, warm
        cpu0, ast0, wall0 = time.process_time(), asterisk_cpu_s(pid), time.perf_counter()
        for _ in range(n):
            await client.request("GET", "/asterisk/ping", urgent=True)
        cpu1, ast1, wall1 = time.process_time(), asterisk_cpu_s(pid), time.perf_counter()
        if lane_task is not None:
            lane_task.cancel()
            await asyncio.gather(lane_task, return_exceptions=True)
    return {"case": case, "ours_us": 1e6 * (cpu1 - cpu0) / n,
            "asterisk_us": 1e6 * (ast1 - ast0) / n, "wall_us": 1e6 * (wall1 - wall0) / n}


def row(case: str, results: list[dict]) -> str:
    cells = []
    for key in ("ours_us", "asterisk_us", "wall_us"):
        values = [r[key] for r in results if r["case"] == case]
        cells.append(f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})")
    return f"| {case} | " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ari-lane.md")
    args = parser.parse_args()
    settings = load_settings()
    lab = Lab(settings, cb.LAB_DIR, runtime=tb.bench_runtime(cb.LAB_DIR))
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: list[dict] = []
    try:
        tb.fresh_lab(lab, cb.LAB_DIR)
        lab.up()
        pid = lab.book.load()[f"asterisk-{SITE}"].pid
        creds = settings.credentials
        for index in range(args.rounds):
            order = CASES if index % 2 == 0 else CASES[::-1]
            for case in order:
                result = asyncio.run(one_case(case, args.requests, settings.site(SITE).ari_url,
                                              creds.ari_user, creds.ari_password, pid))
                results.append(result)
                print(f"[bench] round {index + 1} {case}: ours {result['ours_us']:.0f} µs, "
                      f"asterisk {result['asterisk_us']:.0f} µs, wall {result['wall_us']:.0f} µs "
                      "a request", flush=True)
    finally:
        lab.down()
    facts = tb.machine_facts()
    lines = [
        "# An urgent ARI request: over HTTP against on the urgent lane",
        "",
        f"`.venv/bin/python bench/ari_lane_bench.py --requests {args.requests} --rounds "
        f"{args.rounds}`, {started}, {tb.code_version()}; {facts['cpu']}, "
        f"Linux {facts['kernel']}, Python {facts['python']}.",
        "",
        "Method: see the bench's docstring. `GET /asterisk/ping` sent one after another by "
        "`AriClient.request(urgent=True)`, without the lane (HTTP) and with it. Per request, "
        "median of the rounds (lowest–highest):",
        "",
        "| case | this process, µs CPU | Asterisk 12345, µs CPU | wall, µs |",
        "|---|---|---|---|",
        *(row(case, results) for case in CASES),
        "",
        "Rounds, in the order run:",
        "",
        "| case | this process, µs | Asterisk, µs | wall, µs |",
        "|---|---|---|---|",
        *(f"| {r['case']} | {r['ours_us']:.0f} | {r['asterisk_us']:.0f} | {r['wall_us']:.0f} |"
          for r in results),
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"[bench] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""REGISTER response times second by second under a steady load: finds stalls
that a whole-run p99 hides (a periodic pause shows as one bad second).

Starts the stack of bench/register_load.py (separate processes, or the
all-in-one with --all-in-one), drives REGISTER-with-digest at --rate for
--seconds (two sipp instances, bench/sipp/register_timed.xml) and prints, for
each second, the responses received and their p50, p99 and worst time in ms
(sipp -trace_rtt, 1 ms resolution; first REGISTER → 401 and REGISTER with
digest → 200 together), then the worst second.

Usage: bench/register_timeline.py [--rate 6000] [--seconds 30] [--all-in-one]
"""
import argparse, glob, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import need_tools, add_workers, apply_workers, ROOT, free_port, percentile, start_all_in_one, start_stack, stop  # noqa: E402
from register_load import write_users  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=6000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--all-in-one", action="store_true")
    add_workers(ap)
    args = ap.parse_args()
    apply_workers(args)
    need_tools("sipp", "redis-server")
    work = tempfile.mkdtemp(prefix="asterism-timeline-")
    write_users(work)
    procs = {}
    try:
        sport = start_all_in_one(work, procs) if args.all_in_one else start_stack(work, procs)[0]
        scenario = os.path.join(ROOT, "bench/sipp/register_timed.xml")
        for _ in range(2):
            subprocess.run(["sipp", f"127.0.0.1:{sport}", "-sf", scenario, "-inf", os.path.join(work, "users.csv"),
                            "-key", "expires", "60", "-r", str(args.rate / 2), "-m", str(args.rate * args.seconds // 2),
                            "-t", "u1", "-i", "127.0.0.1", "-p", str(free_port()), "-buff_size", "4194304",
                            "-nostdin", "-timeout", f"{args.seconds + 30}s", "-trace_rtt", "-rtt_freq", "1", "-bg"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
        while subprocess.run(["pgrep", "-f", f"sipp 127.0.0.1:{sport}"], capture_output=True).stdout:
            time.sleep(0.5)
        rows = []
        for name in glob.glob(os.path.join(work, "*_rtt.csv")):
            with open(name) as f:
                for line in f:
                    p = line.strip().split(";")
                    if len(p) >= 3 and p[2].isdigit():
                        rows.append((float(p[0]), float(p[1])))
        if not rows:
            sys.exit("no response times: did sipp run?")
        start = min(t for t, _ in rows)
        by = {}
        for t, v in rows:
            by.setdefault(int((t - start) / 1000), []).append(v)
        print(f"{'second':>6} {'answers':>8} {'p50':>6} {'p99':>6} {'worst':>6}")
        worst = (0, -1.0)
        for s in sorted(by):
            v = by[s]
            p99 = percentile(v, 99)
            print(f"{s:>6} {len(v):>8} {percentile(v, 50):>6.0f} {p99:>6.0f} {max(v):>6.0f}")
            if p99 > worst[1]:
                worst = (s, p99)
        print(f"\nworst second: {worst[0]} (p99 {worst[1]:.0f} ms); whole run p99 "
              f"{percentile([v for _, v in rows], 99):.0f} ms")
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Where the CPU goes under REGISTER load: a `perf` profile of each Asterism
process (and Redis) while sipp registers at a fixed rate.

Starts the same stack as bench/register_load.py (separate processes, or the
all-in-one with --all-in-one), drives REGISTER-with-digest at --rate for
--seconds, records `perf record -g` (frame-pointer-free DWARF unwinding when
--dwarf is given: slower, deeper stacks) on every process, and writes to
target/profile/:
  <process>.txt     perf report, flat (self time), top symbols
  <process>.folded  folded stacks (`a;b;c count`), the input of any flame
                    graph tool: `inferno-flamegraph < edge1.folded > edge1.svg`
                    (cargo install inferno) or Brendan Gregg's flamegraph.pl.

Usage: bench/profile.py [--rate 3000] [--seconds 6] [--all-in-one] [--dwarf]
Needs perf (apt-get install linux-perf) and root (or perf_event_paranoid ≤ 1).
"""
import argparse, os, shutil, subprocess, sys, tempfile, time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import need_tools, add_workers, apply_workers, ROOT, free_port, start_all_in_one, start_stack, stop  # noqa: E402
from register_load import write_users  # noqa: E402


def fold(script_out):
    """perf script text → Counter of 'outer;…;inner' stacks."""
    stacks, frames = Counter(), []
    for line in script_out.splitlines():
        if not line.strip():
            if frames:
                stacks[";".join(reversed(frames))] += 1
                frames = []
            continue
        if line[0] in " \t":
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                sym = parts[1].rsplit(" (", 1)[0]
                frames.append(sym.split("+0x")[0].replace(";", ":"))
    if frames:
        stacks[";".join(reversed(frames))] += 1
    return stacks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=3000)
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--all-in-one", action="store_true")
    ap.add_argument("--dwarf", action="store_true", help="DWARF call graphs (bigger, slower)")
    add_workers(ap)
    args = ap.parse_args()
    apply_workers(args)
    need_tools("sipp", "redis-server", "perf")
    out = os.path.join(ROOT, "target", "profile")
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="asterism-profile-")
    write_users(work)
    procs = {}
    try:
        sport = start_all_in_one(work, procs) if args.all_in_one else start_stack(work, procs)[0]
        graph = ["--call-graph", "dwarf,16384"] if args.dwarf else ["-g"]
        perfs = {}
        for name, p in procs.items():
            data = os.path.join(out, f"{name}.data")
            perfs[name] = (data, subprocess.Popen(
                ["perf", "record", "-F", "499", *graph, "-o", data, "-p", str(p.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        calls = args.rate * args.seconds
        subprocess.run(["sipp", f"127.0.0.1:{sport}", "-sf", os.path.join(ROOT, "tests/sipp/register_auth.xml"),
                        "-inf", os.path.join(work, "users.csv"), "-key", "expires", "60", "-r", str(args.rate),
                        "-m", str(calls), "-t", "u1", "-i", "127.0.0.1", "-p", str(free_port()),
                        "-buff_size", "4194304", "-nostdin", "-timeout", f"{args.seconds + 30}s"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, (data, perf) in perfs.items():
            perf.send_signal(2)
            perf.wait(timeout=60)
            report = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio", "-g", "none",
                                     "--percent-limit", "0.5"], capture_output=True, text=True).stdout
            with open(os.path.join(out, f"{name}.txt"), "w") as f:
                f.write(report)
            script = subprocess.run(["perf", "script", "-i", data], capture_output=True, text=True).stdout
            with open(os.path.join(out, f"{name}.folded"), "w") as f:
                for stack, n in fold(script).most_common():
                    f.write(f"{stack} {n}\n")
            print(f"{name}: {out}/{name}.txt, {name}.folded")
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Call load: the highest call rate Asterism holds with zero failed calls and
zero retransmissions.

Starts a private redis-server, asterism-registrar, asterism-router and
asterism-edge (release builds, separate processes; or the all-in-one
`asterism` with --all-in-one), registers a sipp UAS as user `uas`, then drives
a sipp UAC (bench/sipp/call_timed.xml: INVITE, 401, INVITE with digest, 180,
200, ACK, hold, BYE) through the edge and router's `Dial(SIP/uas)` at
increasing rates, and prints per step failed calls, retransmissions, the CPU
each process used (100% = one core), the load generators' (sipp%) and the
whole machine's (box%: 200 = two cores busy, so a rate beyond it needs less
CPU per call, not more threads), the CPU time per call summed over
Asterism's processes and Redis (the figure that travels across machines), and
the p50/p99 response times (the INVITE with digest to its 200, the BYE to its
200).

Usage: bench/call_load.py [--rates 100,200,...] [--seconds 5] [--hold-ms 500]
                          [--replicas N]   (registrars and routers behind the edge)
                          [--cross-edge]   (callee behind edge 2, calls enter edge 1:
                                            every call takes the edge-to-edge hop)
                          [--all-in-one]   (the `asterism` binary, with Redis)
Everything runs on loopback and stops by itself.
"""
import argparse, csv, os, resource, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (need_tools, ROOT, add_workers, apply_workers, TICK, cpu_percent, cpu_ticks, free_port, percentile,  # noqa: E402
                    start_all_in_one, start_stack, stop)
USERS = 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="100,200,400,600,800,1000,1500,2000,2500")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--hold-ms", type=int, default=500)
    ap.add_argument("--replicas", type=int, default=1, help="registrar and router replicas")
    ap.add_argument("--cross-edge", action="store_true",
                    help="two edges: the callee registers through edge 2, calls enter through edge 1")
    ap.add_argument("--all-in-one", action="store_true", help="the all-in-one binary, with Redis")
    ap.add_argument("--no-build", action="store_true")
    add_workers(ap)
    args = ap.parse_args()
    apply_workers(args)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bins", "--workspace"], cwd=ROOT, check=True)
    need_tools("sipp", "redis-server")
    work = tempfile.mkdtemp(prefix="asterism-callbench-")
    with open(os.path.join(work, "sip.conf"), "w") as conf:
        conf.write("[general]\nrealm=asterisk\n\n[uas]\ntype=friend\nsecret=uaspw\nhost=dynamic\n\n[caller]\ntype=friend\nsecret=callerpw\nhost=dynamic\n")
    with open(os.path.join(work, "extensions.conf"), "w") as ext:
        ext.write("[default]\nexten => 100,1,Dial(SIP/uas,10)\n")
    for user, pw in (("uas", "uaspw"), ("caller", "callerpw")):
        with open(os.path.join(work, f"{user}.csv"), "w") as f:
            f.write(f"SEQUENTIAL\n{user};{pw};[authentication username={user} password={pw}];x\n")
    procs = {}
    try:
        if args.all_in_one:
            sports = [start_all_in_one(work, procs)]
        else:
            sports = start_stack(work, procs, replicas=args.replicas, edges=2 if args.cross_edge else 1)
        sport, callee_edge = sports[0], sports[-1]
        uport = free_port()
        uas = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(uport), "-buff_size", "4194304", "-nostdin", "-bg"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        uas.wait()
        subprocess.run(["sipp", f"127.0.0.1:{callee_edge}", "-sf", os.path.join(ROOT, "tests/sipp/register_contact.xml"),
                        "-inf", os.path.join(work, "uas.csv"), "-key", "contact_port", str(uport), "-key", "expires", "60",
                        "-m", "1", "-i", "127.0.0.1", "-p", str(free_port()), "-nostdin"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        kinds = sorted({k.rstrip("0123456789") for k in procs})
        print(f"{'calls/s':>7} {'done':>7} {'failed':>6} {'retrans':>7} " + " ".join(f"{k + '%':>10}" for k in kinds)
              + f" {'sipp%':>6} {'box%':>5} {'us/call':>8} {'setup p50/p99 ms':>17} {'BYE p50/p99 ms':>15}")
        best = 0
        for rate in [int(r) for r in args.rates.split(",")]:
            row = step(rate, args, work, sport, procs)
            cpu = " ".join(f"{row.get(k, 0):>10.0f}" for k in kinds)
            rt = [f"{row['p50'][i]:.2f}/{row['p99'][i]:.2f}" for i in (1, 2)]
            print(f"{rate:>7} {row['ok']:>7} {row['failed']:>6} {row['retrans']:>7} {cpu} {row['sipp']:>6.0f} {row['box']:>5.0f}"
                  f" {row['us_per_call']:>8.0f} {rt[0]:>17} {rt[1]:>15}", flush=True)
            if row["failed"] == 0 and row["retrans"] == 0 and row["ok"] == rate * args.seconds:
                best = rate
            else:
                break
        print(f"\nhighest call rate held with no failed call and no retransmission: {best}/s")
    finally:
        subprocess.run(["pkill", "-f", "sipp -sn uas -i 127.0.0.1 -p"], check=False)
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


def uas_pid():
    """The sipp UAS (it runs in the background, not as our child)."""
    out = subprocess.run(["pgrep", "-f", "sipp -sn uas -i 127.0.0.1 -p"], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else 0


def children_cpu():
    """CPU seconds of the children waited for (the sipp UAC of each step)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def box_ticks():
    """Busy CPU ticks of the whole machine, all cores."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]


def step(rate, args, work, sport, procs):
    calls = rate * args.seconds
    before = {k: cpu_ticks(p.pid) for k, p in procs.items()}
    uas = uas_pid()
    uas_before, uac_before, box_before = cpu_ticks(uas), children_cpu(), box_ticks()
    t0 = time.time()
    stats = os.path.join(work, f"stats-{rate}.csv")
    rtts = os.path.join(work, f"rtt-{rate}")
    os.makedirs(rtts, exist_ok=True)
    subprocess.run(["sipp", f"127.0.0.1:{sport}", "-sf", os.path.join(ROOT, "bench/sipp/call_timed.xml"),
                    "-inf", os.path.join(work, "caller.csv"), "-s", "100", "-d", str(args.hold_ms),
                    "-auth_uri", f"100@127.0.0.1:{sport}",
                    "-r", str(rate), "-m", str(calls), "-t", "u1", "-i", "127.0.0.1", "-p", str(free_port()),
                    "-buff_size", "4194304", "-nostdin", "-timeout", f"{args.seconds + 60}s",
                    "-trace_stat", "-stf", stats, "-fd", "1",
                    "-trace_rtt", "-rtt_freq", "1",
                    "-trace_err", "-error_file", os.path.join(ROOT, "target", f"call-load-errors-{rate}.log")],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=rtts)
    elapsed = time.time() - t0
    row = cpu_percent(procs, before, elapsed)
    # The load generators' share, and the whole machine's (200 = two cores
    # busy): where the box is full, a higher rate needs less CPU per call.
    uac = children_cpu() - uac_before
    row["sipp"] = 100.0 * ((cpu_ticks(uas) - uas_before) / TICK + uac) / elapsed
    row["box"] = 100.0 * (box_ticks() - box_before) / TICK / elapsed
    with open(stats) as f:
        last = list(csv.DictReader(f, delimiter=";"))[-1]
    row.update(ok=int(last["SuccessfulCall(C)"]), failed=int(last["FailedCall(C)"]), retrans=int(last["Retransmissions(C)"]))
    # CPU time of everything but the load generators, per call.
    spent = sum(cpu_ticks(p.pid) - before[k] for k, p in procs.items()) / TICK
    row["us_per_call"] = 1e6 * spent / row["ok"] if row["ok"] else 0.0
    times = {1: [], 2: []}
    for name in os.listdir(rtts):
        if name.endswith("_rtt.csv"):
            with open(os.path.join(rtts, name)) as f:
                for line in f:
                    parts = line.strip().split(";")
                    if len(parts) >= 3 and parts[2].isdigit() and int(parts[2]) in times:
                        times[int(parts[2])].append(float(parts[1]))
    row["p50"] = {i: percentile(t, 50) for i, t in times.items()}
    row["p99"] = {i: percentile(t, 99) for i, t in times.items()}
    return row

if __name__ == "__main__":
    main()

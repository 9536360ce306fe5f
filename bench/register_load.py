#!/usr/bin/env python3
"""REGISTER-with-digest load: the highest rate Asterism holds with zero failed
registrations and zero retransmissions.

Starts a private redis-server, asterism-registrar, an idle asterism-router (the
edge is ready only with one) and asterism-edge (release
builds, separate processes, gRPC between them) with 1000 users, then drives
sipp (tests/sipp/register_auth.xml: REGISTER, 401, REGISTER with digest, 200)
at increasing rates for a few seconds each, and prints, per step, failures,
retransmissions, the CPU each process used (100% = one core), the CPU time per
registration summed over Asterism's processes and Redis (the figure that travels
across machines), and the p50/p99 response times (first REGISTER to its 401, the
REGISTER with digest to its 200; bench/sipp/register_timed.xml).

Usage: bench/register_load.py [--rates 1000,2000,...] [--seconds 5] [--sipp N]
                              [--replicas N]   (registrars and routers behind the edge)
                              [--all-in-one]   (the `asterism` binary instead)
Everything runs on loopback and stops by itself.
"""
import argparse, csv, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (need_tools, ROOT, add_workers, apply_workers, TICK, cpu_percent, cpu_ticks, free_port, histogram,  # noqa: E402
                    histogram_quantile, percentile, start_all_in_one, start_stack, stop)
USERS = 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="500,1000,2000,3000,4000,5000,6000,7000,8000")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--sipp", type=int, default=2, help="sipp instances sharing the rate")
    ap.add_argument("--replicas", type=int, default=1, help="registrar (and router) replicas")
    ap.add_argument("--all-in-one", action="store_true", help="the all-in-one binary, with Redis")
    ap.add_argument("--no-build", action="store_true")
    add_workers(ap)
    args = ap.parse_args()
    apply_workers(args)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bins", "--workspace"], cwd=ROOT, check=True)
    need_tools("sipp", "redis-server")
    work = tempfile.mkdtemp(prefix="asterism-bench-")
    write_users(work)
    procs = {}
    try:
        if args.all_in_one:
            sport = start_all_in_one(work, procs)
        else:
            admins = []
            [sport] = start_stack(work, procs, replicas=args.replicas, admins=admins)
            args.admin = admins[0]
        # Each sipp instance keeps its port across steps (chosen once the
        # stack holds its own): a phone's contact is then refreshed, not
        # added (12 contacts a minute would hit sip.conf's max_contacts and
        # be refused from the 6th step on).
        args.ports = [free_port() for _ in range(args.sipp)]
        kinds = sorted({k.rstrip("0123456789") for k in procs})
        print(f"{'rate/s':>7} {'done':>7} {'failed':>6} {'retrans':>7} " + " ".join(f"{k + '%':>10}" for k in kinds)
              + f" {'sipp%':>6} {'us/reg':>7} {'401 p50/p99 ms':>15} {'200 p50/p99 ms':>15} {'edge p50/p99 ms':>16}")
        best = 0
        for rate in [int(r) for r in args.rates.split(",")]:
            row = step(rate, args, work, sport, procs)
            cpu = " ".join(f"{row.get(k, 0):>10.0f}" for k in kinds)
            rt = [f"{row['p50'][i]:.2f}/{row['p99'][i]:.2f}" for i in (1, 2)]
            print(f"{rate:>7} {row['ok']:>7} {row['failed']:>6} {row['retrans']:>7} {cpu} {row['sipp']:>6.0f} "
                  f"{row['us_per_reg']:>7.0f} {rt[0]:>15} {rt[1]:>15} {row['edge_rt']:>16}", flush=True)
            if row["failed"] == 0 and row["retrans"] == 0 and row["ok"] == rate * args.seconds:
                best = rate
            else:
                break
        print(f"\nhighest REGISTER-with-auth rate held with no failure and no retransmission: {best}/s")
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


def write_users(work):
    """sip.conf with USERS users, sipp's users.csv for them, an empty
    extensions.conf (the routers are idle here)."""
    with open(os.path.join(work, "sip.conf"), "w") as conf, open(os.path.join(work, "users.csv"), "w") as users:
        conf.write("[general]\nrealm=asterisk\n\n")
        users.write("SEQUENTIAL\n")
        for i in range(USERS):
            conf.write(f"[user{i:04}]\ntype=friend\nsecret=pw{i:04}\nhost=dynamic\n\n")
            users.write(f"user{i:04};pw{i:04};[authentication username=user{i:04} password=pw{i:04}];x\n")
    with open(os.path.join(work, "extensions.conf"), "w") as ext:
        ext.write("[default]\n")


def step(rate, args, work, sport, procs):
    n = args.sipp
    calls = rate * args.seconds
    rtts = os.path.join(work, f"rtt-{rate}")
    os.makedirs(rtts, exist_ok=True)
    before = {k: cpu_ticks(p.pid) for k, p in procs.items()}
    # The edge's own REGISTER latency histogram (arrival to final response;
    # its buckets bound the figure: "≤2.5" means within 2.5 ms).
    metric = "asterism_edge_register_duration_seconds"
    admin = getattr(args, "admin", None)
    hist_before = histogram(admin, metric) if admin else {}
    t0 = time.time()
    runs = []
    for i in range(n):
        stats = os.path.join(work, f"stats-{rate}-{i}.csv")
        cmd = ["sipp", f"127.0.0.1:{sport}", "-sf", os.path.join(ROOT, "bench/sipp/register_timed.xml"),
               "-inf", os.path.join(work, "users.csv"), "-key", "expires", "60",
               "-r", str(rate / n), "-m", str(calls // n), "-t", "u1", "-i", "127.0.0.1", "-p", str(args.ports[i]),
               "-buff_size", "4194304", "-nostdin", "-timeout", f"{args.seconds + 30}s", "-trace_stat", "-stf", stats, "-fd", "1",
               "-trace_err", "-error_file", os.path.join(ROOT, "target", f"register-load-errors-{rate}-{i}.log"),
               "-trace_rtt", "-rtt_freq", "1", "-bg"]
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=rtts)
        runs.append(stats)
    sipp_ticks = 0
    # sipp -bg daemonises: follow its processes by name until they finish.
    while True:
        pids = subprocess.run(["pgrep", "-f", f"sipp 127.0.0.1:{sport}"], capture_output=True, text=True).stdout.split()
        if not pids:
            break
        sipp_ticks = max(sipp_ticks, sum(cpu_ticks(int(p)) for p in pids))
        time.sleep(0.2)
    elapsed = time.time() - t0
    row = cpu_percent(procs, before, elapsed)
    row["sipp"] = 100.0 * sipp_ticks / TICK / elapsed
    ok = failed = retrans = 0
    for stats in runs:
        with open(stats) as f:
            rows = list(csv.DictReader(f, delimiter=";"))
        last = rows[-1]
        ok += int(last["SuccessfulCall(C)"])
        failed += int(last["FailedCall(C)"])
        retrans += int(last["Retransmissions(C)"])
    row.update(ok=ok, failed=failed, retrans=retrans)
    # CPU time of everything but the load generator, per registration.
    spent = sum(cpu_ticks(p.pid) - before[k] for k, p in procs.items()) / TICK
    row["us_per_reg"] = 1e6 * spent / ok if ok else 0.0
    times = {1: [], 2: []}
    for name in os.listdir(rtts):
        if not name.endswith("_rtt.csv"):
            continue
        with open(os.path.join(rtts, name)) as f:
            for line in f:
                parts = line.strip().split(";")
                if len(parts) >= 3 and parts[2].isdigit() and int(parts[2]) in times:
                    times[int(parts[2])].append(float(parts[1]))
    row["edge_rt"] = "-"
    if admin:
        hist_after = histogram(admin, metric)
        q = [histogram_quantile(hist_before, hist_after, x) for x in (50, 99)]
        if None not in q:
            row["edge_rt"] = "/".join(f"≤{1000 * b:g}" for b in q)
    row["p50"] = {i: percentile(t, 50) for i, t in times.items()}
    row["p99"] = {i: percentile(t, 99) for i, t in times.items()}
    return row


if __name__ == "__main__":
    main()

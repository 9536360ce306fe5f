#!/usr/bin/env python3
"""Media capacity: how many concurrent echo calls (50 packets/s each, 172-byte
PCMU packets) one media process holds on one core with no packet lost, and
the delay it adds between a packet in and its echo out (p50/p99).

The same load generator (asterism-rtpload, on the other core) also runs
against a bare UDP echo loop with no RTP logic, in the same run, as the
ceiling of this machine. Both servers are pinned to core 1 with taskset.

Usage: bench/media_load.py [--calls 100,200,...] [--seconds 5]
Everything runs on loopback and stops by itself.
"""
import argparse, os, signal, socket, subprocess, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def load(mode, target, calls, secs):
    out = subprocess.run(["taskset", "-c", "0", os.path.join(REL, "asterism-rtpload"), mode, target, str(calls), str(secs)],
                         capture_output=True, text=True, timeout=secs + 120)
    fields = dict(kv.split("=") for kv in out.stdout.split())
    return {k: int(v) for k, v in fields.items()}


def stop(procs):
    """SIGTERM each process, SIGKILL what is still there 5 s later."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()


def cpu_seconds(pid):
    """User + system CPU time of process `pid` so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid, run):
    """`run()`'s figures plus `cpu`: the share of a core process `pid` used
    while it ran, in percent."""
    before, t0 = cpu_seconds(pid), time.monotonic()
    figures = run()
    figures["cpu"] = int(100 * (cpu_seconds(pid) - before) / (time.monotonic() - t0))
    return figures


def sweep(counts, ceiling, subject, name):
    """Run `ceiling` and `subject` (call count -> rtpload's figures) at each
    count, print a row each; the highest counts each held with nothing lost
    and p99 under 1 ms. Stops one step after the subject first failed."""
    print(f"{'calls':>6} | {'ceiling lost':>12} {'p50 µs':>7} {'p99 µs':>7} {'cpu %':>5} | {name + ' lost':>10} {'p50 µs':>7} {'p99 µs':>7} {'cpu %':>5}")
    best_ceiling = best = 0
    failed = 0
    for calls in counts:
        c, m = ceiling(calls), subject(calls)
        print(f"{calls:>6} | {c['lost']:>12} {c['p50_us']:>7} {c['p99_us']:>7} {c.get('cpu', '-'):>5} | {m['lost']:>10} {m['p50_us']:>7} {m['p99_us']:>7} {m.get('cpu', '-'):>5}", flush=True)
        if c["lost"] == 0 and c["p99_us"] < 1000:
            best_ceiling = calls
        if m["lost"] == 0 and m["p99_us"] < 1000:
            best = calls
        else:
            failed += 1
            if failed > 1:
                break
    return best_ceiling, best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", default="100,200,300,400,500,600,800,1000,1200,1400,1600")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "asterism-media", "-p", "asterism-rtpload"], cwd=ROOT, check=True)
    echo_port, grpc_port = free_port(), free_port()
    env = dict(os.environ, ASTERISM_LOG="warn", ASTERISM_MEDIA_LISTEN=f"127.0.0.1:{grpc_port}",
               ASTERISM_RTP_BIND="127.0.0.1", ASTERISM_MEDIA_ADVERTISE="127.0.0.1", ASTERISM_RTP_PORTS="16000-26000")
    procs = [
        subprocess.Popen(["taskset", "-c", "1", os.path.join(REL, "asterism-rtpload"), "echo-server", str(echo_port)]),
        subprocess.Popen(["taskset", "-c", "1", os.path.join(REL, "asterism-media")], env=env),
    ]
    try:
        time.sleep(1)
        best_ceiling, best_media = sweep(
            [int(c) for c in args.calls.split(",")],
            lambda calls: measured(procs[0].pid, lambda: load("udp", f"127.0.0.1:{echo_port}", calls, args.seconds)),
            lambda calls: measured(procs[1].pid, lambda: load("media", f"http://127.0.0.1:{grpc_port}", calls, args.seconds)),
            "media",
        )
        print(f"\nheld with no loss and p99 round trip < 1 ms: ceiling (bare UDP echo, one core) {best_ceiling} calls; media (one core) {best_media} calls")
    finally:
        stop(procs)


if __name__ == "__main__":
    main()

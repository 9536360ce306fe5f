#!/usr/bin/env python3
"""Relay capacity: how many concurrent relayed calls (two phones, 50 packets/s
each way, 172-byte PCMU packets, so 100 packets/s in and 100 out per call)
one media process holds on one core with no packet lost, and the delay the
relay adds between a phone's packet and its arrival at the other phone
(p50/p99), and the share of a core each relay used (cpu %): the relay's
cost per call, whatever limits the run.

In the same run the same load generator (asterism-rtpload, on core 0) drives
a bare UDP forwarder of the same shape (a port pair per call, symmetric
latching, no RTP work) as the ceiling of this machine. Both relays are
pinned to core 1 with taskset. Past the first call count that loses packets
or passes p99 1 ms, one more step shows how it degrades.

Usage: bench/relay_load.py [--calls 200,400,...] [--seconds 5]
Everything runs on loopback and stops by itself.
"""
import argparse, os, subprocess, time
from media_load import free_port, load, measured, stop, sweep, REL, ROOT


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", default="100,200,400,600,800,1000,1200,1400,1600")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "asterism-media", "-p", "asterism-rtpload"], cwd=ROOT, check=True)
    counts = [int(c) for c in args.calls.split(",")]
    grpc_port, base = free_port(), 40000
    env = dict(os.environ, ASTERISM_LOG="warn", ASTERISM_MEDIA_LISTEN=f"127.0.0.1:{grpc_port}",
               ASTERISM_RTP_BIND="127.0.0.1", ASTERISM_MEDIA_ADVERTISE="127.0.0.1",
               ASTERISM_RTP_PORTS="16000-26000", ASTERISM_MEDIA_CAPACITY="100000")
    procs = [
        subprocess.Popen(["taskset", "-c", "1", os.path.join(REL, "asterism-rtpload"), "forwarder", str(base), str(max(counts))]),
        subprocess.Popen(["taskset", "-c", "1", os.path.join(REL, "asterism-media")], env=env),
    ]
    try:
        time.sleep(1)
        best_ceiling, best_relay = sweep(
            counts,
            lambda calls: measured(procs[0].pid, lambda: load("forwarded", str(base), calls, args.seconds)),
            lambda calls: measured(procs[1].pid, lambda: load("relay", f"http://127.0.0.1:{grpc_port}", calls, args.seconds)),
            "relay",
        )
        print(f"\nheld with no loss and p99 added delay < 1 ms: ceiling (bare UDP forwarder, one core) {best_ceiling} calls; relay (one core) {best_relay} calls")
    finally:
        stop(procs)


if __name__ == "__main__":
    main()

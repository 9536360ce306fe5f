#!/usr/bin/env python3
"""What floods cost the edge: its resident memory before, at the peak of and
after each flood a stranger can send, with the default limits.

Starts Redis, a registrar, a router and an edge (release builds, separate
processes, as bench/register_load.py), then in turn:
  idle-tcp      2,000 TCP connections opened and left silent (capped by
                ASTERISM_TCP_AUTH_LIMIT, closed after ASTERISM_TCP_AUTH_TIMEOUT)
  drip          200 connections each sending a message one byte a second
                (cut after ASTERISM_TCP_MESSAGE_TIMEOUT)
  never-read    20 connections pipelining OPTIONS without reading an answer
                (closed once ASTERISM_TCP_WRITE_QUEUE answers wait)
  junk-bye      200,000 BYEs for Call-IDs nobody has, as fast as they go
  register-burst 100,000 REGISTERs without credentials (each gets one 401)
  invite-burst  100,000 INVITEs without credentials (each gets one 401)
and prints the edge's RSS (MiB) and what the edge answered.

Usage: bench/floods.py [--no-build] [--only NAME,...]
Everything runs on loopback and stops by itself.
"""
import argparse, os, shutil, socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, start_stack, stop  # noqa: E402


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Peak:
    """Samples a process's RSS every 50 ms while a flood runs."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, rss_mib(pid), False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.05)

    def done(self):
        self.stop = True
        self.t.join()
        return self.peak


def closed(c):
    """Whether the edge closed connection `c` (without waiting for it)."""
    c.settimeout(0.01)
    try:
        return c.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def idle_tcp(sport):
    conns, refused = [], 0
    for _ in range(2000):
        try:
            conns.append(socket.create_connection(("127.0.0.1", sport), timeout=2))
        except OSError:
            refused += 1
    time.sleep(1)
    at_once = sum(closed(c) for c in conns)
    time.sleep(31)  # past the authentication deadline
    still = sum(not closed(c) for c in conns)
    for c in conns:
        c.close()
    return f"{len(conns)} opened, {at_once} closed at once (over the cap), {still} still open after 31 s"


def drip(sport):
    conns = [socket.create_connection(("127.0.0.1", sport)) for _ in range(200)]
    msg = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-drip\r\n"
    for i in range(15):
        for c in conns:
            try:
                c.send(msg[i:i + 1])
            except OSError:
                pass
        time.sleep(1)
    cut = sum(closed(c) for c in conns)
    for c in conns:
        c.close()
    return f"200 dripping, {cut} cut off within 15 s"


def never_read(sport):
    closed = 0

    def one(n):
        nonlocal closed
        s = socket.create_connection(("127.0.0.1", sport))
        s.settimeout(10)
        try:
            for i in range(200_000):
                s.sendall(f"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-nr{n}-{i}\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: nr{n}-{i}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n".encode())
        except OSError:
            closed += 1
        s.close()
    ts = [threading.Thread(target=one, args=(n,)) for n in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return f"20 never reading, {closed} disconnected by the edge"


def udp_flood(sport, count, make):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    answers = {}
    done = threading.Event()

    def read():
        s.settimeout(2)
        while True:
            try:
                data = s.recv(65535)
            except socket.timeout:
                if done.is_set():
                    return
                continue
            code = data.split(b" ", 2)[1].decode() if data.startswith(b"SIP/2.0 ") else "?"
            answers[code] = answers.get(code, 0) + 1
    r = threading.Thread(target=read)
    r.start()
    for i in range(count):
        s.sendto(make(i, port), ("127.0.0.1", sport))
        if i % 100 == 99:
            time.sleep(0.002)
    done.set()
    r.join()
    return f"{count} sent, answers {dict(sorted(answers.items()))}"


def junk_bye(sport):
    return udp_flood(sport, 200_000, lambda i, p: (
        f"BYE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-jb{i};rport\r\n"
        f"From: <sip:x@y>;tag=a{i}\r\nTo: <sip:z@y>;tag=b{i}\r\nCall-ID: junk{i}\r\nCSeq: 1 BYE\r\n"
        f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode())


def invite_burst(sport):
    return udp_flood(sport, 100_000, lambda i, p: (
        f"INVITE sip:3666@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-ib{i};rport\r\n"
        f"From: <sip:user0001@y>;tag=a{i}\r\nTo: <sip:3666@y>\r\nCall-ID: burst{i}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:x@127.0.0.1:{p}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode())


def register_burst(sport):
    return udp_flood(sport, 100_000, lambda i, p: (
        f"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-rb{i};rport\r\n"
        f"From: <sip:user0001@y>;tag=a{i}\r\nTo: <sip:user0001@y>\r\nCall-ID: reg{i}\r\nCSeq: 1 REGISTER\r\n"
        f"Contact: <sip:x@127.0.0.1:{p}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode())


FLOODS = {"idle-tcp": idle_tcp, "drip": drip, "never-read": never_read,
          "junk-bye": junk_bye, "register-burst": register_burst, "invite-burst": invite_burst}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(FLOODS))
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bins", "--workspace"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="asterism-floods-")
    with open(os.path.join(work, "sip.conf"), "w") as conf:
        conf.write("[general]\nrealm=asterisk\n\n[user0001]\ntype=friend\nsecret=pw\nhost=dynamic\n")
    with open(os.path.join(work, "extensions.conf"), "w") as ext:
        ext.write("[default]\nexten => 3666,1,Answer\n")
    procs = {}
    try:
        [sport] = start_stack(work, procs)
        pid = procs["edge1"].pid
        print(f"{'flood':<13} {'before':>7} {'peak':>7} {'after':>7}  (edge RSS, MiB)")
        for name in args.only.split(","):
            time.sleep(2)
            before = rss_mib(pid)
            peak = Peak(pid)
            what = FLOODS[name](sport)
            time.sleep(2)
            after = rss_mib(pid)
            print(f"{name:<13} {before:>7.1f} {peak.done():>7.1f} {after:>7.1f}  {what}", flush=True)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What a kill -9 costs: on the network-namespace cluster of scripts/topology
(release builds), measures for each kind of pod how many requests failed and
how long after the kill the last failure (or the clean-up) came.

- registrar: REGISTERs at --rate/s through edge 1; registrar 1 is killed
  mid-run. Failed registrations, and when the last one failed.
- router: calls at a few per second through edge 1 while router 1 is killed.
- media: an echo call on the media instance that is then killed; time until
  the PBX's BYE reaches the phone.
- edge: alice registered through edge 2, which is killed; time until a call
  to her through edge 1 is answered 480 at once (before that, the INVITE goes
  to the dead edge and the caller waits).

Needs root (ip netns), sipp and redis-server. Usage: sudo bench/failover.py [--rate 200]
"""
import argparse, csv, os, shutil, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT  # noqa: E402

NAME = "bench"
TOPO = os.path.join(ROOT, "scripts", "topology")
SIPP = os.path.join(ROOT, "tests", "sipp")


def topo(*args):
    return subprocess.run([TOPO, *args], capture_output=True, text=True, check=True).stdout.strip()


def sipp(phone, target, scenario, work, *args, port=5070, calls=1, rate=None):
    cmd = [TOPO, "exec", NAME, phone, "sipp", target, "-sf", os.path.join(SIPP, scenario),
           "-i", topo("addr", phone), "-p", str(port), "-m", str(calls), "-nostdin",
           "-timeout", "60s", "-timeout_error", "-key", "expires", "60", *args]
    if rate:
        cmd += ["-r", str(rate)]
    return subprocess.run(cmd, cwd=work, capture_output=True, text=True)


def kill_during(run, host, stats):
    """Start `run` (a sipp load), kill `host` 3 s in, and return sipp's final
    statistics row once the load is over."""
    t = threading.Thread(target=run)
    t.start()
    time.sleep(3)
    kill(host)
    t.join()
    with open(stats) as f:
        return list(csv.DictReader(f, delimiter=";"))[-1]


def kill(host):
    os.kill(int(topo("pid", NAME, host)), 9)
    return time.time()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bins", "--workspace"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="asterism-failover-")
    users = 1000
    with open(os.path.join(work, "sip.conf"), "w") as conf, open(os.path.join(work, "users.csv"), "w") as u:
        conf.write("[general]\nrealm=asterisk\n\n[alice]\ntype=friend\nsecret=alice61\nhost=dynamic\n\n"
                   "[bob]\ntype=friend\nsecret=bob62\nhost=dynamic\n\n")
        u.write("SEQUENTIAL\n")
        for i in range(users):
            conf.write(f"[user{i:04}]\ntype=friend\nsecret=pw{i:04}\nhost=dynamic\n\n")
            u.write(f"user{i:04};pw{i:04};[authentication username=user{i:04} password=pw{i:04}];x\n")
    shutil.copy(os.path.join(ROOT, "examples", "extensions.conf"), work)
    for user, pw in (("alice", "alice61"), ("bob", "bob62")):
        with open(os.path.join(work, f"{user}.csv"), "w") as f:
            f.write(f"SEQUENTIAL\n{user};{pw};[authentication username={user} password={pw}];x\n")
    with open(os.path.join(work, "echo-audio.ulaw"), "wb") as f:
        f.write(bytes(0x1F if i % 16 < 8 else 0x9F for i in range(16000)))
    env = dict(os.environ, ASTERISM_BIN_DIR=os.path.join(ROOT, "target", "release"),
               ASTERISM_CONFIG_DIR=work, ASTERISM_LOG="warn")
    subprocess.run([TOPO, "up", NAME], env=env, check=True, stdout=subprocess.DEVNULL)
    edge1, edge2 = topo("sip", "edge1"), topo("sip", "edge2")
    try:
        # Registrar: REGISTERs run while registrar 1 dies.
        stats = os.path.join(work, "reg.csv")
        seconds = 8
        errors = os.path.join(work, "reg-errors.log")
        last = kill_during(lambda: sipp("phone1", edge1, "register_auth.xml", work, "-inf", "users.csv",
                                        "-trace_stat", "-stf", stats, "-fd", "1",
                                        "-trace_err", "-error_file", errors,
                                        calls=args.rate * seconds, rate=args.rate), "registrar1", stats)
        answers = sorted({line.split("received '")[1][:32] for line in open(errors, errors="replace")
                          if "received 'SIP/2.0" in line}) if os.path.exists(errors) else []
        print(f"registrar kill -9 at {args.rate} REGISTER/s: {last['SuccessfulCall(C)']} registered, "
              f"{last['FailedCall(C)']} failed {answers}")

        # Router: calls at 5/s while router 1 dies (bob answers on phone2).
        callee = subprocess.Popen([TOPO, "exec", NAME, "phone2", "sipp", "-sn", "uas", "-i", topo("addr", "phone2"),
                                   "-p", "5080", "-nostdin", "-bg"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        callee.wait()
        sipp("phone2", edge1, "register_contact.xml", work, "-inf", "bob.csv", "-key", "contact_port", "5080", port=5081)
        stats = os.path.join(work, "calls.csv")
        last = kill_during(lambda: sipp("phone1", edge1, "caller_hangs_up.xml", work, "-inf", "alice.csv",
                                        "-s", "62", "-auth_uri", f"62@{edge1}", "-d", "200", "-trace_stat", "-stf", stats, "-fd", "1",
                                        port=5071, calls=40, rate=5), "router1", stats)
        print(f"router kill -9 at 5 calls/s: {last['SuccessfulCall(C)']} calls completed, {last['FailedCall(C)']} failed")

        # Media: an echo call, its media instance killed; time to the BYE.
        done = {}
        run = threading.Thread(target=lambda: done.update(r=sipp("phone3", edge1, "caller_echo_until_bye.xml", work,
                                                                 "-inf", "alice.csv", "-s", "3666",
                                                                 "-auth_uri", f"3666@{edge1}", port=5072)))
        run.start()
        time.sleep(2)
        victim = next(m for m in ("media1", "media2") if sessions(m) == 1)
        t = kill(victim)
        run.join()
        print(f"media kill -9: BYE to the phone after {time.time() - t:.1f} s "
              f"(call {'ended cleanly' if done['r'].returncode == 0 else 'FAILED'})")

        # Edge: alice registered through edge 2, which dies; when does a call get 480?
        sipp("phone2", edge2, "register_contact.xml", work, "-inf", "alice.csv", "-key", "contact_port", "5082", port=5083)
        refused = os.path.join(work, "refused.xml")
        with open(os.path.join(SIPP, "caller_refused.xml")) as f:
            open(refused, "w").write(f.read().replace("EXPECTED_CODE", "480"))
        t = kill("edge2")
        while True:
            attempt = subprocess.run([TOPO, "exec", NAME, "phone1", "sipp", edge1, "-sf", refused, "-inf", "bob.csv",
                                      "-s", "61", "-auth_uri", f"61@{edge1}", "-i", topo("addr", "phone1"), "-p", "5073", "-m", "1", "-nostdin",
                                      "-timeout", "1s", "-timeout_error"], cwd=work, capture_output=True)
            if attempt.returncode == 0:
                break
        print(f"edge kill -9: calls to its phones answered 480 at once from {time.time() - t:.1f} s after the kill")
    finally:
        subprocess.run(["pkill", "-f", "sipp -sn uas"], check=False)
        subprocess.run([TOPO, "down", NAME], check=False)
        shutil.rmtree(work, ignore_errors=True)


def sessions(media):
    ip = topo("addr", media)
    out = subprocess.run([TOPO, "exec", NAME, media, "bash", "-c",
                          f"exec 3<>/dev/tcp/{ip}/9090 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 2 cat <&3"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("asterism_media_sessions_active "):
            return int(float(line.split()[1]))
    return None


if __name__ == "__main__":
    main()

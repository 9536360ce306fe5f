"""Helpers shared by the load scripts: free loopback ports, per-process CPU
from /proc, waiting for a listener."""
import os, shutil, socket, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    while True:
        t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port)); return port
        except OSError:
            pass
        finally:
            t.close(); u.close()


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return 0


def wait_port(port, udp_probe=None, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close(); return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def http_ready(port, timeout=15):
    """Wait until GET /ready on a loopback admin port answers 200."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            s.sendall(b"GET /ready HTTP/1.0\r\n\r\n")
            if b" 200 " in s.recv(64):
                s.close(); return
            s.close()
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"nothing ready on {port}")


def backends_up(port, timeout=15):
    """Wait until an edge's /metrics says a registrar and a router replica
    answer (its /ready only says it answers SIP)."""
    end = time.time() + timeout
    want = [b'asterism_edge_backend_up{service="registrar"} 1',
            b'asterism_edge_backend_up{service="router"} 1']
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            body = b""
            while chunk := s.recv(65536):
                body += chunk
            s.close()
            if all(w in body for w in want):
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"edge on {port}: backends never up")


def start_stack(work, procs, replicas=1, edges=1, admins=None):
    """Redis, `replicas` registrars and routers and `edges` edges balancing
    over them, release builds on loopback, config from `work`. Fills `procs` by
    name (registrar1, router2, edge1…; the caller stops them, even when this
    fails) and returns the edges' SIP ports once each edge is ready (every
    replica passed a health check). `admins`, a list, gets each edge's admin
    (metrics) port."""
    import subprocess
    # ASTERISM_BENCH_BIN_DIR: binaries of another build (to compare commits).
    rel = os.environ.get("ASTERISM_BENCH_BIN_DIR") or os.path.join(ROOT, "target", "release")
    rport = free_port()
    procs["redis"] = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL)
    wait_port(rport)
    base = dict(os.environ, ASTERISM_LOG=os.environ.get("ASTERISM_BENCH_LOG", "warn"), ASTERISM_CONFIG_DIR=work, ASTERISM_REDIS_URL=f"redis://127.0.0.1:{rport}/")
    grpc = {"registrar": [], "router": []}
    for i in range(1, replicas + 1):
        for kind in ("registrar", "router"):
            port = free_port()
            env = dict(base, **{f"ASTERISM_{kind.upper()}_LISTEN": f"127.0.0.1:{port}",
                                "ASTERISM_ADMIN_LISTEN": f"127.0.0.1:{free_port()}"})
            procs[f"{kind}{i}"] = subprocess.Popen([os.path.join(rel, f"asterism-{kind}")], env=env)
            grpc[kind].append(port)
    for port in grpc["registrar"] + grpc["router"]:
        wait_port(port)
    sports = []
    for i in range(1, edges + 1):
        sport, admin = free_port(), free_port()
        env = dict(base, ASTERISM_SIP_BIND=f"127.0.0.1:{sport}", ASTERISM_ADMIN_LISTEN=f"127.0.0.1:{admin}",
                   ASTERISM_EDGE_ADMIN_LISTEN=f"127.0.0.1:{free_port()}", ASTERISM_EDGE_ID=f"edge{i}",
                   ASTERISM_SIP_INTERNAL=f"127.0.0.1:{free_port()}", ASTERISM_CLUSTER_SECRET="bench-cluster-secret",
                   ASTERISM_REGISTRAR_ADDR=",".join(f"http://127.0.0.1:{p}" for p in grpc["registrar"]),
                   ASTERISM_ROUTER_ADDR=",".join(f"http://127.0.0.1:{p}" for p in grpc["router"]))
        procs[f"edge{i}"] = subprocess.Popen([os.path.join(rel, "asterism-edge")], env=env)
        wait_port(sport)
        http_ready(admin)
        backends_up(admin)
        sports.append(sport)
        if admins is not None:
            admins.append(admin)
    return sports


def start_all_in_one(work, procs):
    """Redis and the all-in-one `asterism` (release) with it, config from
    `work`; its SIP port once it answers."""
    import subprocess
    rel = os.environ.get("ASTERISM_BENCH_BIN_DIR") or os.path.join(ROOT, "target", "release")
    rport = free_port()
    procs["redis"] = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL)
    wait_port(rport)
    sport = free_port()
    env = dict(os.environ, ASTERISM_LOG=os.environ.get("ASTERISM_BENCH_LOG", "warn"), ASTERISM_CONFIG_DIR=work, ASTERISM_REDIS_URL=f"redis://127.0.0.1:{rport}/",
               ASTERISM_SIP_BIND=f"127.0.0.1:{sport}", ASTERISM_EDGE_ADMIN_LISTEN=f"127.0.0.1:{free_port()}",
               ASTERISM_CLUSTER_SECRET="bench-cluster-secret", ASTERISM_RTP_PORTS="40000-40999")
    procs["asterism"] = subprocess.Popen([os.path.join(rel, "asterism")], env=env)
    # It listens for SIP once every part inside is up.
    wait_port(sport)
    time.sleep(0.5)
    return sport


def histogram(port, name):
    """A histogram's cumulative bucket counts from an admin port's /metrics:
    {upper bound in seconds: count}."""
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    out = {}
    for line in data.decode(errors="replace").splitlines():
        if line.startswith(name + "_bucket{") and 'le="' in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def histogram_quantile(before, after, q):
    """The upper bound of the bucket holding the q-th percentile (0–100) of
    what was observed between two readings; None without observations."""
    bounds = sorted(after)
    total = after.get(float("inf"), 0) - before.get(float("inf"), 0)
    if total <= 0:
        return None
    for b in bounds:
        if after[b] - before.get(b, 0) >= q / 100.0 * total:
            return b
    return float("inf")


def percentile(values, q):
    """The q-th percentile (0–100) of `values` (nearest rank); 0 when empty."""
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q / 100.0 * len(v) + 0.5)) - 1))]


def stop(procs):
    import signal, subprocess
    for p in procs.values():
        p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()


def cpu_percent(procs, before, elapsed):
    """CPU per service kind since `before` (100 = one core); replicas summed."""
    row = {}
    for name, p in procs.items():
        kind = name.rstrip("0123456789")
        row[kind] = row.get(kind, 0.0) + 100.0 * (cpu_ticks(p.pid) - before[name]) / TICK / elapsed
    return row


def add_workers(ap):
    """--workers N: tokio worker threads per Asterism process
    (ASTERISM_WORKER_THREADS; unset, a process runs one per core)."""
    ap.add_argument("--workers", type=int, default=0,
                    help="tokio worker threads per Asterism process (default: one per core)")


def apply_workers(args):
    if args.workers > 0:
        os.environ["ASTERISM_WORKER_THREADS"] = str(args.workers)
    else:
        os.environ.pop("ASTERISM_WORKER_THREADS", None)


def need_tools(*tools):
    """Stop with the install command when a tool the bench drives is missing."""
    packages = {"sipp": "sip-tester", "redis-server": "redis-server", "perf": "linux-perf"}
    for tool in tools:
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install {packages.get(tool, tool)}")

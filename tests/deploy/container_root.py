"""Replays deploy/container/Dockerfile's runtime stage in a Debian 12 root (see
container_root.sh) and runs ferry there as the image would. Exits non-zero on any failure."""
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

root, binary, top = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
dockerfile = top / "deploy/container/Dockerfile"


def instructions(text):
    """(keyword, argument) of each instruction, continuation lines joined, comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        word, _, arg = cur.strip().partition(" ")
        out.append((word.upper(), arg.strip()))
        cur = ""
    return out


def argv_of(arg):
    """Exec form (JSON array) or shell form, as Docker reads them."""
    return json.loads(arg) if arg.startswith("[") else ["/bin/sh", "-c", arg]


def chroot(cmd, user=None, timeout=600, check=True):
    spec = ["--userspec=" + user] if user else []
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
    r = subprocess.run(["chroot", *spec, str(root), *cmd], env=env, timeout=timeout,
                       capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"FAIL: {cmd} exited {r.returncode}\n{r.stdout}{r.stderr}")
    return r


stages = [[]]
for word, arg in instructions(dockerfile.read_text()):
    if word == "FROM":
        stages.append([])
    stages[-1].append((word, arg))
runtime = stages[-1]
assert runtime[0] == ("FROM", "debian:bookworm-slim"), runtime[0]

user = entrypoint = cmd = health = stopsignal = None
ports = []
for word, arg in runtime[1:]:
    if word == "RUN":
        print("RUN", arg[:100], flush=True)
        chroot(argv_of(arg), user=user)
    elif word == "COPY":
        parts = arg.split()
        if parts[0].startswith("--from="):
            src, dest = parts[1], parts[2]
            assert src == "/src/build/ferry", f"unexpected COPY from the build stage: {src}"
            src_path = binary
        else:
            src, dest = parts[0], parts[1]
            src_path = top / src
        target = root / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if src_path.is_dir():
            shutil.copytree(src_path, target, dirs_exist_ok=True)
        else:
            shutil.copy2(src_path, target)
        print("COPY", src, dest)
    elif word == "USER":
        user = arg
    elif word == "ENTRYPOINT":
        entrypoint = json.loads(arg)
    elif word == "CMD":
        cmd = json.loads(arg)
    elif word == "HEALTHCHECK":
        health = argv_of(arg[arg.index("CMD ") + 4:].strip())
    elif word == "STOPSIGNAL":
        stopsignal = arg
    elif word == "EXPOSE":
        ports += [int(p) for p in arg.split()]

assert user and user.split(":")[0] != "0", "the image runs as root"
r = chroot([entrypoint[0], "--version"], user=user)
print("ferry --version:", r.stdout.strip())
assert r.stdout.startswith("ferry "), r.stdout
r = chroot([entrypoint[0], "--check", "/etc/ferry/ferry.yaml"], user=user)
print("ferry --check:", r.stdout.strip())
# The Kubernetes preStop hook needs /bin/sh's builtin kill.
chroot(["/bin/sh", "-c", "kill -0 $$"], user=user)

# The container's life in a private network namespace (loopback only): start as ENTRYPOINT+CMD,
# poll the HEALTHCHECK with a deadline, one request through the proxy, then STOPSIGNAL.
run = " ".join(shlex.quote(a) for a in ["chroot", f"--userspec={user}", str(root),
                                         *entrypoint, *cmd])
hc = " ".join(shlex.quote(a) for a in ["chroot", f"--userspec={user}", str(root), *health])
get = " ".join(shlex.quote(a) for a in ["chroot", f"--userspec={user}", str(root), "curl", "-fsS",
                                         "--max-time", "5", f"http://127.0.0.1:{ports[0]}/"])
script = f"""
set -u
ip link set lo up
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin {run} > /tmp/ferry-container.log 2>&1 &
pid=$!
ok=0
for i in $(seq 100); do
  if {hc}; then ok=1; break; fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.2
done
[ $ok = 1 ] || {{ echo "HEALTHCHECK never passed"; cat /tmp/ferry-container.log; exit 1; }}
echo "HEALTHCHECK ok"
page=$({get}) || {{ echo "no answer through the proxy"; cat /tmp/ferry-container.log; exit 1; }}
echo "$page" | grep -q "demo backend" || {{ echo "unexpected page: $page"; exit 1; }}
echo "proxy ok: $(echo "$page" | grep -o 'demo backend [ab]' | head -1)"
kill -{stopsignal.replace('SIG', '')} $pid
wait $pid
rc=$?
echo "exit after {stopsignal}: $rc"
[ $rc = 0 ] || {{ cat /tmp/ferry-container.log; exit 1; }}
"""
r = subprocess.run(["unshare", "--net", "--", "bash", "-c", script], capture_output=True,
                   text=True, timeout=120)
print(r.stdout + r.stderr, end="")
if r.returncode != 0:
    sys.exit("FAIL: the container's life in the root")
print("ok: the runtime stage in a Debian 12 root")

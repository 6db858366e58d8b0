"""The unit's sandbox against what ferry really calls (tests/deploy/systemd.sh).

    python3 syscall_filter.py UNIT TRACE...

UNIT's SystemCallFilter= lines are expanded with `systemd-analyze syscall-filter` (groups
nested in groups), allow lists first, then `~` deny lists taken away, plus the calls systemd
always allows (@default and those systemd.exec(5) names). TRACE files are `strace -f` logs of
ferry. Every system call in them must be allowed, and every socket() family must be one of
RestrictAddressFamilies=. Prints what it saw; exits 1 naming each call or family refused."""
import re
import subprocess
import sys

unit_path, traces = sys.argv[1], sys.argv[2:]
out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                     check=True).stdout
groups, cur = {}, None
for line in out.splitlines():
    if line.startswith("@"):
        cur = groups.setdefault(line.strip(), [])
    elif cur is not None and line.strip() and not line.strip().startswith("#"):
        cur.append(line.strip())


def expand(items):
    names = set()
    for item in items:
        if item.startswith("@"):
            if item not in groups:
                sys.exit(f"FAIL: the unit names {item}, which systemd-analyze does not know")
            names |= expand(groups[item])
        else:
            names.add(item)
    return names


unit = open(unit_path).read()
allow, deny = set(), set()
for m in re.finditer(r"^SystemCallFilter=(~?)(.*)$", unit, re.M):
    (deny if m.group(1) else allow).update(expand(m.group(2).split()))
if not allow:
    sys.exit("FAIL: the unit has no SystemCallFilter= allow list")
always = expand(["@default"]) | {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn",
                                 "sigreturn"}
allowed = (allow | always) - deny
families = set()
for m in re.finditer(r"^RestrictAddressFamilies=(.*)$", unit, re.M):
    families |= set(m.group(1).split())

calls, used_families = set(), set()
for path in traces:
    for line in open(path):
        m = re.match(r"^\d+ +([a-z0-9_]+)\((AF_[A-Z0-9]+)?", line)
        if m:
            calls.add(m.group(1))
            if m.group(1) == "socket" and m.group(2):
                used_families.add(m.group(2))
if len(calls) < 20:
    sys.exit(f"FAIL: only {len(calls)} distinct calls traced: the trace is not of ferry's life")
print(f"ferry made {len(calls)} distinct system calls: {' '.join(sorted(calls))}")
print(f"socket families: {' '.join(sorted(used_families))}")
bad = 0
for call in sorted(calls - allowed):
    print(f"FAIL: ferry calls {call}, which the unit's SystemCallFilter refuses (EPERM)")
    bad = 1
for fam in sorted(used_families - families):
    print(f"FAIL: ferry opens {fam} sockets, which RestrictAddressFamilies refuses")
    bad = 1
sys.exit(bad)

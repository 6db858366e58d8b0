#!/usr/bin/env bash
# deploy/windows: ferry.exe as a Windows service under Wine (its services.exe and sc.exe):
# `ferry service install -c FILE`, `sc start ferry`, a request served through it with curl,
# `sc stop ferry` while a request is in flight (STOP_PENDING and /ready not 200 until that
# request is answered: the stop drains; then STOPPED with exit code 0: the stop went through
# ferry's own path, not a kill), `ferry service uninstall`. Also: `ferry service run` outside the SCM
# refuses with exit 1. Called by tests/run-windows.sh (WINEPREFIX and wineserver set up there).
#   tests/deploy/windows_service.sh FERRY_EXE
set -euo pipefail
source "$(dirname "$0")/lib.sh"
exe=$(realpath "$1")
command -v wine >/dev/null || skip windows-service "wine not installed"

# Three ports that were free a moment ago (a service's log is not ours to read, so ferry cannot
# tell us port-0 choices); a collision fails the start, reported below, never a false pass.
read -r web api admin < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
mkdir -p "$tmp/site"
cp "$top/deploy/demo/a/index.html" "$tmp/site/"
# A backend that holds its answer: it writes $tmp/got when a request arrives and answers once
# $tmp/release exists (at most 60 s), so a request is surely in flight when the stop comes.
cat > "$tmp/held.py" <<'PY'
import http.server, os, sys, time
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        open(os.path.join(d, "got"), "w").close()
        end = time.monotonic() + 60
        while not os.path.exists(os.path.join(d, "release")) and time.monotonic() < end:
            time.sleep(0.05)
        body = b"held answer\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 -u "$tmp/held.py" "$tmp" > "$tmp/held.port" 2>"$tmp/held.err" &
held=$!
deadline=$((SECONDS + 20))
until [[ -s $tmp/held.port ]]; do
  (( SECONDS < deadline )) || fail "the held backend did not start: $(cat "$tmp/held.err")"
  sleep 0.1
done
cat > "$tmp/ferry.yaml" <<YAML
workers: 1
drain_timeout: 60s  # margin: the held request is released a few Wine calls after the stop
admin:
  address: 127.0.0.1:$admin
listeners:
  - name: web
    address: 127.0.0.1:$web
    static: { root: site }
  - name: api
    address: 127.0.0.1:$api
    routes: [{ name: all, match: { path_prefix: / }, cluster: held }]
clusters:
  - name: held
    endpoints: [127.0.0.1:$(cat "$tmp/held.port")]
YAML
cfg=$(winepath -w "$tmp/ferry.yaml")
state() { wine sc query ferry 2>/dev/null | tr -d '\r' | awk '/STATE/ {print $4}'; }
cleanup() {
  touch "$tmp/release"
  wine sc stop ferry >/dev/null 2>&1 || true
  wine "$exe" service uninstall >/dev/null 2>&1 || true
  kill "$held" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
wine "$exe" service uninstall >/dev/null 2>&1 || true  # a leftover of an interrupted run

out=$(timeout 60 wine "$exe" service run -c "$cfg" 2>&1) && fail "service run outside the SCM succeeded: $out"
echo "$out" | grep -q "not started by the Service Control Manager" || fail "service run outside the SCM: $out"
echo "ok: service run outside the SCM refuses"

wine "$exe" service install -c "$cfg" | tr -d '\r'
[[ $(state) == STOPPED ]] || fail "after install the service is '$(state)', not STOPPED"
# The service's command line as the SCM stores it (Wine's sc.exe has no qc).
wine reg query 'HKLM\System\CurrentControlSet\Services\ferry' /v ImagePath | tr -d '\r' |
  grep -qF "service run -c \"$cfg\"" || fail "the config path is not in the service's command line"

wine sc start ferry >/dev/null || fail "sc start ferry"
deadline=$((SECONDS + 60))
until page=$(curl -fsS --max-time 2 "http://127.0.0.1:$web/" 2>/dev/null); do
  (( SECONDS < deadline )) || fail "no answer on 127.0.0.1:$web within 60 s (state $(state))"
  sleep 0.5
done
echo "$page" | grep -q "demo backend a" || fail "unexpected page: $page"
until [[ $(state) == RUNNING ]]; do
  (( SECONDS < deadline )) || fail "the service never reported RUNNING (state $(state))"
  sleep 0.2
done
curl -fsS --max-time 2 "http://127.0.0.1:$admin/ready" | grep -q ready || fail "/ready"
echo "ok: started by sc, RUNNING, served a request"

# The stop drains: a request in flight when it comes is still answered, and the service stays
# STOP_PENDING until it is.
curl -sS --max-time 90 -o "$tmp/held.out" -w '%{http_code}' "http://127.0.0.1:$api/held" \
  > "$tmp/held.code" 2>"$tmp/held.curl" &
client=$!
deadline=$((SECONDS + 30))
until [[ -e $tmp/got ]]; do
  (( SECONDS < deadline )) || fail "the held request never reached the backend through ferry"
  sleep 0.1
done
wine sc stop ferry | tr -d '\r' | grep -q "STOP_PENDING" || fail "sc stop ferry: no STOP_PENDING"
sleep_until=$((SECONDS + 1))
while (( SECONDS < sleep_until )); do
  [[ $(state) == STOP_PENDING ]] || fail "the service left STOP_PENDING ($(state)) with a request in flight"
  sleep 0.2
done
curl -fsS --max-time 2 "http://127.0.0.1:$admin/ready" >/dev/null 2>&1 && fail "/ready still 200 while stopping"
echo "ok: sc stop: STOP_PENDING while a request is in flight, /ready not 200"
touch "$tmp/release"
wait "$client" || fail "the request in flight failed during the stop: $(cat "$tmp/held.curl")"
[[ $(cat "$tmp/held.code") == 200 && $(cat "$tmp/held.out") == "held answer" ]] ||
  fail "the request in flight got $(cat "$tmp/held.code") '$(cat "$tmp/held.out")'"
echo "ok: the request in flight was answered (200) during the stop"
deadline=$((SECONDS + 30))
until [[ $(state) == STOPPED ]]; do
  if (( SECONDS >= deadline )); then
    # The service process this test started, by its PID, so the uninstall below can go on.
    pid=$(pgrep -f "ferry.exe service run -c ${cfg//\\/.}" | head -1 || true)
    [[ -n $pid ]] && kill "$pid"
    fail "ferry.exe did not report STOPPED within 30 s of sc stop (state $(state))"
  fi
  sleep 0.2
done
code=$(wine sc query ferry | tr -d '\r' | awk '/WIN32_EXIT_CODE/ {print $3}')
[[ $code == 0 ]] || fail "the service stopped with WIN32_EXIT_CODE $code"
curl -fsS --max-time 2 "http://127.0.0.1:$web/" >/dev/null 2>&1 && fail "still serving after stop"
echo "ok: sc stop: STOPPED, exit code 0, port closed"

wine "$exe" service uninstall | tr -d '\r'
wine sc query ferry >/dev/null 2>&1 && fail "the service still exists after uninstall"
echo "ok: uninstalled"
echo "windows-service: 6 passed, 0 failed"

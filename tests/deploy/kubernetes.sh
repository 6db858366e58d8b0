#!/usr/bin/env bash
# deploy/kubernetes: `kubectl kustomize` renders the base (any warning fails), the rendered
# objects hold what the base promises (hashed ConfigMap reference, probes, grace period above
# the config's drain delay + timeout, non-root read-only seccomp RuntimeDefault), the config
# passes ferry --check, and every object validates offline against the Kubernetes OpenAPI
# schemas (npm's kubernetes-models) and the ServiceMonitor against the Prometheus Operator's CRD
# schema, unknown fields rejected (tests/deploy/validate-k8s.mjs); three broken renders must
# fail that validation.
# Exposure and alerts, on the render (the Python checker below, with a broken render for each
# rule it enforces): only the proxy and admin ports are container ports, the client Service
# publishes only the proxy, the admin port only to the ServiceMonitor's headless Service, the
# probes use /ready and /healthz on the admin port, a NetworkPolicy admits anyone to the proxy
# port and only Prometheus pods (namespace and pod labels) to the admin port, ferry.yaml's control
# address (if any) is loopback or token-protected and unpublished; the PrometheusRule is
# dashboards/alerts.yaml (deploy/kubernetes/prometheusrule.sh's output, byte for byte, and the same
# rules after kustomize), with job="ferry" what the ServiceMonitor gives, and every alert's
# runbook_url names a section of dashboards/README.md.
#   tests/deploy/kubernetes.sh FERRY_BINARY
set -euo pipefail
source "$(dirname "$0")/lib.sh"
binary=$1
base="$top/deploy/kubernetes"

sed "s|/usr/local/share/ferry/demo|$top/deploy/demo|g" "$base/ferry.yaml" > "$tmp/ferry.yaml"
"$binary" --check "$tmp/ferry.yaml" >/dev/null || fail "ferry --check rejects deploy/kubernetes/ferry.yaml"

command -v kubectl >/dev/null || skip kubernetes "kubectl not installed (Debian: kubernetes-client)"
kubectl kustomize "$base" > "$tmp/rendered.yaml" 2> "$tmp/kustomize.err" ||
  fail "kubectl kustomize: $(cat "$tmp/kustomize.err")"
[[ ! -s $tmp/kustomize.err ]] || fail "kubectl kustomize warned: $(cat "$tmp/kustomize.err")"
r="$tmp/rendered.yaml"
for kind in ConfigMap Deployment Service PodDisruptionBudget HorizontalPodAutoscaler ServiceMonitor \
            PrometheusRule NetworkPolicy; do
  grep -qx "kind: $kind" "$r" || fail "the render has no $kind"
done
cm=$(awk '/^kind: ConfigMap/{c=1} c && /^  name: /{print $2; exit}' "$r")
[[ $cm =~ ^ferry-config-[a-z0-9]{10}$ ]] || fail "the ConfigMap name '$cm' carries no content hash"
grep -q "name: $cm\$" <(sed -n '/^kind: Deployment/,/^---/p' "$r") ||
  fail "the Deployment does not mount the hashed ConfigMap $cm"
dep=$(awk 'BEGIN{RS="\n---\n"} /\nkind: Deployment\n/' "$r")
# A here-string, not `echo | grep -q`: grep -q exits at its match, and under pipefail the echo
# still writing the lines after it dies of SIGPIPE (a false failure, 2 runs in 25 seen).
expect() { grep -qE "$1" <<<"$dep" || fail "the Deployment lacks $2"; }
expect 'path: /ready' "a readiness probe on /ready"
expect 'path: /healthz' "a liveness probe on /healthz"
expect 'readOnlyRootFilesystem: true' "readOnlyRootFilesystem"
expect 'runAsNonRoot: true' "runAsNonRoot"
expect 'type: RuntimeDefault' "seccomp RuntimeDefault"
expect 'preStop:' "a preStop hook"
expect 'cpu: 250m' "a CPU request (the HPA needs it)"
grace=$(echo "$dep" | sed -n 's/.*terminationGracePeriodSeconds: \([0-9]*\)/\1/p')
drain=$(drain_seconds "$base/ferry.yaml")
[[ -n $grace && $grace -gt $drain ]] ||
  fail "terminationGracePeriodSeconds (${grace:-unset}) is not above the config's drain_delay + drain_timeout ($drain s)"
echo "ok: kubectl kustomize ($(grep -c '^kind: ' "$r") objects, ConfigMap $cm)"

"$base/prometheusrule.sh" > "$tmp/prometheusrule.yaml"
cmp -s "$tmp/prometheusrule.yaml" "$base/prometheusrule.yaml" ||
  fail "deploy/kubernetes/prometheusrule.yaml is not dashboards/alerts.yaml: run" \
       "deploy/kubernetes/prometheusrule.sh > deploy/kubernetes/prometheusrule.yaml"
cat > "$tmp/exposure.py" <<'PY'
import copy, ipaddress, re, sys, yaml

render, alerts_file, readme_file, config_file = sys.argv[1:5]
docs = [d for d in yaml.safe_load_all(open(render)) if d]
alerts = yaml.safe_load(open(alerts_file))
readme = open(readme_file).read()
config = yaml.safe_load(open(config_file)) or {}


def slug(heading):  # GitHub's anchor for a Markdown heading
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def port_of(address):
    return int(str(address).rsplit(":", 1)[1])


def loopback(address):
    host = str(address).rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def subset(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def problems(docs):
    out = []
    of = lambda kind: [d for d in docs if d.get("kind") == kind]
    dep = of("Deployment")[0]
    pod = dep["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    c = pod["spec"]["containers"][0]
    named = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    num = lambda p: named.get(p, p)  # a port by name or number -> its number
    admin = port_of(config["admin"]["address"])
    public = {port_of(l["address"]) for l in config.get("listeners", []) if not loopback(l["address"])}
    if admin not in named.values():
        out.append(f"no container port for the admin listener ({admin})")
    for name, p in named.items():
        if p != admin and p not in public:
            out.append(f"container port {name} ({p}) is neither a proxy listener nor the admin")
    control = (config.get("admin") or {}).get("control") or {}
    if control.get("address"):
        if not loopback(control["address"]) and not control.get("token_file"):
            out.append("admin.control.address is reachable from outside the pod without a token")
        if port_of(control["address"]) in named.values():
            out.append("the admin control address is published as a container port")
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/healthz")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path or num(get.get("port")) != admin:
            out.append(f"{probe} is not GET {path} on the admin port")

    metrics_services = []
    for svc in of("Service"):
        if not subset(svc["spec"].get("selector"), pod_labels):
            continue
        targets = {num(p.get("targetPort", p["port"])) for p in svc["spec"]["ports"]}
        if admin in targets:
            if targets != {admin}:
                out.append(f"Service {svc['metadata']['name']} publishes the admin port beside others")
            else:
                metrics_services.append(svc)
    monitors = of("ServiceMonitor")
    scraped = [s for s in metrics_services for m in monitors
               if subset(m["spec"]["selector"].get("matchLabels"), s["metadata"]["labels"])]
    if len(metrics_services) != 1 or len(scraped) != 1:
        out.append("the admin port is not published by exactly one Service, the ServiceMonitor's")
    for m in monitors:
        for svc in of("Service"):
            if svc not in metrics_services and subset(m["spec"]["selector"].get("matchLabels"),
                                                      svc["metadata"]["labels"]):
                out.append(f"the ServiceMonitor selects Service {svc['metadata']['name']}")
    for svc in scraped:
        ports = [p["name"] for p in svc["spec"]["ports"]]
        for m in monitors:
            if [e["port"] for e in m["spec"]["endpoints"]] != ports:
                out.append("the ServiceMonitor does not scrape the metrics Service's port")
            job_label = m["spec"].get("jobLabel")
            job = svc["metadata"]["labels"].get(job_label) if job_label else svc["metadata"]["name"]
            if job != "ferry":
                out.append(f"scraped as job {job!r}; the alerts match job=\"ferry\"")

    policies = [p for p in of("NetworkPolicy")
                if subset(p["spec"]["podSelector"].get("matchLabels"), pod_labels)]
    if len(policies) != 1:
        out.append(f"{len(policies)} NetworkPolicies select ferry's pods (want 1)")
    for pol in policies:
        if "Ingress" not in pol["spec"].get("policyTypes", []):
            out.append("the NetworkPolicy does not restrict ingress")
        open_to_all = False
        admin_rule = False
        for rule in pol["spec"].get("ingress", []):
            ports = {num(p.get("port")) for p in rule.get("ports", [])}
            if not ports or None in ports:
                out.append("a NetworkPolicy rule opens every port")
            if public & ports and not rule.get("from"):
                open_to_all = True
            if admin in ports:
                admin_rule = True
                peers = rule.get("from") or []
                if not peers or any(not (p.get("namespaceSelector") or {}).get("matchLabels")
                                    or not (p.get("podSelector") or {}).get("matchLabels")
                                    for p in peers):
                    out.append("the admin port is open to more than Prometheus pods in a namespace")
        if not open_to_all:
            out.append("the NetworkPolicy does not admit clients to the proxy port from anywhere")
        if not admin_rule:
            out.append("the NetworkPolicy does not admit Prometheus to the admin port")

    rules = of("PrometheusRule")
    if len(rules) != 1 or rules[0]["spec"].get("groups") != alerts["groups"]:
        out.append("the rendered PrometheusRule's groups are not dashboards/alerts.yaml's")
    return out


anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", readme, re.M)}
bad = problems(docs)
for g in alerts["groups"]:
    for rule in g["rules"]:
        url = rule.get("annotations", {}).get("runbook_url", "")
        if not url.startswith("dashboards/README.md#") or url.split("#", 1)[1] not in anchors:
            bad.append(f"{rule.get('alert')}: runbook_url {url!r} names no section of dashboards/README.md")
if bad:
    sys.exit("\n".join(bad))
print(f"ok: exposure, NetworkPolicy and PrometheusRule ({sum(len(g['rules']) for g in alerts['groups'])} alerts, each with a runbook)")

# Each rule above must catch the breakage it is there for.
def kind(docs, k, name=None):
    return next(d for d in docs if d["kind"] == k and (name is None or d["metadata"]["name"] == name))
def open_admin(d):
    for r in kind(d, "NetworkPolicy")["spec"]["ingress"]:
        r.pop("from", None)
def admin_on_client_service(d):
    kind(d, "Service", "ferry")["spec"]["ports"].append({"name": "admin", "port": 9901, "targetPort": "admin"})
def control_port(d):
    kind(d, "Deployment")["spec"]["template"]["spec"]["containers"][0]["ports"].append(
        {"name": "control", "containerPort": 9902})
def policy_misses_pods(d):
    kind(d, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"] = {"app": "other"}
def namespace_only(d):
    for r in kind(d, "NetworkPolicy")["spec"]["ingress"]:
        for p in r.get("from", []):
            p.pop("podSelector", None)
def rules_drift(d):
    kind(d, "PrometheusRule")["spec"]["groups"][0]["rules"][0]["for"] = "5m"
def other_job(d):
    kind(d, "ServiceMonitor")["spec"].pop("jobLabel", None)
def probe_elsewhere(d):
    kind(d, "Deployment")["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = "http"
for breakage in (open_admin, admin_on_client_service, control_port, policy_misses_pods,
                 namespace_only, rules_drift, other_job, probe_elsewhere):
    broken = copy.deepcopy(docs)
    breakage(broken)
    if not problems(broken):
        sys.exit(f"the exposure check accepts a broken render ({breakage.__name__})")
print("ok: the exposure check rejects 8 broken renders")
PY
python3 "$tmp/exposure.py" "$r" "$top/dashboards/alerts.yaml" "$top/dashboards/README.md" \
  "$base/ferry.yaml" || fail "exposure, NetworkPolicy or alert rules"

npm_tools || skip kubernetes-schema "npm or its registry not available (kubernetes-models not installed)"
cp "$top/tests/deploy/validate-k8s.mjs" "$tmp/validate-k8s.mjs"
node "$tmp/validate-k8s.mjs" < "$r" || fail "schema validation"
# The validator rejects what the API server would: a misspelt key deep in the pod spec, a
# string where a port number belongs, a ServiceMonitor without endpoints, a misspelt key in the
# NetworkPolicy, a PrometheusRule rule without its expression. Each must fail.
for bad in 's/^\( *\)readinessProbe:/\1readinesProbe:/' 's/containerPort: 8080/containerPort: "http"/' \
           's/^  endpoints:/  endpointz:/' 's/^  policyTypes:/  policyTypez:/' \
           's/^\( *\)expr: up{/\1exprr: up{/'; do
  sed "$bad" "$r" > "$tmp/broken.yaml"
  ! cmp -s "$r" "$tmp/broken.yaml" || fail "the negative case '$bad' changed nothing in the render"
  ! node "$tmp/validate-k8s.mjs" < "$tmp/broken.yaml" > "$tmp/broken.out" 2>&1 ||
    fail "the validator accepted a broken render ($bad)"
  grep -q '^FAIL ' "$tmp/broken.out" || fail "the validator failed without naming the object ($bad)"
done
echo "ok: the validator rejects unknown fields, a wrong type and missing required fields"

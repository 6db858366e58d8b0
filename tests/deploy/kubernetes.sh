#!/usr/bin/env bash
# deploy/kubernetes: `kubectl kustomize` renders the base (any warning fails), the rendered
# objects hold what the base promises (hashed ConfigMap reference, probes, grace period above
# the config's drain delay + timeout, non-root read-only seccomp RuntimeDefault), the config
# passes ferry --check, and every object validates offline against the Kubernetes OpenAPI
# schemas (npm's kubernetes-models) and the ServiceMonitor against the Prometheus Operator's CRD
# schema, unknown fields rejected (tests/deploy/validate-k8s.mjs); three broken renders must
# fail that validation.
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
for kind in ConfigMap Deployment Service PodDisruptionBudget HorizontalPodAutoscaler ServiceMonitor; do
  grep -qx "kind: $kind" "$r" || fail "the render has no $kind"
done
cm=$(awk '/^kind: ConfigMap/{c=1} c && /^  name: /{print $2; exit}' "$r")
[[ $cm =~ ^ferry-config-[a-z0-9]{10}$ ]] || fail "the ConfigMap name '$cm' carries no content hash"
grep -q "name: $cm\$" <(sed -n '/^kind: Deployment/,/^---/p' "$r") ||
  fail "the Deployment does not mount the hashed ConfigMap $cm"
dep=$(awk 'BEGIN{RS="\n---\n"} /\nkind: Deployment\n/' "$r")
expect() { echo "$dep" | grep -qE "$1" || fail "the Deployment lacks $2"; }
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

npm_tools || skip kubernetes-schema "npm or its registry not available (kubernetes-models not installed)"
cp "$top/tests/deploy/validate-k8s.mjs" "$tmp/validate-k8s.mjs"
node "$tmp/validate-k8s.mjs" < "$r" || fail "schema validation"
# The validator rejects what the API server would: a misspelt key deep in the pod spec, a
# string where a port number belongs, a ServiceMonitor without endpoints. Each must fail.
for bad in 's/^\( *\)readinessProbe:/\1readinesProbe:/' 's/containerPort: 8080/containerPort: "http"/' \
           's/^  endpoints:/  endpointz:/'; do
  sed "$bad" "$r" > "$tmp/broken.yaml"
  ! cmp -s "$r" "$tmp/broken.yaml" || fail "the negative case '$bad' changed nothing in the render"
  ! node "$tmp/validate-k8s.mjs" < "$tmp/broken.yaml" > "$tmp/broken.out" 2>&1 ||
    fail "the validator accepted a broken render ($bad)"
  grep -q '^FAIL ' "$tmp/broken.out" || fail "the validator failed without naming the object ($bad)"
done
echo "ok: the validator rejects an unknown field, a wrong type and a missing required field"

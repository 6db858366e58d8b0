// Validates every object of a rendered multi-document YAML (stdin) against the Kubernetes
// OpenAPI schemas (npm's kubernetes-models) and the Prometheus Operator's CRD schemas
// (@kubernetes-models/prometheus-operator), offline. Prints one line per object; exits 1 on
// any invalid object or any kind it has no schema for (never a silent pass).
// Run from the tools cache, where the packages are installed (tests/deploy/kubernetes.sh).
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const docs = parseAllDocuments(readFileSync(0, "utf8"));
let bad = 0;
const seen = [];
for (const doc of docs) {
  if (doc.errors.length) {
    console.log(`FAIL yaml: ${doc.errors[0].message}`);
    bad++;
    continue;
  }
  const obj = doc.toJS();
  if (!obj) continue;
  const { apiVersion, kind } = obj;
  const name = `${kind}/${obj.metadata?.name} (${apiVersion})`;
  let mod;
  try {
    if (apiVersion.startsWith("monitoring.coreos.com/")) {
      mod = await import(`@kubernetes-models/prometheus-operator/${apiVersion}`);
    } else {
      mod = await import(`kubernetes-models/${apiVersion}`);
    }
  } catch (e) {
    console.log(`FAIL ${name}: no schema for ${apiVersion} (${e.code || e.message})`);
    bad++;
    continue;
  }
  const Model = mod[kind];
  if (!Model) {
    console.log(`FAIL ${name}: no schema for kind ${kind}`);
    bad++;
    continue;
  }
  try {
    new Model(obj).validate();
    console.log(`ok ${name}`);
    seen.push(kind);
  } catch (e) {
    console.log(`FAIL ${name}: ${e.message}`);
    bad++;
  }
}
if (seen.length === 0) {
  console.log("FAIL: no object validated");
  bad++;
}
process.exit(bad ? 1 : 0);

// Validates every object of a rendered multi-document YAML (stdin) offline, twice:
// - against the Kubernetes OpenAPI schemas (npm's kubernetes-models) and the Prometheus
//   Operator's CRD schemas (@kubernetes-models/prometheus-operator): types, required fields,
//   enums, formats;
// - for unknown fields, as the API server's strict field validation (kubectl apply's default)
//   rejects them: those schemas let unknown keys through, so each object is written as a
//   TypeScript object literal typed by the same packages' interfaces and compiled (npm's
//   typescript): a misspelt key at any depth is an excess-property error.
// Prints one line per object and per problem; exits 1 on any invalid object or any kind it has
// no schema for (never a silent pass). Run from the folder holding node_modules (the tools
// cache, linked by tests/deploy/kubernetes.sh); writes its TypeScript file beside itself.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { parseAllDocuments } from "yaml";

const docs = parseAllDocuments(readFileSync(0, "utf8"));
let bad = 0;
const objects = [];
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
  const pkg = apiVersion.startsWith("monitoring.coreos.com/")
    ? `@kubernetes-models/prometheus-operator/${apiVersion}`
    : `kubernetes-models/${apiVersion}`;
  let mod;
  try {
    mod = await import(pkg);
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
    console.log(`ok schema ${name}`);
    objects.push({ obj, name, module: `${pkg}/${kind}` });
  } catch (e) {
    console.log(`FAIL ${name}: ${e.message}`);
    bad++;
  }
}

// Unknown fields: one typed constant per object, compiled without emitting.
let src = "";
const spans = [];
objects.forEach(({ obj, name, module }, i) => {
  const first = src.split("\n").length;
  src += `import type { I${obj.kind} as T${i} } from "${module}";\n`;
  src += `export const o${i}: T${i} = ${JSON.stringify(obj, null, 2)};\n`;
  spans.push({ first, last: src.split("\n").length - 1, name });
});
const file = join(dirname(fileURLToPath(import.meta.url)), "objects.mts");
writeFileSync(file, src);
const program = ts.createProgram([file], {
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: [],
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
});
const failed = new Set();
for (const d of ts.getPreEmitDiagnostics(program)) {
  const line = d.file ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
  const who = spans.find((s) => line >= s.first && line <= s.last)?.name ?? "(the TypeScript file)";
  console.log(`FAIL ${who}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`);
  failed.add(who);
  bad++;
}
for (const s of spans) if (!failed.has(s.name)) console.log(`ok fields ${s.name}`);

if (objects.length === 0) {
  console.log("FAIL: no object validated");
  bad++;
}
process.exit(bad ? 1 : 0);

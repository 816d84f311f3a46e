// Validates rendered Kubernetes manifests against the API schemas, without a cluster:
//   node validate-manifests.mjs NODE_MODULES_DIR MANIFESTS.yaml...
//
// Every document must be a kind the pinned npm `kubernetes-models` (core and apps APIs) or
// `@kubernetes-models/prometheus-operator` (ServiceMonitor, PrometheusRule) knows; an unknown
// apiVersion/kind is an error, never skipped. Two checks per document:
//   1. the model's own validation: types, formats, required fields, enums;
//   2. unknown fields (which (1) ignores, so `replicaz: 2` or a misplaced `grpc:` would pass):
//      the schema validator reads exactly the properties its schema declares (present or not),
//      so the document is validated through a Proxy that records every property read; a key of
//      an object the validator probed that it never read is not in the schema. Maps (labels,
//      annotations, resource quantities) have every key read; objects the validator never
//      probes (schema-less, x-kubernetes-preserve-unknown-fields) are not judged.
// Prints one line per problem; exits 1 if there is any.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const [modulesDir, ...files] = process.argv.slice(2);
if (!modulesDir || files.length === 0) {
  console.error("usage: node validate-manifests.mjs NODE_MODULES_DIR MANIFESTS.yaml...");
  process.exit(2);
}
const YAML = createRequire(join(modulesDir, "noop.js"))("yaml");

// The model module of apiVersion/kind, or null. Core kinds live at kubernetes-models/v1/<Kind>.
function modelPath(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const candidates =
    group === ""
      ? [join(modulesDir, "kubernetes-models", version, `${kind}.js`)]
      : [
          join(modulesDir, "kubernetes-models", group, version, `${kind}.js`),
          join(modulesDir, "@kubernetes-models/prometheus-operator", group, version, `${kind}.js`),
        ];
  return candidates.find((path) => existsSync(path)) ?? null;
}

// The raw schema validator the model module wraps (its import of ../../_schemas/<Name>.js).
async function schemaValidator(path) {
  const source = readFileSync(path, "utf8");
  const match = source.match(/from\s*"((?:\.\.\/)+_schemas\/[A-Za-z0-9]+\.js)"/);
  if (!match) return null;
  const module = await import(pathToFileURL(join(path, "..", match[1])).href);
  return module.validate;
}

// Proxies `value` so that `seen` collects the path of every property the validator reads, and
// `probed` the path of every object it asked for any property (present or not).
function tracked(value, path, seen, probed) {
  if (value === null || typeof value !== "object") return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      const child = Reflect.get(target, key, receiver);
      if (typeof key !== "string") return child;
      probed.add(path);
      seen.add(`${path}/${key}`);
      return tracked(child, `${path}/${key}`, seen, probed);
    },
  });
}

// Keys of objects the validator probed but never read: not in the schema.
function unknownFields(value, path, seen, probed, out) {
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => unknownFields(item, `${path}/${i}`, seen, probed, out));
    return;
  }
  for (const key of Object.keys(value)) {
    if (probed.has(path) && !seen.has(`${path}/${key}`)) out.push(`${path}/${key}`);
    else unknownFields(value[key], `${path}/${key}`, seen, probed, out);
  }
}

const modelCache = new Map();
async function load(apiVersion, kind) {
  const id = `${apiVersion}/${kind}`;
  if (!modelCache.has(id)) {
    const path = modelPath(apiVersion, kind);
    if (!path) {
      modelCache.set(id, null);
    } else {
      const module = await import(pathToFileURL(path).href);
      modelCache.set(id, { Model: module[kind], validate: await schemaValidator(path) });
    }
  }
  return modelCache.get(id);
}

let problems = 0;
let checked = 0;
for (const file of files) {
  const documents = YAML.parseAllDocuments(readFileSync(file, "utf8"));
  for (const document of documents) {
    if (document.errors.length) {
      console.log(`${file}: YAML error: ${document.errors[0].message}`);
      problems++;
      continue;
    }
    const manifest = document.toJS();
    if (manifest === null) continue;
    const where = `${file}: ${manifest.kind ?? "?"} ${manifest.metadata?.name ?? "?"}`;
    if (!manifest.apiVersion || !manifest.kind) {
      console.log(`${where}: no apiVersion or kind`);
      problems++;
      continue;
    }
    const model = await load(manifest.apiVersion, manifest.kind);
    if (!model || !model.Model) {
      console.log(`${where}: ${manifest.apiVersion} ${manifest.kind} is not a known API type`);
      problems++;
      continue;
    }
    checked++;
    try {
      new model.Model(manifest).validate();
    } catch (error) {
      console.log(`${where}: ${error.message}`);
      problems++;
    }
    if (!model.validate) {
      console.log(`${where}: no schema validator found for the unknown-field check`);
      problems++;
      continue;
    }
    const seen = new Set();
    const probed = new Set();
    model.validate(tracked(manifest, "", seen, probed));
    const unknown = [];
    unknownFields(manifest, "", seen, probed, unknown);
    for (const field of unknown) {
      console.log(`${where}: unknown field ${field}`);
      problems++;
    }
  }
}
if (checked === 0) {
  console.log("no manifests found");
  process.exit(1);
}
console.log(`${checked} manifests checked against the Kubernetes schemas, ${problems} problems`);
process.exit(problems ? 1 : 0);

// The chart's own policy over rendered manifests: what charts/loyalty promises operators.
//   node policy.mjs NODE_MODULES_DIR MANIFESTS.yaml VALUES.yaml... [--expect rule,rule...]
//
// VALUES are the chart's values.yaml followed by the -f files the manifests were rendered with
// (merged as Helm does: maps deep, everything else replaced, null deletes), so the checks know
// where an existing Secret was configured. Rules (each violation is printed with its rule id):
//   labels          every resource and pod template has the app.kubernetes.io/* and helm.sh/chart
//                   labels
//   selectors       selectors use only stable labels (name, instance, component) and match
//   nonroot         every container runs as non-root (runAsNonRoot, uid != 0)
//   security        no privilege escalation, read-only root, capabilities drop ALL, seccomp,
//                   not privileged, no service account token
//   limits          every container has cpu and memory requests and limits
//   probes          every Deployment container has liveness and readiness probes; gRPC services
//                   probe natively (grpc) on their gRPC port
//   images          every image has a tag or digest, never latest
//   shutdown        a preStop, and a termination grace that covers preStop + drain + 2 s
//   pdb             a PodDisruptionBudget that allows a disruption for every Deployment that runs
//                   more than one replica (spec.replicas or its HPA's minReplicas)
//   network-policy  NetworkPolicies exist: a default deny over every pod of the release and an
//                   allow policy with DNS egress for every Deployment
//   secrets         no password, key or token as a literal env value or in a database URL; where
//                   an existingSecret is configured, the env reads it and the inline value
//                   (plain or base64) appears nowhere
//   migrations      a pre-install,pre-upgrade hook Job with a delete policy runs `--migrate` for
//                   every gRPC service, and gRPC services are reached through headless Services
// Without --expect: exits 1 on any violation. With --expect: exits 0 only if exactly the listed
// rules fired (the negative test: a values file built to break those rules).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const args = process.argv.slice(2);
let expected = null;
const expectIndex = args.indexOf("--expect");
if (expectIndex >= 0) {
  expected = new Set(args[expectIndex + 1].split(",").filter(Boolean));
  args.splice(expectIndex, 2);
}
const [modulesDir, manifestsFile, ...valuesFiles] = args;
if (!modulesDir || !manifestsFile || valuesFiles.length === 0) {
  console.error("usage: node policy.mjs NODE_MODULES_DIR MANIFESTS.yaml VALUES.yaml... [--expect rules]");
  process.exit(2);
}
const YAML = createRequire(join(modulesDir, "noop.js"))("yaml");

// Helm's coalescing: maps merge recursively, any other value replaces, null deletes the key.
function merge(base, override) {
  if (!isMap(base) || !isMap(override)) return override;
  const out = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete out[key];
    else out[key] = key in out ? merge(out[key], value) : value;
  }
  return out;
}
function isMap(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

const values = valuesFiles
  .map((file) => YAML.parse(readFileSync(file, "utf8")) ?? {})
  .reduce((merged, next) => merge(merged, next), {});
const manifestText = readFileSync(manifestsFile, "utf8");
const manifests = YAML.parseAllDocuments(manifestText)
  .map((document) => document.toJS())
  .filter((manifest) => manifest && manifest.kind);

const kGrpcComponents = ["members", "points", "rewards"];
const kStableLabels = new Set([
  "app.kubernetes.io/name",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/component",
]);
const kRequiredLabels = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/version",
  "app.kubernetes.io/component",
  "app.kubernetes.io/part-of",
  "app.kubernetes.io/managed-by",
  "helm.sh/chart",
];
const kSensitiveEnv = /PASSWORD|SECRET|TOKEN|API_KEYS?|PRIVATE_KEY|PUBLIC_KEYS/;

const violations = [];
let checks = 0;
function check(rule, ok, manifest, message) {
  checks++;
  if (!ok) violations.push({ rule, where: `${manifest.kind}/${manifest.metadata?.name}`, message });
}

const byKind = (kind) => manifests.filter((manifest) => manifest.kind === kind);
const component = (manifest) => manifest.metadata?.labels?.["app.kubernetes.io/component"];
const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([key, value]) => labels?.[key] === value);
const workloads = [...byKind("Deployment"), ...byKind("Job")];

// labels
for (const manifest of manifests) {
  const labels = manifest.metadata?.labels ?? {};
  const missing = kRequiredLabels.filter((label) => !labels[label]);
  check("labels", missing.length === 0, manifest, `missing labels ${missing.join(", ")}`);
}
for (const workload of workloads) {
  const labels = workload.spec.template.metadata?.labels ?? {};
  const missing = kRequiredLabels.filter((label) => !labels[label]);
  check("labels", missing.length === 0, workload, `pod template lacks ${missing.join(", ")}`);
}

// selectors
function checkSelector(manifest, selector, what, podLabels) {
  const keys = Object.keys(selector?.matchLabels ?? selector ?? {});
  const unstable = keys.filter((key) => !kStableLabels.has(key));
  check("selectors", keys.length > 0, manifest, `${what} is empty`);
  check("selectors", unstable.length === 0, manifest, `${what} uses unstable labels ${unstable}`);
  check(
    "selectors",
    !(selector?.matchExpressions ?? []).some((expression) => !kStableLabels.has(expression.key)),
    manifest,
    `${what} has matchExpressions on unstable labels`,
  );
  if (podLabels) {
    check("selectors", matches(selector.matchLabels, podLabels), manifest, `${what} does not match its pods`);
  }
}
for (const deployment of byKind("Deployment")) {
  checkSelector(deployment, deployment.spec.selector, "spec.selector", deployment.spec.template.metadata.labels);
}
for (const service of byKind("Service")) checkSelector(service, service.spec.selector, "spec.selector");
for (const pdb of byKind("PodDisruptionBudget")) checkSelector(pdb, pdb.spec.selector, "spec.selector");
for (const monitor of byKind("ServiceMonitor")) checkSelector(monitor, monitor.spec.selector, "spec.selector");
for (const policy of byKind("NetworkPolicy")) {
  checkSelector(policy, policy.spec.podSelector, "spec.podSelector");
  const peers = [
    ...(policy.spec.ingress ?? []).flatMap((rule) => rule.from ?? []),
    ...(policy.spec.egress ?? []).flatMap((rule) => rule.to ?? []),
  ];
  for (const peer of peers) {
    // Peers inside the release (no namespaceSelector) must select by stable labels too.
    if (peer.podSelector?.matchLabels?.["app.kubernetes.io/instance"] && !peer.namespaceSelector) {
      checkSelector(policy, peer.podSelector, "a peer podSelector");
    }
  }
}

// Container-level rules, for every pod the chart runs.
for (const workload of workloads) {
  const pod = workload.spec.template.spec;
  const podSecurity = pod.securityContext ?? {};
  check("security", pod.automountServiceAccountToken === false, workload, "automountServiceAccountToken is not false");
  for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
    const security = container.securityContext ?? {};
    const runAsNonRoot = security.runAsNonRoot ?? podSecurity.runAsNonRoot;
    const runAsUser = security.runAsUser ?? podSecurity.runAsUser;
    const name = `container ${container.name}`;
    check("nonroot", runAsNonRoot === true, workload, `${name}: runAsNonRoot is not true`);
    check("nonroot", runAsUser !== 0, workload, `${name}: runAsUser is 0`);
    check("security", security.allowPrivilegeEscalation === false, workload, `${name}: allowPrivilegeEscalation is not false`);
    check("security", security.readOnlyRootFilesystem === true, workload, `${name}: readOnlyRootFilesystem is not true`);
    check("security", security.privileged !== true, workload, `${name}: privileged`);
    check("security", (security.capabilities?.drop ?? []).includes("ALL"), workload, `${name}: capabilities do not drop ALL`);
    const seccomp = (security.seccompProfile ?? podSecurity.seccompProfile)?.type;
    check("security", seccomp === "RuntimeDefault" || seccomp === "Localhost", workload, `${name}: no seccomp profile`);

    const resources = container.resources ?? {};
    for (const kind of ["requests", "limits"]) {
      for (const resource of ["cpu", "memory"]) {
        check("limits", resources[kind]?.[resource] !== undefined, workload, `${name}: no ${resource} ${kind}`);
      }
    }

    const image = container.image ?? "";
    const tagged = image.includes("@sha256:") || /:[^/:]+$/.test(image);
    check("images", tagged && !image.endsWith(":latest"), workload, `${name}: image ${image} has no fixed tag or digest`);

    const env = container.env ?? [];
    for (const variable of env) {
      if (kSensitiveEnv.test(variable.name)) {
        check("secrets", variable.value === undefined && variable.valueFrom?.secretKeyRef !== undefined, workload,
              `${name}: ${variable.name} is not read from a Secret`);
      }
      if (/DATABASE_URL$/.test(variable.name)) {
        const url = variable.value ?? "";
        check("secrets", !/password\s*=/i.test(url) && !/:\/\/[^/@]*:[^/@]*@/.test(url), workload,
              `${name}: ${variable.name} carries a password`);
      }
    }

    if (workload.kind !== "Deployment") continue;
    check("probes", container.livenessProbe !== undefined, workload, `${name}: no livenessProbe`);
    check("probes", container.readinessProbe !== undefined, workload, `${name}: no readinessProbe`);
    if (kGrpcComponents.includes(component(workload))) {
      const grpcPort = (container.ports ?? []).find((port) => port.name === "grpc")?.containerPort;
      for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
        if (!container[probe]) continue;
        check("probes", container[probe].grpc?.port === grpcPort, workload,
              `${name}: ${probe} is not a native gRPC probe on the gRPC port ${grpcPort}`);
      }
    }

    const preStopSleep = container.lifecycle?.preStop?.sleep?.seconds;
    check("shutdown", container.lifecycle?.preStop !== undefined, workload, `${name}: no preStop hook`);
    const graceMs = Number(env.find((variable) => /_SHUTDOWN_GRACE_MS$/.test(variable.name))?.value ?? 10000);
    const needed = (preStopSleep ?? 0) + Math.ceil(graceMs / 1000) + 2;
    const granted = pod.terminationGracePeriodSeconds ?? 30;
    check("shutdown", granted >= needed, workload,
          `${name}: terminationGracePeriodSeconds ${granted} < preStop ${preStopSleep ?? 0} s + drain ${graceMs} ms + 2 s`);
  }
}

// pdb
for (const deployment of byKind("Deployment")) {
  const hpa = byKind("HorizontalPodAutoscaler").find(
    (candidate) => candidate.spec.scaleTargetRef.kind === "Deployment" && candidate.spec.scaleTargetRef.name === deployment.metadata.name,
  );
  const replicas = hpa ? hpa.spec.minReplicas ?? 1 : deployment.spec.replicas ?? 1;
  if (replicas <= 1) continue;
  const podLabels = deployment.spec.template.metadata.labels;
  const pdb = byKind("PodDisruptionBudget").find((candidate) => matches(candidate.spec.selector.matchLabels, podLabels));
  check("pdb", pdb !== undefined, deployment, `${replicas} replicas and no PodDisruptionBudget`);
  if (!pdb) continue;
  const { minAvailable, maxUnavailable } = pdb.spec;
  const allowsDisruption =
    minAvailable !== undefined
      ? (typeof minAvailable === "number" ? minAvailable < replicas : parseInt(minAvailable, 10) < 100)
      : typeof maxUnavailable === "number" ? maxUnavailable >= 1 : parseInt(maxUnavailable, 10) > 0;
  check("pdb", allowsDisruption, pdb, `allows no voluntary disruption of ${replicas} replicas (node drains would hang)`);
}

// network-policy
{
  const policies = byKind("NetworkPolicy");
  const anchor = { kind: "Chart", metadata: { name: "loyalty" } };
  check("network-policy", policies.length > 0, anchor, "no NetworkPolicy rendered");
  const defaultDeny = policies.find(
    (policy) =>
      (policy.spec.policyTypes ?? []).includes("Ingress") &&
      (policy.spec.policyTypes ?? []).includes("Egress") &&
      !(policy.spec.ingress ?? []).length &&
      !(policy.spec.egress ?? []).length &&
      workloads.every((workload) => matches(policy.spec.podSelector.matchLabels, workload.spec.template.metadata.labels)),
  );
  check("network-policy", defaultDeny !== undefined, anchor, "no default-deny NetworkPolicy over every pod of the release");
  if (policies.length > 0) {
    for (const deployment of byKind("Deployment")) {
      const podLabels = deployment.spec.template.metadata.labels;
      const allowDns = policies.some(
        (policy) =>
          matches(policy.spec.podSelector.matchLabels, podLabels) &&
          (policy.spec.egress ?? []).some(
            (rule) => Object.keys(rule).length === 0 || (rule.ports ?? []).some((port) => port.port === 53),
          ),
      );
      check("network-policy", allowDns, deployment, "no NetworkPolicy allows its DNS egress");
    }
  }
}

// secrets: configured existing Secrets are used, and inline values never leak.
{
  const anchor = { kind: "Values", metadata: { name: "existingSecret" } };
  const leaks = (secret) =>
    secret && (manifestText.includes(secret) || manifestText.includes(Buffer.from(secret).toString("base64")));
  const envOf = (workload, name) =>
    workload.spec.template.spec.containers.flatMap((container) => container.env ?? []).find((variable) => variable.name === name);
  for (const name of kGrpcComponents) {
    const service = values[name];
    if (!service?.enabled || !service.database?.existingSecret) continue;
    check("secrets", !leaks(service.database.password), anchor, `${name}.database.password is rendered although existingSecret is set`);
    for (const workload of workloads.filter((candidate) => [name, `${name}-migrate`].includes(component(candidate)))) {
      const expectedSecret =
        component(workload) === `${name}-migrate` && service.migrations?.existingSecret
          ? service.migrations.existingSecret
          : component(workload) === `${name}-migrate` && service.migrations?.user && service.migrations.user !== service.database.user
            ? null
            : service.database.existingSecret;
      if (expectedSecret === null) continue;
      const reference = envOf(workload, "PGPASSWORD")?.valueFrom?.secretKeyRef?.name;
      check("secrets", reference === expectedSecret, workload, `PGPASSWORD reads ${reference}, not the existingSecret ${expectedSecret}`);
    }
  }
  if (values.pageToken?.existingSecret) {
    check("secrets", !leaks(values.pageToken.value), anchor, "pageToken.value is rendered although existingSecret is set");
  }
  if (values.voucherKey?.existingSecret) {
    check("secrets", !leaks(values.voucherKey.value), anchor, "voucherKey.value is rendered although existingSecret is set");
  }
  if (values.rewards?.enabled) {
    const rewards = byKind("Deployment").find((workload) => component(workload) === "rewards");
    const reference = rewards && envOf(rewards, "LOYALTY_REWARDS_VOUCHER_KEY")?.valueFrom?.secretKeyRef;
    check("secrets", Boolean(reference?.name), rewards ?? anchor, "rewards-svc gets LOYALTY_REWARDS_VOUCHER_KEY from no Secret");
    if (values.voucherKey?.existingSecret) {
      check("secrets", reference?.name === values.voucherKey.existingSecret, rewards ?? anchor,
            `LOYALTY_REWARDS_VOUCHER_KEY reads ${reference?.name}, not the existingSecret ${values.voucherKey.existingSecret}`);
    }
  }
}

// migrations
for (const name of kGrpcComponents) {
  const service = values[name];
  if (!service?.enabled) continue;
  const anchor = { kind: "Component", metadata: { name } };
  const headless = byKind("Service").filter((candidate) => component(candidate) === name);
  check("migrations", headless.length > 0 && headless.every((candidate) => candidate.spec.clusterIP === "None"), anchor,
        "gRPC Service is not headless");
  if (!service.migrations?.enabled) continue;
  const job = byKind("Job").find((candidate) => component(candidate) === `${name}-migrate`);
  check("migrations", job !== undefined, anchor, "no migration Job");
  if (!job) continue;
  const hooks = (job.metadata.annotations?.["helm.sh/hook"] ?? "").split(",");
  check("migrations", hooks.includes("pre-install") && hooks.includes("pre-upgrade"), job, "not a pre-install,pre-upgrade hook");
  check("migrations", Boolean(job.metadata.annotations?.["helm.sh/hook-delete-policy"]), job, "no hook delete policy");
  const container = job.spec.template.spec.containers[0];
  check("migrations", [...(container.command ?? []), ...(container.args ?? [])].includes("--migrate"), job, "does not run --migrate");
}

for (const violation of violations) {
  console.log(`policy: [${violation.rule}] ${violation.where}: ${violation.message}`);
}
const fired = new Set(violations.map((violation) => violation.rule));
if (expected === null) {
  console.log(`policy: ${checks} checks over ${manifests.length} manifests, ${violations.length} violations`);
  process.exit(violations.length ? 1 : 0);
}
const missing = [...expected].filter((rule) => !fired.has(rule));
const extra = [...fired].filter((rule) => !expected.has(rule));
if (missing.length || extra.length) {
  console.log(`policy: expected exactly [${[...expected]}] to fire; missing [${missing}], unexpected [${extra}]`);
  process.exit(1);
}
console.log(`policy: the expected rules fired: ${[...expected].join(", ")} (${violations.length} violations)`);
process.exit(0);

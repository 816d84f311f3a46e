// Keeps charts/docker/Dockerfile honest without a container engine:
//   node check-images.mjs REPO_ROOT BUILD_DIR
//   1. the build stage installs scripts/setup's PACKAGES less kSetupOnly plus kImageOnly, exactly;
//   2. every shared library a built service binary links directly (readelf NEEDED) comes from a
//      runtime-stage package or from debian:12-slim itself (dpkg -S on the resolved file);
//   3. every runtime-stage package exists in Debian (apt-cache), when the apt lists are present.
// Prints one line per problem; exits 1 if there is any.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";

const [root, buildDir] = process.argv.slice(2);
if (!root || !buildDir) {
  console.error("usage: node check-images.mjs REPO_ROOT BUILD_DIR");
  process.exit(2);
}

// Only for the developer loop: the PostgreSQL the tests start, the formatter, promtool (the
// prometheus package) for scripts/lint-chart. Listed here whether or not scripts/setup has them.
const kSetupOnly = [
  "postgresql-15", "postgresql-client-15", "clang-format", "prometheus",
  // The gateway's fuzzing (clang-14 with libFuzzer) and load tools: tests and benchmarks only.
  "clang-14", "libclang-rt-14-dev", "wrk", "curl",
  // scripts/demo and its end-to-end test read the gateway's JSON answers.
  "jq",
];
// scripts/setup installs node and npm on its own (only when npm is missing).
const kImageOnly = ["nodejs", "npm"];
// Present in debian:12-slim already (apt itself depends on them).
const kSlimBase = ["libc6", "libgcc-s1", "libstdc++6", "zlib1g"];
const kServices = ["members-svc", "points-svc", "rewards-svc", "gateway"];

const problems = [];

// PACKAGES=( ... ) in scripts/setup, comments stripped.
function setupPackages() {
  const text = readFileSync(join(root, "scripts/setup"), "utf8");
  const match = text.match(/^PACKAGES=\(([\s\S]*?)^\)/m);
  if (!match) throw new Error("scripts/setup: no PACKAGES=( ... ) array");
  return words(match[1]);
}
function words(text) {
  return text
    .split("\n")
    .map((line) => line.replace(/#.*/, ""))
    .join(" ")
    .split(/\s+/)
    .filter(Boolean);
}

// The packages of each `apt-get install` in each stage of the Dockerfile, by stage name.
function dockerfileStages() {
  const text = readFileSync(join(root, "charts/docker/Dockerfile"), "utf8").replace(/\\\n/g, " ");
  const stages = {};
  let stage = null;
  for (const line of text.split("\n")) {
    const from = line.match(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i);
    if (from) {
      stage = from[2] ?? from[1];
      stages[stage] = { image: from[1], packages: [] };
      continue;
    }
    const install = line.match(/apt-get install\s+(.*?)(?:&&|$)/);
    if (stage && install) {
      stages[stage].packages.push(...install[1].split(/\s+/).filter((word) => word && !word.startsWith("-")));
    }
  }
  return stages;
}

const sorted = (list) => [...new Set(list)].sort();
const stages = dockerfileStages();
if (!stages.build || !stages.runtime) {
  problems.push("charts/docker/Dockerfile: needs stages named build and runtime");
} else {
  if (stages.build.image !== "debian:12") problems.push(`build stage is ${stages.build.image}, not debian:12`);
  if (stages.runtime.image !== "debian:12-slim") problems.push(`runtime stage is ${stages.runtime.image}, not debian:12-slim`);

  // 1. Build stage against scripts/setup.
  const setup = setupPackages();
  const wanted = sorted([...setup.filter((name) => !kSetupOnly.includes(name)), ...kImageOnly]);
  const actual = sorted(stages.build.packages);
  const missing = wanted.filter((name) => !actual.includes(name));
  const extra = actual.filter((name) => !wanted.includes(name));
  if (missing.length) problems.push(`Dockerfile build stage lacks scripts/setup packages: ${missing.join(" ")}`);
  if (extra.length) {
    problems.push(`Dockerfile build stage installs what scripts/setup does not: ${extra.join(" ")} ` +
                  "(add them to scripts/setup, or to kSetupOnly/kImageOnly here with a reason)");
  }

  // 2. Runtime stage against what the built binaries link.
  const runtime = stages.runtime.packages;
  const soPaths = new Map();
  for (const line of execFileSync("ldconfig", ["-p"], { encoding: "utf8" }).split("\n")) {
    const entry = line.match(/^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)/);
    if (entry && entry[2].includes("x86-64") && !soPaths.has(entry[1])) soPaths.set(entry[1], entry[3]);
  }
  // dpkg -S once for every library file (it is slow to start); it knows files under their real
  // /usr/lib path (merged /usr), so ask for both spellings.
  const linked = [];
  let binaries = 0;
  for (const service of kServices) {
    const binary = join(buildDir, service, service);
    if (!existsSync(binary)) continue;
    binaries++;
    for (const line of execFileSync("readelf", ["-d", binary], { encoding: "utf8" }).split("\n")) {
      const soname = line.match(/\(NEEDED\)\s+Shared library: \[(.+)\]/)?.[1];
      if (soname) linked.push({ service, soname, path: soPaths.get(soname) });
    }
  }
  const paths = sorted(linked.flatMap(({ path }) => (path ? [path, path.replace(/^\/lib\//, "/usr/lib/")] : [])));
  const owners = new Map();
  if (paths.length) {
    let output = "";
    try {
      output = execFileSync("dpkg", ["-S", ...paths], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch (error) {
      output = error.stdout ?? ""; // exit 1 when some spelling is unknown, as expected
    }
    for (const line of output.split("\n")) {
      const entry = line.match(/^([^:,\s]+)(?::[^:\s]+)?: (\S+)$/);
      if (entry) owners.set(entry[2], entry[1]);
    }
  }
  for (const { service, soname, path } of linked) {
    const owner = path && (owners.get(path) ?? owners.get(path.replace(/^\/lib\//, "/usr/lib/")));
    if (!owner) {
      problems.push(`${service}: links ${soname}, which no Debian package on this machine provides`);
    } else if (!runtime.includes(owner) && !kSlimBase.includes(owner)) {
      problems.push(`${service}: links ${soname} from ${owner}, missing from the Dockerfile runtime stage`);
    }
  }
  if (binaries === 0) console.log("check-images: no service binary built yet; runtime libraries not checked");

  // 3. Runtime package names exist (one apt-cache call; no lists on a machine never updated).
  let policies = "";
  try {
    policies = execFileSync("apt-cache", ["policy", "libc6", ...runtime], { encoding: "utf8" });
  } catch {
    policies = "";
  }
  const candidates = new Map();
  for (const block of policies.split(/\n(?=\S)/)) {
    const name = block.match(/^(\S+):/)?.[1];
    const candidate = block.match(/Candidate: (\S+)/)?.[1];
    if (name) candidates.set(name, candidate && candidate !== "(none)");
  }
  if (candidates.get("libc6")) {
    for (const name of runtime) {
      if (!candidates.get(name)) problems.push(`Dockerfile runtime stage: no Debian package named ${name}`);
    }
  } else {
    console.log("check-images: no apt lists on this machine; runtime package names not checked");
  }
  if (!problems.length) {
    console.log(`check-images: build stage = scripts/setup - {${kSetupOnly.filter((name) => setup.includes(name))}} + {${kImageOnly}}; ` +
                `${binaries} binaries link only runtime-stage libraries`);
  }
}

for (const problem of problems) console.log(`check-images: ${problem}`);
process.exit(problems.length ? 1 : 0);

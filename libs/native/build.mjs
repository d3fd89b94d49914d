#!/usr/bin/env node
// Builds the optional oneDNN addon (build/Release/gap_native.node) with
// node-gyp, only where oneDNN's headers are installed (Debian: libdnnl-dev).
// Called from the root package.json's postinstall; it never fails the
// install: a missing library, compiler or node-gyp prints one line and exits 0.
//   node libs/native/build.mjs                 build if needed (skips when up to date)
//   node libs/native/build.mjs --force         rebuild
//   node libs/native/build.mjs --install-deps  first install libdnnl-dev (and g++, make, python3 where missing)
//                                              with apt where it can (root on Debian/Ubuntu): the README's main command
//   GAP_NATIVE=0 ...                           skip entirely
import { spawnSync } from "node:child_process";
import { existsSync, statSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const output = path.join(here, "build", "Release", "gap_native.node");
const force = process.argv.includes("--force");
const installDeps = process.argv.includes("--install-deps");
const say = (msg) => console.log(`[@gap/native] ${msg}`);

function main() {
  if (/^(0|false|off|no)$/i.test((process.env.GAP_NATIVE ?? "").trim())) {
    return say("skipped: GAP_NATIVE=0");
  }
  const headerDirs = [process.env.DNNL_INCLUDE_DIR, "/usr/include", "/usr/local/include"].filter(Boolean);
  const haveHeaders = () => headerDirs.some((d) => existsSync(path.join(d, "dnnl.hpp")));
  if (installDeps && (!haveHeaders() || missingTools().length > 0)) installBuildDeps(haveHeaders() ? [] : ["libdnnl-dev"]);
  if (!haveHeaders()) {
    return say("skipped: oneDNN headers (dnnl.hpp) not found; install libdnnl-dev for the native kernels (optional)");
  }
  if (!force && existsSync(output)) {
    const built = statSync(output).mtimeMs;
    const sources = [path.join(here, "binding.gyp"), ...readdirSync(path.join(here, "src")).map((f) => path.join(here, "src", f))];
    if (sources.every((f) => statSync(f).mtimeMs <= built)) return say(`up to date: ${path.relative(process.cwd(), output)}`);
  }
  const gyp = findNodeGyp();
  if (gyp == null) return say("skipped: node-gyp not found (it ships with npm)");
  const nodedir = findNodeDir();
  const args = [gyp, "rebuild", ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  const r = spawnSync(process.execPath, args, { cwd: here, encoding: "utf8", env: { ...process.env, JOBS: "2" } });
  if (r.status !== 0) {
    const log = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n");
    return say(`skipped: build failed (the wasm kernels are used instead)\n${log}`);
  }
  say(`built ${path.relative(process.cwd(), output)}`);
}

/** The build tools node-gyp needs that are not on PATH, as Debian packages. */
function missingTools() {
  const onPath = (tool) => (process.env.PATH ?? "").split(path.delimiter).some((dir) => dir !== "" && existsSync(path.join(dir, tool)));
  return [["g++", "g++"], ["make", "make"], ["python3", "python3"]].filter(([tool]) => !onPath(tool)).map(([, pkg]) => pkg);
}

/** apt-get install libdnnl-dev and any missing compiler, as root where apt-get exists (updating the lists once if needed). */
function installBuildDeps(packages) {
  const wanted = [...packages, ...missingTools()];
  const apt = ["/usr/bin/apt-get", "/bin/apt-get"].find((p) => existsSync(p));
  if (!apt || process.getuid?.() !== 0) return say(`cannot install ${wanted.join(", ")} here (needs root and apt-get): install them yourself for the native kernels`);
  say(`installing ${wanted.join(", ")} with apt-get (once) for the native kernels`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => spawnSync(apt, ["install", "-y", "-qq", "--no-install-recommends", ...wanted], { encoding: "utf8", env });
  let r = install();
  if (r.status !== 0) {
    spawnSync(apt, ["update", "-qq"], { encoding: "utf8", env });
    r = install();
  }
  if (r.status !== 0) say(`apt-get could not install ${wanted.join(", ")}: ${`${r.stderr ?? ""}`.trim().split("\n").at(-1)}`);
}

/** npm exports its bundled node-gyp to lifecycle scripts; else look next to npm. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
    "/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
    "/usr/share/nodejs/node-gyp/bin/node-gyp.js",
  ];
  return candidates.find((c) => c && existsSync(c)) ?? null;
}

/** Node's own headers, so node-gyp needs no download (offline machines). */
function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), ".."), "/usr"];
  return candidates.find((d) => d && existsSync(path.join(d, "include", "node", "node_api.h"))) ?? null;
}

try {
  main();
} catch (e) {
  say(`skipped: ${e instanceof Error ? e.message : String(e)}`);
}

// Fails when the committed generated code differs from what `buf generate` makes of proto/:
// the TypeScript in libs/proto/src/gen (buf.gen.yaml) and the Python in clients/python/gap
// (buf.gen.python.yaml, which needs Debian's protobuf-compiler and protobuf-compiler-grpc).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const buf = join(root, "node_modules/.bin/buf");

const targets = [
  { template: "buf.gen.yaml", dir: "libs/proto/src/gen", regenerate: "npx nx run proto:generate" },
  {
    template: "buf.gen.python.yaml",
    dir: "clients/python/gap",
    regenerate: "npx buf generate --template buf.gen.python.yaml",
    tools: ["protoc", "grpc_python_plugin"],
    install: "apt-get install protobuf-compiler protobuf-compiler-grpc",
  },
];

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === "__pycache__") return [];
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

let failed = false;
for (const { template, dir, regenerate, tools = [], install } of targets) {
  const missing = tools.filter((tool) => spawnSync(tool, ["--version"]).error);
  if (missing.length > 0) {
    // CI installs them (.ci/run); elsewhere say loudly what was not checked.
    const message = `${dir}: not checked, ${missing.join(" and ")} not found (${install})`;
    if (process.env.CI) {
      console.error(message);
      failed = true;
    } else console.warn(`WARNING: ${message}`);
    continue;
  }
  const fresh = mkdtempSync(join(tmpdir(), "gap-gen-"));
  execFileSync(buf, ["generate", "--template", template, "--output", fresh], { cwd: root, stdio: "inherit" });
  // buf writes each plugin's files to <output>/<plugin out>, so the committed path lies under it too.
  const committed = join(root, dir);
  const freshDir = join(fresh, dir);
  const a = listFiles(committed).map((f) => relative(committed, f)).sort();
  const b = listFiles(freshDir).map((f) => relative(freshDir, f)).sort();
  const stale = [...new Set([...a, ...b])].filter(
    (f) => !a.includes(f) || !b.includes(f) || !readFileSync(join(committed, f)).equals(readFileSync(join(freshDir, f))),
  );
  rmSync(fresh, { recursive: true, force: true });
  if (stale.length > 0) {
    console.error(`generated code is stale in ${dir}: ${stale.join(", ")}\nrun: ${regenerate}`);
    failed = true;
  } else console.log(`generated code is up to date (${dir}, ${a.length} files)`);
}
process.exit(failed ? 1 : 0);

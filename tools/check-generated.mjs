// Fails when libs/proto/src/gen differs from what `buf generate` makes of proto/.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const committed = join(root, "libs/proto/src/gen");
const fresh = mkdtempSync(join(tmpdir(), "gap-gen-"));
const buf = join(root, "node_modules/.bin/buf");
execFileSync(buf, ["generate", "--output", fresh], { cwd: root, stdio: "inherit" });

function listFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}
// buf writes each plugin's files to <output>/<plugin out>.
const freshGen = join(fresh, relative(root, committed));
const a = listFiles(committed).map((f) => relative(committed, f)).sort();
const b = listFiles(freshGen).map((f) => relative(freshGen, f)).sort();
const stale = [...new Set([...a, ...b])].filter(
  (f) => !a.includes(f) || !b.includes(f) || !readFileSync(join(committed, f)).equals(readFileSync(join(freshGen, f))),
);
rmSync(fresh, { recursive: true, force: true });
if (stale.length > 0) {
  console.error(`generated code is stale: ${stale.join(", ")}\nrun: npx nx run proto:generate`);
  process.exit(1);
}
console.log(`generated code is up to date (${a.length} files)`);

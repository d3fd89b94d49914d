// Fails when a field that a request can carry does not say in its comment
// whether it is "Required" or "Optional" (the rule at the top of common.proto).
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const dir = resolve(import.meta.dirname, "../proto/gap/v1");
const messages = new Map(); // name -> [{ name, type, comment }]

for (const file of readdirSync(dir).filter((f) => f.endsWith(".proto"))) {
  let comment = [];
  let current;
  let depth = 0;
  for (const raw of readFileSync(join(dir, file), "utf8").split("\n")) {
    const line = raw.trim();
    if (line.startsWith("//")) {
      comment.push(line.slice(2).trim());
      continue;
    }
    const open = /^message (\w+) \{/.exec(line);
    if (open && depth === 0) {
      current = [];
      messages.set(open[1], current);
    }
    const field = /^(?:repeated |optional )?([\w.]+) (\w+) = \d+;/.exec(line);
    if (field && current && depth === 1 && !line.startsWith("map<")) current.push({ type: field[1], name: field[2], comment: comment.join(" ") });
    depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
    if (depth === 0) current = undefined;
    comment = [];
  }
}

// Every message a request reaches, starting from the RPC request messages.
const reached = new Set();
const visit = (name) => {
  if (reached.has(name) || !messages.has(name)) return;
  reached.add(name);
  for (const field of messages.get(name)) visit(field.type.replace(/^gap\.v1\./, ""));
};
for (const name of messages.keys()) if (name.endsWith("Request")) visit(name);

const missing = [...reached].flatMap((message) =>
  messages.get(message).filter((f) => !/\b(Required|Optional)\b/.test(f.comment)).map((f) => `${message}.${f.name}`),
);
if (missing.length > 0) {
  console.error(`request fields whose comment says neither "Required" nor "Optional":\n  ${missing.join("\n  ")}`);
  process.exit(1);
}
console.log(`proto docs: every field of ${reached.size} request messages says whether it is required`);

#!/usr/bin/env node
// npx gap: the CLI in src/cli.ts, compiled as it loads by tsx (as every service runs).
import { register } from "tsx/esm/api";

register();
await import("../src/cli.ts");

/**
 * Picks and initialises the TensorFlow.js backend for this process.
 *
 * Order for "auto": native TensorFlow with CUDA (@tensorflow/tfjs-node-gpu),
 * native TensorFlow on the CPU (@tensorflow/tfjs-node), WebAssembly, then the
 * pure-JS cpu backend. The native packages are optional dependencies whose
 * install downloads libtensorflow, so they are loaded by dynamic import and
 * skipped (with the reason logged) where they did not install.
 *
 * wasm: the SIMD binary, single-threaded. The package's multi-threaded build
 * starts its pthread workers from blob: URLs, which Node's worker_threads
 * rejects (ERR_WORKER_PATH), and the package itself reports no thread support
 * under Node; forcing it fails backend initialisation.
 */
import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
// tfjs-core on its own registers no gradient functions and no chained tensor
// methods (x.reshape(...)), which tfjs's gradient code calls; the union
// package's Node bundle registers both (and the cpu backend).
import "@tensorflow/tfjs";
import { releaseBackpropMemoryEarly } from "./backprop-memory.js";
import { registerExtraGradients } from "./gradients.js";
import { nativeStatus, registerNativeKernels, type NativeStatus } from "./native/index.js";
import { registerWasmKernels } from "./wasm/index.js";

export const BACKEND_CHOICES = ["auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
/** A backend that can actually be loaded (not "auto"). */
export type ConcreteBackend = Exclude<BackendChoice, "auto">;

export interface BackendInfo {
  /** The tfjs backend name: "tensorflow", "wasm" or "cpu". */
  name: string;
  /** Which choice it came from ("tensorflow" and "tensorflow-gpu" share a tfjs name). */
  choice: ConcreteBackend;
  /** npm package that provides it. */
  package: string;
  /** wasm only: whether the SIMD binary is in use. */
  simd?: boolean;
  /** Threads the backend computes on, where known. */
  threads?: number;
  /** wasm only: the optional oneDNN kernels (libs/native) and whether they are on. */
  native?: NativeStatus;
}

export interface BackendSkip {
  choice: ConcreteBackend;
  package: string;
  reason: string;
}

/** What initBackend reports once per request (one JSON line on stderr by default). */
export interface BackendSelection {
  event: "backend_selected";
  requested: BackendChoice;
  backend: string;
  choice: ConcreteBackend;
  package: string;
  simd?: boolean;
  threads?: number;
  /** wasm only: whether the native oneDNN kernels are on (GAP_NATIVE, libs/native). */
  native?: NativeStatus;
  /** Backends tried before the chosen one, with the reason each was skipped. */
  skipped: BackendSkip[];
}

export interface InitBackendOptions {
  /** Receives the selection record; default writes it as one JSON line to stderr. */
  log?: (record: BackendSelection) => void;
}

const PACKAGES: Record<ConcreteBackend, string> = {
  "tensorflow-gpu": "@tensorflow/tfjs-node-gpu",
  tensorflow: "@tensorflow/tfjs-node",
  wasm: "@tensorflow/tfjs-backend-wasm",
  cpu: "@tensorflow/tfjs-backend-cpu",
};
const AUTO_ORDER: readonly ConcreteBackend[] = ["tensorflow-gpu", "tensorflow", "wasm", "cpu"];

// Kernels and gradients the runtime adds, and the backward pass's early frees; all idempotent.
registerExtraGradients();
registerWasmKernels();
releaseBackpropMemoryEarly();

/** One load attempt per concrete backend per process (failures are remembered too). */
const loads = new Map<ConcreteBackend, Promise<BackendInfo>>();
/** One resolved selection per requested choice. */
const selections = new Map<BackendChoice, Promise<BackendInfo>>();
/** Info of every backend initialised so far, by tfjs backend name. */
const infoByName = new Map<string, BackendInfo>();

/** Validates a backend choice such as the value of GAP_BACKEND. */
export function parseBackendChoice(value: string | undefined): BackendChoice {
  const v = (value ?? "").trim();
  if (v === "") return "auto";
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new Error(`Unknown backend "${v}" (GAP_BACKEND); expected one of: ${BACKEND_CHOICES.join(", ")}`);
}

/**
 * Loads and activates a backend. `choice` defaults to env GAP_BACKEND, else "auto".
 * Calling again with the same choice returns the same info (and makes that
 * backend active again if something switched away). An explicit choice that
 * cannot load throws an error naming the package.
 */
export async function initBackend(choice?: BackendChoice, options: InitBackendOptions = {}): Promise<BackendInfo> {
  // Again here, in case something registered tfjs's own (flawed) gradients after this module loaded.
  registerExtraGradients();
  registerWasmKernels();
  registerNativeKernels();
  const requested = choice ?? parseBackendChoice(process.env["GAP_BACKEND"]);
  if (!(BACKEND_CHOICES as readonly string[]).includes(requested)) parseBackendChoice(requested);
  let selection = selections.get(requested);
  if (selection == null) {
    selection = select(requested, options.log ?? logToStderr);
    selections.set(requested, selection);
  }
  const info = await selection;
  if (tf.getBackend() !== info.name) await activate(info);
  return info;
}

/**
 * The active backend, for reports. Throws if no backend is active yet.
 * A backend activated without initBackend (plain tf.setBackend) is described
 * from its name alone.
 */
export function backendInfo(): BackendInfo {
  const name = tf.getBackend() as string | undefined;
  if (name == null) throw new Error("No TensorFlow.js backend is active; call initBackend() first");
  const known = infoByName.get(name);
  if (known != null) return known.name === "wasm" ? { ...known, native: nativeStatus() } : { ...known };
  const choice: ConcreteBackend = name === "tensorflow" ? "tensorflow" : name === "wasm" ? "wasm" : "cpu";
  return { name, choice, package: PACKAGES[choice] };
}

async function select(requested: BackendChoice, log: (r: BackendSelection) => void): Promise<BackendInfo> {
  const candidates = requested === "auto" ? AUTO_ORDER : [requested];
  const skipped: BackendSkip[] = [];
  for (const candidate of candidates) {
    try {
      const info = await load(candidate);
      await activate(info);
      log({ event: "backend_selected", requested, backend: info.name, ...withoutName(info), skipped });
      return info;
    } catch (e) {
      const reason = errorMessage(e);
      if (requested !== "auto") {
        throw new Error(`Backend "${candidate}" is not available: could not load ${PACKAGES[candidate]} (${reason})`);
      }
      skipped.push({ choice: candidate, package: PACKAGES[candidate], reason });
    }
  }
  // Unreachable in practice: the cpu backend ships with tfjs.
  throw new Error(`No TensorFlow.js backend could be loaded: ${JSON.stringify(skipped)}`);
}

function load(choice: ConcreteBackend): Promise<BackendInfo> {
  let p = loads.get(choice);
  if (p == null) {
    p = choice === "wasm" ? loadWasm() : choice === "cpu" ? loadCpu() : loadNative(choice);
    loads.set(choice, p);
  }
  return p;
}

async function activate(info: BackendInfo): Promise<void> {
  const ok = await tf.setBackend(info.name);
  if (!ok) throw new Error(`tf.setBackend("${info.name}") failed`);
  infoByName.set(info.name, info);
}

async function loadNative(choice: "tensorflow" | "tensorflow-gpu"): Promise<BackendInfo> {
  const pkg = PACKAGES[choice];
  // A variable specifier keeps TypeScript and bundlers from requiring the package.
  const specifier: string = pkg;
  await import(specifier);
  if (tf.findBackendFactory("tensorflow") == null) {
    throw new Error(`${pkg} loaded but registered no "tensorflow" backend`);
  }
  const info: BackendInfo = { name: "tensorflow", choice, package: pkg };
  await activate(info);
  return info;
}

async function loadWasm(): Promise<BackendInfo> {
  const pkg = PACKAGES.wasm;
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  if (tf.findBackend("wasm") == null) {
    // The .wasm binaries sit next to the package's main file (dist/). Point
    // the loader there explicitly so it does not depend on how the JS was loaded.
    const dist = path.dirname(createRequire(import.meta.url).resolve(pkg));
    wasm.setWasmPaths(dist + path.sep);
  }
  registerWasmKernels();
  registerNativeKernels();
  const info: BackendInfo = { name: "wasm", choice: "wasm", package: pkg };
  const listenersBefore = new Set(processErrorListeners().map(([, listener]) => listener));
  const ok = await tf.setBackend("wasm");
  // The Emscripten module installs process handlers that rethrow every uncaught
  // error and unhandled rejection, printing its whole minified source; the
  // process's own error handling stays in charge instead.
  for (const [event, listener] of processErrorListeners()) {
    if (!listenersBefore.has(listener)) process.removeListener(event, listener);
  }
  if (!ok) throw new Error(`the wasm backend failed to initialise (binaries looked up next to ${pkg})`);
  info.simd = (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) as boolean;
  info.threads = wasm.getThreadsCount();
  info.native = nativeStatus();
  infoByName.set("wasm", info);
  return info;
}

async function loadCpu(): Promise<BackendInfo> {
  await import("@tensorflow/tfjs-backend-cpu");
  const info: BackendInfo = { name: "cpu", choice: "cpu", package: PACKAGES.cpu, threads: 1 };
  await activate(info);
  return info;
}

function withoutName(info: BackendInfo): Omit<BackendInfo, "name"> {
  const { name: _name, ...rest } = info;
  return rest;
}

function errorMessage(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  // Module-not-found messages can span lines (require stacks); the first says it all.
  return msg.split("\n")[0]!.trim();
}

function logToStderr(record: BackendSelection): void {
  process.stderr.write(JSON.stringify(record) + "\n");
}

const ERROR_EVENTS = ["uncaughtException", "unhandledRejection"] as const;
type Listener = (...args: unknown[]) => void;

function processErrorListeners(): Array<[(typeof ERROR_EVENTS)[number], Listener]> {
  return ERROR_EVENTS.flatMap((event) => (process.listeners(event as "uncaughtException") as Listener[]).map((l) => [event, l] as [(typeof ERROR_EVENTS)[number], Listener]));
}

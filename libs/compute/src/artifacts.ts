import { createHash } from "node:crypto";
import * as tf from "@tensorflow/tfjs-core";
import { toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { ArtifactKind, type ArtifactRef } from "@gap/proto";
import { failedPrecondition, invalidArgument } from "@gap/service-kit";
import { keyProblem, type ArtifactStore } from "@gap/artifacts";
import {
  createModel,
  decodeSafetensors,
  loadMasks,
  loadWeights,
  stateDictProblem,
  type Checkpoints,
  type InputShape,
  type Masks,
  type Model,
  type ModelConfig,
} from "@gap/ml-core";
import { decodeAdversarialSet, type AdversarialSet } from "@gap/algorithms";
import { isSet } from "./store.js";
import { RecentByBytes } from "./recent.js";


/** A ref's kind must be what the field holds; UNSPECIFIED (a bare key) is accepted. */
function checkKind(ref: ArtifactRef, field: string, kind: ArtifactKind): void {
  if (ref.kind !== ArtifactKind.UNSPECIFIED && ref.kind !== kind) {
    throw invalidArgument(`${field}.kind`, `must be ${ArtifactKind[kind]}, got ${ArtifactKind[ref.kind] ?? ref.kind}`);
  }
}

/** A ref the request must give, of the kind its field holds: INVALID_ARGUMENT naming the field otherwise. */
export function requiredRef(ref: ArtifactRef | undefined, field: string, kind: ArtifactKind): ArtifactRef {
  if (!isSet(ref)) throw invalidArgument(`${field}.key`, "is required");
  checkKind(ref, field, kind);
  return ref;
}

/** A ref a request gives for this store: present, of the field's kind, a valid key and sha256, this bucket. */
function checkedRef(store: ArtifactStore, ref: ArtifactRef | undefined, field: string, kind: ArtifactKind): ArtifactRef {
  requiredRef(ref, field, kind);
  const { bucket, key, sha256 } = ref!;
  const problem = keyProblem(key);
  if (problem) throw invalidArgument(`${field}.key`, problem);
  if (bucket !== "" && bucket !== store.bucket) {
    throw invalidArgument(`${field}.bucket`, `"${bucket}" is not this deployment's bucket "${store.bucket}"`);
  }
  if (sha256 !== "" && !/^[0-9a-f]{64}$/.test(sha256)) throw invalidArgument(`${field}.sha256`, "must be 64 lowercase hex digits");
  return ref!;
}

/**
 * Reads an artifact a request names. The store verifies the bytes against the
 * sha256 it recorded, and against the ref's sha256 (and size, when not 0) when
 * the ref gives them; a missing object fails with NOT_FOUND.
 */
export async function readArtifact(store: ArtifactStore, ref: ArtifactRef | undefined, field: string, kind: ArtifactKind): Promise<Uint8Array> {
  const { key, sha256, sizeBytes } = checkedRef(store, ref, field, kind);
  if (sha256 === "") return store.get(key);
  // size_bytes 0 is "not set": the stored size, so that only the sha256 is compared.
  const size = sizeBytes !== 0n ? sizeBytes : (await store.stat(key))?.sizeBytes;
  return size === undefined ? store.get(key) : store.get({ bucket: store.bucket, key, sha256, sizeBytes: size });
}

/**
 * Where a step's output goes when the request names no key: a key derived
 * from the hash of the whole request, so the same request maps to the same
 * object (and a finished step can be found again).
 */
export function derivedKey<D extends DescMessage>(prefix: string, schema: D, request: MessageShape<D>, extension = "safetensors"): string {
  const digest = createHash("sha256").update(toBinary(schema, request)).digest("hex");
  return `${prefix}/${digest.slice(0, 40)}.${extension}`;
}

/** The request's output_key when given (validated), else the derived one. */
export function outputKey(requested: string, derive: () => string): string {
  if (requested === "") return derive();
  const problem = keyProblem(requested);
  if (problem) throw invalidArgument("output_key", problem);
  return requested;
}

/**
 * Builds the model and loads weights into it; weights that do not fit are
 * FAILED_PRECONDITION. Without weights the model is built from `fromScratch`'s
 * seed, and only when the caller asked for that: otherwise the field is required.
 */
export async function loadModel(
  store: ArtifactStore,
  config: ModelConfig,
  weights: ArtifactRef | undefined,
  field: string,
  fromScratch?: { seed: number },
): Promise<Model> {
  if (!isSet(weights)) {
    if (!fromScratch) throw invalidArgument(`${field}.key`, "is required");
    return createModel(config, fromScratch.seed);
  }
  checkKind(weights, field, ArtifactKind.WEIGHTS);
  const model = createModel(config, "zeros");
  const bytes = await readArtifact(store, weights, field, ArtifactKind.WEIGHTS).catch((error) => {
    model.dispose();
    throw error;
  });
  try {
    loadWeights(model, bytes);
  } catch (error) {
    model.dispose();
    throw failedPrecondition(`${field}: ${(error as Error).message}`);
  }
  return model;
}

/**
 * Reads weights a request names and checks that they fit the model (names,
 * shapes, F32), without keeping a model. A truncated or foreign file and
 * weights that do not fit are FAILED_PRECONDITION naming the field and the
 * first wrong tensor. Returns the ref completed with the object's sha256 and size.
 */
export async function checkWeightsArtifact(
  store: ArtifactStore,
  config: ModelConfig,
  ref: ArtifactRef | undefined,
  field: string,
): Promise<Omit<ArtifactRef, "$typeName">> {
  const bytes = await readArtifact(store, ref, field, ArtifactKind.WEIGHTS);
  let problem: Error | undefined;
  const model = createModel(config, "zeros");
  try {
    problem = stateDictProblem(model, decodeSafetensors(bytes).tensors);
  } catch (error) {
    problem = error as Error;
  } finally {
    model.dispose();
  }
  if (problem) throw failedPrecondition(`${field}: ${problem.message}`);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return { bucket: store.bucket, key: ref!.key, sha256, sizeBytes: BigInt(bytes.length), kind: ArtifactKind.WEIGHTS };
}

/**
 * A step's checkpoints in the store, next to nothing else: keyed by the
 * step's output key (which the coordinator derives from the request's hash),
 * so any replica that gets the retried call finds them. A checkpoint that
 * fails its sha256 is dropped and the job starts over.
 */
export function storeCheckpoints(store: ArtifactStore, outputKey: string): Checkpoints & { clear(): Promise<void> } {
  const key = `checkpoints/${outputKey}`;
  return {
    async load() {
      if (!(await store.exists(key))) return undefined;
      try {
        return await store.get(key);
      } catch (error) {
        if ((error as Error).name !== "ArtifactIntegrityError") throw error;
        await store.delete(key);
        return undefined;
      }
    },
    save: async (state) => void (await store.put(key, state)),
    clear: () => store.delete(key),
  };
}

/** Reads a mask that must fit the model, or undefined when the ref is empty. */
export async function loadMaskArtifact(store: ArtifactStore, model: Model, ref: ArtifactRef | undefined, field: string): Promise<Masks | undefined> {
  if (!isSet(ref)) return undefined;
  const bytes = await readArtifact(store, ref, field, ArtifactKind.MASK);
  try {
    return loadMasks(model, bytes);
  } catch (error) {
    throw failedPrecondition(`${field}: ${(error as Error).message}`);
  }
}

/**
 * Recent adversarial sets, by bucket, key and sha256, up to 256 MB of pixels: the
 * transfer set of an experiment is evaluated on every compressed model (43 times
 * in the quick preset), 3-12 MB to read, verify and decode each time.
 */
const recentSets = new RecentByBytes<AdversarialSet>(256 * 2 ** 20, (set) => set.images.byteLength);

/**
 * Reads an adversarial set whose images must fit the model's input. A set the ref
 * names by sha256 and this process has read before comes from memory, once the
 * store confirms it still holds that sha256 (so a deleted or replaced set fails as on a read).
 */
export async function loadAdversarialSet(store: ArtifactStore, ref: ArtifactRef | undefined, field: string, shape: InputShape): Promise<AdversarialSet> {
  const { key, sha256, sizeBytes } = checkedRef(store, ref, field, ArtifactKind.ADVERSARIAL_SET);
  const cacheKey = sha256 === "" ? undefined : `${store.bucket}/${key}@${sha256}`;
  let set = cacheKey ? recentSets.get(cacheKey) : undefined;
  if (set) {
    const stored = await store.stat(key);
    // Anything else (gone, replaced, another size asked for): read, and fail as a read does.
    if (stored?.sha256 !== sha256 || (sizeBytes !== 0n && stored.sizeBytes !== sizeBytes)) set = undefined;
  }
  if (!set) {
    const bytes = await readArtifact(store, ref, field, ArtifactKind.ADVERSARIAL_SET);
    try {
      set = decodeAdversarialSet(bytes);
    } catch (error) {
      throw failedPrecondition(`${field}: ${(error as Error).message}`);
    }
    if (cacheKey) recentSets.keep(cacheKey, set);
  }
  if (set.height !== shape.height || set.width !== shape.width || set.channels !== shape.channels) {
    throw failedPrecondition(
      `${field}: images are ${set.height}x${set.width}x${set.channels}, the model takes ${shape.height}x${shape.width}x${shape.channels}`,
    );
  }
  return set;
}

/**
 * Runs `use` with the model (weights loaded) and its masks (when the ref is
 * set), and frees the model afterwards whatever happens.
 */
export async function withModel<T>(
  store: ArtifactStore,
  config: ModelConfig,
  refs: {
    weights: ArtifactRef | undefined;
    /** The request field the weights come from, for errors (default "weights"). */
    weightsField?: string;
    mask: ArtifactRef | undefined;
    /** Train only, when the request asked for it: a seeded model instead of weights. */
    fromScratch?: { seed: number };
    /** Builds the model another way (e.g. the simulated int8 one); default: loadModel from `weights`. */
    load?: () => Promise<Model>;
  },
  use: (model: Model, masks: Masks | undefined) => Promise<T>,
): Promise<T> {
  const model = await (refs.load ?? (() => loadModel(store, config, refs.weights, refs.weightsField ?? "weights", refs.fromScratch)))();
  try {
    return await use(model, await loadMaskArtifact(store, model, refs.mask, "mask"));
  } finally {
    model.dispose();
  }
}

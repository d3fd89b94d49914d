/**
 * The safetensors format (huggingface/safetensors): 8-byte little-endian header length,
 * a JSON header mapping each tensor name to {dtype, shape, data_offsets} (offsets into
 * the data block that follows) plus an optional "__metadata__" string map, then the raw
 * little-endian data. No npm package for it is available here, and the format is small,
 * so this is our own reader/writer.
 */

const ARRAYS = {
  F64: Float64Array,
  F32: Float32Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U64: BigUint64Array,
  U32: Uint32Array,
  U16: Uint16Array,
  U8: Uint8Array,
} as const;

export type SafetensorsDType = keyof typeof ARRAYS;
export type TensorData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | BigUint64Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

export interface SafeTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsFile {
  tensors: Record<string, SafeTensor>;
  metadata: Record<string, string>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function requireLittleEndian(): void {
  if (!LITTLE_ENDIAN) throw new Error("safetensors: big-endian platforms are not supported");
}

const isDType = (d: unknown): d is SafetensorsDType => typeof d === "string" && Object.hasOwn(ARRAYS, d);

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Serialises tensors in the record's key order. */
export function encodeSafetensors(tensors: Record<string, SafeTensor>, metadata?: Record<string, string>): Uint8Array {
  requireLittleEndian();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "__metadata__") throw new Error("safetensors: '__metadata__' is not a tensor name");
    if (!isDType(t.dtype)) throw new Error(`safetensors: ${name}: unknown dtype ${String(t.dtype)}`);
    if (!(t.data instanceof ARRAYS[t.dtype])) throw new Error(`safetensors: ${name}: data is not a ${ARRAYS[t.dtype].name} for dtype ${t.dtype}`);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`safetensors: ${name}: bad shape [${t.shape}]`);
    if (product(t.shape) !== t.data.length) throw new Error(`safetensors: ${name}: shape [${t.shape}] does not match ${t.data.length} elements`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so the data block starts 8-byte aligned (as the reference writer does).
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(json);
    json = withSpaces;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Parses a safetensors file; tensor data is copied out (aligned, independent of `bytes`). */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsFile {
  requireLittleEndian();
  if (bytes.length < 8) throw new Error("safetensors: file shorter than its 8-byte header length");
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) throw new Error(`safetensors: header length ${headerLength} exceeds file size ${bytes.length}`);
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, dataStart)));
  } catch (e) {
    throw new Error(`safetensors: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new Error("safetensors: header is not a JSON object");
  const dataLength = bytes.length - dataStart;
  const tensors: Record<string, SafeTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDType(dtype)) throw new Error(`safetensors: ${name}: unsupported dtype ${String(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`safetensors: ${name}: bad shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      throw new Error(`safetensors: ${name}: bad data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    const Array_ = ARRAYS[dtype];
    if (end < begin || end > dataLength) throw new Error(`safetensors: ${name}: data_offsets [${begin}, ${end}] outside the data block (${dataLength} bytes)`);
    if (end - begin !== product(shape) * Array_.BYTES_PER_ELEMENT) {
      throw new Error(`safetensors: ${name}: ${end - begin} bytes do not hold shape [${shape}] of ${dtype}`);
    }
    // Copy into a fresh, aligned buffer (a Node Buffer's slice() would only be a view).
    const raw = new Uint8Array(end - begin);
    raw.set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors[name] = { dtype, shape: shape as number[], data: new Array_(raw.buffer) };
  }
  return { tensors, metadata };
}

/**
 * A data set as one safetensors object (what `gap import data` writes and a
 * DatasetRef can name): images U8 [N, H, W, C], labels I32 [N], and in the
 * metadata the split and the class names (JSON). Pixels are bytes, so an
 * object is a quarter of the floats it becomes.
 */
import { decodeSafetensors, encodeSafetensors } from "../io/safetensors.js";
import type { Dataset, Split } from "./types.js";

export function encodeStoredDataset(data: { images: Uint8Array; labels: Int32Array; height: number; width: number; channels: number; classNames: string[] }, split: Split): Uint8Array {
  const count = data.labels.length;
  return encodeSafetensors(
    {
      images: { dtype: "U8", shape: [count, data.height, data.width, data.channels], data: data.images },
      labels: { dtype: "I32", shape: [count], data: data.labels },
    },
    { kind: "dataset", split, class_names: JSON.stringify(data.classNames) },
  );
}

/** The data set an object holds, with every problem named: shapes, the split, labels out of range (by record). */
export function decodeStoredDataset(bytes: Uint8Array, split: Split): Dataset {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata.kind !== "dataset") throw new Error(`not a data set object (kind "${metadata.kind ?? ""}")`);
  if (metadata.split !== split) throw new Error(`the object holds the ${metadata.split} split, not ${split}`);
  const images = tensors.images;
  const labels = tensors.labels;
  if (!images || images.dtype !== "U8" || images.shape.length !== 4) throw new Error(`images must be U8 [N, H, W, C], got ${images ? `${images.dtype} [${images.shape.join(", ")}]` : "none"}`);
  const [count, height, width, channels] = images.shape as [number, number, number, number];
  if (!labels || labels.dtype !== "I32" || labels.shape.length !== 1 || labels.shape[0] !== count) {
    throw new Error(`labels must be I32 [${count}], got ${labels ? `${labels.dtype} [${labels.shape.join(", ")}]` : "none"}`);
  }
  let classNames: unknown;
  try {
    classNames = JSON.parse(metadata.class_names ?? "");
  } catch {
    classNames = undefined;
  }
  if (!Array.isArray(classNames) || classNames.length < 2 || !classNames.every((n) => typeof n === "string")) {
    throw new Error("metadata class_names must be a JSON list of at least two names");
  }
  const values = labels.data as Int32Array;
  for (let i = 0; i < count; i++) {
    if (values[i]! < 0 || values[i]! >= classNames.length) throw new Error(`record ${i}: label ${values[i]} is not in [0, ${classNames.length})`);
  }
  const pixels = images.data as Uint8Array;
  const floats = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) floats[i] = pixels[i]! / 255;
  return { images: floats, labels: values, count, height, width, channels, numClasses: classNames.length, classNames: classNames as string[] };
}

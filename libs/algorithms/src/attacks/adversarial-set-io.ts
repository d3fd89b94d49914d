import { decodeSafetensors, encodeSafetensors } from "@gap/ml-core";
import type { AdversarialSet, AttackParameters } from "./adversarial-set.js";

/**
 * An adversarial set as safetensors: images F32 [N, H, W, C] in pixel space,
 * labels and the source model's clean and adversarial predictions as I32 [N],
 * the attack parameters as JSON metadata.
 */
export function encodeAdversarialSet(set: AdversarialSet): Uint8Array {
  const n = [set.count];
  return encodeSafetensors(
    {
      images: { dtype: "F32", shape: [set.count, set.height, set.width, set.channels], data: set.images },
      labels: { dtype: "I32", shape: n, data: set.labels },
      clean_predictions: { dtype: "I32", shape: n, data: set.cleanPredictions },
      adversarial_predictions: { dtype: "I32", shape: n, data: set.adversarialPredictions },
    },
    { kind: "adversarial_set", num_classes: String(set.numClasses), parameters: JSON.stringify(set.parameters) },
  );
}

export function decodeAdversarialSet(bytes: Uint8Array): AdversarialSet {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const tensor = (name: string, dtype: "F32" | "I32") => {
    const t = tensors[name];
    if (!t || t.dtype !== dtype) throw new Error(`adversarial set: missing ${dtype} tensor "${name}"`);
    return t;
  };
  if (metadata.kind !== "adversarial_set") throw new Error(`not an adversarial set (kind "${metadata.kind ?? ""}")`);
  const images = tensor("images", "F32");
  const [count, height, width, channels] = images.shape as [number, number, number, number];
  const perExample = ["labels", "clean_predictions", "adversarial_predictions"].map((name) => tensor(name, "I32"));
  if (images.shape.length !== 4 || perExample.some((t) => t.shape.length !== 1 || t.shape[0] !== count)) {
    throw new Error("adversarial set: tensor shapes disagree");
  }
  const [labels, cleanPredictions, adversarialPredictions] = perExample.map((t) => t.data as Int32Array) as [Int32Array, Int32Array, Int32Array];
  return {
    images: images.data as Float32Array,
    labels,
    cleanPredictions,
    adversarialPredictions,
    count,
    height,
    width,
    channels,
    numClasses: Number(metadata.num_classes),
    parameters: JSON.parse(metadata.parameters ?? "{}") as AttackParameters,
  };
}

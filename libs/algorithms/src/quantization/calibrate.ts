import * as tf from "@tensorflow/tfjs-core";
import { forEachBatch, withMaskTensors, type Dataset, type Masks, type MaskTensors, type Model, type QuantizationHooks } from "@gap/ml-core";

/** Observed range of each quantization point, in forward order. */
export type Calibration = Map<string, { min: number; max: number }>;

export interface CalibrationOptions {
  batchSize: number;
  masks?: Masks;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/**
 * PyTorch's MinMaxObserver at every quantization point: the running min and max over
 * eval-mode forwards of the whole data set (in order, no augmentation).
 */
export function calibrate(model: Model, data: Dataset, options: CalibrationOptions): Promise<Calibration> {
  return withMaskTensors(model, options.masks, (masks) => calibrateMasked(model, data, options, masks));
}

async function calibrateMasked(model: Model, data: Dataset, options: CalibrationOptions, masks: MaskTensors | undefined): Promise<Calibration> {
  const ranges: Calibration = new Map();
  await forEachBatch(data, options, async ({ x }) => {
    const points: string[] = [];
    const extrema: tf.Tensor[] = [];
    const observe: QuantizationHooks = {
      activation(point, x) {
        points.push(point);
        extrema.push(tf.keep(tf.stack([tf.min(x), tf.max(x)])));
        return x;
      },
    };
    tf.tidy(() => void model.forward(x, { training: false, masks, quantization: observe }));
    if (extrema.length === 0) throw new Error(`calibrate: ${model.config.architecture} has no quantization points`);
    const all = tf.concat(extrema);
    const values = await all.data();
    tf.dispose([all, ...extrema]);
    points.forEach((point, i) => {
      const [min, max] = [values[2 * i]!, values[2 * i + 1]!];
      const seen = ranges.get(point);
      ranges.set(point, seen ? { min: Math.min(seen.min, min), max: Math.max(seen.max, max) } : { min, max });
    });
  });
  return ranges;
}

/** The quantization points of a model, in forward order (one eval forward of a zero image). */
export function quantizationPoints(model: Model): string[] {
  const points = new Set<string>();
  const { height, width, channels } = model.config.inputShape;
  tf.tidy(() => {
    model.forwardNormalized(tf.zeros([1, height, width, channels]), {
      training: false,
      quantization: { activation: (point, x) => (points.add(point), x) },
    });
  });
  return [...points];
}

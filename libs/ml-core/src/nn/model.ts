import type * as tf from "@tensorflow/tfjs-core";

/** Architectures of the paper's grid (plus the deeper CIFAR ResNets). */
export const ARCHITECTURES = [
  "resnet20",
  "resnet32",
  "resnet44",
  "resnet56",
  "resnet110",
  "vgg_bn_drop",
  "googlenet",
  "mobilenet_v2",
] as const;
export type ArchitectureName = (typeof ARCHITECTURES)[number];

/** One input image, channels last. */
export interface InputShape {
  height: number;
  width: number;
  channels: number;
}

export interface ModelConfig {
  architecture: ArchitectureName;
  numClasses: number;
  inputShape: InputShape;
}

/**
 * What a parameter is. Tensors are stored in the TensorFlow.js layout
 * (conv HWIO, depthwise HW C 1, linear [in, out]); names are the PyTorch
 * state_dict names of the reference definitions, such as "layer1.0.conv1.weight".
 */
export type ParamKind = "conv" | "depthwise_conv" | "linear" | "bias" | "bn_weight" | "bn_bias";

export interface ParamEntry {
  name: string;
  variable: tf.Variable;
  kind: ParamKind;
  /** Conv and linear weights and biases, except the final classifier. */
  prunable: boolean;
}

/** Non-trainable state: BatchNorm running_mean and running_var. */
export interface BufferEntry {
  name: string;
  variable: tf.Variable;
}

/**
 * Pruning masks, the one type of them: by prunable parameter name, a 0/1 byte
 * per weight (1 keeps it), in the parameter's layout. Files hold them in the
 * PyTorch layout (saveMasks / loadMasks).
 */
export type Masks = ReadonlyMap<string, Uint8Array>;

/** Masks as 0/1 float tensors shaped like the parameters: the form a forward pass multiplies by (maskTensors). */
export type MaskTensors = ReadonlyMap<string, tf.Tensor>;

/**
 * Simulated quantization. The architectures call `activation` at every point where
 * PyTorch's eager int8 model quantizes an activation (the network input, each fused
 * conv+bn(+relu) output, residual adds, concatenations, linear outputs); the hook
 * returns what the next layer sees there (observed, or fake-quantized).
 */
export interface QuantizationHooks {
  /**
   * `point` is a stable module-like name such as "input", "layer1.0.conv1", "layer1.0.add".
   * A point is applied again to an op's output that keeps its input's qparams (average pooling).
   */
  activation(point: string, x: tf.Tensor): tf.Tensor;
}

export interface ForwardOptions {
  /** Batch statistics and dropout in training mode; running statistics otherwise. */
  training: boolean;
  /** Effective weight is weight * mask, so pruned weights contribute nothing and get no gradient. */
  masks?: MaskTensors;
  /** Seed for dropout in training mode. */
  dropoutSeed?: number;
  /** Hooks at the int8 quantization points; absent: plain float forward. */
  quantization?: QuantizationHooks;
}

export interface Model {
  readonly config: ModelConfig;
  /** Trainable parameters in PyTorch state_dict order. */
  readonly params: readonly ParamEntry[];
  readonly buffers: readonly BufferEntry[];
  /** (x - mean) / std with the CIFAR-10 statistics (per channel; mean of them for 1 channel). */
  normalize(x: tf.Tensor4D): tf.Tensor4D;
  /** Logits from normalized NHWC input. */
  forwardNormalized(z: tf.Tensor4D, options: ForwardOptions): tf.Tensor2D;
  /** Logits from pixel-space NHWC input in [0, 1]. */
  forward(x: tf.Tensor4D, options: ForwardOptions): tf.Tensor2D;
  /**
   * A training-mode forward records each BatchNorm's batch mean and variance.
   * This folds them into the running buffers as PyTorch does
   * (momentum 0.1, unbiased variance) and drops them.
   */
  commitBatchStats(): void;
  /** Drops recorded batch statistics without using them (e.g. when only scoring). */
  discardBatchStats(): void;
  dispose(): void;
}

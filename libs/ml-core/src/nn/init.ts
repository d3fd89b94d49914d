/**
 * Seeded weight initialisation with PyTorch's formulas (not PyTorch's random streams:
 * the same seed gives the same weights here on every backend, but not the values
 * PyTorch would draw).
 */

/** mulberry32: a tiny 32-bit PRNG; enough for initialisation, deterministic everywhere. */
export class InitRng {
  private state: number;
  private spare: number | null = null;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u = 1 - this.next(); // in (0, 1], so log(u) is finite
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/**
 * How a conv or linear weight is drawn. Fans are PyTorch's:
 * fan_in = in_channels/groups * kh * kw, fan_out = out_channels * kh * kw.
 */
export type WeightInit =
  /** PyTorch's default for Conv2d/Linear: kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
  | { kind: "pytorch_default" }
  /** kaiming_normal_ with the ReLU gain: N(0, 2/fan). */
  | { kind: "kaiming_normal"; mode: "fan_in" | "fan_out" }
  | { kind: "normal"; std: number }
  /** trunc_normal_(mean 0, std, a, b): normal redrawn until inside [a, b] (absolute bounds). */
  | { kind: "trunc_normal"; std: number; a: number; b: number };

/** PyTorch's default bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), or zeros. */
export type BiasInit = "pytorch_default" | "zeros";

export interface Fans {
  fanIn: number;
  fanOut: number;
}

export function drawWeights(rng: InitRng, size: number, init: WeightInit, fans: Fans): Float32Array {
  const out = new Float32Array(size);
  switch (init.kind) {
    case "pytorch_default": {
      const bound = 1 / Math.sqrt(fans.fanIn);
      for (let i = 0; i < size; i++) out[i] = (2 * rng.next() - 1) * bound;
      break;
    }
    case "kaiming_normal": {
      const std = Math.sqrt(2 / (init.mode === "fan_in" ? fans.fanIn : fans.fanOut));
      for (let i = 0; i < size; i++) out[i] = rng.normal() * std;
      break;
    }
    case "normal":
      for (let i = 0; i < size; i++) out[i] = rng.normal() * init.std;
      break;
    case "trunc_normal":
      for (let i = 0; i < size; i++) {
        let v: number;
        do v = rng.normal() * init.std;
        while (v < init.a || v > init.b);
        out[i] = v;
      }
      break;
  }
  return out;
}

export function drawBias(rng: InitRng, size: number, init: BiasInit, fanIn: number): Float32Array {
  const out = new Float32Array(size);
  if (init === "pytorch_default") {
    const bound = 1 / Math.sqrt(fanIn);
    for (let i = 0; i < size; i++) out[i] = (2 * rng.next() - 1) * bound;
  }
  return out;
}

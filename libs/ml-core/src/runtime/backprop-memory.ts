/**
 * Frees what the backward pass no longer needs as it goes, as PyTorch's autograd
 * does: once the pass has run through a node of the tape, that node's saved
 * tensors and the gradients of its outputs. tfjs keeps both until the whole pass
 * ends (for higher-order gradients), so a ResNet20 training step at batch 128
 * held every activation and every activation's gradient at once.
 *
 * Done by wrapping two methods of tfjs's engine: addTapeNode (to see each node's
 * gradient run) and gradients (to know the pass, its xs and its given dy). Nothing
 * is freed while higher-order gradients are being recorded (gradientDepth > 0,
 * where tfjs keeps the tape too), nor a gradient the caller asked for or gave.
 */
import * as tf from "@tensorflow/tfjs-core";

type Gradients = Record<string, () => tf.Tensor>;
interface TapeNode {
  saved?: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Gradients;
}
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  addTapeNode(...args: unknown[]): void;
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean): unknown;
}

/** The backward pass in progress: what must outlive it, and what the last node left to free. */
interface Pass {
  xs: ReadonlySet<number>;
  dy: tf.Tensor | undefined;
  releaseLastNode: (() => void) | null;
}

let pass: Pass | null = null;
let installed = false;

/** Installs the early release on tfjs's engine (once per process). */
export function releaseBackpropMemoryEarly(): void {
  if (installed) return;
  installed = true;
  const proto = Object.getPrototypeOf(tf.engine()) as EngineInternals;
  const { addTapeNode, gradients } = proto;
  proto.gradients = function (this: EngineInternals, f, xs, dy, allowNoGradients) {
    const outer = pass;
    pass = { xs: new Set(xs.map((x) => x.id)), dy, releaseLastNode: null };
    try {
      return gradients.call(this, f, xs, dy, allowNoGradients);
    } finally {
      pass = outer;
    }
  };
  proto.addTapeNode = function (this: EngineInternals, ...args: unknown[]) {
    addTapeNode.apply(this, args);
    const node = this.state.activeTape![this.state.activeTape!.length - 1]!;
    const gradient = node.gradient;
    if (gradient != null) node.gradient = (dys) => backpropThrough(this, node, gradient, dys);
  };
}

/**
 * Runs a node's gradient, first freeing what the previous node of the pass left:
 * its input gradients are all computed by then (tfjs calls them right after the
 * node's gradient), and its outputs' gradients have no other reader.
 */
function backpropThrough(engine: EngineInternals, node: TapeNode, gradient: NonNullable<TapeNode["gradient"]>, dys: Array<tf.Tensor | null>): Gradients {
  const p = pass;
  if (p == null || engine.state.gradientDepth > 0) return gradient(dys);
  p.releaseLastNode?.();
  p.releaseLastNode = null;
  const grads = gradient(dys);
  // A gradient may hand on a saved tensor or its dy as is: those live on as another tensor's gradient.
  const handedOn = new Set<tf.Tensor>();
  const watched: Gradients = {};
  for (const [input, g] of Object.entries(grads)) {
    watched[input] = () => {
      const dx = g();
      handedOn.add(dx);
      return dx;
    };
  }
  p.releaseLastNode = () => {
    for (const t of node.saved ?? []) if (!handedOn.has(t)) t.dispose();
    for (const dy of dys) if (dy != null && dy !== p.dy && !p.xs.has(dy.id) && !handedOn.has(dy)) dy.dispose();
  };
  return watched;
}

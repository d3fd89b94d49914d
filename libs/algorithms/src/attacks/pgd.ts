import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "@gap/ml-core";
import { ballScale, inputGradient, project, type Attack, type AttackBatchInput, type AttackConfig } from "./attack.js";

/**
 * Eq. (5), projected gradient descent (Madry et al.), as CleverHans runs it:
 *   x⁰ = Π(x + U(-ε, ε))                 (random start)
 *   xᵗ⁺¹ = Π_{x+ε}(xᵗ + α sgn(∇ₓ L(θ, xᵗ, y)))
 */
export class Pgd implements Attack {
  readonly name = "pgd";

  perturb({ model, masks, images, labels, seed }: AttackBatchInput, config: AttackConfig): tf.Tensor4D {
    return tf.tidy(() => {
      const scale = ballScale(model, config.inputSpace);
      const radius = tf.mul(scale, config.eps);
      const step = tf.mul(scale, config.stepSize);
      let adversarial = images;
      if (config.randomStart) {
        const rng = new Rng(seed);
        const noise = tf.tensor(Float32Array.from({ length: images.size }, () => 2 * rng.nextFloat() - 1), images.shape);
        adversarial = project(tf.add(images, tf.mul(noise, radius)) as tf.Tensor4D, images, radius, config.inputSpace);
      }
      for (let t = 0; t < config.steps; t++) {
        const next = tf.tidy(() => {
          const gradient = inputGradient(model, adversarial, labels, masks);
          const stepped = tf.add(adversarial, tf.mul(tf.sign(gradient), step)) as tf.Tensor4D;
          return project(stepped, images, radius, config.inputSpace);
        });
        if (adversarial !== images) adversarial.dispose();
        adversarial = next;
      }
      return adversarial === images ? tf.clone(images) : adversarial;
    });
  }
}

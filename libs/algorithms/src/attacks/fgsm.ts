import * as tf from "@tensorflow/tfjs-core";
import { ballScale, inputGradient, project, type Attack, type AttackBatchInput, type AttackConfig } from "./attack.js";

/** Fast gradient sign method: one step of size ε, x' = Π(x + ε sgn(∇ₓ L(θ, x, y))). */
export class Fgsm implements Attack {
  readonly name = "fgsm";

  perturb({ model, masks, images, labels }: AttackBatchInput, config: AttackConfig): tf.Tensor4D {
    return tf.tidy(() => {
      const radius = tf.mul(ballScale(model, config.inputSpace), config.eps);
      const gradient = inputGradient(model, images, labels, masks);
      return project(tf.add(images, tf.mul(tf.sign(gradient), radius)) as tf.Tensor4D, images, radius, config.inputSpace);
    });
  }
}

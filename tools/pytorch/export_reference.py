#!/usr/bin/env python3
"""Writes PyTorch reference models with their outputs, for checking the TensorFlow.js
implementation (libs/ml-core) number for number.

For each architecture: build the reference model, give it random weights and random
BatchNorm affine parameters and running statistics (calibrated on random data, then
perturbed, so that eval-mode BatchNorm is really exercised and logits are O(1)), and
write <arch>[_HxWxC].safetensors holding the state_dict (PyTorch names and layout) and:
  __input__          pixel-space inputs in [0, 1], NCHW
  __logits__         eval-mode logits of model(normalize(__input__))
  __logits_f64__     the same computed in float64 (F64), to measure float32 rounding
  __grad_weights__, __input_grad__   d/d__input__ of sum(eval logits * __grad_weights__)
For architectures without dropout (the ResNets) also:
  __train_logits__   training-mode logits on the same inputs (batch statistics)
  __updated__.<bn>.running_mean / .running_var   running stats after that forward

usage: export_reference.py OUT_DIR [--arch resnet20,vgg_bn_drop,...] [--shape 32x32x3]
                           [--batch 4] [--seed 0] [--classes 10]
"""
import argparse
import copy
import math
import os

import torch
import torch.nn as nn

import reference_models
import safetensors_io

DEFAULT_ARCHS = ["resnet20", "vgg_bn_drop", "googlenet", "mobilenet_v2"]


def randomize(model, gen, in_channels, height, width):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
                if m.bias is not None:
                    m.bias.copy_((torch.rand(m.bias.shape, generator=gen) - 0.5) * 0.2)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen))
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.2)
    # Calibrate running statistics on random images (cumulative average, dropout off),
    # then perturb them so they differ from any batch's statistics.
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    with torch.no_grad():
        for _ in range(2):
            model(reference_models.normalize(torch.rand(16, in_channels, height, width, generator=gen)))
    for bn in bns:
        bn.momentum = 0.1
        with torch.no_grad():
            std = bn.running_var.sqrt()
            bn.running_mean.add_(torch.randn(bn.running_mean.shape, generator=gen) * 0.1 * std)
            bn.running_var.mul_(0.8 + 0.4 * torch.rand(bn.running_var.shape, generator=gen))
    model.eval()


def export(arch, out_dir, height, width, channels, batch, seed, classes):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = reference_models.build(arch, classes, channels)
    randomize(model, gen, channels, height, width)
    x = torch.rand(batch, channels, height, width, generator=gen)
    tensors = dict(model.state_dict())
    with torch.no_grad():
        tensors["__input__"] = x
        tensors["__logits__"] = model(reference_models.normalize(x))
        # The same in float64: the rounding error of float32 itself, to judge tolerances by.
        tensors["__logits_f64__"] = copy.deepcopy(model).double()(reference_models.normalize(x.double()))
        # Eval-mode input gradient of sum(logits * __grad_weights__), as an attack needs it.
        grad_weights = torch.randn(tensors["__logits__"].shape, generator=gen)
        with torch.enable_grad():
            x_var = x.clone().requires_grad_(True)
            (model(reference_models.normalize(x_var)) * grad_weights).sum().backward()
        tensors["__grad_weights__"] = grad_weights
        tensors["__input_grad__"] = x_var.grad
        has_dropout = any(isinstance(m, nn.Dropout) for m in model.modules())
        if not has_dropout:
            trained = copy.deepcopy(model).train()
            tensors["__train_logits__"] = trained(reference_models.normalize(x))
            for name, t in trained.state_dict().items():
                if name.endswith("running_mean") or name.endswith("running_var"):
                    tensors["__updated__." + name] = t
    suffix = "" if (height, width, channels) == (32, 32, 3) else f"_{height}x{width}x{channels}"
    path = os.path.join(out_dir, f"{arch}{suffix}.safetensors")
    safetensors_io.save(tensors, path, {
        "architecture": arch, "input_shape": f"{height}x{width}x{channels}", "num_classes": classes,
        "seed": seed, "torch": torch.__version__,
    })
    params = sum(p.numel() for p in model.parameters())
    rounding = (tensors["__logits__"].double() - tensors["__logits_f64__"]).abs().max().item()
    print(f"{path}: {params} parameters, max |logit| {tensors['__logits__'].abs().max().item():.3f}, "
          f"float32 vs float64 {rounding:.2e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--arch", default=",".join(DEFAULT_ARCHS))
    parser.add_argument("--shape", default="32x32x3", help="HxWxC")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the machine is shared; these models are small
    height, width, channels = (int(v) for v in args.shape.split("x"))
    os.makedirs(args.out_dir, exist_ok=True)
    for arch in args.arch.split(","):
        export(arch, args.out_dir, height, width, channels, args.batch, args.seed, args.classes)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Loads a safetensors state_dict written by libs/ml-core (saveWeights plus __input__,
NCHW pixels in [0, 1], and __logits__) into the PyTorch reference model with strict
load_state_dict, and prints the largest logit difference as JSON.

usage: check_import.py FILE --arch resnet20 [--classes 10]
"""
import argparse
import json

import torch

import reference_models
import safetensors_io


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--arch", required=True)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tensors, metadata = safetensors_io.load(args.file)
    x = tensors.pop("__input__")
    expected = tensors.pop("__logits__")
    model = reference_models.build(args.arch, args.classes, x.shape[1])
    model.load_state_dict(tensors, strict=True)
    model.eval()
    with torch.no_grad():
        logits = model(reference_models.normalize(x))
    print(json.dumps({
        "max_abs_error": (logits - expected).abs().max().item(),
        "max_abs_logit": expected.abs().max().item(),
        "metadata": metadata,
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch reference timings for the workloads of tools/bench/src/ml.ts, on identical shapes.

For one architecture (tools/pytorch/reference_models.py, normalization inside the model,
pixel-space NCHW inputs in [0, 1], 10 classes), times what ml.ts times, the same way:

  train    one SGD step on a batch (train-mode BatchNorm and dropout, mean cross-entropy,
           SGD lr 0.01 momentum 0.9 nesterov weight decay 1e-4, a fresh optimizer per call as
           ml-core's train() makes one per call; shuffled batch, loss and accuracy read back)
  eval     eval-mode forward over eval_batches batches, argmax and summed loss read back
  pgd10    libs/algorithms generateAdversarialSet with PGD-10 on one batch: clean eval
           forward, uniform random start in the eps-ball, 10 steps of x + alpha*sign(grad_x)
           of the summed cross-entropy (eval-mode BatchNorm), projected onto the eps-ball and
           [0, 1], then the eval forward on the result; eps 8/255, alpha 2/255
  gap      libs/algorithms prune(strategy "gap", variant "paper", scope global, p = 4) over
           gap_inputs adversarial inputs (made untimed with 1-step PGD, as ml.ts does), in
           batches of `batch`: gradient of the summed loss (eval-mode BatchNorm) w.r.t. the
           prunable parameters (conv and linear weights and biases, not BatchNorm, not the
           final classifier), summed over batches, scores = -sum, one global threshold
           keeping the top-scoring weights (ties: lower flat index first)

Memory: glibc's malloc hands every large tensor back to the kernel when it is freed
(mmap/munmap), so each step page-faults its activations in again, which made PyTorch's
training step vary between 0.21 and 0.69 s here. The script re-executes itself with
glibc's tunables set to keep freed memory (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_,
MALLOC_TOP_PAD_; the effect PyTorch's CPU tuning guide gets from jemalloc or tcmalloc),
which makes it faster and steady; --system-malloc keeps glibc's defaults.

--turns (tools/bench/src/compare.ts runs the reference beside ml.ts this way): before each
unit of work (the reference convolution, each workload's warm-up calls, each timed repeat,
making GAP's set, GAP scoring) the process writes "wait <unit>" to file descriptor 3 and
waits for a line on stdin, so that the two sides' units alternate one at a time; the units
and their names are ml.ts's.

train/eval: `warmups` warm-up calls, then best of `repeats` timed calls. pgd10: `warmups`
warm-up PGD-`pgd_warmup_steps` calls on the same batch (same kernels and shapes), then best
of `repeats` PGD-10 calls. gap: one timed call (ml.ts times it once too).

usage: bench_reference.py --arch resnet20 [--batch 128] [--repeats 3] [--gap-inputs 1000]
                          [--eval-batches 4] [--pgd-warmup-steps 1] [--warmups 1] [--threads 2] [--out FILE]
                          [--system-malloc] [--turns]
Prints the result as JSON on stdout (and writes it to --out when given).
"""
import argparse
import datetime
import json
import math
import os
import platform
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_models  # noqa: E402

EPS = 8 / 255
STEP = 2 / 255
# Keep freed memory in the process (see the docstring): no mmap per tensor, no trimming.
MALLOC_TUNABLES = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 32),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 36),
    "MALLOC_TOP_PAD_": str(1 << 30),
}


class Normalized(nn.Module):
    """model(normalize(x)) with the statistics as buffers (our models normalize inside too)."""

    def __init__(self, model, channels=3):
        super().__init__()
        self.model = model
        mean = torch.tensor(reference_models.CIFAR10_MEAN).view(1, channels, 1, 1)
        std = torch.tensor(reference_models.CIFAR10_STD).view(1, channels, 1, 1)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x):
        return self.model((x - self.mean) / self.std)


def prunable_parameters(model):
    """Conv and linear weights and biases except the final classifier (the last Linear),
    in state_dict order, as libs/ml-core's ModelBuilder marks them."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    classifier = linears[-1]
    chosen = set()
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m is not classifier:
            chosen.add(id(m.weight))
            if m.bias is not None:
                chosen.add(id(m.bias))
    return [(name, p) for name, p in model.named_parameters() if id(p) in chosen]


def kept_prunable_count(total, prunable, compression):
    """libs/algorithms keptPrunableCount; JavaScript's Math.round rounds halves up (Python's round
    rounds them to even)."""
    nonprunable = total - prunable
    return min(math.floor(total / compression + 0.5) - nonprunable, prunable)


TURNS = False


def turn(unit):
    """With --turns: announces the next unit of work on fd 3 and blocks until stdin says go."""
    if not TURNS:
        return
    os.write(3, f"wait {unit}\n".encode())
    if not sys.stdin.readline():
        raise SystemExit("--turns: stdin closed while waiting for a turn")


def best_of(workload, repeats, images, run, warmup, warmups):
    turn(f"{workload} warm-up")
    for _ in range(warmups):
        warmup()
    seconds = []
    for i in range(repeats):
        turn(f"{workload} {i + 1}")
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return {"imagesPerSecond": images / min(seconds), "seconds": seconds}


def pgd_attack(model, x, y, steps, gen):
    """One batch of generateAdversarialSet(method pgd, random start, pixel space, true labels)."""
    model.eval()
    with torch.no_grad():
        clean_pred = model(x).argmax(1)
    noise = torch.rand(x.shape, generator=gen) * 2 - 1
    adv = (x + (x + noise * EPS - x).clamp(-EPS, EPS)).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            stepped = adv + STEP * grad.sign()
            adv = (x + (stepped - x).clamp(-EPS, EPS)).clamp(0, 1)
    with torch.no_grad():
        adv_pred = model(adv).argmax(1)
    # generateAdversarialSet reads all three back to host arrays.
    return adv.numpy().copy(), clean_pred.numpy().copy(), adv_pred.numpy().copy()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet20")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gap-inputs", type=int, default=1000)
    parser.add_argument("--eval-batches", type=int, default=4)
    parser.add_argument("--pgd-warmup-steps", type=int, default=1)
    parser.add_argument("--warmups", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    parser.add_argument("--system-malloc", action="store_true", help="keep glibc's malloc defaults")
    parser.add_argument("--turns", action="store_true", help="alternate units of work with another process (see above)")
    args = parser.parse_args()
    if not args.system_malloc and any(os.environ.get(k) != v for k, v in MALLOC_TUNABLES.items()):
        # glibc reads these when the process starts, hence the re-exec.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_TUNABLES})

    global TURNS
    TURNS = args.turns
    load_start = list(os.getloadavg())
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    batch = args.batch
    model = Normalized(reference_models.build(args.arch, 10, 3))
    parameters = sum(p.numel() for p in model.parameters())

    def reference_gflops():
        """What the GFLOP/s are read against (as in ml.ts): one 3x3 convolution of 64 channels into 64 over 8x8 pixels at batch 128, best of 10 after a warm-up; measured first."""
        own = torch.Generator().manual_seed(1)  # leaves the workloads' data as it was
        x, w = torch.rand(128, 64, 8, 8, generator=own), torch.rand(64, 64, 3, 3, generator=own)
        best = float("inf")
        with torch.no_grad():
            for i in range(11):
                start = time.perf_counter()
                torch.nn.functional.conv2d(x, w, padding=1)
                if i > 0:
                    best = min(best, time.perf_counter() - start)
        return 2 * 128 * 8 * 8 * 64 * 64 * 9 / best / 1e9

    turn("reference")
    reference = reference_gflops()

    def data(count):
        x = torch.rand(count, 3, 32, 32, generator=gen)
        y = torch.randint(0, 10, (count,), generator=gen)
        return x, y

    # Training step.
    xt, yt = data(batch)

    def train_step():
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
        perm = torch.randperm(batch, generator=gen)
        x, y = xt[perm], yt[perm]
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        correct = (logits.argmax(1) == y).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        correct.item()

    train = best_of("training", args.repeats, batch, train_step, train_step, args.warmups)

    # Evaluation.
    xe, ye = data(batch * args.eval_batches)

    def evaluate():
        model.eval()
        with torch.no_grad():
            for i in range(0, xe.shape[0], batch):
                logits = model(xe[i:i + batch])
                logits.argmax(1).numpy().copy()
                F.cross_entropy(logits, ye[i:i + batch], reduction="sum").item()

    evaluation = best_of("evaluation", args.repeats, xe.shape[0], evaluate, evaluate, args.warmups)

    # PGD-10 on one batch.
    xa, ya = data(batch)
    pgd = best_of("PGD-10", args.repeats, batch, lambda: pgd_attack(model, xa, ya, 10, gen),
                  lambda: pgd_attack(model, xa, ya, args.pgd_warmup_steps, gen), args.warmups)

    # GAP scoring over an adversarial set (made untimed with 1-step PGD, as ml.ts does).
    turn("GAP set")
    xg, yg = data(args.gap_inputs)
    xg = torch.cat([torch.from_numpy(pgd_attack(model, xg[i:i + batch], yg[i:i + batch], 1, gen)[0])
                    for i in range(0, args.gap_inputs, batch)])
    prunable = prunable_parameters(model)
    tensors = [p for _, p in prunable]
    prunable_count = sum(p.numel() for p in tensors)
    keep = kept_prunable_count(parameters, prunable_count, 4)
    turn("GAP scoring")
    start = time.perf_counter()
    model.eval()
    sums = [torch.zeros_like(p) for p in tensors]
    for i in range(0, args.gap_inputs, batch):
        loss = F.cross_entropy(model(xg[i:i + batch]), yg[i:i + batch], reduction="sum")
        grads = torch.autograd.grad(loss, tensors)
        for s, g in zip(sums, grads):
            s.add_(g)
    scores = torch.cat([-s.flatten() for s in sums])
    threshold = scores.sort().values[scores.numel() - keep]
    mask = scores > threshold
    ties = (scores == threshold).nonzero().flatten()[: keep - int(mask.sum())]
    mask[ties] = True
    masks = {}
    offset = 0
    for name, p in prunable:
        masks[name] = mask[offset:offset + p.numel()].view(p.shape).to(torch.uint8).numpy()
        offset += p.numel()
    gap_seconds = time.perf_counter() - start
    assert int(mask.sum()) == keep

    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "architecture": args.arch,
        "batch": batch,
        "repeats": args.repeats,
        "evalImages": batch * args.eval_batches,
        "pgdWarmupSteps": args.pgd_warmup_steps,
        "warmups": args.warmups,
        "parameters": parameters,
        "prunableParameters": prunable_count,
        "backend": {
            "name": "pytorch",
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "python": platform.python_version(),
            "executable": sys.executable,
            "malloc": "glibc defaults" if args.system_malloc else " ".join(f"{k}={v}" for k, v in MALLOC_TUNABLES.items()),
        },
        "trainStep": train,
        "evaluation": evaluation,
        "pgd10": pgd,
        "gapScoring": {"inputs": args.gap_inputs, "seconds": gap_seconds, "kept": keep},
        "referenceGflops": reference,
        # Linux reports ru_maxrss in KiB.
        "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        # User + system CPU time of this process (more than wall time means several threads).
        "cpuSeconds": resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
        "loadAverage": {"start": load_start, "end": list(os.getloadavg())},
    }
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    print(f"{args.arch} batch {batch} on pytorch {torch.__version__} ({torch.get_num_threads()} threads): "
          f"train {train['imagesPerSecond']:.1f} img/s, eval {evaluation['imagesPerSecond']:.1f} img/s, "
          f"PGD-10 {pgd['imagesPerSecond']:.1f} img/s, GAP scoring of {args.gap_inputs} inputs {gap_seconds:.2f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()

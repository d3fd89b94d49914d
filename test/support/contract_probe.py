#!/usr/bin/env python3
"""Tries the coordinator's contract field by field from Python, with the generated client.

    python3 contract_probe.py COORDINATOR_ADDRESS

Prints one JSON object: for each case, the status code and details
StartExperiment answered with; and the experiment id of the example's spec
with its defaults sent explicitly (after watching that experiment to its end).
"""
import json
import sys
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
from example import tiny_spec  # noqa: E402
from gap.v1 import coordinator_pb2 as coordinator  # noqa: E402
from gap.v1 import coordinator_pb2_grpc as coordinator_grpc  # noqa: E402


def clear(field):
    def change(spec):
        spec.ClearField(field)
    return change


def assign(path, value):
    def change(spec):
        *parents, name = path.split(".")
        message = spec
        for parent in parents:
            message = getattr(message, parent)
        setattr(message, name, value)
    return change


# Each case changes the example's (valid) spec in one way.
CASES = {
    **{field: clear(field) for field in [
        "name", "architectures", "strategies", "compression_ratios", "trials", "train_data", "test_data",
        "training", "fine_tuning", "attack", "quantization", "variant", "num_classes", "input_shape",
    ]},
    "training.momentum": assign("training.momentum", 0),
    "fine_tuning.epochs": assign("fine_tuning.epochs", 0),
    "attack.eps": assign("attack.eps", 0),
    "attack.batch_size=5000": assign("attack.batch_size", 5000),
    "eval_batch_size=5000": assign("eval_batch_size", 5000),
    "input_shape.channels=2": assign("input_shape.channels", 2),
}


def main():
    with grpc.insecure_channel(sys.argv[1]) as channel:
        stub = coordinator_grpc.CoordinatorServiceStub(channel)
        answers = {}
        for case, change in CASES.items():
            spec = tiny_spec()
            change(spec)
            try:
                stub.StartExperiment(coordinator.StartExperimentRequest(spec=spec), timeout=60)
                answers[case] = {"code": "OK", "details": ""}
            except grpc.RpcError as error:
                answers[case] = {"code": error.code().name, "details": error.details()}

        # The example leaves attack.batch_size, eval_batch_size and quantization.bits unset; send their defaults.
        explicit = tiny_spec()
        explicit.attack.batch_size = 128
        explicit.eval_batch_size = 256
        explicit.quantization.bits = 8
        started = stub.StartExperiment(coordinator.StartExperimentRequest(spec=explicit), timeout=60)
        states = [e.state for e in stub.WatchExperiment(coordinator.WatchExperimentRequest(experiment_id=started.experiment_id)) if not e.step_id]
        print(json.dumps({
            "cases": answers,
            "explicit_defaults": {
                "experiment_id": started.experiment_id,
                "total_steps": started.total_steps,
                "final_state": coordinator.RunState.Name(states[-1]),
            },
        }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Runs a small GAP Lab experiment through the coordinator's gRPC API.

    python3 example.py [COORDINATOR_ADDRESS] [--out DIR]

Starts an experiment (ResNet20 on synthetic data: about a minute on two
cores), prints its events as they come, then the result table, and downloads
the report's files into DIR (default gap-report), checking each file's
sha256. The files are objects in the store the services use; the example
reads them over S3 with MINIO_ENDPOINT, MINIO_ACCESS_KEY, MINIO_SECRET_KEY
(and MINIO_REGION), as the services do. Without MINIO_ENDPOINT it prints their
keys instead. Exits with 1 unless the experiment succeeded.
"""
import argparse
import datetime
import hashlib
import hmac
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import grpc

# The generated code (gap/v1/*_pb2*.py) sits next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gap.v1 import common_pb2 as common  # noqa: E402
from gap.v1 import coordinator_pb2 as coordinator  # noqa: E402
from gap.v1 import coordinator_pb2_grpc as coordinator_grpc  # noqa: E402


def tiny_spec(name="python-example"):
    """ResNet20 on a few synthetic images, two strategies at ratio 2, one trial.

    Fields left out take the defaults their proto comments give: here
    attack.batch_size (128), eval_batch_size (256) and quantization.bits (8).
    """
    def training(lr):
        return common.TrainingConfig(
            epochs=1,
            batch_size=32,
            lr_schedule=common.LearningRateSchedule(kind=common.SCHEDULE_KIND_CONSTANT, initial_lr=lr),
            momentum=0.9,
            nesterov=True,
            weight_decay=1e-4,
            augmentation=common.Augmentation(random_crop=True, crop_padding=4, horizontal_flip=True),
        )

    return coordinator.ExperimentSpec(
        name=name,
        architectures=[common.ARCHITECTURE_RESNET20],
        strategies=[
            common.StrategyScope(strategy=common.PRUNING_STRATEGY_MAGNITUDE, scope=common.PRUNING_SCOPE_GLOBAL),
            common.StrategyScope(strategy=common.PRUNING_STRATEGY_GAP, scope=common.PRUNING_SCOPE_GLOBAL),
        ],
        compression_ratios=[2],
        trials=1,
        train_data=common.DatasetRef(name=common.DATASET_NAME_SYNTHETIC, split=common.SPLIT_TRAIN, subset_size=64),
        test_data=common.DatasetRef(name=common.DATASET_NAME_SYNTHETIC, split=common.SPLIT_TEST, subset_size=48),
        training=training(0.05),
        fine_tuning=training(0.01),
        attack=common.AttackConfig(
            method=common.ATTACK_METHOD_PGD,
            norm=common.NORM_LINF,
            eps=8 / 255,
            step_size=2 / 255,
            steps=2,
            random_start=True,
            label_mode=common.LABEL_MODE_TRUE,
            input_space=common.INPUT_SPACE_PIXEL,
        ),
        attack_limit=32,
        held_out_limit=16,
        quantization=common.QuantizationConfig(per_channel=True, calibration_size=32),
        variant=common.PRUNING_VARIANT_PAPER,
        seed=1,
        num_classes=10,
        input_shape=common.InputShape(height=32, width=32, channels=3),
    )


def enum_label(enum, value, prefix):
    """ARCHITECTURE_RESNET20 -> resnet20."""
    return enum.Name(value)[len(prefix):].lower()


def state_name(state):
    return enum_label(coordinator.RunState, state, "RUN_STATE_")


def watch(stub, experiment_id):
    """Prints every state change until the experiment ends; returns its final state."""
    final = coordinator.RUN_STATE_UNSPECIFIED
    for event in stub.WatchExperiment(coordinator.WatchExperimentRequest(experiment_id=experiment_id)):
        if event.HasField("progress"):
            continue  # live progress inside a running step: many messages
        what = event.step_id or "experiment"
        detail = f": {event.message}" if event.message else ""
        print(f"[{event.steps_done}/{event.steps_total}] {what} {state_name(event.state)}{detail}", flush=True)
        if not event.step_id and event.state not in (coordinator.RUN_STATE_RUNNING, coordinator.RUN_STATE_PENDING):
            final = event.state
    return final


COLUMNS = ["model", "strategy", "ratio", "trial", "int8", "clean", "adversarial", "transfer", "held-out transfer", "nonzero", "size (bytes)"]
NOT_COMPUTED = "–"


def cells(row):
    def percent(accuracy):
        return f"{accuracy.accuracy * 100:.1f}%" if accuracy.total > 0 else NOT_COMPUTED

    def optional(field):
        return str(getattr(row, field)) if row.HasField(field) else NOT_COMPUTED

    strategy = "unpruned"
    if row.HasField("strategy") and row.strategy.strategy != common.PRUNING_STRATEGY_UNSPECIFIED:
        strategy = (
            f"{enum_label(common.PruningStrategy, row.strategy.strategy, 'PRUNING_STRATEGY_')} "
            f"({enum_label(common.PruningScope, row.strategy.scope, 'PRUNING_SCOPE_')})"
        )
    return [
        enum_label(common.Architecture, row.architecture, "ARCHITECTURE_"),
        strategy,
        f"{row.compression_ratio:g}",
        str(row.trial),
        "yes" if row.quantized else "no",
        percent(row.clean),
        percent(row.adversarial),
        percent(row.transfer),
        percent(row.held_out_transfer),
        optional("nonzero_parameters"),
        optional("size_bytes"),
    ]


def format_table(rows):
    rows = sorted(rows, key=lambda r: (r.architecture, r.trial, r.compression_ratio, r.strategy.strategy, r.strategy.scope, r.quantized))
    table = [COLUMNS] + [cells(r) for r in rows]
    widths = [max(len(line[c]) for line in table) for c in range(len(COLUMNS))]

    def line(values):
        return "  ".join(v.ljust(w) if c < 2 else v.rjust(w) for c, (v, w) in enumerate(zip(values, widths)))

    return "\n".join([line(table[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in table[1:]])


def sign_v4(path, headers, access_key, secret_key, region):
    """The Authorization header of an S3 GET of `path` with `headers` (lowercase names, with
    host, x-amz-date and x-amz-content-sha256), by AWS Signature Version 4."""
    amz_date = headers["x-amz-date"]
    signed_headers = ";".join(sorted(headers))
    canonical = "\n".join(
        ["GET", path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed_headers, headers["x-amz-content-sha256"]]
    )
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (amz_date[:8], region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"


def s3_get(endpoint, access_key, secret_key, region, bucket, key):
    """One object's bytes, by a signed GET (path-style, as MinIO takes it)."""
    url = urllib.parse.urlsplit(endpoint)
    path = "/" + urllib.parse.quote(f"{bucket}/{key}", safe="/-_.~")
    headers = {
        "host": url.netloc,
        "x-amz-content-sha256": hashlib.sha256(b"").hexdigest(),
        "x-amz-date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
    }
    headers["authorization"] = sign_v4(path, headers, access_key, secret_key, region)
    request = urllib.request.Request(f"{url.scheme}://{url.netloc}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def download_report(files, out):
    """Writes each report file to `out`, by the last part of its key; every file's sha256 and size are checked."""
    endpoint = os.environ.get("MINIO_ENDPOINT")
    if not endpoint:
        print("report files (in the local store; set MINIO_ENDPOINT to download them):")
        for ref in files:
            print(f"  {ref.key}")
        return
    out.mkdir(parents=True, exist_ok=True)
    for ref in files:
        data = s3_get(
            endpoint,
            os.environ.get("MINIO_ACCESS_KEY", ""),
            os.environ.get("MINIO_SECRET_KEY", ""),
            os.environ.get("MINIO_REGION", "us-east-1"),
            ref.bucket,
            ref.key,
        )
        if len(data) != ref.size_bytes or hashlib.sha256(data).hexdigest() != ref.sha256:
            raise RuntimeError(f"{ref.key}: the downloaded bytes do not match the reference's size and sha256")
        (out / ref.key.rsplit("/", 1)[-1]).write_bytes(data)
    print(f"report: {out / files[0].key.rsplit('/', 1)[-1]} ({len(files)} files downloaded, sha256 checked)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("address", nargs="?", default=os.environ.get("GAP_COORDINATOR_ADDRESS", "127.0.0.1:50050"), help="coordinator host:port")
    parser.add_argument("--out", type=Path, default=Path("gap-report"), help="directory for the report files")
    parser.add_argument("--name", default="python-example", help="experiment name")
    args = parser.parse_args()

    with grpc.insecure_channel(args.address) as channel:
        stub = coordinator_grpc.CoordinatorServiceStub(channel)
        try:
            started = stub.StartExperiment(coordinator.StartExperimentRequest(spec=tiny_spec(args.name)))
        except grpc.RpcError as error:
            # INVALID_ARGUMENT names the field: "spec.num_classes: is required: ...".
            print(f"StartExperiment failed: {error.code().name}: {error.details()}", file=sys.stderr)
            return 2
        print(f"experiment {started.experiment_id}: {started.total_steps} steps", flush=True)

        state = watch(stub, started.experiment_id)
        print(f"experiment {state_name(state)}")

        results = stub.GetResults(coordinator.GetResultsRequest(experiment_id=started.experiment_id))
        print(format_table(results.rows))

        report = stub.GetReport(coordinator.GetReportRequest(experiment_id=started.experiment_id))
        download_report(report.files, args.out)
    return 0 if state == coordinator.RUN_STATE_SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main())

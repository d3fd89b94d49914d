from gap.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
RUN_STATE_CACHED: RunState
RUN_STATE_CANCELLED: RunState
RUN_STATE_FAILED: RunState
RUN_STATE_PENDING: RunState
RUN_STATE_RUNNING: RunState
RUN_STATE_SUCCEEDED: RunState
RUN_STATE_UNSPECIFIED: RunState

class Accuracy(_message.Message):
    __slots__ = ["accuracy", "correct", "total"]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    accuracy: float
    correct: int
    total: int
    def __init__(self, correct: _Optional[int] = ..., total: _Optional[int] = ..., accuracy: _Optional[float] = ...) -> None: ...

class BaseWeights(_message.Message):
    __slots__ = ["architecture", "path", "weights"]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    architecture: _common_pb2.Architecture
    path: str
    weights: _common_pb2.ArtifactRef
    def __init__(self, architecture: _Optional[_Union[_common_pb2.Architecture, str]] = ..., weights: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., path: _Optional[str] = ...) -> None: ...

class CancelExperimentRequest(_message.Message):
    __slots__ = ["experiment_id"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    def __init__(self, experiment_id: _Optional[str] = ...) -> None: ...

class CancelExperimentResponse(_message.Message):
    __slots__ = ["state"]
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: RunState
    def __init__(self, state: _Optional[_Union[RunState, str]] = ...) -> None: ...

class ExperimentEvent(_message.Message):
    __slots__ = ["experiment_id", "message", "progress", "state", "step_id", "steps_done", "steps_total", "time"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEPS_DONE_FIELD_NUMBER: _ClassVar[int]
    STEPS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    message: str
    progress: _common_pb2.Progress
    state: RunState
    step_id: str
    steps_done: int
    steps_total: int
    time: _timestamp_pb2.Timestamp
    def __init__(self, experiment_id: _Optional[str] = ..., time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., step_id: _Optional[str] = ..., state: _Optional[_Union[RunState, str]] = ..., progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., message: _Optional[str] = ..., steps_done: _Optional[int] = ..., steps_total: _Optional[int] = ...) -> None: ...

class ExperimentSpec(_message.Message):
    __slots__ = ["architectures", "attack", "attack_limit", "base_weights", "compression_ratios", "eval_batch_size", "fine_tuning", "fine_tuning_subset_size", "held_out_limit", "input_shape", "name", "num_classes", "quantization", "seed", "strategies", "test_data", "train_data", "training", "trials", "variant"]
    ARCHITECTURES_FIELD_NUMBER: _ClassVar[int]
    ATTACK_FIELD_NUMBER: _ClassVar[int]
    ATTACK_LIMIT_FIELD_NUMBER: _ClassVar[int]
    BASE_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_RATIOS_FIELD_NUMBER: _ClassVar[int]
    EVAL_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    FINE_TUNING_FIELD_NUMBER: _ClassVar[int]
    FINE_TUNING_SUBSET_SIZE_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    INPUT_SHAPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUM_CLASSES_FIELD_NUMBER: _ClassVar[int]
    QUANTIZATION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STRATEGIES_FIELD_NUMBER: _ClassVar[int]
    TEST_DATA_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    TRAIN_DATA_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    architectures: _containers.RepeatedScalarFieldContainer[_common_pb2.Architecture]
    attack: _common_pb2.AttackConfig
    attack_limit: int
    base_weights: _containers.RepeatedCompositeFieldContainer[BaseWeights]
    compression_ratios: _containers.RepeatedScalarFieldContainer[float]
    eval_batch_size: int
    fine_tuning: _common_pb2.TrainingConfig
    fine_tuning_subset_size: int
    held_out_limit: int
    input_shape: _common_pb2.InputShape
    name: str
    num_classes: int
    quantization: _common_pb2.QuantizationConfig
    seed: int
    strategies: _containers.RepeatedCompositeFieldContainer[_common_pb2.StrategyScope]
    test_data: _common_pb2.DatasetRef
    train_data: _common_pb2.DatasetRef
    training: _common_pb2.TrainingConfig
    trials: int
    variant: _common_pb2.PruningVariant
    def __init__(self, name: _Optional[str] = ..., architectures: _Optional[_Iterable[_Union[_common_pb2.Architecture, str]]] = ..., strategies: _Optional[_Iterable[_Union[_common_pb2.StrategyScope, _Mapping]]] = ..., compression_ratios: _Optional[_Iterable[float]] = ..., trials: _Optional[int] = ..., train_data: _Optional[_Union[_common_pb2.DatasetRef, _Mapping]] = ..., test_data: _Optional[_Union[_common_pb2.DatasetRef, _Mapping]] = ..., training: _Optional[_Union[_common_pb2.TrainingConfig, _Mapping]] = ..., fine_tuning: _Optional[_Union[_common_pb2.TrainingConfig, _Mapping]] = ..., attack: _Optional[_Union[_common_pb2.AttackConfig, _Mapping]] = ..., attack_limit: _Optional[int] = ..., held_out_limit: _Optional[int] = ..., quantization: _Optional[_Union[_common_pb2.QuantizationConfig, _Mapping]] = ..., variant: _Optional[_Union[_common_pb2.PruningVariant, str]] = ..., seed: _Optional[int] = ..., num_classes: _Optional[int] = ..., input_shape: _Optional[_Union[_common_pb2.InputShape, _Mapping]] = ..., eval_batch_size: _Optional[int] = ..., fine_tuning_subset_size: _Optional[int] = ..., base_weights: _Optional[_Iterable[_Union[BaseWeights, _Mapping]]] = ...) -> None: ...

class ExperimentSummary(_message.Message):
    __slots__ = ["experiment_id", "name", "state", "steps_done", "steps_total"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEPS_DONE_FIELD_NUMBER: _ClassVar[int]
    STEPS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    name: str
    state: RunState
    steps_done: int
    steps_total: int
    def __init__(self, experiment_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[_Union[RunState, str]] = ..., steps_done: _Optional[int] = ..., steps_total: _Optional[int] = ...) -> None: ...

class GetReportRequest(_message.Message):
    __slots__ = ["experiment_id"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    def __init__(self, experiment_id: _Optional[str] = ...) -> None: ...

class GetReportResponse(_message.Message):
    __slots__ = ["files", "report", "state"]
    FILES_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[_common_pb2.ArtifactRef]
    report: _common_pb2.ArtifactRef
    state: RunState
    def __init__(self, state: _Optional[_Union[RunState, str]] = ..., report: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., files: _Optional[_Iterable[_Union[_common_pb2.ArtifactRef, _Mapping]]] = ...) -> None: ...

class GetResultsRequest(_message.Message):
    __slots__ = ["experiment_id"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    def __init__(self, experiment_id: _Optional[str] = ...) -> None: ...

class GetResultsResponse(_message.Message):
    __slots__ = ["results", "rows", "state"]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    results: _common_pb2.ArtifactRef
    rows: _containers.RepeatedCompositeFieldContainer[ResultRow]
    state: RunState
    def __init__(self, state: _Optional[_Union[RunState, str]] = ..., rows: _Optional[_Iterable[_Union[ResultRow, _Mapping]]] = ..., results: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ...) -> None: ...

class ListExperimentsRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListExperimentsResponse(_message.Message):
    __slots__ = ["experiments"]
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    experiments: _containers.RepeatedCompositeFieldContainer[ExperimentSummary]
    def __init__(self, experiments: _Optional[_Iterable[_Union[ExperimentSummary, _Mapping]]] = ...) -> None: ...

class ResultRow(_message.Message):
    __slots__ = ["adversarial", "architecture", "clean", "compression_ratio", "held_out_transfer", "nonzero_parameters", "quantized", "size_bytes", "strategy", "transfer", "transfer_both_correct", "trial"]
    ADVERSARIAL_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    CLEAN_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_RATIO_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_TRANSFER_FIELD_NUMBER: _ClassVar[int]
    NONZERO_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    QUANTIZED_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_BOTH_CORRECT_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    adversarial: Accuracy
    architecture: _common_pb2.Architecture
    clean: Accuracy
    compression_ratio: float
    held_out_transfer: Accuracy
    nonzero_parameters: int
    quantized: bool
    size_bytes: int
    strategy: _common_pb2.StrategyScope
    transfer: Accuracy
    transfer_both_correct: int
    trial: int
    def __init__(self, architecture: _Optional[_Union[_common_pb2.Architecture, str]] = ..., strategy: _Optional[_Union[_common_pb2.StrategyScope, _Mapping]] = ..., compression_ratio: _Optional[float] = ..., trial: _Optional[int] = ..., quantized: bool = ..., clean: _Optional[_Union[Accuracy, _Mapping]] = ..., adversarial: _Optional[_Union[Accuracy, _Mapping]] = ..., transfer: _Optional[_Union[Accuracy, _Mapping]] = ..., transfer_both_correct: _Optional[int] = ..., held_out_transfer: _Optional[_Union[Accuracy, _Mapping]] = ..., nonzero_parameters: _Optional[int] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class StartExperimentRequest(_message.Message):
    __slots__ = ["spec"]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: ExperimentSpec
    def __init__(self, spec: _Optional[_Union[ExperimentSpec, _Mapping]] = ...) -> None: ...

class StartExperimentResponse(_message.Message):
    __slots__ = ["experiment_id", "total_steps"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    total_steps: int
    def __init__(self, experiment_id: _Optional[str] = ..., total_steps: _Optional[int] = ...) -> None: ...

class WatchExperimentRequest(_message.Message):
    __slots__ = ["experiment_id"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    def __init__(self, experiment_id: _Optional[str] = ...) -> None: ...

class RunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

from gap.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckWeightsRequest(_message.Message):
    __slots__ = ["model", "weights"]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelSpec
    weights: _common_pb2.ArtifactRef
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelSpec, _Mapping]] = ..., weights: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ...) -> None: ...

class CheckWeightsResult(_message.Message):
    __slots__ = ["weights"]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    weights: _common_pb2.ArtifactRef
    def __init__(self, weights: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ...) -> None: ...

class EpochMetrics(_message.Message):
    __slots__ = ["accuracy", "epoch", "learning_rate", "loss"]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    accuracy: float
    epoch: int
    learning_rate: float
    loss: float
    def __init__(self, epoch: _Optional[int] = ..., loss: _Optional[float] = ..., accuracy: _Optional[float] = ..., learning_rate: _Optional[float] = ...) -> None: ...

class TrainRequest(_message.Message):
    __slots__ = ["config", "from_scratch", "initial_weights", "mask", "model", "output_key", "train_data"]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FROM_SCRATCH_FIELD_NUMBER: _ClassVar[int]
    INITIAL_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_KEY_FIELD_NUMBER: _ClassVar[int]
    TRAIN_DATA_FIELD_NUMBER: _ClassVar[int]
    config: _common_pb2.TrainingConfig
    from_scratch: bool
    initial_weights: _common_pb2.ArtifactRef
    mask: _common_pb2.ArtifactRef
    model: _common_pb2.ModelSpec
    output_key: str
    train_data: _common_pb2.DatasetRef
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelSpec, _Mapping]] = ..., train_data: _Optional[_Union[_common_pb2.DatasetRef, _Mapping]] = ..., config: _Optional[_Union[_common_pb2.TrainingConfig, _Mapping]] = ..., initial_weights: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., mask: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., output_key: _Optional[str] = ..., from_scratch: bool = ...) -> None: ...

class TrainResponse(_message.Message):
    __slots__ = ["progress", "result"]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    result: TrainResult
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., result: _Optional[_Union[TrainResult, _Mapping]] = ...) -> None: ...

class TrainResult(_message.Message):
    __slots__ = ["epochs_completed", "final_train_accuracy", "final_train_loss", "history", "job", "resumed_after_epoch", "weights"]
    EPOCHS_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FINAL_TRAIN_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    FINAL_TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    RESUMED_AFTER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    epochs_completed: int
    final_train_accuracy: float
    final_train_loss: float
    history: _containers.RepeatedCompositeFieldContainer[EpochMetrics]
    job: _common_pb2.JobInfo
    resumed_after_epoch: int
    weights: _common_pb2.ArtifactRef
    def __init__(self, weights: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., epochs_completed: _Optional[int] = ..., final_train_loss: _Optional[float] = ..., final_train_accuracy: _Optional[float] = ..., job: _Optional[_Union[_common_pb2.JobInfo, _Mapping]] = ..., resumed_after_epoch: _Optional[int] = ..., history: _Optional[_Iterable[_Union[EpochMetrics, _Mapping]]] = ...) -> None: ...

from gap.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvaluateRequest(_message.Message):
    __slots__ = ["adversarial_set", "batch_size", "dataset", "mask", "model", "quantized", "weights"]
    ADVERSARIAL_SET_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    QUANTIZED_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    adversarial_set: _common_pb2.ArtifactRef
    batch_size: int
    dataset: _common_pb2.DatasetRef
    mask: _common_pb2.ArtifactRef
    model: _common_pb2.ModelSpec
    quantized: bool
    weights: _common_pb2.ArtifactRef
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelSpec, _Mapping]] = ..., weights: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., mask: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., quantized: bool = ..., dataset: _Optional[_Union[_common_pb2.DatasetRef, _Mapping]] = ..., adversarial_set: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., batch_size: _Optional[int] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ["progress", "result"]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    result: EvaluationResult
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., result: _Optional[_Union[EvaluationResult, _Mapping]] = ...) -> None: ...

class EvaluationResult(_message.Message):
    __slots__ = ["accuracy", "both_correct", "correct", "job", "loss", "total"]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    BOTH_CORRECT_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    accuracy: float
    both_correct: int
    correct: int
    job: _common_pb2.JobInfo
    loss: float
    total: int
    def __init__(self, correct: _Optional[int] = ..., total: _Optional[int] = ..., accuracy: _Optional[float] = ..., loss: _Optional[float] = ..., both_correct: _Optional[int] = ..., job: _Optional[_Union[_common_pb2.JobInfo, _Mapping]] = ...) -> None: ...

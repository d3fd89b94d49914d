from gap.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AdversarialSetResult(_message.Message):
    __slots__ = ["adversarial_correct", "adversarial_set", "clean_correct", "count", "job"]
    ADVERSARIAL_CORRECT_FIELD_NUMBER: _ClassVar[int]
    ADVERSARIAL_SET_FIELD_NUMBER: _ClassVar[int]
    CLEAN_CORRECT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    adversarial_correct: int
    adversarial_set: _common_pb2.ArtifactRef
    clean_correct: int
    count: int
    job: _common_pb2.JobInfo
    def __init__(self, adversarial_set: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., count: _Optional[int] = ..., clean_correct: _Optional[int] = ..., adversarial_correct: _Optional[int] = ..., job: _Optional[_Union[_common_pb2.JobInfo, _Mapping]] = ...) -> None: ...

class GenerateAdversarialSetRequest(_message.Message):
    __slots__ = ["config", "mask", "model", "output_key", "source", "weights"]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_KEY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    config: _common_pb2.AttackConfig
    mask: _common_pb2.ArtifactRef
    model: _common_pb2.ModelSpec
    output_key: str
    source: _common_pb2.DatasetRef
    weights: _common_pb2.ArtifactRef
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelSpec, _Mapping]] = ..., weights: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., mask: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., source: _Optional[_Union[_common_pb2.DatasetRef, _Mapping]] = ..., config: _Optional[_Union[_common_pb2.AttackConfig, _Mapping]] = ..., output_key: _Optional[str] = ...) -> None: ...

class GenerateAdversarialSetResponse(_message.Message):
    __slots__ = ["progress", "result"]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    result: AdversarialSetResult
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., result: _Optional[_Union[AdversarialSetResult, _Mapping]] = ...) -> None: ...

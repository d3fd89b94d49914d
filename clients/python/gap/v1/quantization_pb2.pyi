from gap.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QuantizeRequest(_message.Message):
    __slots__ = ["calibration_data", "config", "mask", "model", "output_key", "weights"]
    CALIBRATION_DATA_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_KEY_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    calibration_data: _common_pb2.DatasetRef
    config: _common_pb2.QuantizationConfig
    mask: _common_pb2.ArtifactRef
    model: _common_pb2.ModelSpec
    output_key: str
    weights: _common_pb2.ArtifactRef
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelSpec, _Mapping]] = ..., weights: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., mask: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., config: _Optional[_Union[_common_pb2.QuantizationConfig, _Mapping]] = ..., calibration_data: _Optional[_Union[_common_pb2.DatasetRef, _Mapping]] = ..., output_key: _Optional[str] = ...) -> None: ...

class QuantizeResponse(_message.Message):
    __slots__ = ["progress", "result"]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    result: QuantizeResult
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., result: _Optional[_Union[QuantizeResult, _Mapping]] = ...) -> None: ...

class QuantizeResult(_message.Message):
    __slots__ = ["job", "kept_size_bytes_after", "quantized_model", "size_bytes_after", "size_bytes_before", "sparse_size_bytes_after"]
    JOB_FIELD_NUMBER: _ClassVar[int]
    KEPT_SIZE_BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    QUANTIZED_MODEL_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    SPARSE_SIZE_BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.JobInfo
    kept_size_bytes_after: int
    quantized_model: _common_pb2.ArtifactRef
    size_bytes_after: int
    size_bytes_before: int
    sparse_size_bytes_after: int
    def __init__(self, quantized_model: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., size_bytes_before: _Optional[int] = ..., size_bytes_after: _Optional[int] = ..., sparse_size_bytes_after: _Optional[int] = ..., job: _Optional[_Union[_common_pb2.JobInfo, _Mapping]] = ..., kept_size_bytes_after: _Optional[int] = ...) -> None: ...

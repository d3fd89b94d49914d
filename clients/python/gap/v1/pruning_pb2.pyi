from gap.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LayerReport(_message.Message):
    __slots__ = ["fraction", "kept", "name", "total"]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    fraction: float
    kept: int
    name: str
    total: int
    def __init__(self, name: _Optional[str] = ..., kept: _Optional[int] = ..., total: _Optional[int] = ..., fraction: _Optional[float] = ...) -> None: ...

class PruneRequest(_message.Message):
    __slots__ = ["adversarial_set", "batch_size", "compression_ratio", "model", "output_key", "scoring_data", "seed", "strategy", "variant", "weights"]
    ADVERSARIAL_SET_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_RATIO_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_KEY_FIELD_NUMBER: _ClassVar[int]
    SCORING_DATA_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    adversarial_set: _common_pb2.ArtifactRef
    batch_size: int
    compression_ratio: float
    model: _common_pb2.ModelSpec
    output_key: str
    scoring_data: _common_pb2.DatasetRef
    seed: int
    strategy: _common_pb2.StrategyScope
    variant: _common_pb2.PruningVariant
    weights: _common_pb2.ArtifactRef
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelSpec, _Mapping]] = ..., weights: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., strategy: _Optional[_Union[_common_pb2.StrategyScope, _Mapping]] = ..., compression_ratio: _Optional[float] = ..., scoring_data: _Optional[_Union[_common_pb2.DatasetRef, _Mapping]] = ..., adversarial_set: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., variant: _Optional[_Union[_common_pb2.PruningVariant, str]] = ..., seed: _Optional[int] = ..., batch_size: _Optional[int] = ..., output_key: _Optional[str] = ...) -> None: ...

class PruneResponse(_message.Message):
    __slots__ = ["progress", "result"]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    result: PruneResult
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., result: _Optional[_Union[PruneResult, _Mapping]] = ...) -> None: ...

class PruneResult(_message.Message):
    __slots__ = ["job", "layers", "mask", "nonzero_parameters", "realized_compression", "size_bytes", "total_parameters"]
    JOB_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    NONZERO_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    REALIZED_COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.JobInfo
    layers: _containers.RepeatedCompositeFieldContainer[LayerReport]
    mask: _common_pb2.ArtifactRef
    nonzero_parameters: int
    realized_compression: float
    size_bytes: int
    total_parameters: int
    def __init__(self, mask: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., layers: _Optional[_Iterable[_Union[LayerReport, _Mapping]]] = ..., total_parameters: _Optional[int] = ..., nonzero_parameters: _Optional[int] = ..., size_bytes: _Optional[int] = ..., realized_compression: _Optional[float] = ..., job: _Optional[_Union[_common_pb2.JobInfo, _Mapping]] = ...) -> None: ...

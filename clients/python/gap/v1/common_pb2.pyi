from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

ARCHITECTURE_GOOGLENET: Architecture
ARCHITECTURE_MOBILENET_V2: Architecture
ARCHITECTURE_RESNET110: Architecture
ARCHITECTURE_RESNET20: Architecture
ARCHITECTURE_RESNET32: Architecture
ARCHITECTURE_RESNET44: Architecture
ARCHITECTURE_RESNET56: Architecture
ARCHITECTURE_UNSPECIFIED: Architecture
ARCHITECTURE_VGG_BN_DROP: Architecture
ARTIFACT_KIND_ADVERSARIAL_SET: ArtifactKind
ARTIFACT_KIND_DATASET: ArtifactKind
ARTIFACT_KIND_MASK: ArtifactKind
ARTIFACT_KIND_QUANTIZED_MODEL: ArtifactKind
ARTIFACT_KIND_REPORT: ArtifactKind
ARTIFACT_KIND_UNSPECIFIED: ArtifactKind
ARTIFACT_KIND_WEIGHTS: ArtifactKind
ATTACK_METHOD_FGSM: AttackMethod
ATTACK_METHOD_PGD: AttackMethod
ATTACK_METHOD_UNSPECIFIED: AttackMethod
DATASET_NAME_CIFAR10: DatasetName
DATASET_NAME_CIFAR100: DatasetName
DATASET_NAME_CIFAR10_SAMPLE: DatasetName
DATASET_NAME_FASHION_MNIST: DatasetName
DATASET_NAME_STORED: DatasetName
DATASET_NAME_SYNTHETIC: DatasetName
DATASET_NAME_UNSPECIFIED: DatasetName
DESCRIPTOR: _descriptor.FileDescriptor
INPUT_SPACE_NORMALIZED: InputSpace
INPUT_SPACE_PIXEL: InputSpace
INPUT_SPACE_UNSPECIFIED: InputSpace
LABEL_MODE_PREDICTED: LabelMode
LABEL_MODE_TRUE: LabelMode
LABEL_MODE_UNSPECIFIED: LabelMode
NORM_LINF: Norm
NORM_UNSPECIFIED: Norm
PRUNING_SCOPE_GLOBAL: PruningScope
PRUNING_SCOPE_LAYER: PruningScope
PRUNING_SCOPE_UNSPECIFIED: PruningScope
PRUNING_STRATEGY_GAP: PruningStrategy
PRUNING_STRATEGY_GRADIENT: PruningStrategy
PRUNING_STRATEGY_MAGNITUDE: PruningStrategy
PRUNING_STRATEGY_RANDOM: PruningStrategy
PRUNING_STRATEGY_UNSPECIFIED: PruningStrategy
PRUNING_VARIANT_PAPER: PruningVariant
PRUNING_VARIANT_REFERENCE_CODE: PruningVariant
PRUNING_VARIANT_UNSPECIFIED: PruningVariant
SCHEDULE_KIND_CONSTANT: ScheduleKind
SCHEDULE_KIND_PAPER_STEP: ScheduleKind
SCHEDULE_KIND_REFERENCE_CODE_STEP: ScheduleKind
SCHEDULE_KIND_UNSPECIFIED: ScheduleKind
SPLIT_TEST: Split
SPLIT_TRAIN: Split
SPLIT_UNSPECIFIED: Split

class ArtifactRef(_message.Message):
    __slots__ = ["bucket", "key", "kind", "sha256", "size_bytes"]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    kind: ArtifactKind
    sha256: str
    size_bytes: int
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ...) -> None: ...

class AttackConfig(_message.Message):
    __slots__ = ["batch_size", "eps", "input_space", "label_mode", "method", "norm", "random_start", "seed", "step_size", "steps"]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    EPS_FIELD_NUMBER: _ClassVar[int]
    INPUT_SPACE_FIELD_NUMBER: _ClassVar[int]
    LABEL_MODE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    NORM_FIELD_NUMBER: _ClassVar[int]
    RANDOM_START_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    STEP_SIZE_FIELD_NUMBER: _ClassVar[int]
    batch_size: int
    eps: float
    input_space: InputSpace
    label_mode: LabelMode
    method: AttackMethod
    norm: Norm
    random_start: bool
    seed: int
    step_size: float
    steps: int
    def __init__(self, method: _Optional[_Union[AttackMethod, str]] = ..., norm: _Optional[_Union[Norm, str]] = ..., eps: _Optional[float] = ..., step_size: _Optional[float] = ..., steps: _Optional[int] = ..., random_start: bool = ..., label_mode: _Optional[_Union[LabelMode, str]] = ..., input_space: _Optional[_Union[InputSpace, str]] = ..., batch_size: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class Augmentation(_message.Message):
    __slots__ = ["crop_padding", "horizontal_flip", "random_crop"]
    CROP_PADDING_FIELD_NUMBER: _ClassVar[int]
    HORIZONTAL_FLIP_FIELD_NUMBER: _ClassVar[int]
    RANDOM_CROP_FIELD_NUMBER: _ClassVar[int]
    crop_padding: int
    horizontal_flip: bool
    random_crop: bool
    def __init__(self, random_crop: bool = ..., crop_padding: _Optional[int] = ..., horizontal_flip: bool = ...) -> None: ...

class DatasetRef(_message.Message):
    __slots__ = ["artifact", "name", "seed", "split", "subset_size"]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    SUBSET_SIZE_FIELD_NUMBER: _ClassVar[int]
    artifact: ArtifactRef
    name: DatasetName
    seed: int
    split: Split
    subset_size: int
    def __init__(self, name: _Optional[_Union[DatasetName, str]] = ..., split: _Optional[_Union[Split, str]] = ..., subset_size: _Optional[int] = ..., seed: _Optional[int] = ..., artifact: _Optional[_Union[ArtifactRef, _Mapping]] = ...) -> None: ...

class InputShape(_message.Message):
    __slots__ = ["channels", "height", "width"]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    channels: int
    height: int
    width: int
    def __init__(self, height: _Optional[int] = ..., width: _Optional[int] = ..., channels: _Optional[int] = ...) -> None: ...

class JobInfo(_message.Message):
    __slots__ = ["backend", "cpus", "node_version", "platform", "self_check", "service", "tfjs_version", "wall_seconds"]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    NODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    SELF_CHECK_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    TFJS_VERSION_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    backend: str
    cpus: int
    node_version: str
    platform: str
    self_check: SelfCheck
    service: str
    tfjs_version: str
    wall_seconds: float
    def __init__(self, service: _Optional[str] = ..., backend: _Optional[str] = ..., tfjs_version: _Optional[str] = ..., node_version: _Optional[str] = ..., platform: _Optional[str] = ..., cpus: _Optional[int] = ..., wall_seconds: _Optional[float] = ..., self_check: _Optional[_Union[SelfCheck, _Mapping]] = ...) -> None: ...

class LearningRateSchedule(_message.Message):
    __slots__ = ["initial_lr", "kind"]
    INITIAL_LR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    initial_lr: float
    kind: ScheduleKind
    def __init__(self, kind: _Optional[_Union[ScheduleKind, str]] = ..., initial_lr: _Optional[float] = ...) -> None: ...

class ModelSpec(_message.Message):
    __slots__ = ["architecture", "input_shape", "num_classes"]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    INPUT_SHAPE_FIELD_NUMBER: _ClassVar[int]
    NUM_CLASSES_FIELD_NUMBER: _ClassVar[int]
    architecture: Architecture
    input_shape: InputShape
    num_classes: int
    def __init__(self, architecture: _Optional[_Union[Architecture, str]] = ..., num_classes: _Optional[int] = ..., input_shape: _Optional[_Union[InputShape, _Mapping]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ["metrics", "phase", "step", "total"]
    class MetricsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.ScalarMap[str, float]
    phase: str
    step: int
    total: int
    def __init__(self, step: _Optional[int] = ..., total: _Optional[int] = ..., phase: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class QuantizationConfig(_message.Message):
    __slots__ = ["bits", "calibration_size", "per_channel"]
    BITS_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_SIZE_FIELD_NUMBER: _ClassVar[int]
    PER_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    bits: int
    calibration_size: int
    per_channel: bool
    def __init__(self, bits: _Optional[int] = ..., per_channel: bool = ..., calibration_size: _Optional[int] = ...) -> None: ...

class SelfCheck(_message.Message):
    __slots__ = ["checks", "passed", "seconds", "worst"]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    WORST_FIELD_NUMBER: _ClassVar[int]
    checks: int
    passed: bool
    seconds: float
    worst: str
    def __init__(self, passed: bool = ..., checks: _Optional[int] = ..., seconds: _Optional[float] = ..., worst: _Optional[str] = ...) -> None: ...

class StrategyScope(_message.Message):
    __slots__ = ["scope", "strategy"]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    scope: PruningScope
    strategy: PruningStrategy
    def __init__(self, strategy: _Optional[_Union[PruningStrategy, str]] = ..., scope: _Optional[_Union[PruningScope, str]] = ...) -> None: ...

class TrainingConfig(_message.Message):
    __slots__ = ["augmentation", "batch_size", "epochs", "lr_schedule", "momentum", "nesterov", "seed", "weight_decay"]
    AUGMENTATION_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    LR_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    NESTEROV_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    augmentation: Augmentation
    batch_size: int
    epochs: int
    lr_schedule: LearningRateSchedule
    momentum: float
    nesterov: bool
    seed: int
    weight_decay: float
    def __init__(self, epochs: _Optional[int] = ..., batch_size: _Optional[int] = ..., lr_schedule: _Optional[_Union[LearningRateSchedule, _Mapping]] = ..., momentum: _Optional[float] = ..., nesterov: bool = ..., weight_decay: _Optional[float] = ..., augmentation: _Optional[_Union[Augmentation, _Mapping]] = ..., seed: _Optional[int] = ...) -> None: ...

class Architecture(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class DatasetName(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Split(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class ArtifactKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class ScheduleKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class AttackMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Norm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class LabelMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class InputSpace(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class PruningStrategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class PruningScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class PruningVariant(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

# SPDX-License-Identifier: Apache-2.0
"""
Parameters of inference_node: one table of specs, a frozen config and its validation.

The node declares every parameter from `PARAMETER_SPECS` (description, range, run-time
changeable or not; `declared_specs()` makes the model and image parameters settable while the
managed node is not active) and reads them into `InferenceConfig` at configure and activate;
`validate` gives the clear error for a bad value. Kept out of the node so it is tested without
ROS.
"""
from dataclasses import dataclass, fields, replace
from functools import cached_property
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from acnn_ros.core.image_codec import DEFAULT_MAX_PIXELS, MAX_SIDE_PX
from acnn_ros.core.parameter_spec import field_spec, ParameterSpec
from acnn_ros.core.reject.config import PARAMETERS as REJECT_PARAMETERS, policy_from_values
from acnn_ros.core.reject.decision import is_low_confidence, RejectPolicy
from acnn_ros.core.results import InspectionOutcome
from acnn_ros.runtime.engines import BACKENDS
from acnn_ros.runtime.engines.onnxruntime_engine import normalise_providers
from acnn_ros.runtime.stats import DiagnosticThresholds

IMAGE_TRANSPORTS = ('raw', 'compressed', 'both')
IMAGE_QOS = ('sensor_data', 'reliable')
# The reject actuator's spec of the per-class thresholds: the same name, ROS type and default.
_PER_CLASS_SPEC = {spec.name: spec for spec in REJECT_PARAMETERS}['min_confidence_per_class']
SOURCE_DIR = Path(__file__).resolve().parents[2]


class ConfigError(ValueError):
    """A parameter value is invalid; the message names the parameter and the accepted values."""


@dataclass(frozen=True)
class InferenceConfig:
    """inference_node parameters after validation (see PARAMETER_SPECS for meanings)."""

    model_path: str = 'resource/models/acnn_demo.onnx'
    backend: str = 'onnxruntime'
    providers: Tuple[str, ...] = ('tensorrt', 'cuda', 'cpu')
    intra_op_threads: int = 1
    inter_op_threads: int = 0
    device_id: int = 0
    trt_fp16: bool = True
    trt_cache_dir: str = '~/.cache/acnn_ros/tensorrt'
    warmup_runs: int = 2
    class_names: Tuple[str, ...] = ()
    # The reject policy owns the thresholds: a verdict drawn and counted as low-confidence is
    # one the reject actuator rejects as LOW_CONFIDENCE (config/inspect.yaml sets
    # min_confidence once, in its /** section, for both nodes). Per-class entries are the
    # actuator's 'class=value' strings; `is_low_confidence` applies the policy's own rule.
    min_confidence: float = RejectPolicy.min_confidence
    min_confidence_per_class: Tuple[str, ...] = tuple(
        f'{name}={value}' for name, value in RejectPolicy().min_confidence_per_class.items())
    # A frame over this many pixels (raw fields, or JPEG / PNG header) is refused undecoded.
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    image_transport: str = 'raw'
    image_qos: str = 'sensor_data'
    image_qos_depth: int = 5
    # A station of N cameras: one image topic each; () = the one topic `image`.
    image_topics: Tuple[str, ...] = ()
    batch_window_s: float = 0.01
    diagnostics_period_s: float = 1.0
    warn_latency_p99_ms: float = 100.0
    warn_drop_ratio: float = 0.05
    error_error_ratio: float = 0.5

    @classmethod
    def from_values(cls, values: dict) -> 'InferenceConfig':
        """Build from parameter values (lists become tuples, '' class names are dropped)."""
        known = {f.name for f in fields(cls)}
        kwargs = {name: value for name, value in values.items() if name in known}
        for name in ('providers', 'class_names', 'min_confidence_per_class', 'image_topics'):
            if name in kwargs:
                kwargs[name] = tuple(str(v).strip() for v in kwargs[name] if str(v).strip())
        return cls(**kwargs).validate()

    def validate(self) -> 'InferenceConfig':
        """Return self, or raise ConfigError for the first invalid value."""
        for spec in PARAMETER_SPECS:
            value = getattr(self, spec.name)
            if spec.choices and value not in spec.choices:
                raise ConfigError(f'{spec.name}={value!r} is not one of '
                                  f'{", ".join(spec.choices)}')
            if not spec.in_range(value):
                raise ConfigError(f'{spec.name}={value!r} is outside [{spec.low:g}, '
                                  f'{spec.high:g}]')
        try:
            self.low_confidence_policy
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if not str(self.model_path).strip():
            raise ConfigError('model_path is empty')
        if self.backend == 'onnxruntime':
            try:
                normalise_providers(self.providers)
            except ValueError as exc:
                raise ConfigError(f'providers: {exc}') from exc
        return self

    @cached_property
    def low_confidence_policy(self) -> RejectPolicy:
        """Return the reject policy's confidence thresholds as this node's parameters set them."""
        return policy_from_values({'min_confidence': self.min_confidence,
                                   'min_confidence_per_class': self.min_confidence_per_class})

    def is_low_confidence(self, outcome: InspectionOutcome) -> bool:
        """Return whether a verdict is drawn and counted low-confidence: the reject rule."""
        return is_low_confidence(outcome, self.low_confidence_policy)

    @property
    def thresholds(self) -> DiagnosticThresholds:
        """Return the diagnostic thresholds."""
        return DiagnosticThresholds(warn_latency_p99_ms=self.warn_latency_p99_ms,
                                    warn_drop_ratio=self.warn_drop_ratio,
                                    error_error_ratio=self.error_error_ratio)

    def pipeline_options(self) -> dict:
        """Return keyword arguments for InspectionPipeline.from_model_path."""
        return {'backend': self.backend, 'providers': self.providers,
                'intra_op_threads': self.intra_op_threads,
                'inter_op_threads': self.inter_op_threads, 'trt_fp16': self.trt_fp16,
                'trt_cache_dir': self.trt_cache_dir, 'device_id': self.device_id,
                'warmup_runs': self.warmup_runs, 'class_names': self.class_names or None}


def _spec(name: str, description: str, low=None, high=None, choices=(),
          runtime=False) -> ParameterSpec:
    return field_spec(InferenceConfig, name, description, low, high, choices, runtime)


# inference_node parameters; defaults are those of InferenceConfig.
PARAMETER_SPECS: Tuple[ParameterSpec, ...] = (
    _spec('model_path',
          'Model file (.onnx, or TorchScript/.pt for backend torch) with its .json card '
          'beside it; absolute, or relative to the acnn_ros share dir'),
    _spec('backend', 'Inference backend (tensorrt = native TensorRT, untested)',
          choices=BACKENDS),
    _spec('providers',
          'ONNX Runtime execution providers in order of preference (tensorrt, cuda, '
          'cpu); those missing from the installed build are skipped'),
    _spec('intra_op_threads', 'Threads inside one operator (0 = one per core)', 0, 256),
    _spec('inter_op_threads', 'Threads across operators (0 = runtime default)', 0, 256),
    _spec('device_id', 'CUDA device for the CUDA and TensorRT providers', 0, 64),
    _spec('trt_fp16', 'Let TensorRT build an FP16 engine'),
    _spec('trt_cache_dir',
          'TensorRT engine cache root; a sub-folder per model, GPU, TensorRT version and '
          'precision'),
    _spec('warmup_runs', 'Blank inferences at load so the first part is not slow', 0, 100),
    _spec('class_names',
          'Override of the model card class names (same count; empty = the card)',
          runtime=True),
    _spec('min_confidence',
          'Confidence below which a verdict is counted and drawn as low-confidence (the '
          'reject policy threshold: set it for both nodes, reject_actuator_node included)',
          0.0, 1.0, runtime=True),
    replace(_PER_CLASS_SPEC, description=(
        "Per-class minimum confidence overriding min_confidence, entries 'class_name=value' "
        "(reject_actuator_node's parameter: give both nodes the same entries)")),
    _spec('max_image_pixels',
          'Largest frame inspected, width x height pixels (raw fields, or the JPEG / PNG header '
          'read before decoding): a larger one is answered ERROR without being decoded',
          1, MAX_SIDE_PX * MAX_SIDE_PX),
    _spec('image_transport',
          'Subscribe to image (raw sensor_msgs/Image), image/compressed, or both',
          choices=IMAGE_TRANSPORTS),
    _spec('image_qos', 'Image subscription QoS: sensor_data (best effort) or reliable',
          choices=IMAGE_QOS),
    _spec('image_qos_depth', 'Image subscription queue depth (messages)', 1, 1000),
    _spec('image_topics',
          "A station's cameras: one image topic each, e.g. ['cam0/image', 'cam1/image'] (each "
          "camera's frame_id names it); the frames of a part (same stamp) are inspected in one "
          "engine call. [''] = the one topic image"),
    _spec('batch_window_s',
          'With image_topics: the longest a part waits for all its cameras after its first '
          'frame (a late or dead camera holds the others no longer), seconds', 0.0, 1.0),
    _spec('diagnostics_period_s', 'Period of /diagnostics and its statistics window',
          0.1, 60.0),
    _spec('warn_latency_p99_ms',
          'Diagnostics WARN when p99 reception-to-result latency exceeds this', 1.0, 1e5,
          runtime=True),
    _spec('warn_drop_ratio', 'Diagnostics WARN when more than this share of frames is dropped',
          0.0, 1.0, runtime=True),
    _spec('error_error_ratio', 'Diagnostics ERROR when at least this share of frames fails',
          0.0, 1.0, runtime=True),
)


# What a product changeover replaces: the model and how it runs. Settable while the node is not
# active and loaded (atomically: the old model stays on failure) at the next activate;
# class_names also while active (same model, other names).
MODEL_PARAMETERS = frozenset(('model_path', 'backend', 'providers', 'intra_op_threads',
                              'inter_op_threads', 'device_id', 'trt_fp16', 'trt_cache_dir',
                              'warmup_runs', 'class_names'))
# Settable only while the node is not active: the model's (but class_names) and the image
# intake's (subscription, decode budget), which activate creates.
INACTIVE_ONLY_PARAMETERS = (MODEL_PARAMETERS - {'class_names'}) | frozenset(
    ('image_transport', 'image_qos', 'image_qos_depth', 'max_image_pixels', 'image_topics',
     'batch_window_s'))


def declared_specs() -> Tuple[ParameterSpec, ...]:
    """
    Return PARAMETER_SPECS as inference_node declares them (a managed node).

    Those in INACTIVE_ONLY_PARAMETERS are writable (the node refuses them while active) and say
    when they apply; the others are as listed.
    """
    return tuple(replace(spec, runtime=True, description=f'{spec.description} (set while the '
                         'node is not active; applied at the next activate)')
                 if spec.name in INACTIVE_ONLY_PARAMETERS else spec for spec in PARAMETER_SPECS)


def package_share_dirs() -> List[Path]:
    """Return where relative model paths are looked up: installed share dir, then checkout."""
    dirs = []
    try:
        from ament_index_python.packages import get_package_share_directory
        dirs.append(Path(get_package_share_directory('acnn_ros')))
    except (ImportError, LookupError, ValueError):
        pass
    dirs.append(SOURCE_DIR)
    return dirs


def resolve_model_path(path: str, search_dirs: Optional[Sequence[Path]] = None) -> Path:
    """
    Return the model file for an absolute path or one relative to the package share dir.

    A relative path is tried in the installed share dir and then in the source checkout (a
    model exported after the last colcon build is only there). Raises ConfigError naming every
    place tried.
    """
    candidate = Path(str(path)).expanduser()
    if candidate.is_absolute():
        if candidate.is_file():
            return candidate
        raise ConfigError(f'model file not found: {candidate}')
    tried = []
    for base in (package_share_dirs() if search_dirs is None else search_dirs):
        full = Path(base) / candidate
        if full.is_file():
            return full
        tried.append(str(full))
    raise ConfigError(f'model file {path!r} not found; tried {", ".join(tried)}')

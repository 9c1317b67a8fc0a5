# SPDX-License-Identifier: Apache-2.0
"""
Camera parameters and calibration files, validated without ROS.

`CameraConfig` is what camera_node reads once from its parameters; `load_calibration` reads the
standard camera_calibration YAML (the file `ros2 run camera_calibration cameracalibrator`
writes and camera_info_manager reads).
"""
from dataclasses import dataclass
import os
from pathlib import Path
from typing import Tuple

from acnn_ros.core.parameter_spec import field_spec, ParameterSpec
import yaml

SOURCE_TYPES = ('auto', 'v4l2', 'video', 'images', 'gstreamer', 'synthetic')
IMAGE_QOS_CHOICES = ('sensor_data', 'reliable')
# timer: capture at frame_rate_hz and announce each part on `part`; part: a station camera,
# one frame per PartTrigger received on `part` (the station's trigger), stamped with it.
TRIGGERS = ('timer', 'part')
VIDEO_SUFFIXES = ('.avi', '.mp4', '.mkv', '.mov', '.webm', '.mpg', '.mpeg', '.m4v', '.wmv')


class CameraConfigError(ValueError):
    """A camera parameter or calibration file is invalid."""


def resolve_source_type(source: str) -> str:
    """
    Return the concrete source type that `source_type: auto` means for `source`.

    `synthetic` (or empty) is the synthetic generator; an integer or /dev/video* is a V4L2
    device; a string with ` ! ` is a GStreamer pipeline; a directory is an image folder; a
    file with a video suffix is a video file.
    """
    text = source.strip()
    if text in ('', 'synthetic'):
        return 'synthetic'
    if text.isdigit() or text.startswith('/dev/video') or text.startswith('/dev/v4l/'):
        return 'v4l2'
    if '!' in text:
        return 'gstreamer'
    if text.lower().endswith(VIDEO_SUFFIXES):
        return 'video'
    if os.path.isdir(text) or not os.path.splitext(text)[1]:
        return 'images'
    raise CameraConfigError(
        f'cannot tell what camera source {source!r} is: set source_type to one of '
        f'{", ".join(SOURCE_TYPES[1:])}')


@dataclass(frozen=True)
class CameraConfig:
    """Parameters of camera_node, read once at start-up."""

    source: str = '/dev/video0'
    source_type: str = 'auto'
    frame_rate_hz: float = 10.0
    loop: bool = True
    enabled: bool = True
    max_frames: int = 0
    frame_id: str = 'camera_optical_frame'
    camera_info_file: str = ''
    capture_width: int = 0
    capture_height: int = 0
    image_qos: str = 'sensor_data'
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 5.0
    synthetic_seed: int = 0
    synthetic_device: int = 0
    synthetic_pool_size: int = 0
    synthetic_station_cameras: int = 0
    synthetic_station_index: int = 0
    trigger: str = 'timer'
    diagnostics_period_s: float = 1.0
    line_wait_s: float = 10.0
    min_part_subscribers: int = 1
    rated_rate_hz: float = 0.0
    rated_rate_source: str = ''

    def __post_init__(self):
        """Validate every field; raise CameraConfigError with the offending value."""
        if self.source_type not in SOURCE_TYPES:
            raise CameraConfigError(
                f'source_type must be one of {SOURCE_TYPES}, got {self.source_type!r}')
        if self.image_qos not in IMAGE_QOS_CHOICES:
            raise CameraConfigError(
                f'image_qos must be one of {IMAGE_QOS_CHOICES}, got {self.image_qos!r}')
        if not 0.0 < self.frame_rate_hz <= 1000.0:
            raise CameraConfigError(
                f'frame_rate_hz must be in (0, 1000], got {self.frame_rate_hz}')
        if self.max_frames < 0:
            raise CameraConfigError(f'max_frames must be >= 0, got {self.max_frames}')
        if not self.frame_id.strip():
            raise CameraConfigError('frame_id must not be empty (results copy the header)')
        if self.capture_width < 0 or self.capture_height < 0:
            raise CameraConfigError('capture_width and capture_height must be >= 0')
        if not 0.0 < self.reconnect_initial_s <= self.reconnect_max_s:
            raise CameraConfigError(
                f'need 0 < reconnect_initial_s <= reconnect_max_s, got '
                f'{self.reconnect_initial_s} and {self.reconnect_max_s}')
        if self.synthetic_pool_size < 0:
            raise CameraConfigError('synthetic_pool_size must be >= 0')
        if self.trigger not in TRIGGERS:
            raise CameraConfigError(f'trigger must be one of {TRIGGERS}, got {self.trigger!r}')
        if self.synthetic_station_cameras and not (
                0 <= self.synthetic_station_index < self.synthetic_station_cameras):
            raise CameraConfigError(
                f'synthetic_station_index must be in 0..{self.synthetic_station_cameras - 1}, '
                f'got {self.synthetic_station_index}')
        if self.diagnostics_period_s <= 0.0:
            raise CameraConfigError('diagnostics_period_s must be > 0')
        if self.line_wait_s < 0 or self.rated_rate_hz < 0 or self.min_part_subscribers < 1:
            raise CameraConfigError('line_wait_s and rated_rate_hz must be >= 0, '
                                    'min_part_subscribers >= 1')
        if self.source_type != 'synthetic' and self.kind != 'synthetic' and not self.source:
            raise CameraConfigError(f'source must be set for source_type {self.source_type}')

    @property
    def kind(self) -> str:
        """Return the concrete source type (`auto` resolved from `source`)."""
        if self.source_type == 'auto':
            return resolve_source_type(self.source)
        return self.source_type

    @property
    def period_s(self) -> float:
        """Return the capture period in seconds."""
        return 1.0 / self.frame_rate_hz


def _spec(name: str, description: str, low=None, high=None) -> ParameterSpec:
    return field_spec(CameraConfig, name, description, low, high)


# camera_node parameters; defaults are those of CameraConfig.
PARAMETERS: Tuple[ParameterSpec, ...] = (
    _spec('source', 'device index or /dev/video*, video file, image folder, GStreamer '
          'pipeline, or "synthetic"'),
    _spec('source_type', f'what `source` is: {" | ".join(SOURCE_TYPES)}'),
    _spec('frame_rate_hz', 'capture (publication) rate, frames per second', 0.1, 1000.0),
    _spec('loop', 'start a video file / image folder over at its end'),
    _spec('enabled', 'capture from start-up (the ~/enable service switches it at run time)'),
    _spec('max_frames', 'stop capturing after this many frames (0: never)', 0, 2**31 - 1),
    _spec('frame_id', 'frame_id of every header (the camera optical frame)'),
    _spec('camera_info_file',
          'camera_calibration YAML (path or file:// URL); empty: no camera_info'),
    _spec('capture_width', 'requested device width in pixels (0: device default)', 0, 16384),
    _spec('capture_height', 'requested device height in pixels (0: device default)', 0, 16384),
    _spec('image_qos', f'image/camera_info publisher QoS: {" | ".join(IMAGE_QOS_CHOICES)} '
          '(sensor_data = best effort, as image_pipeline drivers)'),
    _spec('reconnect_initial_s', 'first delay before reopening a vanished source', 0.01, 60.0),
    _spec('reconnect_max_s', 'longest delay between reopen attempts (back-off cap)',
          0.01, 600.0),
    _spec('synthetic_seed', 'random seed of the synthetic generator', 0, 2**31 - 1),
    _spec('synthetic_device', 'synthetic generator look: 0 = train camera, 1 = test camera',
          0, 1),
    _spec('synthetic_pool_size', 'render this many synthetic frames at start-up, then replay '
          'them at random (0: render every frame live)', 0, 100000),
    _spec('synthetic_station_cameras', 'synthetic station: the part is seen by this many '
          'cameras around it, the code readable in one or two (0: one camera, random parts)',
          0, 16),
    _spec('synthetic_station_index', 'synthetic station: which of those cameras this is', 0, 15),
    _spec('trigger', f'{" | ".join(TRIGGERS)}: capture at frame_rate_hz and publish `part`, '
          'or (a station camera) capture one frame per PartTrigger received on `part`, with '
          "the trigger's stamp and this camera's frame_id"),
    _spec('diagnostics_period_s', 'period of /diagnostics status messages', 0.1, 60.0),
    _spec('line_wait_s', 'after each activation, hold capture until `part` (and `image`, '
          'unless frames go in memory) have subscribers, at most this long, then capture '
          'anyway with a WARN; 0: capture at once', 0.0, 3600.0),
    _spec('min_part_subscribers', 'start-up ordering: subscribers of `part` to wait for (2: '
          'reject_actuator_node and a recorder started before it)', 1, 1000),
    _spec('rated_rate_hz', "the line's sustainable rate measured by "
          'benchmarks/line_rate_benchmark.py (0: not measured); start-up warns when '
          'frame_rate_hz exceeds it', 0.0, 1000.0),
    _spec('rated_rate_source', 'where rated_rate_hz comes from (benchmark, machine, date)'),
)


@dataclass(frozen=True)
class CameraCalibration:
    """Intrinsics of a camera_calibration YAML file (row-major matrices)."""

    image_width: int
    image_height: int
    camera_name: str
    distortion_model: str
    k: Tuple[float, ...]          # 3x3 camera matrix
    d: Tuple[float, ...]          # distortion coefficients
    r: Tuple[float, ...]          # 3x3 rectification matrix
    p: Tuple[float, ...]          # 3x4 projection matrix


def _matrix(data: dict, key: str, rows: int, cols: int, path: str) -> Tuple[float, ...]:
    entry = data.get(key)
    if not isinstance(entry, dict) or 'data' not in entry:
        raise CameraConfigError(f'{path}: missing matrix {key!r} (with rows, cols, data)')
    values = tuple(float(v) for v in entry['data'])
    if rows and cols and len(values) != rows * cols:
        raise CameraConfigError(
            f'{path}: {key} must have {rows}x{cols} = {rows * cols} values, got {len(values)}')
    return values


def load_calibration(url: str) -> CameraCalibration:
    """
    Read a camera_calibration YAML file (a path or a file:// URL).

    Raises CameraConfigError naming the file and the missing or malformed field.
    """
    path = url[len('file://'):] if url.startswith('file://') else url
    if '://' in path:
        raise CameraConfigError(f'only file:// calibration URLs are supported, got {url!r}')
    try:
        data = yaml.safe_load(Path(path).read_text(encoding='utf-8'))
    except OSError as exc:
        raise CameraConfigError(f'cannot read calibration file {path}: {exc}') from exc
    except yaml.YAMLError as exc:
        raise CameraConfigError(f'calibration file {path} is not valid YAML: {exc}') from exc
    if not isinstance(data, dict):
        raise CameraConfigError(f'calibration file {path} does not hold a mapping')
    try:
        width, height = int(data['image_width']), int(data['image_height'])
    except (KeyError, TypeError, ValueError) as exc:
        raise CameraConfigError(f'{path}: image_width and image_height are required') from exc
    d_entry = data.get('distortion_coefficients') or {}
    return CameraCalibration(
        image_width=width, image_height=height,
        camera_name=str(data.get('camera_name', '')),
        distortion_model=str(data.get('distortion_model', 'plumb_bob')),
        k=_matrix(data, 'camera_matrix', 3, 3, path),
        d=tuple(float(v) for v in d_entry.get('data', [])),
        r=_matrix(data, 'rectification_matrix', 3, 3, path),
        p=_matrix(data, 'projection_matrix', 3, 4, path))

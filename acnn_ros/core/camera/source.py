# SPDX-License-Identifier: Apache-2.0
"""
Frame sources for camera_node and the demo, behind one interface, without ROS.

Sources: a V4L2 device, a video file and a GStreamer pipeline (all through OpenCV's
VideoCapture), an image folder (the seed dataset layout `images/{train,test}/*.jpg` works:
files are found recursively and sorted), and the synthetic AOI generator.

`connect()` raises `SourceUnavailableError` when the device/file/folder is not there; `read()`
raises it when the source vanishes, `EndOfStreamError` at the end of a non-looping file or
folder, and `BadFrameError` for one unreadable frame (the source itself is fine).
`CaptureSupervisor` (supervisor.py) turns those into events and reopens a vanished source with
exponential back-off, so the caller never restarts.
"""
import abc
from dataclasses import dataclass
import os
from pathlib import Path
import time
from typing import List, Optional

from acnn_ros.core.camera.config import CameraConfig
from acnn_ros.core.dataset.labels import LabelError, read_yolo_label
from acnn_ros.core.dataset.seed_format import IMAGE_SUFFIXES, list_images
import cv2
import numpy as np


class CameraSourceError(RuntimeError):
    """Base of the errors a frame source raises."""

    retryable = True


class SourceUnavailableError(CameraSourceError):
    """The device, file or folder is not there (or stopped delivering frames)."""


class SourceConfigError(CameraSourceError):
    """The source can never work as configured (e.g. OpenCV lacks the GStreamer backend)."""

    retryable = False


class EndOfStreamError(CameraSourceError):
    """A non-looping video file or image folder has no more frames."""

    retryable = False


class BadFrameError(CameraSourceError):
    """One frame could not be read or decoded; the next one may be fine."""


@dataclass(frozen=True)
class Frame:
    """One captured frame."""

    bgr: np.ndarray                  # HxWx3 uint8, BGR
    grab_monotonic_ns: int           # time.monotonic_ns() when the frame was grabbed
    name: str = ''                   # file name (image folder) or frame index (video)
    truth_class_id: Optional[int] = None   # ground truth when known (synthetic, YOLO labels)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Return a 3-channel uint8 BGR view of a gray, BGR or BGRA capture."""
    if image.dtype != np.uint8:
        raise BadFrameError(f'unsupported pixel type {image.dtype} (need 8-bit)')
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise BadFrameError(f'unsupported image shape {image.shape}')


class FrameSource(abc.ABC):
    """A camera-like producer of BGR frames."""

    description = 'frame source'

    @abc.abstractmethod
    def connect(self) -> None:
        """Open (or reopen) the source; raise SourceUnavailableError if it is not there."""

    @abc.abstractmethod
    def read(self) -> Frame:
        """Return the next frame (see the module docstring for the errors)."""

    def cue(self, part_id: int) -> None:
        """
        Say which part the next `read()` captures (camera_node calls it before each read).

        A real camera ignores it: it sees whatever is in front of it. The synthetic station
        renders that part's view, so every camera of a station shows the same part.
        """

    def close(self) -> None:
        """Release the device or file; safe to call twice."""

    def __enter__(self) -> 'FrameSource':
        self.connect()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class OpenCvCaptureSource(FrameSource):
    """A V4L2 device, video file or GStreamer pipeline read with cv2.VideoCapture."""

    def __init__(self, target, api_preference: int, description: str, is_file: bool = False,
                 loop: bool = True, width: int = 0, height: int = 0, fps: float = 0.0):
        self.target = target
        self.api_preference = api_preference
        self.description = description
        self.is_file = is_file
        self.loop = loop
        self.requested = (width, height, fps)
        self._capture = None
        self._position = 0

    def connect(self) -> None:
        """Open the capture; a missing file or device raises SourceUnavailableError."""
        self.close()
        if self.api_preference == cv2.CAP_GSTREAMER and not cv2.videoio_registry.hasBackend(
                cv2.CAP_GSTREAMER):
            raise SourceConfigError(
                'this OpenCV build has no GStreamer backend (cv2.getBuildInformation() says '
                'GStreamer: NO); use a V4L2 device, a video file, or an OpenCV built with it')
        if isinstance(self.target, str) and not self.target.count('!') and \
                self.target.startswith('/') and not os.path.exists(self.target):
            raise SourceUnavailableError(f'{self.description}: {self.target} does not exist')
        capture = cv2.VideoCapture(self.target, self.api_preference)
        if not capture.isOpened():
            capture.release()
            raise SourceUnavailableError(f'{self.description}: cannot open {self.target}')
        width, height, fps = self.requested
        if not self.is_file:
            # Keep at most one queued frame so a slower node rate does not deliver stale frames.
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            if width and height:
                capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            if fps:
                capture.set(cv2.CAP_PROP_FPS, fps)
        self._capture = capture
        self._position = 0

    def read(self) -> Frame:
        """Grab and decode the next frame; loop or end a video file at its end."""
        if self._capture is None:
            raise SourceUnavailableError(f'{self.description} is not open')
        grabbed = self._capture.grab()
        grab_ns = time.monotonic_ns()
        if not grabbed:
            if not self.is_file:
                raise SourceUnavailableError(f'{self.description} stopped delivering frames')
            if not os.path.exists(self.target):
                raise SourceUnavailableError(f'{self.description}: {self.target} vanished')
            if not self.loop:
                raise EndOfStreamError(f'end of {self.target} after {self._position} frames')
            if self._position == 0:
                raise SourceUnavailableError(f'{self.description}: no frame in {self.target}')
            self.connect()
            return self.read()
        ok, image = self._capture.retrieve()
        self._position += 1
        if not ok or image is None:
            raise BadFrameError(f'{self.description}: frame {self._position} did not decode')
        return Frame(as_bgr(image), grab_ns, name=str(self._position))

    def close(self) -> None:
        """Release the capture."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def read_truth_class(image_path: Path) -> Optional[int]:
    """Return the class of an image's YOLO label, or None without a (well-formed) label."""
    try:
        label = read_yolo_label(image_path)
    except LabelError:
        return None     # a bad label costs the frame its truth, not the camera its frames
    return None if label is None else label.class_id


class ImageFolderSource(FrameSource):
    """Images of a folder (recursively, sorted by relative path) as a camera."""

    def __init__(self, folder: str, loop: bool = True):
        self.folder = Path(folder)
        self.loop = loop
        self.description = f'image folder {folder}'
        self.files: List[Path] = []
        self._index = 0

    def connect(self) -> None:
        """List the folder; a missing or empty folder raises SourceUnavailableError."""
        if not self.folder.is_dir():
            raise SourceUnavailableError(f'{self.description} does not exist')
        self.files = list_images(self.folder)
        if not self.files:
            raise SourceUnavailableError(
                f'{self.description} holds no images ({", ".join(IMAGE_SUFFIXES)})')
        # A reopened folder resumes where it stopped, like a camera that came back.
        self._index = min(self._index, len(self.files))

    def read(self) -> Frame:
        """Return the next image; rescan the folder when a loop starts over."""
        if self._index >= len(self.files):
            if not self.loop:
                raise EndOfStreamError(f'end of {self.description} ({len(self.files)} images)')
            self._index = 0
            self.connect()
        path = self.files[self._index]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        grab_ns = time.monotonic_ns()
        if not self.folder.is_dir():
            # The position is kept: the image is read again once the folder is back.
            raise SourceUnavailableError(f'{self.description} vanished')
        self._index += 1
        if image is None:
            raise BadFrameError(f'cannot read image {path} (missing or not an image)')
        return Frame(as_bgr(image), grab_ns, name=path.name,
                     truth_class_id=read_truth_class(path))


class SyntheticSource(FrameSource):
    """
    Frames of the synthetic AOI generator (acnn_ros.core.dataset.synthetic), random classes.

    Rendering costs tens of milliseconds of CPU per frame, far more than a real camera. With
    `pool_size` N > 0, N frames are rendered once when the source is connected (before the
    first part), and reads replay them in a seeded random order (ground truth included), so
    the camera does not compete with inference and the PLC link while parts are on the line.
    """

    def __init__(self, seed: int = 0, device: int = 0, pool_size: int = 0,
                 station_cameras: int = 0, station_index: int = 0):
        self.seed = seed
        self.device = device
        self.pool_size = pool_size
        # A station camera (core/dataset/multiview.py): the view of camera `station_index` of
        # `station_cameras` of the cued part; with a pool, of part ((id - 1) % pool) + 1.
        self.station_cameras = station_cameras
        self.station_index = station_index
        station = (f', camera {station_index} of a {station_cameras}-camera station'
                   if station_cameras else '')
        self.description = f'synthetic generator (seed {seed}, device {device}{station}' + (
            f', pool of {pool_size} frames)' if pool_size else ')')
        self._rng = None
        self._synthetic = None
        self._pool = []
        self._part_id = 0

    def connect(self) -> None:
        """Import the generator; it is part of the package, so failing is a config error."""
        try:
            from acnn_ros.core.dataset import synthetic
        except ImportError as exc:
            raise SourceConfigError(f'synthetic generator unavailable: {exc}') from exc
        self._synthetic = synthetic
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        while len(self._pool) < self.pool_size:
            self._pool.append(self._render(len(self._pool) + 1))

    @property
    def class_names(self):
        """Return the class names the generator draws from (index = truth_class_id)."""
        from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES
        return tuple(DEFAULT_CLASSES)

    def cue(self, part_id: int) -> None:
        """Render (or replay) the view of part `part_id` next (station mode)."""
        self._part_id = part_id

    def _render(self, part_id: int = 0):
        if self.station_cameras:
            from acnn_ros.core.dataset.multiview import part_seed, render_view
            class_id, view = render_view(part_seed(self.seed, part_id), self.station_cameras,
                                         self.station_index, device=self.device)
            bgr = view.bgr
        else:
            class_id = int(self._rng.integers(len(self.class_names)))
            bgr, _roi = self._synthetic.render_frame(self._rng, class_id, device=self.device)
        # The generated datasets (and so the shipped model's training data) are JPEG files.
        quality = self._synthetic.DEVICES[self.device].jpeg_quality
        ok, encoded = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return (cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else bgr), class_id

    def read(self) -> Frame:
        """Render (or replay from the pool) one frame of a random class."""
        if self.station_cameras and not self._part_id:
            self._part_id = 1      # never cued: parts in read order
        if self._pool:
            index = ((self._part_id - 1) % len(self._pool) if self.station_cameras
                     else int(self._rng.integers(len(self._pool))))
            bgr, class_id = self._pool[index]
            bgr = bgr.copy()
        else:
            bgr, class_id = self._render(self._part_id)
        if self.station_cameras:
            self._part_id += 1     # the next part, unless cued otherwise
        return Frame(bgr, time.monotonic_ns(), name=self.class_names[class_id],
                     truth_class_id=class_id)


def create_source(config: CameraConfig) -> FrameSource:
    """Build the frame source that a CameraConfig describes."""
    kind = config.kind
    if kind == 'synthetic':
        return SyntheticSource(config.synthetic_seed, config.synthetic_device,
                               config.synthetic_pool_size, config.synthetic_station_cameras,
                               config.synthetic_station_index)
    if kind == 'images':
        return ImageFolderSource(config.source, loop=config.loop)
    if kind == 'video':
        return OpenCvCaptureSource(config.source, cv2.CAP_FFMPEG, f'video {config.source}',
                                   is_file=True, loop=config.loop)
    if kind == 'gstreamer':
        return OpenCvCaptureSource(config.source, cv2.CAP_GSTREAMER, 'GStreamer pipeline',
                                   width=config.capture_width, height=config.capture_height)
    target = int(config.source) if config.source.strip().isdigit() else config.source
    return OpenCvCaptureSource(target, cv2.CAP_V4L2, f'V4L2 device {config.source}',
                               width=config.capture_width, height=config.capture_height,
                               fps=config.frame_rate_hz)

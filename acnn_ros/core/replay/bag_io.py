# SPDX-License-Identifier: Apache-2.0
"""
rosbag2 reading and writing for the replay and evaluation tools, with `rosbags` (no ROS needed).

- Reading opens any rosbag2 the `rosbags` library opens: sqlite3 (.db3) or mcap, a bag directory
  or a bare storage file, recorded by `ros2 bag record` (Humble: no embedded type definitions,
  the standard ROS 2 types plus this package's messages are used; Iron and later: the bag's own
  definitions) or written by this package.
- Writing produces rosbag2 format version 9 (what `ros2 bag record` writes on Jazzy/Kilted), with
  message definitions, type hashes and `offered_qos_profiles` filled in the way rosbag2 does, so
  `ros2 bag play` accepts the bags and republishes them with the QoS of a real recording.
- The package's own messages (acnn_ros/msg/*.msg) are registered from their .msg files, so
  bags holding InspectionResult, RejectEvent, PartTrigger or LineCounters read back.
"""
from dataclasses import dataclass
import functools
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from acnn_ros.core.results import RoiBox
import numpy as np
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness, QosReliability,
                                QosTime)
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from rosbags.typesys import get_types_from_msg, get_typestore, Stores
from rosbags.typesys.store import Typestore

PACKAGE = 'acnn_ros'
IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE_TYPE = 'sensor_msgs/msg/CompressedImage'
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)
INSPECTION_RESULT_TYPE = 'acnn_ros/msg/InspectionResult'
PART_TRIGGER_TYPE = 'acnn_ros/msg/PartTrigger'
REJECT_EVENT_TYPE = 'acnn_ros/msg/RejectEvent'
LINE_COUNTERS_TYPE = 'acnn_ros/msg/LineCounters'
STORAGES = ('sqlite3', 'mcap')
BAG_FORMAT_VERSION = 9
GROUND_TRUTH_MODEL_ID = 'ground_truth'

# rclpy's "infinite" duration, as rosbag2 writes it into offered_qos_profiles.
_INFINITE = QosTime(sec=9223372036, nsec=854775807)


class BagError(RuntimeError):
    """A bag cannot be opened, read or written; the message names the bag and the reason."""


def offered_qos(reliable: bool, transient_local: bool = False) -> Qos:
    """
    Return a publisher's offered QoS as `ros2 bag record` stores it.

    DDS discovery does not carry history and depth, so rosbag2 records them as unknown/0;
    the rest is what the publisher offered. `ros2 bag play` republishes with this profile.
    """
    return Qos(history=QosHistory.UNKNOWN, depth=0,
               reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               durability=(QosDurability.TRANSIENT_LOCAL if transient_local
                           else QosDurability.VOLATILE),
               deadline=_INFINITE, lifespan=_INFINITE, liveliness=QosLiveliness.AUTOMATIC,
               liveliness_lease_duration=_INFINITE, avoid_ros_namespace_conventions=False)


# What the camera driver (SensorDataQoS) and the verdict publishers (reliable) offer.
SENSOR_DATA_QOS = offered_qos(reliable=False)
RELIABLE_QOS = offered_qos(reliable=True)


def project_msg_dir() -> Path:
    """Return the directory holding this package's .msg files (source tree, else install)."""
    source = Path(__file__).resolve().parents[2] / 'msg'
    if source.is_dir():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory
        installed = Path(get_package_share_directory(PACKAGE)) / 'msg'
    except (ImportError, LookupError, ValueError) as exc:
        raise BagError(f'cannot find the {PACKAGE} message definitions: {exc}') from exc
    if not installed.is_dir():
        raise BagError(f'cannot find the {PACKAGE} message definitions in {installed}')
    return installed


@functools.lru_cache(maxsize=1)
def project_typestore() -> Typestore:
    """Return a typestore with the ROS 2 Kilted types plus this package's messages."""
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for path in sorted(project_msg_dir().glob('*.msg')):
        types.update(get_types_from_msg(path.read_text(encoding='utf-8'),
                                        f'{PACKAGE}/msg/{path.stem}'))
    store.register(types)
    return store


def stamp_to_ns(stamp) -> int:
    """Return a builtin_interfaces/Time (rosbags or rclpy) as integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def make_header(stamp_ns: int, frame_id: str):
    """Build a std_msgs/Header (rosbags class) for a capture time in nanoseconds."""
    types = project_typestore().types
    stamp = types['builtin_interfaces/msg/Time'](sec=int(stamp_ns // 1_000_000_000),
                                                 nanosec=int(stamp_ns % 1_000_000_000))
    return types['std_msgs/msg/Header'](stamp=stamp, frame_id=frame_id)


def image_message(bgr: np.ndarray, stamp_ns: int, frame_id: str, encoding: str = 'bgr8'):
    """Build a sensor_msgs/Image (rosbags class) from a BGR uint8 frame."""
    if bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f'expected a BGR uint8 HxWx3 array, got {bgr.dtype} {bgr.shape}')
    if encoding == 'bgr8':
        pixels = bgr
    elif encoding == 'rgb8':
        pixels = bgr[:, :, ::-1]
    elif encoding == 'mono8':
        pixels = (bgr.astype(np.float32) @ np.float32([0.114, 0.587, 0.299])).round()
        pixels = pixels.astype(np.uint8)
    else:
        raise ValueError(f'unsupported encoding {encoding!r} (bgr8, rgb8, mono8)')
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    return project_typestore().types[IMAGE_TYPE](
        header=make_header(stamp_ns, frame_id), height=height, width=width, encoding=encoding,
        is_bigendian=0, step=width * channels, data=pixels.reshape(-1))


def compressed_image_message(jpeg_bytes: bytes, stamp_ns: int, frame_id: str,
                             fmt: str = 'jpeg'):
    """Build a sensor_msgs/CompressedImage (rosbags class) from encoded bytes."""
    return project_typestore().types[COMPRESSED_IMAGE_TYPE](
        header=make_header(stamp_ns, frame_id), format=fmt,
        data=np.frombuffer(jpeg_bytes, dtype=np.uint8))


def ground_truth_message(stamp_ns: int, frame_id: str, class_id: int, class_name: str,
                         roi: Optional[RoiBox], image_width: int, image_height: int):
    """
    Build the ground truth of one frame as an acnn_ros/InspectionResult (rosbags class).

    Ground truth travels in the bag on its own topic with the image's header: status OK,
    the true class with confidence 1, the true ROI (width 0 when the frame has no box) and
    model_id 'ground_truth'.
    """
    types = project_typestore().types
    if roi is not None:
        x, y, w, h = roi.clipped(image_width, image_height)
        region = types['sensor_msgs/msg/RegionOfInterest'](
            x_offset=x, y_offset=y, width=w, height=h, do_rectify=False)
        center = (float(roi.center_x), float(roi.center_y))
    else:
        region = types['sensor_msgs/msg/RegionOfInterest'](
            x_offset=0, y_offset=0, width=0, height=0, do_rectify=False)
        center = (0.0, 0.0)
    return types[INSPECTION_RESULT_TYPE](
        header=make_header(stamp_ns, frame_id), status=0, detail='', class_id=int(class_id),
        class_name=class_name, confidence=1.0,
        class_scores=np.zeros(0, dtype=np.float32), roi=region, roi_center_x=center[0],
        roi_center_y=center[1], model_id=GROUND_TRUTH_MODEL_ID, preprocess_ms=0.0,
        inference_ms=0.0, postprocess_ms=0.0, total_ms=0.0)


def roi_from_result(msg) -> Optional[RoiBox]:
    """Return the ROI of an InspectionResult (rosbags or rclpy) as a RoiBox, None if empty."""
    if msg.roi.width == 0 or msg.roi.height == 0:
        return None
    return RoiBox(float(msg.roi_center_x), float(msg.roi_center_y), float(msg.roi.width),
                  float(msg.roi.height))


@dataclass(frozen=True)
class TopicSummary:
    """One topic of a bag: name, type, message count and recorded QoS."""

    name: str
    msgtype: str
    count: int
    qos: Tuple[Qos, ...]

    @property
    def reliable(self) -> bool:
        """Return True when every recorded publisher offered reliable delivery."""
        return bool(self.qos) and all(q.reliability == QosReliability.RELIABLE for q in self.qos)


@dataclass(frozen=True)
class BagMessage:
    """One message of a bag: where it was, when it was logged, its bytes and decoded form."""

    topic: str
    msgtype: str
    log_time_ns: int
    raw: bytes
    msg: object


@dataclass(frozen=True)
class ImageFrame:
    """One image message of a bag, numbered in bag order over the selected topic."""

    index: int
    topic: str
    msgtype: str
    log_time_ns: int
    stamp_ns: int
    frame_id: str
    raw: bytes
    msg: object

    @property
    def key(self) -> Tuple[int, str]:
        """Return the frame identity shared by its results: (capture stamp ns, frame_id)."""
        return self.stamp_ns, self.frame_id

    def decode(self) -> np.ndarray:
        """Decode the image to BGR uint8 with the codec the inference node uses."""
        return decode_image_message(self.msgtype, self.msg)


def decode_image_message(msgtype: str, msg) -> np.ndarray:
    """Decode a sensor_msgs/Image or CompressedImage (rosbags or rclpy fields) to BGR."""
    from acnn_ros.core.image_codec import decode_compressed, decode_image
    if msgtype == COMPRESSED_IMAGE_TYPE:
        return decode_compressed(msg.format, bytes(msg.data))
    return decode_image(msg.encoding, int(msg.width), int(msg.height), int(msg.step),
                        bytes(msg.data), bool(msg.is_bigendian))


def _open(path: Path) -> AnyReader:
    path = Path(path)
    if not path.exists():
        raise BagError(f'bag not found: {path}')
    try:
        reader = AnyReader([path], default_typestore=project_typestore())
        reader.open()
    except (AnyReaderError, OSError, ValueError, KeyError) as exc:
        raise BagError(f'cannot open bag {path}: {exc}') from exc
    return reader


def _typestore_for(reader: AnyReader) -> Typestore:
    """Return a typestore that knows every type of the bag plus the standard ones."""
    store = reader.typestore
    if not store.fielddefs:
        return project_typestore()
    return store


def _bag_stamp(path: Path) -> Tuple[str, Tuple[Tuple[str, int, int], ...]]:
    """Return an identity of a bag's files (name, size, mtime) to cache what it contains."""
    path = Path(path).resolve()
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    return str(path), tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files
                            if f.is_file())


def bag_topics(path: Path) -> Dict[str, TopicSummary]:
    """Return the topics of a bag by name (cached while the bag's files do not change)."""
    if not Path(path).exists():
        raise BagError(f'bag not found: {path}')
    return dict(_bag_topics(path, _bag_stamp(path)))


@functools.lru_cache(maxsize=16)
def _bag_topics(path: Path, stamp) -> Dict[str, TopicSummary]:
    reader = _open(path)
    try:
        topics = {}
        for connection in reader.connections:
            previous = topics.get(connection.topic)
            qos = tuple(getattr(connection.ext, 'offered_qos_profiles', ()) or ())
            count = connection.msgcount + (previous.count if previous else 0)
            topics[connection.topic] = TopicSummary(
                connection.topic, connection.msgtype, count,
                (previous.qos if previous else ()) + qos)
        return topics
    finally:
        reader.close()


def image_topics(path: Path) -> List[str]:
    """Return the topics of a bag that carry Image or CompressedImage messages."""
    return sorted(name for name, info in bag_topics(path).items() if info.msgtype in IMAGE_TYPES)


def select_image_topic(path: Path, topic: Optional[str] = None) -> str:
    """Return `topic` if the bag has it as an image topic, else its only image topic."""
    topics = bag_topics(path)
    images = sorted(name for name, info in topics.items() if info.msgtype in IMAGE_TYPES)
    if topic:
        resolved = topic if topic in topics else '/' + topic.lstrip('/')
        if resolved not in topics:
            raise BagError(f'bag {path} has no topic {topic!r}; image topics: {images}')
        if topics[resolved].msgtype not in IMAGE_TYPES:
            raise BagError(f'topic {resolved} of {path} is {topics[resolved].msgtype}, '
                           f'not an image type')
        return resolved
    if not images:
        raise BagError(f'bag {path} has no sensor_msgs/Image or CompressedImage topic; '
                       f'topics: {sorted(topics)}')
    if len(images) > 1:
        raise BagError(f'bag {path} has several image topics {images}: choose one')
    return images[0]


def iter_messages(path: Path, topics: Optional[Iterable[str]] = None) -> Iterator[BagMessage]:
    """Yield the messages of a bag in log-time order, optionally only of some topics."""
    reader = _open(path)
    try:
        wanted = None if topics is None else {'/' + t.lstrip('/') for t in topics}
        connections = [c for c in reader.connections if wanted is None or c.topic in wanted]
        if not connections:
            return
        store = _typestore_for(reader)
        for connection, log_time, raw in reader.messages(connections=connections):
            try:
                msg = store.deserialize_cdr(raw, connection.msgtype)
            except Exception as exc:  # noqa: B902 (rosbags raises several error types)
                raise BagError(f'{path}: cannot decode a {connection.msgtype} message on '
                               f'{connection.topic} at {log_time} ns: {exc}') from exc
            yield BagMessage(connection.topic, connection.msgtype, int(log_time), bytes(raw),
                             msg)
    finally:
        reader.close()


def iter_image_frames(path: Path, topic: Optional[str] = None) -> Iterator[ImageFrame]:
    """Yield the frames of one image topic of a bag (see select_image_topic) in bag order."""
    selected = select_image_topic(path, topic)
    for index, message in enumerate(iter_messages(path, [selected])):
        header = message.msg.header
        yield ImageFrame(index, message.topic, message.msgtype, message.log_time_ns,
                         stamp_to_ns(header.stamp), str(header.frame_id), message.raw,
                         message.msg)


def count_messages(path: Path, topic: str) -> int:
    """Return the number of messages on a topic of a bag (0 if absent)."""
    info = bag_topics(path).get('/' + topic.lstrip('/'))
    return info.count if info else 0


class BagWriter:
    """
    Write a rosbag2 (format 9, sqlite3 or mcap) that `ros2 bag play` accepts.

    Topics are added with their type and the QoS their publisher offered; messages are
    rosbags message objects (`write`) or CDR bytes as received from DDS (`write_raw`). Use as
    a context manager, or call close(): the metadata.yaml is written on close.
    """

    def __init__(self, path: Path, storage: str = 'sqlite3',
                 typestore: Optional[Typestore] = None):
        if storage not in STORAGES:
            raise BagError(f'unknown storage {storage!r}; use one of {STORAGES}')
        self.path = Path(path)
        self.typestore = typestore or project_typestore()
        plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
        try:
            self._writer = Writer(self.path, version=BAG_FORMAT_VERSION, storage_plugin=plugin)
            self._writer.open()
        except WriterError as exc:
            raise BagError(f'cannot create bag {self.path}: {exc}') from exc
        self._connections = {}
        self.counts: Dict[str, int] = {}

    def add_topic(self, topic: str, msgtype: str, qos: Sequence[Qos] = (RELIABLE_QOS,)) -> None:
        """Declare a topic (absolute name as recorded, e.g. '/image') before writing to it."""
        name = '/' + topic.lstrip('/')
        if name in self._connections:
            return
        if msgtype not in self.typestore.types:
            raise BagError(f'unknown message type {msgtype!r} for topic {name}')
        self._connections[name] = self._writer.add_connection(
            name, msgtype, typestore=self.typestore, offered_qos_profiles=list(qos))
        self.counts[name] = 0

    def has_topic(self, topic: str) -> bool:
        """Return True when the topic was added."""
        return '/' + topic.lstrip('/') in self._connections

    def write(self, topic: str, msg, log_time_ns: int) -> None:
        """Serialise a rosbags message object and write it (adding its topic if new)."""
        name = '/' + topic.lstrip('/')
        if name not in self._connections:
            # Cameras offer best effort (SensorDataQoS); the package's own topics are reliable.
            msgtype = msg.__msgtype__
            self.add_topic(name, msgtype, [SENSOR_DATA_QOS if msgtype in IMAGE_TYPES
                                           else RELIABLE_QOS])
        raw = self.typestore.serialize_cdr(msg, self._connections[name].msgtype)
        self.write_raw(name, raw, log_time_ns)

    def write_raw(self, topic: str, data: bytes, log_time_ns: int) -> None:
        """Write CDR bytes (e.g. from a raw rclpy subscription) to an added topic."""
        name = '/' + topic.lstrip('/')
        if name not in self._connections:
            raise BagError(f'topic {name} was not added to {self.path}')
        self._writer.write(self._connections[name], int(log_time_ns), data)
        self.counts[name] += 1

    def close(self) -> None:
        """Finish the storage file and write metadata.yaml (idempotent)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def __enter__(self) -> 'BagWriter':
        """Return self."""
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        """Close the bag, also after an error (what was written stays readable)."""
        self.close()

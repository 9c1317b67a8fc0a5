# SPDX-License-Identifier: Apache-2.0
"""
Run the inspection pipeline over a bag or an image folder, frame by frame, without ROS.

Shared by `acnn eval-bag`, `acnn compare` and the replay benchmark. Bag frames go through
`InspectionPipeline.inspect_image` / `inspect_compressed`, exactly as the inference node feeds
them, so offline verdicts equal the live ones for the same bag and model.
"""
from dataclasses import dataclass
from pathlib import Path
import time
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from acnn_ros.core.reject.decision import RejectPolicy
from acnn_ros.core.replay import bag_io
from acnn_ros.core.replay.metrics import (FrameRef, FrameVerdict, GroundTruth, judge_frame,
                                          LabelTable, parse_yolo_label, RecordedVerdict)
from acnn_ros.core.results import InspectionOutcome
import cv2
import numpy as np

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
DEFAULT_TRUTH_TOPIC = 'ground_truth'


@dataclass
class SourceFrame:
    """One frame to inspect: identity, how to inspect it, how to get its pixels, its truth."""

    ref: FrameRef
    inspect: Callable[[object], InspectionOutcome]   # pipeline -> outcome
    load_bgr: Callable[[], np.ndarray]
    truth: Optional[GroundTruth] = None
    truth_lookup: Optional[Callable[[Sequence[str], int, int], Optional[GroundTruth]]] = None


def _bag_inspector(frame: bag_io.ImageFrame) -> Callable[[object], InspectionOutcome]:
    msg = frame.msg

    def inspect(pipeline) -> InspectionOutcome:
        if frame.msgtype == bag_io.COMPRESSED_IMAGE_TYPE:
            outcome, _ = pipeline.inspect_compressed(msg.format, msg.data)
        else:
            outcome, _ = pipeline.inspect_image(msg.encoding, int(msg.width), int(msg.height),
                                                int(msg.step), msg.data,
                                                bool(msg.is_bigendian))
        return outcome
    return inspect


def _truth_table(bag: Path, truth_topic: str) -> Dict[Tuple[int, str], GroundTruth]:
    """Read a ground-truth topic (InspectionResult with the images' headers) into a dict."""
    table = {}
    if bag_io.count_messages(bag, truth_topic) == 0:
        return table
    for message in bag_io.iter_messages(bag, [truth_topic]):
        if message.msgtype != bag_io.INSPECTION_RESULT_TYPE:
            raise bag_io.BagError(f'ground-truth topic {message.topic} of {bag} holds '
                                  f'{message.msgtype}, expected {bag_io.INSPECTION_RESULT_TYPE}')
        msg = message.msg
        key = (bag_io.stamp_to_ns(msg.header.stamp), str(msg.header.frame_id))
        table[key] = GroundTruth(int(msg.class_id), str(msg.class_name),
                                 bag_io.roi_from_result(msg))
    return table


def recorded_verdicts(bag: Path, topic: str) -> Dict[Tuple[int, str], RecordedVerdict]:
    """Read the live verdicts a bag recorded on `topic` (InspectionResult), by frame header."""
    verdicts = {}
    if not topic or bag_io.count_messages(bag, topic) == 0:
        return verdicts
    for message in bag_io.iter_messages(bag, [topic]):
        msg = message.msg
        if message.msgtype != bag_io.INSPECTION_RESULT_TYPE \
                or msg.model_id == bag_io.GROUND_TRUTH_MODEL_ID:
            continue
        key = (bag_io.stamp_to_ns(msg.header.stamp), str(msg.header.frame_id))
        verdicts[key] = RecordedVerdict(int(msg.status), str(msg.class_name),
                                        float(msg.confidence), str(msg.model_id))
    return verdicts


def bag_frames(bag: Path, image_topic: Optional[str] = None,
               truth_topic: Optional[str] = DEFAULT_TRUTH_TOPIC) -> Iterator[SourceFrame]:
    """Yield the frames of a bag's image topic with their ground truth from `truth_topic`."""
    truths = _truth_table(Path(bag), truth_topic) if truth_topic else {}
    for frame in bag_io.iter_image_frames(Path(bag), image_topic):
        ref = FrameRef(frame.index, frame.stamp_ns, frame.frame_id, frame.topic)
        yield SourceFrame(ref, _bag_inspector(frame), frame.decode, truths.get(frame.key))


def yolo_label_path(image_path: Path) -> Path:
    """Return the YOLO label file of an image: .../images/x/a.jpg -> .../labels/x/a.txt."""
    parts = list(image_path.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == 'images':
            parts[i] = 'labels'
            return Path(*parts).with_suffix('.txt')
    return image_path.with_suffix('.txt')


def folder_images(folder: Path, split: Optional[str] = None) -> List[Path]:
    """
    Return the images of a folder in sorted order.

    In the seed format (`images/{train,test}/` beside `labels/`) `split` picks one split
    (default: all); otherwise the folder's own images (recursively) are used.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f'image folder not found: {folder}')
    root = folder / 'images' if (folder / 'images').is_dir() else folder
    if split:
        root = root / split
        if not root.is_dir():
            raise FileNotFoundError(f'split folder not found: {root}')
    images = sorted(p for p in root.rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) under {root}')
    return images


def read_bgr(path: Path) -> np.ndarray:
    """Read an image file as BGR uint8, with an error naming the file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'cannot read image {path}')
    return image


def _yolo_lookup(path: Path):
    def lookup(class_names, width, height):
        label = yolo_label_path(path)
        if not label.is_file():
            return None
        return parse_yolo_label(label.read_text(encoding='utf-8'), class_names, width, height,
                                where=str(label))
    return lookup


def folder_frames(folder: Path, split: Optional[str] = None) -> Iterator[SourceFrame]:
    """Yield the frames of an image folder; truth from the YOLO label files beside them."""
    for index, path in enumerate(folder_images(folder, split)):
        def load(path=path) -> np.ndarray:
            return read_bgr(path)

        def inspect(pipeline, load=load) -> InspectionOutcome:
            start = time.perf_counter()
            try:
                bgr = load()
            except ValueError as exc:   # unreadable file: this frame's error verdict
                return InspectionOutcome.error(f'bad image: {exc}', model_id=pipeline.model_id)
            return pipeline.inspect(bgr, decode_ms=(time.perf_counter() - start) * 1000.0)
        ref = FrameRef(index, 0, '', str(path), path.name)
        yield SourceFrame(ref, inspect, load, truth_lookup=_yolo_lookup(path))


class BagSource:
    """The frames of one image topic of a bag, with ground truth from a topic of the bag."""

    def __init__(self, bag: Path, image_topic: Optional[str] = None,
                 truth_topic: Optional[str] = DEFAULT_TRUTH_TOPIC):
        self.bag = Path(bag)
        self.image_topic = bag_io.select_image_topic(self.bag, image_topic)
        self.truth_topic = truth_topic
        self.count = bag_io.count_messages(self.bag, self.image_topic)
        self.has_truth = bool(truth_topic) and bag_io.count_messages(self.bag, truth_topic) > 0
        self.description = f'bag {self.bag} topic {self.image_topic}'

    def frames(self) -> Iterator[SourceFrame]:
        """Yield the frames in bag order."""
        return bag_frames(self.bag, self.image_topic, self.truth_topic)

    def load_images(self, indices) -> Dict[int, np.ndarray]:
        """Decode the frames with the given indices (one pass over the bag)."""
        wanted = set(indices)
        images = {}
        if not wanted:
            return images
        from acnn_ros.core.image_codec import ImageDecodeError
        for frame in bag_io.iter_image_frames(self.bag, self.image_topic):
            if frame.index in wanted:
                wanted.discard(frame.index)
                try:
                    images[frame.index] = frame.decode()
                except ImageDecodeError:
                    pass        # its error verdict is in the tables; no picture to show
                if not wanted:
                    break
        return images


class FolderSource:
    """The images of a folder (seed format or flat), with YOLO label files as truth."""

    def __init__(self, folder: Path, split: Optional[str] = None):
        self.folder = Path(folder)
        self.split = split
        self.paths = folder_images(self.folder, split)
        self.count = len(self.paths)
        self.has_truth = any(yolo_label_path(p).is_file() for p in self.paths)
        self.description = f'images {self.folder}' + (f' split {split}' if split else '')

    def frames(self) -> Iterator[SourceFrame]:
        """Yield the frames in file-name order."""
        return folder_frames(self.folder, self.split)

    def load_images(self, indices) -> Dict[int, np.ndarray]:
        """Read the images with the given indices (unreadable ones are left out)."""
        images = {}
        for index in set(indices):
            try:
                images[index] = read_bgr(self.paths[index])
            except ValueError:
                pass
        return images


def run_pipeline(pipeline, frames: Iterable[SourceFrame], policy: RejectPolicy,
                 labels: Optional[LabelTable] = None, progress: bool = True,
                 total: Optional[int] = None,
                 description: str = 'inspecting') -> List[FrameVerdict]:
    """Inspect every frame and judge it with the policy; a progress bar on a terminal."""
    from tqdm import tqdm
    verdicts = []
    names = pipeline.class_names
    for frame in tqdm(frames, desc=description, unit='frame', disable=not progress,
                      total=total, leave=False):
        outcome = frame.inspect(pipeline)
        width = outcome.image_width or 0
        height = outcome.image_height or 0
        truth = None
        if labels is not None:
            truth = labels.lookup(frame.ref, names, width, height)
        elif frame.truth is not None:
            truth = frame.truth
        elif frame.truth_lookup is not None:
            truth = frame.truth_lookup(names, width, height)
        verdicts.append(judge_frame(frame.ref, outcome, policy, truth))
    return verdicts

# SPDX-License-Identifier: Apache-2.0
"""
Run the inspection pipeline over a bag or an image folder, frame by frame, without ROS.

Shared by `acnn eval-recording`, `acnn compare` and the replay benchmark. Bag frames go through
`core.messages.inspect_image_message`, exactly as the inference node feeds them, so offline
results equal the live ones for the same bag and model; frames, truths and recorded results
are joined by `core.messages.frame_key` of their headers.
"""
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
import time
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

from acnn_ros.core.dataset.labels import GroundTruth, LabelTable, yolo_truth
from acnn_ros.core.dataset.seed_format import folder_images, yolo_label_path
from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.messages import frame_key, inspect_image_message, roi_from_result
from acnn_ros.core.reject.decision import RejectPolicy
from acnn_ros.core.replay import bag_io
from acnn_ros.core.replay.metrics import FrameEvaluation, FrameRef, judge_frame, RecordedResult
from acnn_ros.core.results import InspectionOutcome
import cv2
import numpy as np

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
    def inspect(pipeline) -> InspectionOutcome:
        return inspect_image_message(pipeline, frame.msg)[0]
    return inspect


def _truth_table(bag: Path, truth_topic: str) -> Dict[FrameKey, GroundTruth]:
    """Read a ground-truth topic (InspectionResult with the images' headers) into a dict."""
    table = {}
    if bag_io.count_messages(bag, truth_topic) == 0:
        return table
    for message in bag_io.iter_messages(bag, [truth_topic]):
        if message.msgtype != bag_io.INSPECTION_RESULT_TYPE:
            raise bag_io.BagError(f'ground-truth topic {message.topic} of {bag} holds '
                                  f'{message.msgtype}, expected {bag_io.INSPECTION_RESULT_TYPE}')
        msg = message.msg
        table[frame_key(msg.header)] = GroundTruth(int(msg.class_id), str(msg.class_name),
                                                   roi_from_result(msg))
    return table


def recorded_results(bag: Path, topic: str) -> Dict[FrameKey, RecordedResult]:
    """Read the live results a bag recorded on `topic` (InspectionResult), by frame header."""
    results = {}
    if not topic or bag_io.count_messages(bag, topic) == 0:
        return results
    for message in bag_io.iter_messages(bag, [topic]):
        msg = message.msg
        if message.msgtype != bag_io.INSPECTION_RESULT_TYPE \
                or msg.model_id == bag_io.GROUND_TRUTH_MODEL_ID:
            continue
        results[frame_key(msg.header)] = RecordedResult(
            int(msg.status), str(msg.class_name), float(msg.confidence), str(msg.model_id))
    return results


def bag_frames(bag: Path, image_topic: Optional[str] = None,
               truth_topic: Optional[str] = DEFAULT_TRUTH_TOPIC) -> Iterator[SourceFrame]:
    """Yield the frames of a bag's image topic with their ground truth from `truth_topic`."""
    truths = _truth_table(Path(bag), truth_topic) if truth_topic else {}
    for frame in bag_io.iter_image_frames(Path(bag), image_topic):
        ref = FrameRef(frame.index, frame.key.stamp_ns, frame.key.frame_id, frame.topic)
        yield SourceFrame(ref, _bag_inspector(frame), frame.decode, truths.get(frame.key))


def read_bgr(path: Path) -> np.ndarray:
    """Read an image file as BGR uint8, with an error naming the file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'cannot read image {path}')
    return image


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
        yield SourceFrame(ref, inspect, load, truth_lookup=partial(yolo_truth, path))


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
        return self._load_topic_images(self.image_topic, indices)

    def _load_topic_images(self, topic: str, indices) -> Dict[int, np.ndarray]:
        wanted = set(indices)
        images = {}
        if not wanted:
            return images
        from acnn_ros.core.image_codec import ImageDecodeError
        for frame in bag_io.iter_image_frames(self.bag, topic):
            if frame.index in wanted:
                wanted.discard(frame.index)
                try:
                    images[frame.index] = frame.decode()
                except ImageDecodeError:
                    pass        # its error verdict is in the tables; no picture to show
                if not wanted:
                    break
        return images


class StationBagSource(BagSource):
    """Every image topic of a bag: a station's cameras (frame_id = camera, one stamp a part)."""

    def __init__(self, bag: Path, truth_topic: Optional[str] = DEFAULT_TRUTH_TOPIC):
        self.bag = Path(bag)
        self.topics = bag_io.image_topics(self.bag)
        if not self.topics:
            raise bag_io.BagError(f'bag {bag} has no image topic')
        self.truth_topic = truth_topic
        self.count = sum(bag_io.count_messages(self.bag, t) for t in self.topics)
        self.has_truth = bool(truth_topic) and bag_io.count_messages(self.bag, truth_topic) > 0
        self.description = f'bag {self.bag} topics {", ".join(self.topics)}'
        self._offsets = {}

    def frames(self) -> Iterator[SourceFrame]:
        """Yield every camera's frames, topic after topic (indices continue across topics)."""
        offset = 0
        for topic in self.topics:
            self._offsets[topic] = offset
            for frame in bag_frames(self.bag, topic, self.truth_topic):
                yield replace(frame, ref=replace(frame.ref, index=frame.ref.index + offset))
            offset += bag_io.count_messages(self.bag, topic)

    def load_images(self, indices) -> Dict[int, np.ndarray]:
        """Decode the frames with the given (continued) indices."""
        images = {}
        for topic, offset in self._offsets.items():
            local = {i - offset for i in indices
                     if offset <= i < offset + bag_io.count_messages(self.bag, topic)}
            images.update({i + offset: image
                           for i, image in self._load_topic_images(topic, local).items()})
        return images


def corrupted(frames: Iterable[SourceFrame], name: str, severity: int) -> Iterator[SourceFrame]:
    """
    Yield the frames with an image corruption applied before inspection (issue 25.4).

    A quick check of a real product's model: what a defocused or glared camera does to it
    (core/dataset/corruptions.py; the render corruptions need the synthetic generator).
    """
    from acnn_ros.core.dataset.corruptions import apply_image_corruption
    for frame in frames:
        def load(frame=frame) -> np.ndarray:
            box = frame.truth.roi if frame.truth is not None else None
            return apply_image_corruption(name, frame.load_bgr(), box, severity,
                                          seed=frame.ref.index)[0]

        def inspect(pipeline, load=load) -> InspectionOutcome:
            start = time.perf_counter()
            bgr = load()
            return pipeline.inspect(bgr, decode_ms=(time.perf_counter() - start) * 1000.0)
        yield replace(frame, inspect=inspect, load_bgr=load)


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
                 description: str = 'inspecting') -> List[FrameEvaluation]:
    """Inspect every frame and judge it with the policy; a progress bar on a terminal."""
    from tqdm import tqdm
    evaluations = []
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
        evaluations.append(judge_frame(frame.ref, outcome, policy, truth))
    return evaluations

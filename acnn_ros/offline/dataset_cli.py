# SPDX-License-Identifier: Apache-2.0
"""
`acnn dataset`: frames of a recorded shift (bag, video or image folder) -> a seed dataset.

    acnn dataset shift_bag data/new_product --label-topic ground_truth
    acnn dataset shift_bag data/new_product --schedule schedule.yaml --split 0.7,0.15,0.15
    acnn dataset line.mp4 data/new_product --labels-csv labels.csv
    acnn dataset photos/ data/new_product                 # photos/<class>/*.jpg

Class of each frame, from one source:
- `--label-topic T` (bag): acnn_ros/InspectionResult messages with the frames' headers (what
  `acnn make-bag` writes on /ground_truth, or a recorder of verified verdicts): class_name of
  the frame with the same header; or std_msgs/String: the product the line is running, as
  the MES / PLC publishes it at each changeover; a frame takes the last String logged at or
  before its stamp ('' = no product: skipped);
- `--labels-csv F`: the sidecar CSV of `acnn eval-recording --labels` (core/dataset/labels.py);
- `--schedule F`: time ranges -> class (core/dataset/schedule.py);
- an image folder without any of these: the name of the sub-folder holding the image.
The pure steps (skip reasons, near-duplicates, time-block split, writing) are
core/dataset/dataset_builder.py; this module reads sources and labels.
"""
import argparse
from collections import Counter
from pathlib import Path
import sys
from typing import Callable, Dict, Iterator, Optional, Tuple

from acnn_ros.core.dataset.block_split import parse_fractions, SPLITS
from acnn_ros.core.dataset.dataset_builder import (build_dataset, BuildOptions, check_output,
                                                   clear_dataset, DatasetExistsError,
                                                   FrameLabel, SourceFrame)
from acnn_ros.core.dataset.labels import LabelError, LabelTable, roi_to_yolo_box, SIDECAR_HELP
from acnn_ros.core.dataset.schedule import ProductSchedule, ScheduleError
from acnn_ros.core.dataset.seed_format import list_images
from acnn_ros.core.image_codec import ImageDecodeError
from acnn_ros.core.messages import frame_key, roi_from_result
from acnn_ros.core.replay import bag_io
from acnn_ros.core.replay.metrics import FrameRef
import cv2

STRING_TYPE = 'std_msgs/msg/String'
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v')
_DEFAULTS = BuildOptions()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the dataset options."""
    parser.add_argument('source', type=Path, help='rosbag2 (folder, .db3, .mcap), video file '
                                                  'or image folder')
    parser.add_argument('out', type=Path, help='dataset folder to create (seed format): new '
                                               'or empty, never inside or around SOURCE')
    parser.add_argument('--force', action='store_true',
                        help='write into an existing non-empty OUT, replacing a dataset there '
                             '(its images/, labels/, classes.txt, frames.csv, '
                             'dataset_summary.json; other files stay)')
    labels = parser.add_mutually_exclusive_group()
    labels.add_argument('--label-topic', default=None,
                        help='bag topic with the class: acnn_ros/InspectionResult (same header '
                             'as the frame) or std_msgs/String (current product)')
    labels.add_argument('--labels-csv', type=Path, default=None, help=SIDECAR_HELP)
    labels.add_argument('--schedule', type=Path, default=None,
                        help='product schedule (.csv start,end,class or .yaml batches:)')
    parser.add_argument('--keep-boxes', action='store_true',
                        help='also write the boxes the label source carries (default: class '
                             'only; boxes come from `acnn label`)')
    parser.add_argument('--image-topic', default=None, help='image topic of a bag (default: '
                                                            'its only one)')
    parser.add_argument('--classes', default=None,
                        help='comma-separated class list fixing the ids (default: sorted names '
                             'seen); frames of other classes are skipped')
    parser.add_argument('--split', default=','.join(str(f) for f in _DEFAULTS.fractions),
                        help='train,val,test shares (default %(default)s)')
    parser.add_argument('--block-s', type=float, default=_DEFAULTS.block_s,
                        help='time block that goes to one split, s (default %(default)s)')
    parser.add_argument('--gap-s', type=float, default=_DEFAULTS.gap_s,
                        help='frames closer than this to another split are dropped, s '
                             '(default %(default)s)')
    parser.add_argument('--seed', type=int, default=_DEFAULTS.seed)
    parser.add_argument('--max-diff', type=float, default=_DEFAULTS.max_diff,
                        help='near-duplicate threshold: mean |difference| of 32x24 grey '
                             'thumbnails in grey levels (default %(default)s; -1 keeps all)')
    parser.add_argument('--rate-hz', type=float, default=10.0,
                        help='frame rate giving image-folder frames their time (default '
                             '%(default)s; videos use their own)')
    parser.add_argument('--image-format', choices=('jpg', 'png'), default=_DEFAULTS.image_format)
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def is_bag(path: Path) -> bool:
    """Return True for a rosbag2 folder or storage file."""
    path = Path(path)
    return (path.is_dir() and (path / 'metadata.yaml').is_file()) or \
        path.suffix in ('.db3', '.mcap')


def bag_source(path: Path, topic: Optional[str], errors: Counter) -> Tuple[Iterator, int]:
    """Return (frames, count) of a bag's image topic; undecodable frames are counted."""
    selected = bag_io.select_image_topic(path, topic)

    def frames():
        for frame in bag_io.iter_image_frames(path, selected):
            try:
                bgr = frame.decode()
            except ImageDecodeError:
                errors['undecodable image'] += 1
                continue
            yield SourceFrame(frame.index, frame.key.stamp_ns, bgr, frame.topic), frame.key
    return frames(), bag_io.count_messages(path, selected)


def video_source(path: Path, rate_hz: float) -> Tuple[Iterator, int]:
    """Return (frames, count) of a video file, stamped by frame number / its frame rate."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f'cannot open video {path}')
    fps = capture.get(cv2.CAP_PROP_FPS) or rate_hz
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None

    def frames():
        index = 0
        try:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    return
                yield SourceFrame(index, int(round(index * 1e9 / fps)), bgr, path.name), None
                index += 1
        finally:
            capture.release()
    return frames(), count


def folder_source(folder: Path, rate_hz: float, errors: Counter) -> Tuple[Iterator, int]:
    """Return (frames, count) of an image folder in path order, index / rate_hz apart."""
    paths = list_images(folder)
    if not paths:
        raise FileNotFoundError(f'no images under {folder}')

    def frames():
        for index, path in enumerate(paths):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                errors['undecodable image'] += 1
                continue
            yield SourceFrame(index, int(round(index * 1e9 / rate_hz)), bgr,
                              str(path.relative_to(folder))), None
    return frames(), len(paths)


def topic_labeller(bag: Path, topic: str, keep_boxes: bool) -> Callable:
    """Return label_of(frame, key) reading an InspectionResult or std_msgs/String topic."""
    info = bag_io.bag_topics(bag).get('/' + topic.lstrip('/'))
    if info is None:
        raise ValueError(f'bag {bag} has no topic {topic!r}')
    if info.msgtype == bag_io.INSPECTION_RESULT_TYPE:
        table = {}
        for message in bag_io.iter_messages(bag, [info.name]):
            table[frame_key(message.msg.header)] = message.msg

        def by_header(frame: SourceFrame, key) -> FrameLabel:
            msg = table.get(key)
            if msg is None or not msg.class_name:
                return FrameLabel(None, skip_reason=f'no label on {info.name}')
            roi = roi_from_result(msg) if keep_boxes else None
            height, width = frame.bgr.shape[:2]
            box = roi_to_yolo_box(roi, width, height) if roi is not None else None
            return FrameLabel(str(msg.class_name), box)
        return by_header
    if info.msgtype == STRING_TYPE:
        changes = [(m.log_time_ns, str(m.msg.data).strip())
                   for m in bag_io.iter_messages(bag, [info.name])]

        def current_product(frame: SourceFrame, key) -> FrameLabel:
            product = ''
            for time_ns, name in changes:      # few changeovers per shift: a scan is enough
                if time_ns > frame.stamp_ns:
                    break
                product = name
            if not product:
                return FrameLabel(None, skip_reason=f'no product announced on {info.name}')
            return FrameLabel(product)
        return current_product
    raise ValueError(f'label topic {info.name} is {info.msgtype}; expected '
                     f'{bag_io.INSPECTION_RESULT_TYPE} or {STRING_TYPE}')


def csv_labeller(path: Path, class_names, keep_boxes: bool) -> Callable:
    """Return label_of(frame, key) looking frames up in a sidecar label CSV."""
    table = LabelTable.load(path)

    def lookup(frame: SourceFrame, key) -> FrameLabel:
        height, width = frame.bgr.shape[:2]
        ref = FrameRef(frame.index, frame.stamp_ns if key is not None else 0,
                       key.frame_id if key is not None else '', frame.source,
                       Path(frame.source).name if key is None else '')
        try:
            truth = table.lookup(ref, class_names, width, height)
        except LabelError as exc:
            return FrameLabel(None, skip_reason=f'bad label: {exc}')
        if truth is None:
            return FrameLabel(None, skip_reason=f'no row in {path.name}')
        box = roi_to_yolo_box(truth.roi, width, height) if keep_boxes and truth.roi else None
        return FrameLabel(truth.class_name, box)
    return lookup


def schedule_labeller(path: Path) -> Callable:
    """Return label_of(frame, key) from a product schedule (relative to the first frame)."""
    schedule = ProductSchedule.load(path)
    first: Dict[str, int] = {}

    def lookup(frame: SourceFrame, key) -> FrameLabel:
        first.setdefault('ns', frame.stamp_ns)
        name = schedule.class_at(frame.stamp_ns, first['ns'])
        return FrameLabel(name, skip_reason='' if name else 'outside the product schedule')
    return lookup


def folder_labeller(folder: Path) -> Callable:
    """Return label_of(frame, key): the sub-folder of the image names its class."""
    def lookup(frame: SourceFrame, key) -> FrameLabel:
        parts = Path(frame.source).parts
        if len(parts) < 2:
            return FrameLabel(None, skip_reason='image not in a class sub-folder (and no '
                                                'label source given)')
        return FrameLabel(parts[-2])
    return lookup


def run(args: argparse.Namespace) -> int:
    """Build the dataset; return 0, or 2 with a message on bad input."""
    from tqdm import tqdm
    try:
        names = tuple(c.strip() for c in (args.classes or '').split(',') if c.strip())
        options = BuildOptions(
            fractions=tuple(parse_fractions(args.split)[s] for s in SPLITS),
            block_s=args.block_s, gap_s=args.gap_s, seed=args.seed, max_diff=args.max_diff,
            image_format=args.image_format, class_names=names)
        errors = Counter()
        source = Path(args.source)
        check_output(args.out, source, args.force)
        bag = is_bag(source)
        if bag:
            frames, total = bag_source(source, args.image_topic, errors)
        elif source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
            frames, total = video_source(source, args.rate_hz)
        elif source.is_dir():
            frames, total = folder_source(source, args.rate_hz, errors)
        else:
            raise FileNotFoundError(f'{source} is neither a bag, a video nor an image folder')
        if args.label_topic:
            if not bag:
                raise ValueError('--label-topic needs a bag source')
            label_of = topic_labeller(source, args.label_topic, args.keep_boxes)
        elif args.labels_csv:
            label_of = csv_labeller(args.labels_csv, names, args.keep_boxes)
        elif args.schedule:
            label_of = schedule_labeller(args.schedule)
        elif source.is_dir() and not bag:
            label_of = folder_labeller(source)
        else:
            raise ValueError('no class source: give --label-topic, --labels-csv or --schedule')
        if args.force:      # the source and its labels are readable: replace the old dataset
            clear_dataset(args.out)
        keys = {}

        def source_frames():
            for frame, key in tqdm(frames, total=total, unit='frame', desc='dataset',
                                   disable=args.no_progress, leave=False):
                keys[frame.index] = key
                yield frame
        summary = build_dataset(source_frames(), lambda f: label_of(f, keys.pop(f.index)),
                                args.out, options, errors)
    except (bag_io.BagError, LabelError, ScheduleError, ValueError, FileNotFoundError,
            DatasetExistsError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(summary.text())
    print(f'dataset: {args.out} (classes.txt, frames.csv, dataset_summary.json)')
    return 0 if summary.total_written else 1

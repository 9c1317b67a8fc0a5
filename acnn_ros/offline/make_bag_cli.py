# SPDX-License-Identifier: Apache-2.0
"""
`acnn make-bag`: write a rosbag2 of camera frames with their ground truth.

    acnn make-bag --out demo_bag --synthetic 200 --seed 1
    acnn make-bag --out samples_bag --images ../shared/data/aoi_samples --storage mcap

The bag holds what a real recording of the line holds, plus the truth:
- `/image` (sensor_msgs/Image, bgr8 by default; `--encoding jpeg` writes
  sensor_msgs/CompressedImage on `/image/compressed`), offered QoS best effort like a camera
  driver's SensorDataQoS, one frame every 1/`--rate-hz` s, header frame_id `--frame-id`;
- `/ground_truth` (acnn_ros/InspectionResult, reliable): for each frame, the same header, the
  true class (class_id, class_name, confidence 1) and the true ROI (roi + roi_center_x/y, width 0
  when unboxed), model_id 'ground_truth'. `acnn eval-recording` reads it by default;
- `labels.csv` beside metadata.yaml: the same truth as a sidecar table (stamp_ns, index,
  image, class, cx, cy, w, h normalised), readable with `acnn eval-recording --labels`.
"""
import argparse
import csv
from pathlib import Path
import sys
import time
from typing import Iterator, List, Optional, Sequence, Tuple

from acnn_ros.core.dataset.labels import GroundTruth, LabelError, sidecar_row, yolo_truth
from acnn_ros.core.dataset.seed_format import folder_images, read_class_names
from acnn_ros.core.replay import bag_io
from acnn_ros.core.replay.metrics import FrameRef
import cv2
import numpy as np

ENCODINGS = ('bgr8', 'rgb8', 'mono8', 'jpeg')
LABELS_FILE = 'labels.csv'
SourceItem = Tuple[np.ndarray, Optional[GroundTruth], str]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the make-bag options."""
    parser.add_argument('--out', type=Path, required=True, help='bag directory to create')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--images', type=Path,
                        help='image folder (seed format images/<split>/ + labels/, or flat)')
    source.add_argument('--synthetic', type=int, metavar='N',
                        help='render N synthetic frames (core/dataset/synthetic.py)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the synthetic frames')
    parser.add_argument('--device', type=int, default=0,
                        help='simulated camera of the synthetic frames (0 or 1)')
    parser.add_argument('--split', default=None, help='seed-format split of --images')
    parser.add_argument('--class-names', nargs='*', default=None,
                        help='class names for label ids (default: classes.txt of the folder, '
                             'else the project classes p1069 p1071 p3707 p3709)')
    parser.add_argument('--storage', choices=bag_io.STORAGES, default='sqlite3')
    parser.add_argument('--rate-hz', type=float, default=10.0,
                        help='frame rate: stamps are 1/rate apart (default %(default)s)')
    parser.add_argument('--topic', default='image', help='image topic (default %(default)s)')
    parser.add_argument('--truth-topic', default='ground_truth',
                        help="ground-truth topic; '' for none (default %(default)s)")
    parser.add_argument('--frame-id', default='camera_optical', help='header frame_id')
    parser.add_argument('--encoding', choices=ENCODINGS, default='bgr8',
                        help='raw Image encoding, or jpeg for CompressedImage')
    parser.add_argument('--start-time-ns', type=int, default=None,
                        help='stamp of the first frame (default: now)')
    parser.add_argument('--cameras', type=int, default=0, metavar='N',
                        help='with --synthetic: a station of N cameras - every part on N '
                             'topics cam<i>/<topic> (frame_id cam<i>, one stamp per part), '
                             'the code readable in one or two views (default: one camera)')


def synthetic_items(count: int, seed: int, device: int = 0,
                    class_names: Optional[Sequence[str]] = None) -> Iterator[SourceItem]:
    """Yield `count` synthetic frames, classes drawn uniformly, reproducible from `seed`."""
    from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES, render_frame
    names = tuple(class_names or DEFAULT_CLASSES)
    streams = np.random.SeedSequence(seed).spawn(count)
    for index, stream in enumerate(streams):
        rng = np.random.default_rng(stream)
        class_id = int(rng.integers(len(names)))
        bgr, box = render_frame(rng, class_id, device=device, class_names=names)
        yield bgr, GroundTruth(class_id, names[class_id], box), f'synthetic_{index:05d}'


def station_items(count: int, seed: int, cameras: int, device: int = 0
                  ) -> Iterator[List[SourceItem]]:
    """Yield `count` synthetic parts, each as its `cameras` views (core/dataset/multiview)."""
    from acnn_ros.core.dataset.multiview import part_seed, render_part
    from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES
    for index in range(count):
        part = render_part(part_seed(seed, index + 1), cameras, device=device)
        name = DEFAULT_CLASSES[part.class_id]
        yield [(view.bgr, GroundTruth(part.class_id, name, view.box),
                f'part_{index + 1:05d}_cam{view.camera_index}') for view in part.views]


def folder_class_names(folder: Path, given: Optional[Sequence[str]]) -> Tuple[str, ...]:
    """Return the class names of a dataset: classes.txt, else `given`, else the project's."""
    names = read_class_names(folder)
    if names is not None:
        return tuple(names)
    if given:
        return tuple(given)
    from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES
    return tuple(DEFAULT_CLASSES)


def folder_items(folder: Path, split: Optional[str],
                 class_names: Sequence[str]) -> Iterator[SourceItem]:
    """Yield the images of a folder in name order with their YOLO labels (if any)."""
    from acnn_ros.offline.evaluation import read_bgr
    for path in folder_images(folder, split):
        bgr = read_bgr(path)
        yield bgr, yolo_truth(path, class_names, bgr.shape[1], bgr.shape[0]), path.name


def write_image_bag(out: Path, items: Iterator[SourceItem], storage: str = 'sqlite3',
                    rate_hz: float = 10.0, topic: str = 'image',
                    truth_topic: Optional[str] = 'ground_truth',
                    frame_id: str = 'camera_optical', encoding: str = 'bgr8',
                    start_time_ns: Optional[int] = None, labels_file: bool = True,
                    cameras: int = 0) -> int:
    """
    Write frames (and their truth) to a new bag; return the number of frames.

    With `cameras` N > 0 each item is a part's N views: camera i's frame goes on
    cam<i>/<topic> with frame_id cam<i>, all N with the part's stamp (a station's recording).
    """
    if rate_hz <= 0.0:
        raise ValueError(f'rate_hz must be > 0, got {rate_hz}')
    start = time.time_ns() if start_time_ns is None else int(start_time_ns)
    period_ns = int(round(1e9 / rate_hz))
    suffix = '/compressed' if encoding == 'jpeg' else ''
    topics = ([f'cam{i}/{topic}{suffix}' for i in range(cameras)] if cameras
              else [topic + suffix])
    frame_ids = [f'cam{i}' for i in range(cameras)] if cameras else [frame_id]
    rows = []
    with bag_io.BagWriter(out, storage) as writer:
        for image_topic in topics:
            writer.add_topic(image_topic, bag_io.COMPRESSED_IMAGE_TYPE if encoding == 'jpeg'
                             else bag_io.IMAGE_TYPE, [bag_io.SENSOR_DATA_QOS])
        if truth_topic:
            writer.add_topic(truth_topic, bag_io.INSPECTION_RESULT_TYPE, [bag_io.RELIABLE_QOS])
        count = 0
        views = ((index, camera, view) for index, item in enumerate(items)
                 for camera, view in enumerate(item if cameras else [item]))
        for index, camera, (bgr, truth, name) in views:
            stamp = start + index * period_ns
            image_topic, frame_id = topics[camera], frame_ids[camera]
            if encoding == 'jpeg':
                ok, jpeg = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
                if not ok:
                    raise ValueError(f'cannot JPEG-encode frame {index}')
                msg = bag_io.compressed_image_message(jpeg.tobytes(), stamp, frame_id)
            else:
                msg = bag_io.image_message(bgr, stamp, frame_id, encoding)
            writer.write(image_topic, msg, stamp)
            height, width = bgr.shape[:2]
            if truth is not None and truth_topic:
                writer.write(truth_topic, bag_io.ground_truth_message(
                    stamp, frame_id, truth.class_id, truth.class_name, truth.roi, width,
                    height), stamp)
            if truth is not None:
                rows.append(sidecar_row(FrameRef(count, stamp, frame_id, image_topic, name),
                                        truth, width, height))
            count += 1
    if labels_file and rows:
        with open(Path(out) / LABELS_FILE, 'w', newline='', encoding='utf-8') as stream:
            table = csv.DictWriter(stream, fieldnames=list(rows[0]))
            table.writeheader()
            table.writerows(rows)
    return count


def run(args: argparse.Namespace) -> int:
    """Write the bag; return 0, or 2 with a message on bad input."""
    try:
        if args.cameras and args.synthetic is None:
            raise ValueError('--cameras needs --synthetic (a station of synthetic parts)')
        if args.synthetic is not None:
            if args.synthetic < 1:
                raise ValueError('--synthetic needs at least 1 frame')
            items = (station_items(args.synthetic, args.seed, args.cameras, args.device)
                     if args.cameras else
                     synthetic_items(args.synthetic, args.seed, args.device, args.class_names))
            total = args.synthetic
        else:
            names = folder_class_names(args.images, args.class_names)
            items = folder_items(args.images, args.split, names)
            total = None
        from tqdm import tqdm
        items = tqdm(items, total=total, unit='frame', desc='writing',
                     disable=not sys.stderr.isatty(), leave=False)
        count = write_image_bag(args.out, items, args.storage, args.rate_hz, args.topic,
                                args.truth_topic or None, args.frame_id, args.encoding,
                                args.start_time_ns, cameras=args.cameras)
    except (bag_io.BagError, LabelError, ValueError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'wrote {count} frames to {args.out} ({args.storage})')
    return 0

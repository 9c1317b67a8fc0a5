# SPDX-License-Identifier: Apache-2.0
"""
Datasets in the seed format: ``images/{train,val,test}/*.jpg`` + ``labels/{train,val,test}/``.

A label file holds one YOLO line ``class cx cy w h`` (normalised), or only ``class`` for an
image without a box (parsed by `acnn_ros.core.dataset.labels`, the one parser). An image
without a label file takes its class from its file name (`class_pattern`, a regex whose group
``cls`` is a class name or index; default: the prefix before the first ``_``, e.g.
``p1069_0000_04_v1f2.jpg``) or from its folder (``images/train/<class>/x.jpg``). Class names
come from ``classes.txt`` in the dataset root, else from the caller, else from the file-name
prefixes.

Bad files (unreadable image, malformed label, class out of range, box outside the frame) are
collected as `Problem`s naming the file; the caller skips them or fails with all of them listed
(`DatasetError`), never with a stack trace from deep inside.
"""
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
import re
from typing import List, Optional, Sequence, Tuple

from acnn_ros.core.dataset.labels import parse_yolo_label
from acnn_ros.core.dataset.seed_format import (IMAGE_SUFFIXES, list_images, read_class_names,
                                               yolo_label_path)
import cv2
import numpy as np

DEFAULT_CLASS_PATTERN = r'^(?P<cls>[^_]+)_'


class DatasetError(ValueError):
    """The dataset cannot be used; the message lists every offending file."""


@dataclass(frozen=True)
class Problem:
    """One bad file and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        """Return 'path: reason'."""
        return f'{self.path}: {self.reason}'


@dataclass(frozen=True)
class Sample:
    """One image, its class and (when labelled) its box."""

    image_path: Path
    class_id: int
    box: Optional[Tuple[float, float, float, float]]   # (cx, cy, w, h) normalised, or None


@dataclass
class FrameSet:
    """Decoded frames of a split, ready for training (uint8 RGB, model input size)."""

    images: np.ndarray          # [N, H, W, 3] uint8 RGB
    labels: np.ndarray          # [N] int64
    boxes: np.ndarray           # [N, 4] float32 (cx, cy, w, h) normalised; 0 where no box
    has_box: np.ndarray         # [N] bool
    paths: List[Path]
    class_names: List[str]

    def __len__(self) -> int:
        """Return the number of frames."""
        return int(self.labels.shape[0])

    def subset(self, indices: np.ndarray) -> 'FrameSet':
        """Return the frames at `indices` (a copy of their pixels), in that order."""
        indices = np.asarray(indices, np.int64)
        return FrameSet(images=self.images[indices], labels=self.labels[indices],
                        boxes=self.boxes[indices], has_box=self.has_box[indices],
                        paths=[self.paths[i] for i in indices] if self.paths else [],
                        class_names=list(self.class_names))


def parse_label(text: str, num_classes: int) -> Tuple[int, Optional[Tuple[float, ...]]]:
    """
    Parse one YOLO label file's text; return (class_id, box or None).

    A training image needs its object, so a file without one is malformed too. Raises
    ValueError (LabelError) with a short reason for anything malformed.
    """
    label = parse_yolo_label(text, num_classes)
    if label is None:
        raise ValueError('label file is empty')
    return label.class_id, label.box


def _class_from_name(image_path: Path, image_root: Path, pattern: re.Pattern,
                     class_names: Sequence[str]) -> int:
    """Return the class of an unlabelled image from its folder or file name."""
    relative = image_path.relative_to(image_root)
    candidates = []
    if len(relative.parts) > 1:
        candidates.append(relative.parts[0])
    match = pattern.search(image_path.name)
    if match:
        candidates.append(match.group('cls'))
    for candidate in candidates:
        if candidate in class_names:
            return list(class_names).index(candidate)
        if candidate.isdigit() and int(candidate) < len(class_names):
            return int(candidate)
    raise ValueError('no label file, and neither folder nor file name '
                     f'(pattern {pattern.pattern!r}) names a known class')


def scan_split(root: Path, split: str, class_names: Optional[Sequence[str]] = None,
               class_pattern: str = DEFAULT_CLASS_PATTERN
               ) -> Tuple[List[Sample], List[Problem], List[str]]:
    """
    List the samples of one split; return (samples, problems, class_names).

    Images are not decoded here (see `load_frames`).
    """
    root = Path(root)
    image_root = root / 'images' / split
    if not image_root.is_dir():
        raise DatasetError(f'{image_root} does not exist (expected images/{split}/ under '
                           f'{root})')
    image_paths = list_images(image_root)
    if not image_paths:
        raise DatasetError(f'{image_root} holds no images ({", ".join(IMAGE_SUFFIXES)})')
    pattern = re.compile(class_pattern)
    if 'cls' not in pattern.groupindex:
        raise DatasetError(f'class pattern {class_pattern!r} has no (?P<cls>...) group')
    names = list(class_names or read_class_names(root) or [])
    if not names:
        prefixes = set()
        for path in image_paths:
            match = pattern.search(path.name)
            if match:
                prefixes.add(match.group('cls'))
        names = sorted(prefixes)
    if not names:
        raise DatasetError(f'{root}: no classes.txt, no --classes and no file name matches '
                           f'{class_pattern!r}; cannot tell the classes')
    samples, problems = [], []
    for image_path in image_paths:
        label_path = yolo_label_path(image_path)
        try:
            if label_path.is_file():
                class_id, box = parse_label(label_path.read_text(encoding='utf-8'), len(names))
            else:
                class_id, box = _class_from_name(image_path, image_root, pattern, names), None
        except (ValueError, UnicodeDecodeError) as exc:
            bad = label_path if label_path.is_file() else image_path
            problems.append(Problem(bad, str(exc)))
            continue
        samples.append(Sample(image_path, class_id, box))
    return samples, problems, names


def load_frames(samples: Sequence[Sample], class_names: Sequence[str], width: int = 640,
                height: int = 480, progress: bool = True
                ) -> Tuple[FrameSet, List[Problem]]:
    """Decode every image to RGB uint8 at width x height; return (frames, problems)."""
    from tqdm import tqdm

    images = np.empty((len(samples), height, width, 3), np.uint8)
    kept, problems = [], []
    iterator = tqdm(samples, desc='decode', unit='img', disable=not progress, leave=False)
    for sample in iterator:
        bgr = cv2.imread(str(sample.image_path), cv2.IMREAD_COLOR)
        if bgr is None:
            problems.append(Problem(sample.image_path, 'cannot decode image (corrupt or not '
                                                       'an image)'))
            continue
        if bgr.shape[:2] != (height, width):
            # Boxes are normalised, so a plain resize keeps them valid (the runtime does the
            # same stretch).
            bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
        images[len(kept)] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        kept.append(sample)
    boxes = np.zeros((len(kept), 4), np.float32)
    has_box = np.zeros(len(kept), bool)
    for i, sample in enumerate(kept):
        if sample.box is not None:
            boxes[i] = sample.box
            has_box[i] = True
    labels = np.array([s.class_id for s in kept], np.int64)
    frames = FrameSet(images=images[:len(kept)], labels=labels, boxes=boxes, has_box=has_box,
                      paths=[s.image_path for s in kept], class_names=list(class_names))
    return frames, problems


def load_split(root: Path, split: str, class_names: Optional[Sequence[str]] = None,
               class_pattern: str = DEFAULT_CLASS_PATTERN, on_error: str = 'skip',
               width: int = 640, height: int = 480, limit: Optional[int] = None,
               progress: bool = True, report=print) -> FrameSet:
    """
    Scan and decode a split; bad files are reported by name and skipped or fatal.

    on_error: 'skip' (report each problem through `report` and go on) or 'fail' (raise
    DatasetError listing all of them). `limit` keeps a fixed random subset of N samples
    (quick runs; the same N always gives the same subset).
    """
    if on_error not in ('skip', 'fail'):
        raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
    samples, problems, names = scan_split(root, split, class_names, class_pattern)
    if limit is not None and limit < len(samples):
        # A fixed random subset, in file order: the first N files of a sorted folder would be
        # one class only (names start with the class).
        chosen = np.sort(np.random.default_rng(0).permutation(len(samples))[:limit])
        samples = [samples[i] for i in chosen]
    if problems and on_error == 'fail':
        raise DatasetError(_problem_text(problems, split))
    frames, decode_problems = load_frames(samples, names, width, height, progress)
    problems += decode_problems
    if problems and on_error == 'fail':
        raise DatasetError(_problem_text(problems, split))
    if len(frames) == 0:       # one short error, not a warning per file before it
        summary = '\n  '.join(_problem_summary(problems)) if problems else 'no image found'
        raise DatasetError(f'{root}: no usable images in split {split!r}:\n  {summary}')
    for line in _problem_summary(problems):
        report(f'warning: skipped {line}')
    return frames


def _problem_text(problems: Sequence[Problem], split: str) -> str:
    listed = '\n  '.join(str(p) for p in problems)
    return f'{len(problems)} bad file(s) in split {split!r}:\n  {listed}'


def _problem_summary(problems: Sequence[Problem], listed: int = 10) -> List[str]:
    """Return one line per problem up to `listed`; beyond, the first few and a count per reason."""
    if len(problems) <= listed:
        return [str(p) for p in problems]
    reasons = Counter(p.reason for p in problems)
    lines = [str(p) for p in problems[:3]]
    lines += [f'{count} file(s) in all: {reason}' for reason, count in reasons.most_common(3)]
    others = len(problems) - sum(count for _, count in reasons.most_common(3))
    if others:
        lines.append(f'{others} file(s) for other reasons (--on-error fail lists them all)')
    return lines


def keep_box_labels(has_box: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """
    Return a has_box mask keeping boxes on `fraction` of ALL images (at least one if any).

    Only images that have a box can keep one; which ones is drawn from `seed`.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f'labeled fraction must be in [0, 1], got {fraction}')
    candidates = np.flatnonzero(has_box)
    wanted = int(round(fraction * len(has_box)))
    if fraction > 0 and len(candidates):
        wanted = max(wanted, 1)
    wanted = min(wanted, len(candidates))
    chosen = np.random.default_rng(seed).choice(candidates, size=wanted, replace=False)
    mask = np.zeros_like(has_box)
    mask[chosen] = True
    return mask


def validation_blocks(labels: np.ndarray, fraction: float, block: int, seed: int) -> np.ndarray:
    """
    Return the (sorted) indices of the frames carved out of a training split for validation.

    Frames are taken in their given order (the sorted file list: time order for a recorded
    shift) and, per class, cut into contiguous blocks of `block` frames (smaller when the class
    is too small for two validation blocks); whole blocks drawn from `seed` go to validation
    until about `fraction` of the class is there. So near-identical neighbours land on the same
    side, every class with more than one block is validated, and no class loses all of its
    training frames. fraction 0 returns no index.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f'validation fraction must be in [0, 1), got {fraction}')
    if block < 1:
        raise ValueError(f'validation block must be >= 1 frame, got {block}')
    chosen: List[np.ndarray] = []
    if fraction == 0.0:
        return np.zeros(0, np.int64)
    labels = np.asarray(labels)
    for class_id in np.unique(labels):
        members = np.flatnonzero(labels == class_id)
        wanted = fraction * len(members)
        size = int(max(1, min(block, round(wanted / 2))))
        blocks = [members[i:i + size] for i in range(0, len(members), size)]
        if len(blocks) < 2:
            continue
        count = int(min(len(blocks) - 1, max(1, round(wanted / size))))
        order = np.random.default_rng([seed, int(class_id)]).permutation(len(blocks))
        chosen.extend(blocks[i] for i in order[:count])
    if not chosen:
        return np.zeros(0, np.int64)
    return np.sort(np.concatenate(chosen))

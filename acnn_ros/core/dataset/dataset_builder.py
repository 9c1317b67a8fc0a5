# SPDX-License-Identifier: Apache-2.0
"""
Frames of a recording -> a seed-format dataset with train / val / test splits.

`build_dataset` is the pure part of `acnn dataset` (offline/dataset_cli.py reads the bag,
video or folder and finds each frame's class): every frame either gets written or is counted
under the reason it was skipped. Before reading the source the CLI calls `check_output`:
OUT must not be, hold or lie inside the source, and must be new or empty unless `--force`
(then `clear_dataset` removes a dataset already there). Then, in order:

1. no class (no label for the frame, outside the product schedule, unknown class): skipped;
2. near-duplicate of the last kept frame (core/dataset/near_duplicates.py): skipped;
3. the kept frames are staged under `OUT/images/.staging/`, then split by time blocks
   (core/dataset/block_split.py); frames in a guard gap are deleted and counted;
4. each image moves to `images/<split>/`, and `labels/<split>/<stem>.txt` gets its class id
   (and box, when the label source gave one) in YOLO form. `classes.txt` lists the classes;
   `frames.csv` maps every written frame to its source (stamp, index, split, class); and
   `dataset_summary.json` holds the summary printed at the end.

Stems are `<class>_<index:06d>` (`index`: the frame's position in the source), so file names
sort by class then time and the trainer's class-from-file-name rule agrees with the labels.
"""
from collections import Counter
import csv
from dataclasses import dataclass, field
import json
from pathlib import Path
import shutil
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from acnn_ros.core.dataset.block_split import (DEFAULT_BLOCK_S, DEFAULT_FRACTIONS,
                                               DEFAULT_GAP_S, split_by_time, SPLITS)
from acnn_ros.core.dataset.labels import YoloBox
from acnn_ros.core.dataset.near_duplicates import DEFAULT_MAX_DIFF, DuplicateFilter
from acnn_ros.core.dataset.seed_format import CLASSES_FILE
import cv2
import numpy as np

FRAMES_FILE = 'frames.csv'
SUMMARY_FILE = 'dataset_summary.json'
STAGING = '.staging'
SKIP_DUPLICATE = 'near-duplicate of the previous kept frame'
SKIP_GAP = 'in the guard gap between two splits'


@dataclass(frozen=True)
class SourceFrame:
    """One frame of the source: position, stamp, pixels (BGR uint8) and a reference."""

    index: int
    stamp_ns: int
    bgr: np.ndarray
    source: str = ''            # topic, video name or file path, for frames.csv


@dataclass(frozen=True)
class FrameLabel:
    """The class of a frame (and its normalised box, when known), or why there is none."""

    class_name: Optional[str]
    box: Optional[YoloBox] = None
    skip_reason: str = ''


@dataclass(frozen=True)
class BuildOptions:
    """Everything `acnn dataset` tunes; defaults here only (the CLI shows them)."""

    fractions: Tuple[float, float, float] = DEFAULT_FRACTIONS
    block_s: float = DEFAULT_BLOCK_S
    gap_s: float = DEFAULT_GAP_S
    seed: int = 0
    max_diff: float = DEFAULT_MAX_DIFF      # near-duplicate threshold; < 0: keep every frame
    image_format: str = 'jpg'
    jpeg_quality: int = 95
    class_names: Tuple[str, ...] = ()       # fixed class list (ids); empty: sorted names seen


@dataclass
class DatasetSummary:
    """What was written (per split and class) and what was skipped (per reason)."""

    written: Dict[str, Counter] = field(default_factory=lambda: {s: Counter() for s in SPLITS})
    skipped: Counter = field(default_factory=Counter)
    class_names: List[str] = field(default_factory=list)
    frames_seen: int = 0

    @property
    def total_written(self) -> int:
        """Return the number of frames written over all splits."""
        return sum(sum(c.values()) for c in self.written.values())

    def to_dict(self) -> Dict[str, object]:
        """Return the summary as plain JSON-ready data."""
        return {'frames_seen': self.frames_seen, 'written_total': self.total_written,
                'written': {s: dict(sorted(c.items())) for s, c in self.written.items()},
                'skipped': dict(self.skipped.most_common()), 'class_names': self.class_names}

    def text(self) -> str:
        """Return the summary as a small table for the terminal."""
        names = self.class_names
        width = max([5] + [len(n) for n in names])
        lines = [f'{self.frames_seen} frames read, {self.total_written} written, '
                 f'{sum(self.skipped.values())} skipped',
                 'written  ' + ' '.join(f'{n:>{width}}' for n in names) + '  total']
        for split in SPLITS:
            counts = self.written[split]
            lines.append(f'{split:<8} ' + ' '.join(f'{counts[n]:>{width}}' for n in names)
                         + f'  {sum(counts.values()):>5}')
        for reason, count in self.skipped.most_common():
            lines.append(f'skipped {count:>6}  {reason}')
        return '\n'.join(lines)


class DatasetExistsError(FileExistsError):
    """The output folder already holds a dataset (or other files), or overlaps the source."""


# What build_dataset writes in OUT: what `--force` replaces (nothing else is touched).
DATASET_ENTRIES = ('images', 'labels', CLASSES_FILE, FRAMES_FILE, SUMMARY_FILE)


def check_output(out: Path, source: Path, force: bool = False) -> None:
    """
    Check that `out` may receive a dataset built from `source`; raise DatasetExistsError if not.

    Refused always: `out` is the source, holds it or lies inside it (a bag given as its
    storage file counts as its whole folder). Refused unless `force`: `out` exists and is not
    an empty folder (with `force`, `clear_dataset` then removes a dataset already there).
    """
    out, source = Path(out).resolve(), Path(source).resolve()
    if source.is_file() and (source.parent / 'metadata.yaml').is_file():
        source = source.parent          # a storage file of a bag folder: the bag
    if out == source or source.is_relative_to(out) or out.is_relative_to(source):
        relation = ('is' if out == source else 'holds' if source.is_relative_to(out)
                    else 'is inside')
        raise DatasetExistsError(f'output {out} {relation} the source {source}: choose a '
                                 'folder outside it (--force does not change this)')
    if out.exists() and not out.is_dir():
        raise DatasetExistsError(f'output {out} exists and is not a folder')
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DatasetExistsError(f'output {out} exists and is not empty: choose a new folder, '
                                 'or give --force to replace the dataset files in it')


def clear_dataset(out: Path) -> None:
    """Remove what `build_dataset` writes (DATASET_ENTRIES) from `out`; other files stay."""
    for name in DATASET_ENTRIES:
        entry = Path(out) / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.exists() or entry.is_symlink():
            entry.unlink()


def build_dataset(frames: Iterable[SourceFrame], label_of: Callable[[SourceFrame], FrameLabel],
                  out: Path, options: BuildOptions = BuildOptions(),
                  source_skipped: Optional[Counter] = None) -> DatasetSummary:
    """
    Write the dataset (steps in the module docstring); return its summary.

    `source_skipped` counts, by reason, frames the source could not even deliver (an
    undecodable image); the caller fills it while `frames` is consumed.
    """
    out = Path(out)
    if (out / 'images').exists() or (out / 'labels').exists():
        raise DatasetExistsError(f'{out} already holds images/ or labels/: choose a new folder')
    if options.image_format not in ('jpg', 'png'):
        raise ValueError(f'image format must be jpg or png, got {options.image_format!r}')
    staging = out / 'images' / STAGING
    staging.mkdir(parents=True)
    for split in SPLITS:
        (out / 'images' / split).mkdir()
        (out / 'labels' / split).mkdir(parents=True)
    summary = DatasetSummary()
    duplicates = DuplicateFilter(options.max_diff) if options.max_diff >= 0 else None
    known = set(options.class_names)
    kept: List[Tuple[SourceFrame, FrameLabel, str]] = []
    params = ([cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality]
              if options.image_format == 'jpg' else [])
    for frame in frames:
        summary.frames_seen += 1
        label = label_of(frame)
        if label.class_name is None:
            summary.skipped[label.skip_reason or 'no class label'] += 1
            continue
        if known and label.class_name not in known:
            summary.skipped[f'class {label.class_name!r} not in the class list'] += 1
            continue
        if duplicates is not None and duplicates.is_duplicate(frame.bgr):
            summary.skipped[SKIP_DUPLICATE] += 1
            continue
        stem = f'{label.class_name}_{frame.index:06d}'
        if not cv2.imwrite(str(staging / f'{stem}.{options.image_format}'), frame.bgr, params):
            raise OSError(f'cannot write {staging / stem}')
        kept.append((SourceFrame(frame.index, frame.stamp_ns, np.empty(0), frame.source),
                     label, stem))
    names = list(options.class_names) or sorted({label.class_name for _, label, _ in kept})
    summary.class_names = names
    fractions = dict(zip(SPLITS, options.fractions))
    splits = split_by_time([f.stamp_ns for f, _, _ in kept], [lb.class_name for _, lb, _ in kept],
                           fractions, options.block_s, options.seed, options.gap_s)
    rows = []
    for (frame, label, stem), split in zip(kept, splits):
        image = staging / f'{stem}.{options.image_format}'
        if split is None:
            image.unlink()
            summary.skipped[SKIP_GAP] += 1
            continue
        image.rename(out / 'images' / split / image.name)
        class_id = names.index(label.class_name)
        fields = [str(class_id)] + ([f'{v:.6f}' for v in label.box] if label.box else [])
        (out / 'labels' / split / f'{stem}.txt').write_text(' '.join(fields) + '\n',
                                                            encoding='utf-8')
        summary.written[split][label.class_name] += 1
        rows.append({'image': f'images/{split}/{image.name}', 'split': split,
                     'class': label.class_name, 'boxed': int(label.box is not None),
                     'stamp_ns': frame.stamp_ns, 'index': frame.index, 'source': frame.source})
    shutil.rmtree(staging)
    for reason, count in (source_skipped or {}).items():
        summary.skipped[reason] += count
        summary.frames_seen += count
    _write_metadata(out, names, rows, summary)
    return summary


def _write_metadata(out: Path, names: Sequence[str], rows: List[Dict[str, object]],
                    summary: DatasetSummary) -> None:
    (out / CLASSES_FILE).write_text(''.join(f'{n}\n' for n in names), encoding='utf-8')
    with open(out / FRAMES_FILE, 'w', newline='', encoding='utf-8') as stream:
        table = csv.DictWriter(stream, fieldnames=['image', 'split', 'class', 'boxed',
                                                   'stamp_ns', 'index', 'source'])
        table.writeheader()
        table.writerows(sorted(rows, key=lambda r: (r['stamp_ns'], r['index'])))
    (out / SUMMARY_FILE).write_text(json.dumps(summary.to_dict(), indent=2) + '\n',
                                    encoding='utf-8')

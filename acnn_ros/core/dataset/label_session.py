# SPDX-License-Identifier: Apache-2.0
"""
A box-labelling session on a seed dataset's train split: frames, their classes, files written.

    <root>/label_session.json   {"version": 1, "split": "train", "chosen": [rel paths],
                                 "done": {rel path: [cx, cy, w, h]}, "skipped": [rel paths]}
    <root>/labels/train/<stem>.txt   `cls cx cy w h` for every frame boxed (YOLO, normalised)

The class of a frame is kept from the dataset: its label file (class only or boxed), else its
folder name (images/train/<class>/x.jpg), else its file-name prefix (<class>_0001.jpg), matched
against classes.txt. Label files and the session file are replaced atomically (a temporary
file renamed over the old one), so a crash never leaves half a label, and a restarted session
resumes where the last one stopped.
"""
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import tempfile
from typing import Dict, List, Optional, Sequence, Set, Tuple

from acnn_ros.core.dataset.labels import LabelError, read_yolo_label, YoloBox
from acnn_ros.core.dataset.seed_format import folder_images, read_class_names, yolo_label_path

SESSION_FILE = 'label_session.json'
SPLIT = 'train'


@dataclass(frozen=True)
class LabelItem:
    """One frame of the split: path relative to the dataset root, class, existing box."""

    rel: str
    class_id: int
    box: Optional[YoloBox] = None

    @property
    def stem(self) -> str:
        """Return the file name without suffix (the label file's stem)."""
        return Path(self.rel).stem


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically (temporary file in the same folder, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=str(path.parent))
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def yolo_line(class_id: int, box: Optional[YoloBox]) -> str:
    """Return the text of a YOLO label file: `cls cx cy w h` (6 decimals) or `cls`."""
    if box is None:
        return f'{class_id}\n'
    return '{} {:.6f} {:.6f} {:.6f} {:.6f}\n'.format(class_id, *box)


def clamp_box(box: Sequence[float]) -> YoloBox:
    """Return the box with a size in (0, 1] and its centre moved so that it lies in the frame."""
    cx, cy, w, h = (float(v) for v in box)
    w = min(1.0, max(1e-4, w))
    h = min(1.0, max(1e-4, h))
    cx = min(1.0 - w / 2.0, max(w / 2.0, cx))
    cy = min(1.0 - h / 2.0, max(h / 2.0, cy))
    return (cx, cy, w, h)


def frame_class(image: Path, split_dir: Path, class_names: Sequence[str]) -> int:
    """Return the class id of a frame from its label, folder or file name; -1 if none says."""
    try:
        label = read_yolo_label(image, len(class_names) or None)
    except LabelError:
        label = None
    if label is not None:
        return label.class_id
    rel = image.relative_to(split_dir)
    if len(rel.parts) > 1 and rel.parts[0] in class_names:
        return list(class_names).index(rel.parts[0])
    prefix = image.stem.split('_')[0]
    return list(class_names).index(prefix) if prefix in class_names else -1


def dataset_items(root: Path) -> Tuple[List[LabelItem], List[str]]:
    """Return the train split's frames (with classes and existing boxes) and the class names."""
    root = Path(root)
    split_dir = root / 'images' / SPLIT
    images = folder_images(root, SPLIT)
    names = read_class_names(root)
    if names is None:
        # No classes.txt: class folders, else the ids found in the label files.
        folders = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
        names = folders or [str(i) for i in range(1 + max(
            (_label_id(p) for p in images), default=-1))]
    items = []
    for image in images:
        try:
            label = read_yolo_label(image, len(names))
        except LabelError:
            label = None
        items.append(LabelItem(image.relative_to(root).as_posix(),
                               frame_class(image, split_dir, names),
                               label.box if label is not None else None))
    return items, list(names)


def _label_id(image: Path) -> int:
    try:
        label = read_yolo_label(image)
    except LabelError:
        return -1
    return label.class_id if label is not None else -1


@dataclass
class LabelSession:
    """The chosen frames and what was done with them; saved in <root>/label_session.json."""

    root: Path
    chosen: List[str]
    done: Dict[str, YoloBox] = field(default_factory=dict)
    skipped: Set[str] = field(default_factory=set)

    @property
    def path(self) -> Path:
        """Return the session file."""
        return Path(self.root) / SESSION_FILE

    @classmethod
    def load(cls, root: Path) -> Optional['LabelSession']:
        """Return the saved session of a dataset, None when there is none."""
        path = Path(root) / SESSION_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding='utf-8'))
        if data.get('version') != 1 or data.get('split') != SPLIT:
            raise ValueError(f'{path}: not a version-1 label session of the {SPLIT} split')
        return cls(Path(root), list(data['chosen']),
                   {k: tuple(v) for k, v in data.get('done', {}).items()},
                   set(data.get('skipped', [])))

    def save(self) -> None:
        """Write the session file atomically."""
        data = {'version': 1, 'split': SPLIT, 'chosen': self.chosen,
                'done': {k: [round(v, 6) for v in box] for k, box in self.done.items()},
                'skipped': sorted(self.skipped)}
        write_atomic(self.path, json.dumps(data, indent=1) + '\n')

    def status(self, rel: str) -> str:
        """Return 'done', 'skipped' or 'todo'."""
        if rel in self.done:
            return 'done'
        return 'skipped' if rel in self.skipped else 'todo'

    def label_path(self, rel: str) -> Path:
        """Return the label file of a frame (labels/train/<stem>.txt)."""
        return yolo_label_path(Path(self.root) / rel)

    def write_box(self, rel: str, class_id: int, box: Sequence[float]) -> YoloBox:
        """Write the frame's label file and record it done; return the (clamped) box."""
        box = clamp_box(box)
        write_atomic(self.label_path(rel), yolo_line(class_id, box))
        self.done[rel] = box
        self.skipped.discard(rel)
        self.save()
        return box

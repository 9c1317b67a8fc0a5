# SPDX-License-Identifier: Apache-2.0
"""
Ground truth: YOLO label files (the one parser) and the sidecar label CSV of a bag.

A YOLO label file holds one object, `class cx cy w h` (normalised to the frame), or only
`class` for an image without a box; blank lines and `#` comments are skipped. The class is an
integer id. Anything else (two objects, 2-4 or 6+ fields, a box that is not a positive size
inside the frame) is a `LabelError` naming the reason: the trainer reports and skips the file,
`acnn eval-recording` / `make-bag` stop with it, the camera's image folder treats it as unlabelled.
"""
import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from acnn_ros.core.dataset.seed_format import yolo_label_path
from acnn_ros.core.results import RoiBox

BOX_TOLERANCE = 1e-3        # rounding slack when checking that a box lies inside the frame
YoloBox = Tuple[float, float, float, float]      # cx, cy, w, h normalised to the frame


class LabelError(ValueError):
    """A label file is unreadable, malformed or names a class the model does not know."""


@dataclass(frozen=True)
class GroundTruth:
    """True class (and ROI in source pixels, if boxed) of one frame; class_id -1: unknown id."""

    class_id: int
    class_name: str
    roi: Optional[RoiBox] = None


@dataclass(frozen=True)
class YoloLabel:
    """The object of a YOLO label file: class id and normalised box (None: class only)."""

    class_id: int
    box: Optional[YoloBox] = None


def parse_yolo_label(text: str, num_classes: Optional[int] = None) -> Optional[YoloLabel]:
    """
    Parse the text of one YOLO label file; None when it holds no object.

    `num_classes` bounds the class id (None: any id >= 0). Raises LabelError with a short
    reason for anything malformed.
    """
    lines = [line.split() for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith('#')]
    if not lines:
        return None
    if len(lines) > 1:
        raise LabelError(f'expected one object per image, found {len(lines)} lines')
    fields = lines[0]
    if len(fields) not in (1, 5):
        raise LabelError(f'expected "class cx cy w h" or "class", found {len(fields)} fields')
    try:
        class_id = int(fields[0])
    except ValueError:
        raise LabelError(f'class field {fields[0]!r} is not an integer') from None
    if num_classes is not None and not 0 <= class_id < num_classes:
        raise LabelError(f'class {class_id} outside 0..{num_classes - 1}')
    if class_id < 0:
        raise LabelError(f'class {class_id} is negative')
    if len(fields) == 1:
        return YoloLabel(class_id)
    try:
        cx, cy, w, h = (float(v) for v in fields[1:])
    except ValueError:
        raise LabelError(f'box fields {fields[1:]} are not numbers') from None
    if not (w > 0 and h > 0):
        raise LabelError(f'box size {w}x{h} is not positive')
    if (cx - w / 2 < -BOX_TOLERANCE or cy - h / 2 < -BOX_TOLERANCE
            or cx + w / 2 > 1 + BOX_TOLERANCE or cy + h / 2 > 1 + BOX_TOLERANCE):
        raise LabelError(f'box (cx={cx}, cy={cy}, w={w}, h={h}) lies outside the frame')
    return YoloLabel(class_id, (cx, cy, w, h))


def read_yolo_label(image_path: Path, num_classes: Optional[int] = None
                    ) -> Optional[YoloLabel]:
    """Return the label of an image (`yolo_label_path`), None without a label file or object."""
    label = yolo_label_path(image_path)
    if not label.is_file():
        return None
    try:
        return parse_yolo_label(label.read_text(encoding='utf-8'), num_classes)
    except (LabelError, OSError, UnicodeDecodeError) as exc:
        raise LabelError(f'{label}: {exc}') from None


def yolo_truth(image_path: Path, class_names: Sequence[str], image_width: int,
               image_height: int) -> Optional[GroundTruth]:
    """Return the ground truth of an image from its YOLO label file, None without one."""
    label = read_yolo_label(image_path, len(class_names))
    if label is None:
        return None
    roi = yolo_box_to_roi(*label.box, image_width, image_height) if label.box else None
    return GroundTruth(label.class_id, class_names[label.class_id], roi)


def yolo_box_to_roi(cx: float, cy: float, w: float, h: float, image_width: int,
                    image_height: int) -> RoiBox:
    """Convert a normalised YOLO box to a RoiBox in source pixels."""
    return RoiBox(cx * image_width, cy * image_height, w * image_width, h * image_height)


def roi_to_yolo_box(box: RoiBox, image_width: int, image_height: int) -> YoloBox:
    """Return the YOLO (cx, cy, w, h) of a box in source pixels, normalised to the frame."""
    return (box.center_x / image_width, box.center_y / image_height, box.width / image_width,
            box.height / image_height)


def class_from_token(token: str, class_names: Sequence[str]) -> GroundTruth:
    """
    Resolve a class given by name or by integer id against the model's class list.

    A name the model does not know is kept (class_id -1): the frame counts as wrong.
    """
    token = token.strip()
    if token in class_names:
        return GroundTruth(list(class_names).index(token), token)
    try:
        class_id = int(token)
    except ValueError:
        if not token:
            raise LabelError('empty class in a label') from None
        return GroundTruth(-1, token)
    if not 0 <= class_id < len(class_names):
        raise LabelError(f'class id {class_id} out of range for {len(class_names)} classes')
    return GroundTruth(class_id, class_names[class_id])


# ---------------------------------------------------------------- sidecar CSV of a bag

SIDECAR_KEYS = ('stamp_ns', 'index', 'image')
SIDECAR_HELP = ('CSV with a header row; key column stamp_ns (capture stamp of the frame in '
                'ns), index (0-based frame number in bag order) or image (file name); class '
                'column `class` (name or id; `class_name`/`class_id` also read); optional '
                'cx, cy, w, h: the box, normalised like YOLO labels')


@dataclass
class LabelTable:
    """Ground truth read from a sidecar CSV, looked up by stamp, index or file name."""

    by_key: Dict[Tuple[str, str], Tuple[str, Optional[YoloBox]]]
    keys: Tuple[str, ...]
    path: str = ''

    @classmethod
    def load(cls, path: Path) -> 'LabelTable':
        """Read a sidecar label CSV (format: SIDECAR_HELP)."""
        path = Path(path)
        try:
            with open(path, newline='', encoding='utf-8') as stream:
                rows = list(csv.DictReader(line for line in stream
                                           if not line.startswith('#')))
        except OSError as exc:
            raise LabelError(f'cannot read labels {path}: {exc}') from exc
        if not rows:
            raise LabelError(f'labels {path} hold no rows')
        header = set(rows[0])
        keys = tuple(k for k in SIDECAR_KEYS if k in header)
        if not keys:
            raise LabelError(f'labels {path} need one of the columns {SIDECAR_KEYS}')
        class_column = next((c for c in ('class', 'class_name', 'class_id') if c in header),
                            None)
        if class_column is None:
            raise LabelError(f'labels {path} need a class column (class, class_name, class_id)')
        table = {}
        for line_no, row in enumerate(rows, start=2):
            box = None
            if all(row.get(c) not in (None, '') for c in ('cx', 'cy', 'w', 'h')):
                try:
                    box = tuple(float(row[c]) for c in ('cx', 'cy', 'w', 'h'))
                except ValueError:
                    raise LabelError(f'{path}:{line_no}: bad box {row}') from None
            for key in keys:
                if row.get(key) not in (None, ''):
                    value = Path(row[key]).name if key == 'image' else row[key].strip()
                    table[(key, value)] = (row[class_column], box)
        return cls(table, keys, str(path))

    def lookup(self, ref, class_names: Sequence[str], image_width: int,
               image_height: int) -> Optional[GroundTruth]:
        """
        Return the truth of a frame (a metrics.FrameRef) by the most specific key both have.

        A bag frame is looked up by its stamp when the table has stamps, an image file by its
        name when the table has names; the frame index only when neither applies, so a table
        written for another bag never matches by position.
        """
        if 'stamp_ns' in self.keys and ref.stamp_ns:
            key = ('stamp_ns', str(ref.stamp_ns))
        elif 'image' in self.keys and ref.image_name:
            key = ('image', ref.image_name)
        else:
            key = ('index', str(ref.index))
        if key not in self.by_key:
            return None
        token, box = self.by_key[key]
        truth = class_from_token(token, class_names)
        roi = yolo_box_to_roi(*box, image_width, image_height) if box else None
        return GroundTruth(truth.class_id, truth.class_name, roi)


def sidecar_row(ref, truth: GroundTruth, image_width: int,
                image_height: int) -> Dict[str, object]:
    """Return one sidecar CSV row (the format LabelTable reads) for a frame (a FrameRef)."""
    row = {'stamp_ns': ref.stamp_ns, 'index': ref.index, 'image': ref.image_name,
           'class': truth.class_name, 'cx': '', 'cy': '', 'w': '', 'h': ''}
    if truth.roi is not None:
        cx, cy, w, h = roi_to_yolo_box(truth.roi, image_width, image_height)
        row.update(cx=round(cx, 6), cy=round(cy, 6), w=round(w, 6), h=round(h, 6))
    return row

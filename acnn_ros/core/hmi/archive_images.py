# SPDX-License-Identifier: Apache-2.0
"""
The gallery's pictures, read from reject_actuator_node's reject archive (core/reject/archive).

One archive on disk: the actuator writes each reject's frame with the ROI overlay (PNG) and its
JSON record, and deletes the oldest beyond `archive_max_items` (the retention limit); the page
asks here for a part's JPEG thumbnail of the frame or of its ROI, found by part id and capture
stamp. Encoded pictures are kept in a bounded cache; a reject whose files are not written yet
(the archive writes on a thread of its own) or already deleted answers None.
"""
import collections
import json
from pathlib import Path
import threading
from typing import Optional

import cv2

CACHE_ITEMS = 64          # encoded JPEGs kept (two per gallery entry)
THUMB_WIDTH = 320         # frame thumbnail width, pixels
ROI_SIZE = 160            # ROI crop, longer side, pixels
ROI_MARGIN = 0.5          # context around the ROI, fraction of its size on each side
JPEG_QUALITY = 85
STAMP_TOLERANCE_NS = 2000  # the archive stores the capture time as float seconds


class ArchiveImages:
    """JPEG thumbnails of archived rejects, by (stamp_ns, part_id) and kind 'frame' | 'roi'."""

    KINDS = ('frame', 'roi')

    def __init__(self, directory: str):
        self.directory = Path(directory) if directory else None
        self._cache: 'collections.OrderedDict' = collections.OrderedDict()
        self._lock = threading.Lock()

    def jpeg(self, stamp_ns: int, part_id: int, kind: str) -> Optional[bytes]:
        """Return the JPEG of one reject's frame or ROI, or None when it is not on disk."""
        if self.directory is None or kind not in self.KINDS:
            return None
        key = (stamp_ns, part_id, kind)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        found = self._find(stamp_ns, part_id)
        if found is None:
            return None
        record, png = found
        image = cv2.imread(str(png), cv2.IMREAD_COLOR)
        if image is None:
            return None
        picture = _roi_crop(image, record.get('roi')) if kind == 'roi' else _thumbnail(image)
        ok, encoded = cv2.imencode('.jpg', picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            return None
        data = encoded.tobytes()
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > CACHE_ITEMS:
                self._cache.popitem(last=False)
        return data

    def _find(self, stamp_ns: int, part_id: int):
        """Return (record, png path) of the archived reject, newest first, or None."""
        for path in sorted(self.directory.glob(f'*_part{int(part_id)}.json'), reverse=True):
            try:
                record = json.loads(path.read_text(encoding='utf-8'))
            except (OSError, ValueError):
                continue          # deleted by the retention meanwhile, or half written
            stamp = int(round(float(record.get('capture_time') or 0.0) * 1e9))
            if abs(stamp - stamp_ns) <= STAMP_TOLERANCE_NS and record.get('image'):
                return record, self.directory / record['image']
        return None


def _thumbnail(image):
    height, width = image.shape[:2]
    if width <= THUMB_WIDTH:
        return image
    size = (THUMB_WIDTH, max(1, round(height * THUMB_WIDTH / width)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _roi_crop(image, roi):
    """Return the ROI with some context, scaled so that its longer side is ROI_SIZE."""
    if not roi:
        return _thumbnail(image)
    height, width = image.shape[:2]
    half_w = roi['width'] * (0.5 + ROI_MARGIN)
    half_h = roi['height'] * (0.5 + ROI_MARGIN)
    x0, x1 = max(0, int(roi['center_x'] - half_w)), min(width, int(roi['center_x'] + half_w))
    y0, y1 = max(0, int(roi['center_y'] - half_h)), min(height, int(roi['center_y'] + half_h))
    if x1 <= x0 or y1 <= y0:
        return _thumbnail(image)
    crop = image[y0:y1, x0:x1]
    scale = ROI_SIZE / max(crop.shape[:2])
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_NEAREST if scale > 1
                      else cv2.INTER_AREA)

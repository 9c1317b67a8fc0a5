# SPDX-License-Identifier: Apache-2.0
"""
Quality record of rejected parts: a ring buffer on disk of the last N rejects.

Each reject is two files sharing a name `<sequence>_part<id>`: a PNG of the frame with the
attention ROI and the verdict drawn on it (when the frame was kept), and a JSON record (part id,
verdict, reason, scores, ROI, times). When more than `max_items` are stored the oldest go first.
Writing happens on a thread of its own so the caller never waits for PNG encoding or the disk.

The archive also holds the last FRAMES_KEPT frames (`keep_frame`, not yet decoded) until the
record of their part comes (`add_part`): a reject is written with its frame, and any record
releases its frame.
"""
import collections
import json
import logging
import os
from pathlib import Path
import queue
import re
import threading
from typing import Any, Callable, Dict, List, Optional

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.reject.scheduler import PartRecord
import cv2
import numpy as np

_NAME = re.compile(r'^(\d{10})_part\d+\.(json|png)$')
QUEUE_SIZE = 32
FRAMES_KEPT = 64   # frames held until their part's outcome is known

DecodeFrame = Callable[[], Optional[np.ndarray]]


def part_record_dict(record: PartRecord) -> Dict[str, Any]:
    """Return the JSON-able quality record of one decided part."""
    outcome = record.outcome
    roi = outcome.roi if outcome is not None else None
    return {
        'part_id': record.part_id,
        'verdict': 'reject' if record.decision.reject else 'accept',
        'reason': record.decision.reason.name,
        'reason_detail': record.decision.detail,
        'fail_safe': record.decision.fail_safe,
        'status': outcome.status.name if outcome is not None else 'NO_RESULT',
        'class_id': outcome.class_id if outcome is not None else -1,
        'class_name': outcome.class_name if outcome is not None else '',
        'confidence': outcome.confidence if outcome is not None else 0.0,
        'class_scores': list(outcome.class_scores) if outcome is not None else [],
        'roi': None if roi is None else {'center_x': roi.center_x, 'center_y': roi.center_y,
                                         'width': roi.width, 'height': roi.height},
        'model_id': outcome.model_id if outcome is not None else '',
        'frame_id': record.key.frame_id,
        'capture_time': record.key.capture_time,
        'decided_time': record.decided_time,
        'due_time': record.due_time,
        'fire_time': record.fire_time,
        'delivery': record.delivery.name,
        'actuator': record.actuator,
        'delivery_detail': record.delivery_detail,
    }


def draw_overlay(image_bgr: np.ndarray, record: Dict[str, Any]) -> np.ndarray:
    """Return a copy of the frame with the ROI box and the verdict written on it."""
    canvas = image_bgr.copy()
    roi = record.get('roi')
    colour = (0, 0, 255)
    if roi:
        x0 = int(round(roi['center_x'] - roi['width'] / 2.0))
        y0 = int(round(roi['center_y'] - roi['height'] / 2.0))
        x1 = int(round(roi['center_x'] + roi['width'] / 2.0))
        y1 = int(round(roi['center_y'] + roi['height'] / 2.0))
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, 2)
    text = (f"part {record['part_id']} REJECT {record['reason']} "
            f"{record['class_name'] or '-'} {record['confidence']:.2f}")
    cv2.putText(canvas, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3)
    cv2.putText(canvas, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 1)
    return canvas


class RejectArchive:
    """Size-bounded on-disk archive of rejected parts; `submit` never blocks."""

    def __init__(self, directory: str, max_items: int = 200,
                 logger: Optional[logging.Logger] = None):
        if max_items < 1:
            raise ValueError(f'max_items must be >= 1, got {max_items}')
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_items = max_items
        self._log = logger or logging.getLogger('acnn_ros.reject_archive')
        self._stored = collections.deque(self._sequences())
        self._next = (self._stored[-1] + 1) if self._stored else 0
        self._queue: 'queue.Queue' = queue.Queue(maxsize=QUEUE_SIZE)
        self.dropped = 0
        self.written = 0
        self._frames: 'collections.OrderedDict[FrameKey, DecodeFrame]' = \
            collections.OrderedDict()
        self._frames_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name='reject-archive', daemon=True)
        self._thread.start()

    def keep_frame(self, key: FrameKey, decode: DecodeFrame) -> None:
        """Hold the frame `key` (`decode` returns it as BGR) until its part's record comes."""
        with self._frames_lock:
            self._frames[key] = decode
            while len(self._frames) > FRAMES_KEPT:
                self._frames.popitem(last=False)

    def add_part(self, record: PartRecord) -> None:
        """
        Take the final record of a part: archive it with its kept frame if it is a reject.

        A station's part is one frame per camera (same stamp, frame_id = camera): the frame of
        the view that decided it is archived, else of the first view that has one.
        """
        cameras = [v.camera for v in sorted(record.views, key=lambda v: not v.deciding)]
        keys = [FrameKey(record.key.stamp_ns, camera) for camera in cameras] or [record.key]
        with self._frames_lock:
            frames = [self._frames.pop(key, None) for key in keys]
        decode = next((frame for frame in frames if frame is not None), None)
        if record.decision.reject:
            self.submit(part_record_dict(record), decode)

    def submit(self, record: Dict[str, Any], image: Optional[DecodeFrame] = None) -> bool:
        """
        Queue one reject; `image` is a callable returning the BGR frame (decoded lazily).

        Returns False (and counts it) when the writer is behind and the item was dropped.
        """
        try:
            self._queue.put_nowait((record, image))
            return True
        except queue.Full:
            self.dropped += 1
            self._log.warning(f'reject archive behind: part {record.get("part_id")} not saved')
            return False

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until everything submitted is on disk."""
        done = threading.Event()
        self._queue.put((None, done.set), timeout=timeout_s)
        done.wait(timeout_s)

    def close(self) -> None:
        """Write what is queued and stop the writer."""
        self._queue.put((None, None))
        self._thread.join(timeout=10.0)

    def items(self) -> List[Path]:
        """Return the JSON records on disk, oldest first."""
        return sorted(self.directory.glob('*_part*.json'))

    def _sequences(self) -> List[int]:
        return sorted({int(m.group(1)) for m in map(_NAME.match, os.listdir(self.directory))
                       if m})

    def _run(self) -> None:
        while True:
            record, image = self._queue.get()
            if record is None:
                if image is None:
                    return
                image()      # flush marker
                continue
            try:
                self._write(record, image)
            except Exception:   # a full disk must not stop the line
                self._log.exception(f'could not archive part {record.get("part_id")}')

    def _write(self, record: Dict[str, Any], image) -> None:
        stem = f'{self._next:010d}_part{record["part_id"]}'
        self._next += 1
        frame = None
        if image is not None:
            try:
                frame = image()
            except ValueError as exc:   # e.g. ImageDecodeError: keep the record without it
                self._log.warning(f'part {record["part_id"]}: frame not archived: {exc}')
        record = dict(record, image=None)
        if frame is not None:
            png = self.directory / f'{stem}.png'
            if not cv2.imwrite(str(png), draw_overlay(frame, record)):
                raise OSError(f'cv2.imwrite failed for {png}')
            record['image'] = png.name
        tmp = self.directory / f'{stem}.json.tmp'
        tmp.write_text(json.dumps(record, indent=1), encoding='utf-8')
        tmp.replace(self.directory / f'{stem}.json')
        self.written += 1
        self._stored.append(self._next - 1)
        while len(self._stored) > self.max_items:
            oldest = self._stored.popleft()
            for path in self.directory.glob(f'{oldest:010d}_part*'):
                path.unlink(missing_ok=True)

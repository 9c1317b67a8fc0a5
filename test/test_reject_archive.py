# SPDX-License-Identifier: Apache-2.0
"""The on-disk ring buffer of rejected parts: overlay PNG + JSON, bounded, survives restarts."""
import json
import time

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.reject.archive import FRAMES_KEPT, part_record_dict, RejectArchive
from acnn_ros.core.reject.counters import Delivery
from acnn_ros.core.reject.decision import Decision, RejectReason
from acnn_ros.core.reject.scheduler import PartRecord
from acnn_ros.core.results import InspectionOutcome, InspectionStatus, RoiBox
import cv2
import numpy as np


def reject_record(part_id, with_outcome=True, key=None, reject=True):
    outcome = InspectionOutcome(
        InspectionStatus.OK, class_id=1, class_name='p1071', confidence=0.93,
        class_scores=(0.07, 0.93), roi=RoiBox(100.0, 80.0, 32.0, 20.0), model_id='m@1') \
        if with_outcome else None
    reason = RejectReason.REJECT_CLASS if with_outcome else RejectReason.NO_RESULT
    now = time.time()
    return PartRecord(part_id, key or FrameKey(int(now * 1e9), 'camera'),
                      Decision(reject, reason if reject else RejectReason.NONE, 'x'),
                      outcome, now + 0.5, now + 0.05, Delivery.FIRED, now + 0.501, 'modbus')


def test_archive_keeps_the_last_n_rejects_with_overlay_and_record(tmp_path):
    frame = np.full((120, 160, 3), 200, np.uint8)
    archive = RejectArchive(str(tmp_path), max_items=3)
    for part_id in range(1, 6):
        archive.submit(part_record_dict(reject_record(part_id)), lambda: frame)
    archive.submit(part_record_dict(reject_record(6, with_outcome=False)))   # no frame kept
    archive.flush()
    records = [json.loads(p.read_text()) for p in archive.items()]
    assert [r['part_id'] for r in records] == [4, 5, 6]
    assert records[0]['reason'] == 'REJECT_CLASS' and records[0]['class_scores'] == [
        0.07, 0.93]
    assert records[0]['roi'] == {'center_x': 100.0, 'center_y': 80.0, 'width': 32.0,
                                 'height': 20.0}
    assert records[0]['delivery'] == 'FIRED' and records[0]['fire_time'] > records[0][
        'capture_time']
    assert records[2]['reason'] == 'NO_RESULT' and records[2]['fail_safe']
    assert records[2]['image'] is None
    pngs = sorted(tmp_path.glob('*.png'))
    assert [p.name for p in pngs] == [records[0]['image'], records[1]['image']]
    overlay = cv2.imread(str(pngs[0]))
    # The ROI box (84..116 x 70..90) is drawn in red on the grey frame.
    assert tuple(overlay[70, 100]) == (0, 0, 255)
    assert tuple(overlay[80, 100]) == (200, 200, 200)
    archive.close()
    # A restarted archive continues the sequence and keeps the bound.
    again = RejectArchive(str(tmp_path), max_items=3)
    again.submit(part_record_dict(reject_record(7)), lambda: frame)
    again.close()
    assert [json.loads(p.read_text())['part_id'] for p in again.items()] == [5, 6, 7]


def test_a_frame_that_cannot_be_decoded_still_leaves_its_record(tmp_path):
    def undecodable():
        raise ValueError('encoding yuv422 is not supported')

    archive = RejectArchive(str(tmp_path), max_items=5)
    archive.submit(part_record_dict(reject_record(1)), undecodable)
    archive.close()
    [record] = [json.loads(p.read_text()) for p in archive.items()]
    assert record['part_id'] == 1 and record['image'] is None
    assert not list(tmp_path.glob('*.png'))


def test_kept_frames_go_with_their_rejects_and_are_released_by_any_record(tmp_path):
    frame = np.full((120, 160, 3), 200, np.uint8)
    decoded = []

    def decode(part_id):
        def frame_of_part():
            decoded.append(part_id)
            return frame
        return frame_of_part

    keys = {part_id: FrameKey(part_id, 'camera') for part_id in range(1, FRAMES_KEPT + 3)}
    archive = RejectArchive(str(tmp_path), max_items=10)
    for part_id, key in keys.items():
        archive.keep_frame(key, decode(part_id))
    archive.add_part(reject_record(1, key=keys[1]))              # its frame was pushed out
    archive.add_part(reject_record(3, key=keys[3], reject=False))   # accepted: not archived
    archive.add_part(reject_record(3, key=keys[3]))              # ...and its frame released
    archive.add_part(reject_record(4, key=keys[4]))
    archive.add_part(reject_record(4, key=keys[4]))              # its frame was taken
    archive.add_part(reject_record(5, key=keys[5]))
    archive.close()
    records = [json.loads(p.read_text()) for p in archive.items()]
    assert [(r['part_id'], r['image'] is not None) for r in records] == [
        (1, False), (3, False), (4, True), (4, False), (5, True)]
    assert decoded == [4, 5]                                       # decoded only when written


def test_a_station_part_is_archived_with_the_frame_of_the_view_that_decided_it(tmp_path):
    from dataclasses import replace
    from acnn_ros.core.reject.fusion import ViewRecord
    archive = RejectArchive(str(tmp_path), max_items=5)
    stamp = 5 * 10**9
    shades = {'cam0': 10, 'cam1': 120, 'cam2': 250}
    for camera, shade in shades.items():
        archive.keep_frame(FrameKey(stamp, camera),
                           lambda shade=shade: np.full((60, 80, 3), shade, np.uint8))
    base = reject_record(1, key=FrameKey(stamp, 'cam0'))
    views = tuple(ViewRecord(camera, base.outcome, base.decision, deciding=camera == 'cam2')
                  for camera in shades)
    archive.add_part(replace(base, views=views))
    archive.flush()
    saved = cv2.imread(str(sorted(tmp_path.glob('*.png'))[0]))
    assert tuple(saved[5, 5]) == (250, 250, 250)      # cam2's frame, not the trigger's cam0
    assert not archive._frames                       # the other views' frames are let go
    archive.close()

# SPDX-License-Identifier: Apache-2.0
"""Frame sources, capture supervision and camera parameters, without ROS."""
import shutil

from acnn_ros.core.camera.config import (CameraConfig, CameraConfigError, load_calibration,
                                         resolve_source_type)
from acnn_ros.core.camera.source import (BadFrameError, create_source, EndOfStreamError,
                                         ImageFolderSource, OpenCvCaptureSource,
                                         SourceConfigError, SourceUnavailableError,
                                         SyntheticSource)
from acnn_ros.core.camera.supervisor import (Backoff, CaptureSupervisor, EVENT_BAD_FRAME,
                                             EVENT_ENDED, EVENT_FAILED, EVENT_FRAME, EVENT_LOST,
                                             EVENT_RETRY_FAILED, EVENT_WAITING)
import cv2
import numpy as np
import pytest

CALIBRATION_YAML = """\
image_width: 640
image_height: 480
camera_name: line_camera
camera_matrix: {rows: 3, cols: 3, data: [800.0, 0.0, 320.0, 0.0, 800.0, 240.0, 0.0, 0.0, 1.0]}
distortion_model: plumb_bob
distortion_coefficients: {rows: 1, cols: 5, data: [-0.1, 0.01, 0.0, 0.0, 0.0]}
rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
projection_matrix: {rows: 3, cols: 4, data: [800, 0, 320, 0, 0, 800, 240, 0, 0, 0, 1, 0]}
"""


def coded_image(value: int, width: int = 64, height: int = 48) -> np.ndarray:
    """Return a BGR image whose pixels all equal `value` (identifies the frame after JPEG)."""
    return np.full((height, width, 3), value, np.uint8)


def make_dataset(root, count=3):
    """Write the seed layout images/{train,test}/*.jpg with YOLO labels; return the root."""
    for split, offset in (('train', 0), ('test', 100)):
        (root / 'images' / split).mkdir(parents=True)
        (root / 'labels' / split).mkdir(parents=True)
        for i in range(count):
            stem = f'p{i}_{split}'
            cv2.imwrite(str(root / 'images' / split / f'{stem}.png'), coded_image(offset + i))
            (root / 'labels' / split / f'{stem}.txt').write_text(f'{i} 0.5 0.5 0.1 0.1\n')
    return root


class FakeClock:
    """A monotonic clock the test advances by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_image_folder_reads_the_seed_layout_sorted_with_labels(tmp_path):
    source = ImageFolderSource(str(make_dataset(tmp_path)), loop=False)
    source.connect()
    frames = []
    with pytest.raises(EndOfStreamError):
        while True:
            frames.append(source.read())
    # Sorted by relative path: images/test/* before images/train/*.
    assert [f.name for f in frames] == ['p0_test.png', 'p1_test.png', 'p2_test.png',
                                        'p0_train.png', 'p1_train.png', 'p2_train.png']
    assert [int(f.bgr[0, 0, 0]) for f in frames] == [100, 101, 102, 0, 1, 2]
    assert [f.truth_class_id for f in frames] == [0, 1, 2, 0, 1, 2]
    assert all(f.bgr.shape == (48, 64, 3) and f.bgr.dtype == np.uint8 for f in frames)
    stamps = [f.grab_monotonic_ns for f in frames]
    assert stamps == sorted(stamps)


def test_image_folder_loops_and_picks_up_new_files(tmp_path):
    for i in range(2):
        cv2.imwrite(str(tmp_path / f'{i}.png'), coded_image(10 + i))
    source = ImageFolderSource(str(tmp_path), loop=True)
    source.connect()
    first = [int(source.read().bgr[0, 0, 0]) for _ in range(2)]
    cv2.imwrite(str(tmp_path / '2.png'), coded_image(12))
    second = [int(source.read().bgr[0, 0, 0]) for _ in range(3)]
    assert first == [10, 11]
    assert second == [10, 11, 12]


def test_missing_or_empty_folder_is_unavailable(tmp_path):
    with pytest.raises(SourceUnavailableError, match='does not exist'):
        ImageFolderSource(str(tmp_path / 'nope')).connect()
    with pytest.raises(SourceUnavailableError, match='holds no images'):
        ImageFolderSource(str(tmp_path)).connect()


def test_folder_vanishes_and_returns_supervisor_resumes_with_backoff(tmp_path):
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f'{i}.png'), coded_image(i))
    clock = FakeClock()
    supervisor = CaptureSupervisor(ImageFolderSource(str(folder)), 0.5, 2.0, clock=clock)
    event = supervisor.step()
    assert event.kind == EVENT_FRAME and int(event.frame.bgr[0, 0, 0]) == 0

    folder.rename(tmp_path / 'away')
    lost = supervisor.step()
    assert lost.kind == EVENT_LOST and 'vanished' in lost.message
    assert lost.retry_in_s == 0.5 and not supervisor.healthy
    assert supervisor.step().kind == EVENT_WAITING        # no attempt before the delay
    delays = []
    for _ in range(4):
        clock.now += 10.0
        failed = supervisor.step()
        assert failed.kind == EVENT_RETRY_FAILED and 'does not exist' in failed.message
        delays.append(failed.retry_in_s)
    assert delays == [1.0, 2.0, 2.0, 2.0]                 # exponential, capped

    (tmp_path / 'away').rename(folder)
    clock.now += 10.0
    back = supervisor.step()
    assert back.kind == EVENT_FRAME
    assert int(back.frame.bgr[0, 0, 0]) == 1              # resumes where it stopped
    assert back.recovered_after_s == pytest.approx(50.0)
    assert (supervisor.disconnects, supervisor.reconnects, supervisor.failed_attempts) == (1, 1, 4)
    assert supervisor.step().recovered_after_s == 0.0
    assert supervisor.backoff.next_delay() == 0.5         # back-off reset after success


def test_unreadable_image_is_skipped_not_fatal(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), coded_image(1))
    (tmp_path / 'b.png').write_bytes(b'not a png')
    cv2.imwrite(str(tmp_path / 'c.png'), coded_image(3))
    supervisor = CaptureSupervisor(ImageFolderSource(str(tmp_path), loop=False))
    kinds = [supervisor.step() for _ in range(5)]
    assert [e.kind for e in kinds] == [EVENT_FRAME, EVENT_BAD_FRAME, EVENT_FRAME, EVENT_ENDED,
                                       EVENT_ENDED]
    assert 'b.png' in kinds[1].message
    assert supervisor.bad_frames == 1 and supervisor.frames == 2


def write_video(path, count):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (64, 48))
    assert writer.isOpened()
    for i in range(count):
        writer.write(coded_image(20 * i + 10))
    writer.release()


def test_video_file_plays_loops_and_ends(tmp_path):
    video = tmp_path / 'line.avi'
    write_video(video, 3)
    looping = create_source(CameraConfig(source=str(video), loop=True))
    looping.connect()
    values = [int(round(looping.read().bgr[..., 0].mean() / 10.0)) for _ in range(7)]
    assert values == [1, 3, 5, 1, 3, 5, 1]
    once = create_source(CameraConfig(source=str(video), loop=False))
    once.connect()
    for _ in range(3):
        once.read()
    with pytest.raises(EndOfStreamError, match='after 3 frames'):
        once.read()


def test_video_file_vanishes_and_returns(tmp_path):
    video = tmp_path / 'line.avi'
    write_video(video, 2)
    clock = FakeClock()
    supervisor = CaptureSupervisor(create_source(CameraConfig(source=str(video))), 0.1, 1.0,
                                   clock=clock)
    assert [supervisor.step().kind for _ in range(2)] == [EVENT_FRAME, EVENT_FRAME]
    video.rename(tmp_path / 'moved.avi')
    assert supervisor.step().kind == EVENT_LOST           # end of file, file gone: not a loop
    clock.now += 1.0
    assert supervisor.step().kind == EVENT_RETRY_FAILED
    (tmp_path / 'moved.avi').rename(video)
    clock.now += 1.0
    event = supervisor.step()
    assert event.kind == EVENT_FRAME and event.recovered_after_s > 0


def test_missing_v4l2_device_is_retried_not_fatal(tmp_path):
    config = CameraConfig(source=str(tmp_path / 'video0'), source_type='v4l2')
    supervisor = CaptureSupervisor(create_source(config), 0.01, 0.02)
    event = supervisor.step()
    assert event.kind == EVENT_RETRY_FAILED and 'does not exist' in event.message
    assert supervisor.state == 'waiting'


def test_gstreamer_without_backend_is_a_clear_permanent_error():
    if cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER):
        pytest.skip('this OpenCV has GStreamer; the missing-backend path cannot be shown')
    source = create_source(CameraConfig(source='videotestsrc ! videoconvert ! appsink'))
    assert isinstance(source, OpenCvCaptureSource)
    with pytest.raises(SourceConfigError, match='no GStreamer backend'):
        source.connect()
    supervisor = CaptureSupervisor(source)
    assert supervisor.step().kind == EVENT_FAILED
    assert supervisor.step().kind == EVENT_FAILED       # no retry loop on a permanent error


def test_synthetic_source_renders_frames_with_ground_truth():
    synthetic = pytest.importorskip('acnn_ros.core.dataset.synthetic')
    source = create_source(CameraConfig(source='synthetic', synthetic_seed=3))
    source.connect()
    frames = [source.read() for _ in range(4)]
    assert all(f.bgr.shape == (480, 640, 3) for f in frames)
    assert [f.name for f in frames] == [synthetic.DEFAULT_CLASSES[f.truth_class_id]
                                        for f in frames]
    assert all(0 <= f.truth_class_id < len(synthetic.DEFAULT_CLASSES) for f in frames)
    again = create_source(CameraConfig(source='synthetic', synthetic_seed=3))
    again.connect()
    assert np.array_equal(again.read().bgr, frames[0].bgr)   # seeded: reproducible


def test_synthetic_pool_replays_rendered_frames_with_their_truth():
    pytest.importorskip('acnn_ros.core.dataset.synthetic')
    source = create_source(CameraConfig(source='synthetic', synthetic_pool_size=3))
    source.connect()                                          # renders the pool up front
    frames = [source.read() for _ in range(15)]
    truth = {}
    for frame in frames:
        assert truth.setdefault(frame.bgr.tobytes(), frame.truth_class_id) == \
            frame.truth_class_id
    assert 1 < len(truth) <= 3                                # random order, not one frame
    frames[0].bgr[:] = 0                                      # a consumer cannot spoil the pool
    assert all(source.read().bgr.any() for _ in range(6))


def test_backoff_sequence():
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


@pytest.mark.parametrize('source, kind', [
    ('synthetic', 'synthetic'), ('', 'synthetic'), ('0', 'v4l2'), ('/dev/video2', 'v4l2'),
    ('/dev/v4l/by-id/usb-cam', 'v4l2'), ('v4l2src ! videoconvert ! appsink', 'gstreamer'),
    ('/data/run.MP4', 'video'), ('/data/dataset', 'images')])
def test_source_type_auto(source, kind):
    assert resolve_source_type(source) == kind


@pytest.mark.parametrize('kwargs, message', [
    ({'source_type': 'usb'}, 'source_type must be one of'),
    ({'image_qos': 'fast'}, 'image_qos must be one of'),
    ({'frame_rate_hz': 0.0}, 'frame_rate_hz'),
    ({'frame_id': ' '}, 'frame_id'),
    ({'reconnect_initial_s': 5.0, 'reconnect_max_s': 1.0}, 'reconnect_initial_s'),
    ({'max_frames': -1}, 'max_frames'),
    ({'synthetic_pool_size': -1}, 'synthetic_pool_size'),
    ({'source': 'frames.xyz'}, 'cannot tell what camera source'),
])
def test_invalid_camera_config_is_rejected(kwargs, message):
    with pytest.raises(CameraConfigError, match=message):
        CameraConfig(**kwargs)


def test_calibration_file_is_read(tmp_path):
    path = tmp_path / 'camera.yaml'
    path.write_text(CALIBRATION_YAML)
    for url in (str(path), f'file://{path}'):
        cal = load_calibration(url)
        assert (cal.image_width, cal.image_height, cal.camera_name) == (640, 480, 'line_camera')
        assert cal.k[0] == 800.0 and len(cal.k) == 9 and len(cal.p) == 12 and len(cal.d) == 5


@pytest.mark.parametrize('text, message', [
    ('image_width: 640\n', 'image_width and image_height'),
    (CALIBRATION_YAML.replace('data: [800.0, 0.0, 320.0, ', 'data: ['), '3x3 = 9 values'),
    ('[1, 2', 'not valid YAML'),
])
def test_bad_calibration_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / 'camera.yaml'
    path.write_text(text)
    with pytest.raises(CameraConfigError, match=message):
        load_calibration(str(path))
    with pytest.raises(CameraConfigError, match='cannot read'):
        load_calibration(str(tmp_path / 'missing.yaml'))


def test_real_aoi_frames_come_out_as_640x480_bgr(aoi_samples_dir, tmp_path):
    shutil.copytree(aoi_samples_dir / 'images', tmp_path / 'images')
    shutil.copytree(aoi_samples_dir / 'labels', tmp_path / 'labels')
    source = create_source(CameraConfig(source=str(tmp_path), loop=False))
    source.connect()
    frames = [source.read() for _ in range(4)]
    assert [f.bgr.shape for f in frames] == [(480, 640, 3)] * 4
    assert [f.truth_class_id for f in frames] == [0, 1, 2, 3]
    with pytest.raises(EndOfStreamError):
        source.read()
    assert not isinstance(BadFrameError('x'), SourceUnavailableError)


@pytest.mark.parametrize('pool_size', [0, 3])
def test_station_cameras_show_the_same_cued_part_each_from_its_angle(pool_size):
    from acnn_ros.core.dataset.multiview import part_seed, render_part
    cameras = [SyntheticSource(seed=9, device=1, pool_size=pool_size, station_cameras=3,
                               station_index=index) for index in range(3)]
    for camera in cameras:
        camera.connect()
    for part_id in (1, 2, 5):
        truth = render_part(part_seed(9, (part_id - 1) % pool_size + 1 if pool_size
                                      else part_id), 3, device=1)
        for index, camera in enumerate(cameras):
            camera.cue(part_id)
            frame = camera.read()
            assert frame.truth_class_id == truth.class_id
            # The view went through the generator's JPEG look, as every synthetic frame does.
            difference = np.abs(frame.bgr.astype(int) - truth.views[index].bgr.astype(int))
            other = np.abs(frame.bgr.astype(int) - truth.views[index - 1].bgr.astype(int))
            assert difference.mean() < 6.0 < other.mean()


def test_station_settings_are_checked():
    with pytest.raises(CameraConfigError, match='trigger'):
        CameraConfig(source='synthetic', trigger='encoder')
    with pytest.raises(CameraConfigError, match='synthetic_station_index'):
        CameraConfig(source='synthetic', synthetic_station_cameras=3, synthetic_station_index=3)
    assert CameraConfig(source='synthetic', synthetic_station_cameras=3,
                        synthetic_station_index=2, trigger='part').trigger == 'part'

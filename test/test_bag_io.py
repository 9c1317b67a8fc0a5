# SPDX-License-Identifier: Apache-2.0
"""rosbag2 files written and read with core/replay/bag_io: formats, QoS, foreign bags."""
import sqlite3

from acnn_ros.core.messages import roi_from_result
from acnn_ros.core.replay import bag_io
from acnn_ros.core.results import RoiBox
import cv2
import numpy as np
import pytest
import yaml


def _frame(seed: int, width: int = 64, height: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize('storage', bag_io.STORAGES)
def test_images_truth_and_custom_messages_round_trip(tmp_path, storage):
    bag = tmp_path / 'bag'
    types = bag_io.project_typestore().types
    with bag_io.BagWriter(bag, storage) as writer:
        writer.add_topic('image', bag_io.IMAGE_TYPE, [bag_io.SENSOR_DATA_QOS])
        for i in range(3):
            stamp = 1_700_000_000_000_000_000 + i * 100_000_000
            writer.write('image', bag_io.image_message(_frame(i), stamp, 'cam'), stamp + 5)
            writer.write('ground_truth', bag_io.ground_truth_message(
                stamp, 'cam', i, f'c{i}', RoiBox(10.25 + i, 20.5, 8, 6), 64, 48), stamp + 5)
            writer.write('part', types[bag_io.PART_TRIGGER_TYPE](
                header=bag_io.make_header(stamp, 'cam'), part_id=i + 1), stamp + 6)
        writer.write('reject', types[bag_io.REJECT_EVENT_TYPE](
            header=bag_io.make_header(7, 'cam'), part_id=2, decision=1, reason=4,
            reason_detail='bad', fail_safe=True, class_id=-1, class_name='', confidence=0.0,
            due_time=types['builtin_interfaces/msg/Time'](sec=1, nanosec=2),
            fire_time=types['builtin_interfaces/msg/Time'](sec=3, nanosec=4), delivery=1,
            actuator='topic', views=[]), 10)

    topics = bag_io.bag_topics(bag)
    assert {name: (t.msgtype, t.count) for name, t in topics.items()} == {
        '/image': (bag_io.IMAGE_TYPE, 3), '/ground_truth': (bag_io.INSPECTION_RESULT_TYPE, 3),
        '/part': (bag_io.PART_TRIGGER_TYPE, 3), '/reject': (bag_io.REJECT_EVENT_TYPE, 1)}
    assert not topics['/image'].reliable and topics['/part'].reliable
    frames = list(bag_io.iter_image_frames(bag))
    assert [f.index for f in frames] == [0, 1, 2]
    for i, frame in enumerate(frames):
        assert frame.key == (1_700_000_000_000_000_000 + i * 100_000_000, 'cam')
        assert np.array_equal(frame.decode(), _frame(i))
    truths = [m.msg for m in bag_io.iter_messages(bag, ['ground_truth'])]
    assert [(t.class_id, t.class_name, t.model_id) for t in truths] == [
        (0, 'c0', 'ground_truth'), (1, 'c1', 'ground_truth'), (2, 'c2', 'ground_truth')]
    assert roi_from_result(truths[1]) == RoiBox(11.25, 20.5, 8.0, 6.0)
    assert [m.msg.part_id for m in bag_io.iter_messages(bag, ['/part'])] == [1, 2, 3]
    (reject,) = [m.msg for m in bag_io.iter_messages(bag, ['reject'])]
    assert (reject.part_id, reject.reason, reject.fail_safe, reject.fire_time.nanosec) == \
        (2, 4, True, 4)


def test_metadata_is_what_ros2_bag_play_reads(tmp_path):
    bag = tmp_path / 'bag'
    with bag_io.BagWriter(bag) as writer:
        writer.write('image', bag_io.image_message(_frame(0), 5, 'cam'), 5)
        writer.add_topic('inspection', bag_io.INSPECTION_RESULT_TYPE, [bag_io.RELIABLE_QOS])
    info = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert info['version'] == 9 and info['storage_identifier'] == 'sqlite3'
    assert info['relative_file_paths'] == ['bag.db3'] and (bag / 'bag.db3').is_file()
    topics = {t['topic_metadata']['name']: t for t in info['topics_with_message_count']}
    image = topics['/image']['topic_metadata']
    (offered,) = image['offered_qos_profiles']
    # What rosbag2 stores for a publisher seen through discovery (history/depth unknown).
    assert offered['history'] == 'unknown' and offered['depth'] == 0
    assert offered['reliability'] == 'best_effort' and offered['durability'] == 'volatile'
    assert offered['deadline'] == {'sec': 9223372036, 'nsec': 854775807}
    assert image['serialization_format'] == 'cdr'
    assert image['type_description_hash'].startswith('RIHS01_')
    assert topics['/inspection']['topic_metadata']['offered_qos_profiles'][0]['reliability'] \
        == 'reliable'


def test_type_hashes_match_what_dds_announces(tmp_path):
    """ros2 bag play refuses a topic whose recorded type hash differs from the live type's."""
    import rclpy
    from rclpy.node import Node
    from acnn_ros.msg import InspectionResult, PartTrigger, RejectEvent
    from sensor_msgs.msg import Image
    rclpy.init()
    try:
        node = Node('bag_io_hash_test')
        announced = {}
        for msg_class, msgtype in ((Image, bag_io.IMAGE_TYPE),
                                   (InspectionResult, bag_io.INSPECTION_RESULT_TYPE),
                                   (PartTrigger, bag_io.PART_TRIGGER_TYPE),
                                   (RejectEvent, bag_io.REJECT_EVENT_TYPE)):
            topic = 'hash_' + msgtype.rsplit('/', 1)[-1].lower()
            node.create_publisher(msg_class, topic, 1)
            (endpoint,) = node.get_publishers_info_by_topic(topic)
            announced[msgtype] = str(endpoint.topic_type_hash)
        node.destroy_node()
    finally:
        rclpy.shutdown()
    store = bag_io.project_typestore()
    assert announced == {t: store.hash_rihs01(t) for t in announced}


def _write_humble_bag(path, frames):
    """Write a bag the way `ros2 bag record` on Humble does: no type definitions, v5 YAML."""
    path.mkdir()
    store = bag_io.project_typestore()
    qos = ('- history: 3\n  depth: 0\n  reliability: 1\n  durability: 2\n  deadline:\n'
           '    sec: 9223372036\n    nsec: 854775807\n  lifespan:\n    sec: 9223372036\n'
           '    nsec: 854775807\n  liveliness: 1\n  liveliness_lease_duration:\n'
           '    sec: 9223372036\n    nsec: 854775807\n  avoid_ros_namespace_conventions: false')
    db = sqlite3.connect(path / 'humble_0.db3')
    db.executescript(
        'CREATE TABLE schema(schema_version INTEGER PRIMARY KEY, ros_distro TEXT NOT NULL);'
        'CREATE TABLE metadata(id INTEGER PRIMARY KEY, metadata_version INTEGER NOT NULL, '
        'metadata TEXT NOT NULL);'
        'CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, '
        'serialization_format TEXT NOT NULL, offered_qos_profiles TEXT NOT NULL);'
        'CREATE TABLE messages(id INTEGER PRIMARY KEY, topic_id INTEGER NOT NULL, '
        'timestamp INTEGER NOT NULL, data BLOB NOT NULL);'
        'CREATE INDEX timestamp_idx ON messages (timestamp ASC);'
        "INSERT INTO schema VALUES (3, 'humble');")
    db.execute('INSERT INTO topics VALUES (1, ?, ?, ?, ?)',
               ('/camera/image_raw', bag_io.IMAGE_TYPE, 'cdr', qos))
    for i, (stamp, image) in enumerate(frames):
        raw = store.serialize_cdr(bag_io.image_message(image, stamp, 'camera'),
                                  bag_io.IMAGE_TYPE)
        db.execute('INSERT INTO messages VALUES (?, 1, ?, ?)', (i + 1, stamp, bytes(raw)))
    db.commit()
    db.close()
    start, end = frames[0][0], frames[-1][0]
    metadata = {'rosbag2_bagfile_information': {
        'version': 5, 'storage_identifier': 'sqlite3', 'duration': {'nanoseconds': end - start},
        'starting_time': {'nanoseconds_since_epoch': start}, 'message_count': len(frames),
        'topics_with_message_count': [{'topic_metadata': {
            'name': '/camera/image_raw', 'type': bag_io.IMAGE_TYPE,
            'serialization_format': 'cdr', 'offered_qos_profiles': qos},
            'message_count': len(frames)}],
        'compression_format': '', 'compression_mode': '',
        'relative_file_paths': ['humble_0.db3'],
        'files': [{'path': 'humble_0.db3', 'starting_time': {'nanoseconds_since_epoch': start},
                   'duration': {'nanoseconds': end - start}, 'message_count': len(frames)}]}}
    (path / 'metadata.yaml').write_text(yaml.safe_dump(metadata))


def test_bag_recorded_on_humble_without_type_definitions_opens(tmp_path):
    frames = [(1_650_000_000_000_000_000 + i * 33_000_000, _frame(10 + i, 80, 60))
              for i in range(3)]
    bag = tmp_path / 'humble'
    _write_humble_bag(bag, frames)
    assert bag_io.image_topics(bag) == ['/camera/image_raw']
    assert bag_io.bag_topics(bag)['/camera/image_raw'].reliable
    read = list(bag_io.iter_image_frames(bag))
    assert [f.key for f in read] == [(stamp, 'camera') for stamp, _ in frames]
    for frame, (_, image) in zip(read, frames):
        assert np.array_equal(frame.decode(), image)
    # A bare storage file (metadata.yaml lost) opens too.
    assert len(list(bag_io.iter_image_frames(bag / 'humble_0.db3'))) == 3


def test_compressed_and_converted_encodings_decode(tmp_path):
    bag = tmp_path / 'bag'
    image = cv2.GaussianBlur(_frame(3, 96, 64), (0, 0), 2.0)
    with bag_io.BagWriter(bag, 'mcap') as writer:
        writer.write('rgb', bag_io.image_message(image, 1, 'cam', 'rgb8'), 1)
        writer.write('mono', bag_io.image_message(image, 1, 'cam', 'mono8'), 1)
        ok, jpeg = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 98])
        writer.write('image/compressed', bag_io.compressed_image_message(jpeg.tobytes(), 1,
                                                                         'cam'), 1)
    assert bag_io.image_topics(bag) == ['/image/compressed', '/mono', '/rgb']
    (rgb,) = bag_io.iter_image_frames(bag, 'rgb')
    assert np.array_equal(rgb.decode(), image)
    (mono,) = bag_io.iter_image_frames(bag, '/mono')
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert np.abs(mono.decode()[:, :, 0].astype(int) - grey.astype(int)).max() <= 1
    (jpeg_frame,) = bag_io.iter_image_frames(bag, 'image/compressed')
    assert np.abs(jpeg_frame.decode().astype(int) - image.astype(int)).mean() < 3.0


def test_errors_name_the_bag_and_the_problem(tmp_path):
    with pytest.raises(bag_io.BagError, match='bag not found: .*nowhere'):
        bag_io.bag_topics(tmp_path / 'nowhere')
    bag = tmp_path / 'bag'
    with bag_io.BagWriter(bag) as writer:
        writer.write('part', bag_io.project_typestore().types[bag_io.PART_TRIGGER_TYPE](
            header=bag_io.make_header(1, 'cam'), part_id=1), 1)
        writer.write('a', bag_io.image_message(_frame(0), 1, 'cam'), 1)
        writer.write('b', bag_io.image_message(_frame(1), 1, 'cam'), 1)
    with pytest.raises(bag_io.BagError, match=r"several image topics \['/a', '/b'\]"):
        bag_io.select_image_topic(bag)
    with pytest.raises(bag_io.BagError, match='/part .* not an image type'):
        bag_io.select_image_topic(bag, 'part')
    with pytest.raises(bag_io.BagError, match="no topic 'c'"):
        bag_io.select_image_topic(bag, 'c')
    with pytest.raises(bag_io.BagError, match='exists already'):
        bag_io.BagWriter(bag)
    with pytest.raises(bag_io.BagError, match='unknown storage'):
        bag_io.BagWriter(tmp_path / 'x', 'rosbag1')
    (tmp_path / 'broken').mkdir()
    (tmp_path / 'broken' / 'metadata.yaml').write_text('not: a bag\n')
    with pytest.raises(bag_io.BagError, match='cannot open bag'):
        bag_io.bag_topics(tmp_path / 'broken')

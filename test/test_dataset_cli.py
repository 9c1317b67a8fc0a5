# SPDX-License-Identifier: Apache-2.0
"""`acnn dataset` on real rosbag2 files, a video and a folder: labels, duplicates, splits."""
import csv
import json

from acnn_ros.cli import main as acnn
from acnn_ros.core.dataset.block_split import SPLITS
from acnn_ros.core.dataset.labels import GroundTruth, read_yolo_label
from acnn_ros.core.dataset.seed_format import list_images, read_class_names
from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES, render_frame
from acnn_ros.core.replay import bag_io
from acnn_ros.model.dataset import load_split
from acnn_ros.offline.make_bag_cli import write_image_bag
import cv2
import numpy as np
import pytest

START = 1_800_000_000_000_000_000
PERIOD = 100_000_000                       # 10 Hz
# A shift of 3 batches of 40 parts (one product each); every 5th part is seen twice.
BATCHES = ('p3707', 'p1069', 'p3709')
PARTS = 40


def _shift():
    """Return [(bgr, truth, name)]: the frames in time order, with the repeated shots."""
    rng = np.random.default_rng(11)
    items = []
    for name in BATCHES:
        class_id = DEFAULT_CLASSES.index(name)
        for part in range(PARTS):
            bgr, box = render_frame(rng, class_id)
            truth = GroundTruth(class_id, name, box)
            items.append((bgr, truth, f'{name}_{part}'))
            if part % 5 == 0:
                items.append((bgr.copy(), truth, f'{name}_{part}_again'))
    return items


@pytest.fixture(scope='module')
def shift(tmp_path_factory):
    """Write the shift as bags: /image, /ground_truth, labels.csv; /image and /product."""
    items = _shift()
    bag = tmp_path_factory.mktemp('bags') / 'shift'
    assert write_image_bag(bag, iter(items), start_time_ns=START) == len(items)
    # The product topic as an MES would publish it, in a second bag of the same times.
    product_bag = tmp_path_factory.mktemp('bags') / 'product'
    per_batch = len(items) // len(BATCHES)
    with bag_io.BagWriter(product_bag) as writer:
        string = writer.typestore.types['std_msgs/msg/String']
        writer.add_topic('product', 'std_msgs/msg/String')
        for index, (bgr, _, _) in enumerate(items):
            stamp = START + index * PERIOD
            if index % per_batch == 2:             # announced 2 frames into each batch
                writer.write('product', string(data=BATCHES[index // per_batch]), stamp)
            writer.write('image', bag_io.image_message(bgr, stamp, 'cam'), stamp)
    return bag, product_bag, items


def _written(root):
    """Return {split: [(class name, path)]} of a written dataset, checking every label."""
    names = read_class_names(root)
    result = {}
    for split in SPLITS:
        result[split] = []
        for path in list_images(root / 'images' / split):
            label = read_yolo_label(path, len(names))
            result[split].append((names[label.class_id], path, label))
    return result


def test_dataset_from_ground_truth_topic(shift, tmp_path, capsys):
    bag, _, items = shift
    out = tmp_path / 'ds'
    assert acnn(['dataset', str(bag), str(out), '--label-topic', 'ground_truth',
                 '--block-s', '1', '--gap-s', '0.15', '--no-progress']) == 0
    text = capsys.readouterr().out
    summary = json.loads((out / 'dataset_summary.json').read_text())
    repeats = sum(1 for _, _, name in items if name.endswith('_again'))
    assert summary['frames_seen'] == len(items)
    assert summary['skipped']['near-duplicate of the previous kept frame'] == repeats
    assert summary['written_total'] + sum(summary['skipped'].values()) == len(items)
    assert f'{repeats}  near-duplicate' in text and 'written' in text
    written = _written(out)
    truth = {i: t.class_name for i, (_, t, _) in enumerate(items)}
    for split, frames in written.items():
        assert {name for name, _, _ in frames} == set(BATCHES), split   # every class, split
        for name, path, label in frames:
            assert truth[int(path.stem.split('_')[1])] == name   # the frame's own class
            assert label.box is None                              # class only by default
    with open(out / 'frames.csv', newline='') as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == summary['written_total']
    # Time blocks: sorted by stamp, the split changes only between blocks of 1 s.
    stamps = [(int(r['stamp_ns']), r['split']) for r in rows]
    for (t0, s0), (t1, s1) in zip(stamps, stamps[1:]):
        if s0 != s1:
            assert (t0 - START) // 1_000_000_000 != (t1 - START) // 1_000_000_000
            assert t1 - t0 >= 150_000_000                          # the guard gap
    # The trainer reads what was written (val split included).
    frames = load_split(out, 'val', progress=False)
    assert len(frames) == len(written['val'])
    assert not acnn(['dataset', str(bag), str(out), '--label-topic', 'ground_truth']) == 0


def test_dataset_labels_csv_keep_boxes_and_class_list(shift, tmp_path):
    bag, _, items = shift
    out = tmp_path / 'ds'
    assert acnn(['dataset', str(bag), str(out), '--labels-csv', str(bag / 'labels.csv'),
                 '--keep-boxes', '--classes', 'p3707,p3709', '--block-s', '3',
                 '--max-diff', '-1', '--no-progress']) == 0
    summary = json.loads((out / 'dataset_summary.json').read_text())
    assert read_class_names(out) == ['p3707', 'p3709']
    assert summary['skipped']["class 'p1069' not in the class list"] == len(items) // 3
    assert set(summary['skipped']) <= {"class 'p1069' not in the class list",
                                       'in the guard gap between two splits'}
    boxes = [label.box for frames in _written(out).values() for _, _, label in frames]
    assert boxes and all(box is not None for box in boxes)


def test_dataset_from_a_product_string_topic_and_a_schedule(shift, tmp_path):
    _, product_bag, items = shift
    out = tmp_path / 'ds'
    assert acnn(['dataset', str(product_bag), str(out), '--label-topic', 'product',
                 '--image-topic', 'image', '--block-s', '1', '--gap-s', '0.15',
                 '--no-progress']) == 0
    summary = json.loads((out / 'dataset_summary.json').read_text())
    assert summary['skipped']['no product announced on /product'] == 2
    per_batch = len(items) // len(BATCHES)
    for frames in _written(out).values():
        for name, path, _ in frames:
            # The product announced last: the first two frames of a batch still carry the
            # previous product (the MES announced it late).
            assert name == BATCHES[(int(path.stem.split('_')[1]) - 2) // per_batch]
    schedule = tmp_path / 'schedule.yaml'
    seconds = per_batch * PERIOD / 1e9
    schedule.write_text('batches:\n' + ''.join(
        f"  - {{start: '+{i * seconds}', end: '+{(i + 1) * seconds - 0.5}', class: {b}}}\n"
        for i, b in enumerate(BATCHES)), encoding='utf-8')
    out2 = tmp_path / 'ds2'
    assert acnn(['dataset', str(product_bag), str(out2), '--schedule', str(schedule),
                 '--image-topic', 'image', '--no-progress', '--gap-s', '0']) == 0
    summary = json.loads((out2 / 'dataset_summary.json').read_text())
    assert summary['skipped']['outside the product schedule'] == 3 * 5   # last 0.5 s each
    for frames in _written(out2).values():
        for name, path, _ in frames:
            assert name == BATCHES[int(path.stem.split('_')[1]) // per_batch]


def test_dataset_from_a_video_and_a_class_folder(shift, tmp_path):
    _, _, items = shift
    folder = tmp_path / 'photos'
    for bgr, truth, name in items[:30]:
        (folder / truth.class_name).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / truth.class_name / f'{name}.png'), bgr)
    (folder / 'loose.png').write_bytes(cv2.imencode('.png', items[0][0])[1].tobytes())
    out = tmp_path / 'from_folder'
    assert acnn(['dataset', str(folder), str(out), '--max-diff', '-1', '--gap-s', '0',
                 '--block-s', '1', '--no-progress']) == 0
    summary = json.loads((out / 'dataset_summary.json').read_text())
    assert summary['written_total'] == 30
    assert list(summary['skipped'].values()) == [1]                # the loose file
    video = tmp_path / 'line.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (640, 480))
    for bgr, _, _ in items[:25]:
        writer.write(bgr)
    writer.release()
    labels = tmp_path / 'video.csv'
    labels.write_text('index,class\n' + ''.join(f'{i},{t.class_name}\n'
                                                for i, (_, t, _) in enumerate(items[:20])))
    out = tmp_path / 'from_video'
    assert acnn(['dataset', str(video), str(out), '--labels-csv', str(labels), '--gap-s', '0',
                 '--no-progress']) == 0
    summary = json.loads((out / 'dataset_summary.json').read_text())
    assert summary['frames_seen'] == 25
    assert summary['skipped']['no row in video.csv'] == 5
    assert summary['skipped']['near-duplicate of the previous kept frame'] == \
        sum(1 for _, _, n in items[:20] if n.endswith('_again'))


def test_dataset_bad_input_exits_2(shift, tmp_path, capsys):
    bag, _, _ = shift
    assert acnn(['dataset', str(bag), str(tmp_path / 'a')]) == 2
    assert 'no class source' in capsys.readouterr().err
    assert acnn(['dataset', str(bag), str(tmp_path / 'b'), '--label-topic', 'image']) == 2
    assert acnn(['dataset', str(bag), str(tmp_path / 'c'), '--label-topic', 'ground_truth',
                 '--split', '1,1']) == 2
    assert acnn(['dataset', str(tmp_path / 'none'), str(tmp_path / 'd'),
                 '--label-topic', 'x']) == 2


def _tree(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob('*'))


def test_dataset_never_writes_into_or_around_its_source(shift, tmp_path, capsys):
    bag, _, _ = shift
    before = _tree(bag)
    storage = next(p for p in bag.iterdir() if p.suffix in ('.db3', '.mcap'))
    cases = [(bag, bag, 'is the source'), (bag, bag / 'ds', 'is inside the source'),
             (bag, bag.parent, 'holds the source'),
             (storage, bag, 'is the source'), (storage, bag / 'ds', 'is inside the source')]
    for source, out, reason in cases:
        for force in ([], ['--force']):
            assert acnn(['dataset', str(source), str(out), '--label-topic', 'ground_truth',
                         '--no-progress'] + force) == 2, (source, out, force)
            err = capsys.readouterr().err.strip()
            assert err.startswith('error: ') and reason in err and len(err.splitlines()) == 1, \
                err
    assert _tree(bag) == before and not (bag / 'ds').exists()


def test_dataset_refuses_a_non_empty_out_unless_force(shift, tmp_path, capsys):
    bag, _, _ = shift
    out = tmp_path / 'ds'
    out.mkdir()                                   # an existing empty folder is fine
    command = ['dataset', str(bag), str(out), '--label-topic', 'ground_truth', '--no-progress']
    assert acnn(command) == 0
    first = _tree(out)
    (out / 'notes.txt').write_text('keep me\n')
    assert acnn(command) == 2
    assert 'exists and is not empty' in capsys.readouterr().err
    assert acnn(command + ['--block-s', '2']) == 2
    assert _tree(out) == sorted(first + [('notes.txt', 8)])    # nothing written or removed
    # --force replaces the dataset (no image of the first run left over), keeps other files.
    (out / 'images' / 'train' / 'stale.jpg').write_bytes(b'x')
    assert acnn(command + ['--force']) == 0
    assert not (out / 'images' / 'train' / 'stale.jpg').exists()
    assert (out / 'notes.txt').read_text() == 'keep me\n'
    assert _tree(out) == sorted(first + [('notes.txt', 8)])
    # A refused run with --force (bad label topic) leaves the dataset there untouched.
    assert acnn(command + ['--force', '--label-topic', 'image']) == 2
    assert _tree(out) == sorted(first + [('notes.txt', 8)])

# SPDX-License-Identifier: Apache-2.0
"""acnn make-bag / eval-recording / compare end to end, with a model whose answers are known."""
import csv
import json

from acnn_ros.cli import main as acnn
from acnn_ros.core.dataset.labels import GroundTruth
from acnn_ros.core.replay import bag_io
from acnn_ros.core.results import RoiBox
from acnn_ros.offline.make_bag_cli import write_image_bag
from contract_model import CLASS_NAMES, export_contract_model
import cv2
import numpy as np
import pytest

WIDTH, HEIGHT = 640, 480
# (class, centre x, centre y, level of a second colour channel): the mix lowers confidence.
FRAMES = [('red', 100, 80, 0), ('green', 500, 300, 200), ('blue', 320, 240, 0),
          ('red', 200, 400, 235), ('green', 600, 60, 0), ('blue', 40, 440, 245),
          ('red', 420, 150, 248), ('green', 150, 250, 120), ('blue', 560, 420, 180)]
BGR_INDEX = {'blue': 0, 'green': 1, 'red': 2}


def blob(class_name: str, cx: int, cy: int, mix: int) -> np.ndarray:
    """Return a black frame with a 16x16 blob of the class colour (plus `mix` of another)."""
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    colour = [0, 0, 0]
    colour[BGR_INDEX[class_name]] = 255
    colour[(BGR_INDEX[class_name] + 1) % 3] = mix
    frame[cy - 8:cy + 8, cx - 8:cx + 8] = colour
    return frame


def truth_of(class_name, cx, cy):
    return GroundTruth(CLASS_NAMES.index(class_name), class_name, RoiBox(cx, cy, 16.0, 16.0))


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return export_contract_model(tmp_path_factory.mktemp('model'))


@pytest.fixture(scope='module')
def blob_bag(tmp_path_factory):
    bag = tmp_path_factory.mktemp('bags') / 'blobs'
    items = [(blob(*f), truth_of(*f[:3]), f'blob_{i}') for i, f in enumerate(FRAMES)]
    assert write_image_bag(bag, iter(items), start_time_ns=1_800_000_000_000_000_000) == 9
    return bag


def _rows(path):
    with open(path, newline='') as stream:
        return list(csv.DictReader(stream))


def test_eval_bag_writes_a_report_with_the_true_verdicts(model, blob_bag, tmp_path, capsys):
    out = tmp_path / 'report'
    assert acnn(['eval-recording', '--model', str(model), '--bag', str(blob_bag), '--out',
                 str(out), '--reject-classes', 'blue', '--min-confidence', '0.5',
                 '--worst', '4']) == 0
    assert 'accuracy 100.00 % (9/9)' in capsys.readouterr().out
    summary = json.loads((out / 'summary.json').read_text())
    assert (summary['frames'], summary['labelled'], summary['correct']) == (9, 9, 9)
    assert summary['confusion'] == [[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]]
    assert summary['roi_error_px']['count'] == 9 and summary['roi_error_px']['max'] < 3.0
    assert summary['meta']['labels'] == 'bag topic ground_truth'
    rows = _rows(out / 'frames.csv')
    assert [r['class_name'] for r in rows] == [f[0] for f in FRAMES]
    assert [int(r['stamp_ns']) for r in rows] == [1_800_000_000_000_000_000 + i * 100_000_000
                                                  for i in range(9)]
    confidences = [float(r['confidence']) for r in rows]
    assert max(confidences) > 0.99 and min(confidences) < 0.75      # the mix spreads them
    expected = ['reject' if f[0] == 'blue' or c < 0.5 else 'accept'
                for f, c in zip(FRAMES, confidences)]
    assert [r['decision'] for r in rows] == expected
    assert json.loads((out / 'frames.json').read_text())[2]['reason'] == 'REJECT_CLASS'
    assert summary['rejected'] == expected.count('reject')
    for picture in ('confusion_matrix.png', 'latency_histogram.png', 'worst_frames.png'):
        image = cv2.imread(str(out / picture))
        assert image is not None and image.shape[0] > 200, picture
    text = (out / 'summary.md').read_text()
    assert '| red | 3 | 0 | 0 | 0 |' in text and '![worst frames](worst_frames.png)' in text


def test_sidecar_labels_and_image_folders_give_the_same_verdicts(model, blob_bag, tmp_path):
    by_topic, by_sidecar, by_folder = tmp_path / 'a', tmp_path / 'b', tmp_path / 'c'
    assert acnn(['eval-recording', '--model', str(model), '--bag', str(blob_bag), '--out',
                 str(by_topic)]) == 0
    assert acnn(['eval-recording', '--model', str(model), '--bag', str(blob_bag), '--out',
                 str(by_sidecar), '--labels', str(blob_bag / 'labels.csv'),
                 '--truth-topic', '']) == 0
    dataset = tmp_path / 'dataset'
    for split in ('images/test', 'labels/test'):
        (dataset / split).mkdir(parents=True)
    for i, (name, cx, cy, mix) in enumerate(FRAMES):
        cv2.imwrite(str(dataset / 'images' / 'test' / f'f{i}.png'), blob(name, cx, cy, mix))
        (dataset / 'labels' / 'test' / f'f{i}.txt').write_text(
            f'{CLASS_NAMES.index(name)} {cx / WIDTH} {cy / HEIGHT} {16 / WIDTH} {16 / HEIGHT}\n')
    assert acnn(['eval-recording', '--model', str(model), '--images', str(dataset),
                 '--split', 'test', '--out', str(by_folder)]) == 0
    columns = ('class_name', 'confidence', 'true_class_name', 'roi_error_px', 'decision')
    reference = [[r[c] for c in columns] for r in _rows(by_topic / 'frames.csv')]
    assert [[r[c] for c in columns] for r in _rows(by_sidecar / 'frames.csv')] == reference
    folder_rows = _rows(by_folder / 'frames.csv')
    assert [[r[c] for c in columns] for r in folder_rows] == reference
    assert folder_rows[0]['source'].endswith('f0.png')
    assert json.loads((by_folder / 'summary.json').read_text())['meta']['labels'] == \
        'YOLO label files'


def test_compare_lists_exactly_the_frames_between_two_thresholds(model, blob_bag, tmp_path):
    out = tmp_path / 'cmp'
    args = ['compare', '--model-a', str(model), '--bag', str(blob_bag), '--out', str(out),
            '--min-confidence', '0.5', '--min-confidence-b', '0.9']
    assert acnn(args) == 0
    side_a = _rows(out / 'frames_a.csv')
    expected = [int(r['index']) for r in side_a if 0.5 <= float(r['confidence']) < 0.9]
    assert expected, 'the frames must spread across the thresholds'
    changes = _rows(out / 'changes.csv')
    assert [int(r['index']) for r in changes] == expected
    assert {(r['a_decision'], r['b_decision'], r['b_reason']) for r in changes} == \
        {('accept', 'reject', 'LOW_CONFIDENCE')}
    for index in expected:
        assert cv2.imread(str(out / 'changed' / f'frame_{index}.png')) is not None
    assert f'**{len(expected)} of 9 frames changed verdict.**' in (out / 'changes.md').read_text()
    assert acnn(args[:-4] + ['--out', str(tmp_path / 'cmp2'), '--min-confidence', '0.5',
                             '--min-confidence-b', '0.9', '--fail-on-change']) == 1


def test_compare_two_models(model, blob_bag, tmp_path):
    other = export_contract_model(tmp_path / 'other', stem='renamed')
    card = json.loads(other.with_suffix('.json').read_text())
    card['class_names'] = ['green', 'blue', 'red']     # same network, classes renamed
    other.with_suffix('.json').write_text(json.dumps(card))
    out = tmp_path / 'cmp'
    assert acnn(['compare', '--model-a', str(model), '--model-b', str(other), '--bag',
                 str(blob_bag), '--out', str(out), '--max-pictures', '2']) == 0
    changes = _rows(out / 'changes.csv')
    assert len(changes) == 9
    rename = dict(zip(CLASS_NAMES, ['green', 'blue', 'red']))
    assert all(rename[r['a_class']] == r['b_class'] for r in changes)
    assert len(list((out / 'changed').glob('*.png'))) == 2


def test_bad_inputs_give_clear_errors(model, blob_bag, tmp_path, capsys):
    assert acnn(['eval-recording', '--model', str(tmp_path / 'none.onnx'), '--bag', str(blob_bag),
                 '--out', str(tmp_path / 'r')]) == 2
    assert 'model file not found' in capsys.readouterr().err
    assert acnn(['eval-recording', '--model', str(model), '--bag', str(tmp_path / 'nobag'),
                 '--out', str(tmp_path / 'r')]) == 2
    assert 'bag not found' in capsys.readouterr().err
    assert acnn(['eval-recording', '--model', str(model), '--bag', str(blob_bag), '--image-topic',
                 'ground_truth', '--out', str(tmp_path / 'r')]) == 2
    assert 'not an image type' in capsys.readouterr().err
    assert acnn(['eval-recording', '--model', str(model), '--bag', str(blob_bag), '--out',
                 str(tmp_path / 'r'), '--min-confidence', '1.5']) == 2
    assert 'min_confidence' in capsys.readouterr().err
    assert acnn(['compare', '--model-a', str(model), '--bag', str(blob_bag), '--out',
                 str(tmp_path / 'c')]) == 2
    assert 'side B equals side A' in capsys.readouterr().err


def test_make_bag_synthetic_is_reproducible(tmp_path):
    bags = []
    for name in ('one', 'two'):
        bag = tmp_path / name
        assert acnn(['make-bag', '--out', str(bag), '--synthetic', '3', '--seed', '4',
                     '--start-time-ns', '1000', '--rate-hz', '20', '--storage', 'mcap']) == 0
        bags.append(bag)
    frames = [list(bag_io.iter_image_frames(bag)) for bag in bags]
    assert [f.key for f in frames[0]] == [(1000, 'camera_optical'),
                                          (50_001_000, 'camera_optical'),
                                          (100_001_000, 'camera_optical')]
    assert all(a.raw == b.raw for a, b in zip(*frames))
    truths = [m.msg for m in bag_io.iter_messages(bags[0], ['ground_truth'])]
    labels = _rows(bags[0] / 'labels.csv')
    assert [t.class_name for t in truths] == [r['class'] for r in labels]
    assert all(t.roi.width > 10 for t in truths)
    assert frames[0][0].decode().shape == (480, 640, 3)


def test_make_bag_from_the_real_samples(aoi_samples_dir, tmp_path):
    bag = tmp_path / 'samples'
    assert acnn(['make-bag', '--out', str(bag), '--images', str(aoi_samples_dir),
                 '--encoding', 'jpeg']) == 0
    assert bag_io.image_topics(bag) == ['/image/compressed']
    truths = [m.msg.class_name for m in bag_io.iter_messages(bag, ['ground_truth'])]
    assert truths == ['p1069', 'p1071', 'p3707', 'p3709']   # the file-name prefixes


def test_undecodable_frames_get_an_error_verdict_and_a_fail_safe_reject(model, tmp_path):
    bag = tmp_path / 'bag'
    types = bag_io.project_typestore().types
    with bag_io.BagWriter(bag) as writer:
        for i, (name, cx, cy, mix) in enumerate(FRAMES[:3]):
            msg = bag_io.image_message(blob(name, cx, cy, mix), i * 1000, 'cam')
            if i == 1:      # a camera bug: the data is a quarter of what the fields promise
                msg = types[bag_io.IMAGE_TYPE](header=msg.header, height=480, width=640,
                                               encoding='bgr8', is_bigendian=0, step=1920,
                                               data=msg.data[:len(msg.data) // 4])
            writer.write('image', msg, i * 1000)
    out = tmp_path / 'report'
    assert acnn(['eval-recording', '--model', str(model), '--bag', str(bag),
                 '--out', str(out)]) == 0
    rows = _rows(out / 'frames.csv')
    assert [r['status'] for r in rows] == ['OK', 'ERROR', 'OK']
    assert rows[1]['detail'].startswith('bad image') and rows[1]['reason'] == 'ERROR_RESULT'
    assert rows[1]['decision'] == 'reject'
    assert cv2.imread(str(out / 'worst_frames.png')) is not None
    cmp = tmp_path / 'cmp'
    assert acnn(['compare', '--model-a', str(model), '--bag', str(bag), '--out', str(cmp),
                 '--min-confidence', '0.0', '--min-confidence-b', '1.0']) == 0
    assert [r['index'] for r in _rows(cmp / 'changes.csv')] == ['0', '2']


def test_policy_comes_from_the_reject_actuator_parameters(model, blob_bag, tmp_path):
    params = tmp_path / 'line.yaml'
    params.write_text('/**/reject_actuator_node:\n  ros__parameters:\n'
                      "    reject_classes: [green]\n    accept_classes: ['']\n"
                      '    min_confidence: 0.3\n'
                      "    min_confidence_per_class: ['red=0.999']\n")
    out = tmp_path / 'report'
    assert acnn(['eval-recording', '--model', str(model), '--bag', str(blob_bag), '--out',
                 str(out), '--params-file', str(params)]) == 0
    meta = json.loads((out / 'summary.json').read_text())['meta']
    assert meta['policy'] == 'min_confidence=0.3 reject=green red>=0.999'
    for row in _rows(out / 'frames.csv'):
        expected = ('REJECT_CLASS' if row['class_name'] == 'green' else
                    'LOW_CONFIDENCE' if row['class_name'] == 'red'
                    and float(row['confidence']) < 0.999 else 'NONE')
        assert row['reason'] == expected, row
    # A flag overrides the file.
    assert acnn(['eval-recording', '--model', str(model), '--bag', str(blob_bag), '--out',
                 str(tmp_path / 'r2'), '--params-file', str(params), '--reject-classes']) == 0
    assert json.loads((tmp_path / 'r2' / 'summary.json').read_text())['meta']['policy'] == \
        'min_confidence=0.3 red>=0.999'

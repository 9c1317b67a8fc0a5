# SPDX-License-Identifier: Apache-2.0
"""
docs/TUTORIAL.md on small data: a recorded shift to a validated, exported, deployed model.

The same commands as the tutorial, in its order, through the `acnn` entry point: make-bag
(the recorded shift and a held-out shift) -> dataset -> box labels for ~5 % of train through
the label server's HTTP API (what the page sends; the browser itself is test_label_page.py) ->
train with validation -> export -> thresholds (operating point into the card) -> eval-recording on
the held-out bag with that threshold -> changeover: a running inference_node loads the new
model through `acnn line load-model` (~/load_model, real DDS). Tiny on purpose (60 frames,
2 epochs): it checks that every step takes the previous step's output, not the model's
quality.
"""
import csv
import json
from pathlib import Path
import urllib.request

from acnn_ros.cli import main as acnn
from acnn_ros.core.dataset.labels import read_yolo_label
from acnn_ros.core.dataset.seed_format import list_images, read_class_names
from acnn_ros.core.model_card import ModelCard
from acnn_ros.core.replay import bag_io
from acnn_ros.offline.label_server import LabelServer
from acnn_ros.runtime.pipeline import InspectionPipeline
from inference_node_client import InferenceClient, start_inference_node

REPO_DIR = Path(__file__).resolve().parents[1]
START_NS = 1_800_000_000_000_000_000


def _http(server, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url.rstrip('/') + path, data=data,
                                     headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _label_boxes(data: Path, truth_csv: Path) -> int:
    """Label the frames the server picks with their true boxes (the engineer's clicks)."""
    with open(truth_csv, newline='') as stream:
        truth = {int(r['index']): [float(r[k]) for k in ('cx', 'cy', 'w', 'h')]
                 for r in csv.DictReader(stream)}
    with LabelServer(data) as server:
        state = _http(server, '/api/state')
        assert state['total'] >= 1 and state['done'] == 0
        for i in range(state['total']):
            frame = _http(server, f'/api/frame?i={i}')
            index = int(frame['stem'].split('_')[1])      # <class>_<frame index in the bag>
            answer = _http(server, '/api/label', {'index': i, 'box': truth[index]})
            assert answer['ok']
        return _http(server, '/api/state')['done']


def test_the_tutorial_from_a_recorded_shift_to_a_deployed_model(tmp_path, capsys,
                                                                own_domain_env):
    shift, held_out = tmp_path / 'shift_bag', tmp_path / 'held_out_bag'
    data, run = tmp_path / 'data' / 'new_product', tmp_path / 'runs' / 'new_product'
    model, thresholds = tmp_path / 'models' / 'new_product.onnx', tmp_path / 'thresholds'

    # 1. The recorded shift, and another shift kept back for the final check.
    assert acnn(['make-bag', '--out', str(shift), '--synthetic', '60', '--seed', '1',
                 '--start-time-ns', str(START_NS)]) == 0
    assert acnn(['make-bag', '--out', str(held_out), '--synthetic', '16', '--seed', '2',
                 '--start-time-ns', str(START_NS)]) == 0

    # 2. Frames -> dataset with train / val / test by time blocks.
    assert acnn(['dataset', str(shift), str(data), '--label-topic', 'ground_truth',
                 '--block-s', '0.5', '--gap-s', '0.15', '--no-progress']) == 0
    summary = json.loads((data / 'dataset_summary.json').read_text())
    assert all(sum(summary['written'][s].values()) > 0 for s in ('train', 'val', 'test'))
    train_images = list_images(data / 'images' / 'train')
    assert not any(read_yolo_label(p).box for p in train_images)    # classes only so far

    # 3. Box labels on ~5 % of train.
    done = _label_boxes(data, shift / 'labels.csv')
    boxed = [p for p in train_images if read_yolo_label(p).box]
    assert len(boxed) == done == max(1, round(0.05 * len(train_images)))

    # 4. Train with validation (the dataset's val split), 5. export the best epoch.
    assert acnn(['train', str(data), '--out', str(run), '--epochs', '2', '--batch-size', '8',
                 '--labeled-fraction', '1.0', '--threads', '2', '--no-progress']) == 0
    for name in ('best.pt', 'last.pt', 'history.csv', 'curves.png', 'test_metrics.json'):
        assert (run / name).is_file(), name
    assert acnn(['export', str(run / 'best.pt'), str(model)]) == 0

    # 6. Thresholds on val: the operating point goes into the card, YAML lines printed.
    capsys.readouterr()
    # (2 epochs on 60 frames stay near chance: an unusable point, written on purpose here.)
    assert acnn(['thresholds', str(model), str(data), '--defective', 'p1069,p1071',
                 '--out', str(thresholds), '--write-card', '--no-progress',
                 '--max-false-reject-rate', '1']) == 0
    printed = capsys.readouterr().out
    card = ModelCard.load(model.with_suffix('.json'))
    point = card.operating_point
    assert point['escapes'] == 0 and 'split val' in point['evaluated_on']
    assert f"    min_confidence: {point['min_confidence']:.3f}" in printed
    assert (thresholds / 'thresholds.png').is_file()

    # 7. The held-out shift with the line's parameters and the chosen threshold.
    report = tmp_path / 'held_out_report'
    assert acnn(['eval-recording', '--model', str(model), '--bag', str(held_out), '--out',
                 str(report), '--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'),
                 '--min-confidence', f"{point['min_confidence']:.3f}", '--no-progress']) == 0
    result = json.loads((report / 'summary.json').read_text())
    assert result['frames'] == 16
    assert f"min_confidence={point['min_confidence']:.3f}".rstrip('0') in \
        result['meta']['policy']

    # 8. Changeover on the running line: inference_node (the demo model) loads the new one.
    assert list(InspectionPipeline.from_model_path(model).class_names) == \
        read_class_names(data)
    frame = next(bag_io.iter_image_frames(held_out)).decode()
    demo_model = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'
    node = start_inference_node({'model_path': str(demo_model), 'image_qos': 'reliable',
                                 'warmup_runs': '1'})
    client = None
    try:
        assert node.wait_for_log('inspecting raw images'), node.output
        client = InferenceClient('tutorial_changeover_client')
        assert client.wait_connected(), node.output
        capsys.readouterr()
        assert acnn(['line', 'load-model', str(model)]) == 0       # the tutorial's command
        assert f'/inference_node: {card.model_id}' in capsys.readouterr().out
        result = client.result_for(client.publish_bgr(frame))
        assert result is not None and result.model_id == card.model_id
    finally:
        if client is not None:
            client.close()
        assert node.interrupt(timeout_s=10.0) == 0, node.output

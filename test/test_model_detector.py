# SPDX-License-Identifier: Apache-2.0
"""The YOLOv8-style detector (issue 15): shapes, ASSN switch, loss, export, serving."""
from acnn_ros.core.dataset.synthetic import render_frame
from acnn_ros.core.model_card import ModelCard
from acnn_ros.core.preprocess import preprocess
from acnn_ros.core.results import InspectionStatus
from acnn_ros.model.acnn import build_model
from acnn_ros.model.detector import best_detection, Detector
from acnn_ros.model.detector_loss import assign_positives, box_to_xyxy, detection_loss
from acnn_ros.model.export import export_onnx, PARITY_LIMIT
from acnn_ros.model.flops import count_parameters
from acnn_ros.model.train import model_loss
from acnn_ros.runtime.pipeline import InspectionPipeline
import numpy as np
import pytest
import torch

CLASSES = ('p1069', 'p1071', 'p3707', 'p3709')


def _cells(width, height):
    """Cells on strides 8, 16, 32: each stride-2 conv gives ceil(size / 2)."""
    total, h, w = 0, height, width
    for halvings in range(5):
        h, w = (h + 1) // 2, (w + 1) // 2
        if halvings >= 2:
            total += h * w
    return total


@pytest.mark.parametrize('variant, width, height', [
    ('det_n', 640, 480), ('det_n_assn', 640, 480), ('det_n', 224, 168),
    ('det_n_assn', 224, 168), ('det_n_assn', 416, 312)])
def test_output_shapes(variant, width, height):
    torch.manual_seed(0)
    model = build_model(variant, 4).eval()
    assert isinstance(model, Detector)
    with torch.no_grad():
        out = model(torch.rand(2, 3, height, width))
    cells = _cells(width, height)
    assert out.logits.shape == (2, 4) and out.roi.shape == (2, 4)
    assert out.dense_logits.shape == (2, cells, 4)
    assert out.dense_boxes.shape == (2, cells, 4)
    assert out.centres.shape == (cells, 2) and out.strides.shape == (cells,)
    assert out.frame_size == (height, width)
    # The best detection is the dense cell with the highest class logit, box normalised.
    index = out.dense_logits.amax(dim=2).argmax(dim=1)
    for i in range(2):
        assert torch.equal(out.logits[i], out.dense_logits[i, index[i]])
        x1, y1, x2, y2 = out.dense_boxes[i, index[i]].tolist()
        expected = [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width,
                    (y2 - y1) / height]
        assert out.roi[i].tolist() == pytest.approx(expected, abs=1e-6)


def test_assn_switch_changes_the_module_tree():
    plain, assn = build_model('det_n', 4), build_model('det_n_assn', 4)
    assert plain.assn is None and assn.assn is not None
    extra = set(assn.state_dict()) - set(plain.state_dict())
    assert extra and all(key.startswith('assn.') for key in extra)
    assert set(plain.state_dict()) <= set(assn.state_dict())
    assert any(isinstance(m, torch.nn.Conv3d) for m in assn.modules())
    assert not any(isinstance(m, torch.nn.Conv3d) for m in plain.modules())
    assert count_parameters(assn) > count_parameters(plain)
    # The override works the other way too, and the switch changes what P3 sees.
    switched = build_model('det_n', 4, assn=True)
    assert set(switched.state_dict()) == set(assn.state_dict())
    torch.manual_seed(0)
    model = build_model('det_n_assn', 4).eval()
    with torch.no_grad():
        model.assn.project[1].weight.fill_(1.0)      # leave the zero-initialised shortcut
        levels = model.neck(model.backbone(torch.rand(1, 3, 168, 224)))
        fused = model.assn(levels)
    assert fused.shape == levels[0].shape
    assert float((fused - levels[0]).abs().mean()) > 1e-3 * float(levels[0].abs().mean())


def test_assignment_covers_the_code_on_the_finest_level():
    model = build_model('det_n', 4).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 480, 640))
    gt = box_to_xyxy(torch.tensor([[0.5, 0.5, 32 / 640, 20 / 480]]), 640, 480)
    positive = assign_positives(gt, out.centres, out.strides)[0]
    fine = positive & (out.strides == 8)
    assert 4 <= int(fine.sum()) <= 12
    inside = out.centres[positive]
    assert bool(((inside[:, 0] - 320).abs() <= 16 + 8).all())
    # A box smaller than one cell still gets the nearest stride-8 cell.
    tiny = box_to_xyxy(torch.tensor([[0.3, 0.4, 2 / 640, 2 / 480]]), 640, 480)
    positive = assign_positives(tiny, out.centres, out.strides)[0]
    assert int(positive.sum()) == 1 and float(out.strides[positive][0]) == 8


def _batch(n=3, width=128, height=96, seed=0):
    """Synthetic frames resized small (the tests fit a fixed batch; seconds on a shared CPU)."""
    rng = np.random.default_rng(seed)
    images, boxes, labels = [], [], []
    for i in range(n):
        bgr, box = render_frame(rng, i % 4)
        small, _ = preprocess(bgr, width, height)
        images.append(small[0])
        boxes.append([box.center_x / 640, box.center_y / 480, box.width / 640,
                      box.height / 480])
        labels.append(i % 4)
    return torch.from_numpy(np.stack(images)), torch.tensor(boxes), torch.tensor(labels)


def test_loss_on_a_tiny_batch_is_finite_and_decreases():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    x, boxes, labels = _batch()
    has_box = torch.tensor([True, True, False])
    model = build_model('det_n_assn', 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(6):
        out = model(x)
        # The training loop's dispatch picks the detector's own loss.
        loss, parts = model_loss(model, out, labels, boxes, has_box, 5.0)
        assert torch.isfinite(loss) and parts['loc'] > 0 and parts['cls'] > 0
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_frames_without_a_box_teach_only_their_class():
    torch.manual_seed(0)
    x, boxes, labels = _batch(2)
    model = build_model('det_n', 4)
    out = model(x)
    no_box = torch.zeros(2, dtype=torch.bool)
    loss, parts = detection_loss(out, labels, boxes, no_box, 5.0, unboxed_class_weight=1.0)
    assert parts['loc'] == 0.0
    expected = torch.nn.functional.cross_entropy(out.logits, labels)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    ignored, parts = detection_loss(out, labels, boxes, no_box, 5.0, unboxed_class_weight=0.0)
    assert float(ignored) == 0.0 and parts == {'cls': 0.0, 'loc': 0.0}
    # Not background: a boxless frame never pushes the dense class logits towards zero.
    loss.backward()
    grads = [p.grad for p in model.heads[0].cls.parameters() if p.grad is not None]
    assert grads      # only through the selected cell (best detection)


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model('det_n_assn', 4).eval()
    # Make the head's choice depend on the image (an untrained head is nearly constant).
    with torch.no_grad():
        for head in model.heads:
            head.cls[-1].bias.zero_()
    card = ModelCard(name='det', class_names=CLASSES, input_width=224, input_height=168,
                     variant='det_n_assn')
    path = export_onnx(model, card, tmp_path_factory.mktemp('det') / 'det.onnx')
    return model, path


def test_export_passes_the_parity_check(exported):
    model, path = exported
    card = ModelCard.load(path.with_suffix('.json'))
    parity = card.extra['parity']
    assert parity['probs_max_abs_diff'] < PARITY_LIMIT
    assert parity['roi_max_abs_diff'] < PARITY_LIMIT
    assert card.extra['config']['assn'] is True and card.variant == 'det_n_assn'
    assert (card.input_width, card.input_height) == (224, 168)


def test_served_through_the_inspection_pipeline(exported):
    model, path = exported
    pipeline = InspectionPipeline.from_model_path(path, providers=('cpu',), intra_op_threads=1)
    rng = np.random.default_rng(3)
    for class_id in range(4):
        bgr, _ = render_frame(rng, class_id, device=1)
        outcome = pipeline.inspect(bgr)
        assert outcome.status == InspectionStatus.OK
        tensor, _ = preprocess(bgr, 224, 168)
        with torch.no_grad():
            out = model(torch.from_numpy(tensor))
        probs = torch.softmax(out.logits, dim=1)[0]
        assert outcome.class_name == CLASSES[int(probs.argmax())]
        assert outcome.confidence == pytest.approx(float(probs.max()), abs=1e-4)
        cx, cy, w, h = out.roi[0].tolist()
        # The ROI comes back in the 640x480 source pixels.
        assert outcome.roi.center_x == pytest.approx(cx * 640, abs=0.05)
        assert outcome.roi.center_y == pytest.approx(cy * 480, abs=0.05)
        assert outcome.roi.width == pytest.approx(w * 640, abs=0.05)
        assert outcome.roi.height == pytest.approx(h * 480, abs=0.05)


def test_best_detection_is_exportable_without_python_branches():
    logits = torch.tensor([[[0.0, 1.0], [3.0, -1.0], [0.5, 0.2]]])
    boxes = torch.tensor([[[0, 0, 10, 10], [20, 10, 60, 30], [0, 0, 1, 1]]], dtype=torch.float)
    best, roi = best_detection(logits, boxes, 100, 50)
    assert best.tolist() == [[3.0, -1.0]]
    assert roi[0].tolist() == pytest.approx([0.4, 0.4, 0.4, 0.4])

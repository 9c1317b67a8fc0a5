# SPDX-License-Identifier: Apache-2.0
"""ONNX export: contract names/shapes, dynamic batch, card + hash, parity with PyTorch."""
from acnn_ros.core.dataset.synthetic import render_frame
from acnn_ros.core.model_card import file_hash, ModelCard
from acnn_ros.model.acnn import build_model
from acnn_ros.model.export import export_onnx
import numpy as np
import onnx
import onnxruntime as ort
import torch


def _non_uniform(model):
    """Give the localization head random weights so the ROI actually moves."""
    torch.manual_seed(0)
    with torch.no_grad():
        model.localization.score.weight.normal_(0, 2.0)
        model.localization.score.bias.fill_(0.1)
    return model.eval()


def test_export_obeys_the_model_card_contract(tmp_path):
    # The whole model from one seed: the ROI spread checked below must not depend on which
    # tests ran before and drew from torch's global generator.
    torch.manual_seed(0)
    model = _non_uniform(build_model('opt', 3, attention_maps=True))
    card = ModelCard(name='unit', class_names=('a', 'b', 'c'), variant='opt',
                     reproduce='python -m acnn_ros.cli train ...')
    path = export_onnx(model, card, tmp_path / 'unit.onnx')
    graph = onnx.load(str(path))
    assert max(o.version for o in graph.opset_import if o.domain in ('', 'ai.onnx')) >= 17
    assert [i.name for i in graph.graph.input] == ['image']
    assert [o.name for o in graph.graph.output] == ['probs', 'roi']
    written = ModelCard.load(tmp_path / 'unit.json')
    assert written.content_hash == file_hash(path)
    assert (written.roi_width_px, written.roi_height_px) == (64, 48)
    assert written.class_names == ('a', 'b', 'c')
    assert written.extra['parity']['probs_max_abs_diff'] <= 1e-4
    assert written.extra['parity']['roi_max_abs_diff'] <= 1e-4
    assert 'unit@' in (tmp_path / 'unit.md').read_text()

    # Dynamic batch and parity on frames the test draws itself.
    rng = np.random.default_rng(1)
    images = np.stack([render_frame(rng, k)[0][:, :, ::-1].transpose(2, 0, 1)
                       for k in range(3)]).astype(np.float32) / 255.0
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    probs, roi = session.run(['probs', 'roi'], {'image': images})
    with torch.no_grad():
        out = model(torch.from_numpy(images))
    assert probs.shape == (3, 3) and roi.shape == (3, 4)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.max(np.abs(probs - torch.softmax(out.logits, 1).numpy())) <= 1e-4
    assert np.max(np.abs(roi - out.roi.numpy())) <= 1e-4
    assert np.ptp(roi[:, 0]) > 1e-3                 # the ROI really depends on the image

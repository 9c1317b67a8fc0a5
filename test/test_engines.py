# SPDX-License-Identifier: Apache-2.0
"""The engines package: the backend factory, the contract, the torch backend's injected loader."""
from pathlib import Path
import subprocess
import sys

from acnn_ros.runtime.engines import BACKENDS, create_engine, EngineError
from acnn_ros.runtime.engines.contract import InferenceEngine
from acnn_ros.runtime.engines.onnxruntime_engine import OnnxRuntimeEngine
from acnn_ros.runtime.engines.torch_engine import TorchEngine
from acnn_ros.runtime.pipeline import InspectionPipeline
from contract_model import blob_frame
import numpy as np
import pytest
import torch

REPO_DIR = Path(__file__).resolve().parents[1]
DEMO_MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'
CARD_FIELDS = {'name': 'fake', 'class_names': ('good', 'bad'), 'input_width': 64,
               'input_height': 48, 'variant': 'fake'}


class FixedContractModule(torch.nn.Module):
    """A module obeying the ONNX output contract: (probs [N, 2], roi [N, 4])."""

    def forward(self, image):
        batch = image.shape[0]
        return (torch.tensor([[0.25, 0.75]]).expand(batch, 2),
                torch.tensor([[0.5, 0.5, 0.1, 0.1]]).expand(batch, 4))


@pytest.fixture
def not_torchscript(tmp_path):
    path = tmp_path / 'weights.pt'
    path.write_bytes(b'a training checkpoint, not TorchScript')
    return path


def test_the_backends_and_an_unknown_one():
    assert BACKENDS == ('onnxruntime', 'torch', 'tensorrt')
    with pytest.raises(ValueError, match="unknown backend 'caffe'; use one of onnxruntime, "
                                         'torch, tensorrt'):
        create_engine('caffe', DEMO_MODEL)


def test_the_factory_builds_each_backend_with_the_contract():
    engine = create_engine('onnxruntime', DEMO_MODEL, providers=('cpu',), intra_op_threads=1)
    assert isinstance(engine, OnnxRuntimeEngine) and engine.backend == 'onnxruntime'
    for name in InferenceEngine.__annotations__:
        assert isinstance(getattr(engine, name), str), name
    probs, roi = engine.run(np.zeros((1, 3, 480, 640), np.float32))
    assert probs.shape == (1, 4) and roi.shape == (1, 4)


def test_a_checkpoint_without_an_injected_loader_is_a_clear_error(not_torchscript):
    # What inference_node does (it has no model code): no loader, a .pt that is not TorchScript.
    with pytest.raises(EngineError, match='is not TorchScript, and no checkpoint loader was '
                                          'given to the torch backend') as error:
        InspectionPipeline.from_model_path(not_torchscript, backend='torch')
    assert 'acnn export' in str(error.value) and str(not_torchscript) in str(error.value)


def test_the_injected_loader_reads_the_checkpoint_and_names_its_card(not_torchscript):
    calls = []

    def load_checkpoint_module(path):
        calls.append(path)
        return FixedContractModule(), dict(CARD_FIELDS)

    pipeline = InspectionPipeline.from_model_path(
        not_torchscript, backend='torch', load_checkpoint_module=load_checkpoint_module)
    assert calls == [not_torchscript] and isinstance(pipeline.engine, TorchEngine)
    assert pipeline.card.class_names == ('good', 'bad')
    assert (pipeline.card.input_width, pipeline.card.input_height) == (64, 48)
    assert f'checkpoint {not_torchscript.name}' in pipeline.provider_report
    outcome = pipeline.inspect(blob_frame(128, 96, 64, 48, 'red'))
    assert outcome.class_name == 'bad' and outcome.confidence == pytest.approx(0.75)


def test_a_failing_loader_is_an_engine_error(not_torchscript):
    def load_checkpoint_module(path):
        raise ValueError(f'{path} is not an acnn_ros checkpoint')

    with pytest.raises(EngineError, match='cannot load checkpoint .*not an acnn_ros checkpoint'):
        create_engine('torch', not_torchscript, load_checkpoint_module=load_checkpoint_module)


def test_the_real_checkpoint_loader_of_the_model_package(tmp_path):
    from dataclasses import asdict
    from acnn_ros.model.acnn import build_model
    from acnn_ros.model.checkpoint import (CHECKPOINT_FORMAT, load_checkpoint_module,
                                           save_checkpoint)
    from acnn_ros.model.train_config import TrainConfig
    path = tmp_path / 'det.pt'
    model = build_model('det_n', 2)
    save_checkpoint(path, {'format': CHECKPOINT_FORMAT, 'class_names': ['a', 'b'],
                           'train_config': asdict(TrainConfig(variant='det_n')),
                           'model': model.state_dict()})
    engine = create_engine('torch', path, load_checkpoint_module=load_checkpoint_module)
    assert engine.card_hint == {'name': 'det', 'class_names': ('a', 'b'), 'input_width': 640,
                                'input_height': 480, 'variant': 'det_n'}
    probs, roi = engine.run(np.zeros((1, 3, 480, 640), np.float32))
    assert probs.shape == (1, 2) and abs(float(probs.sum()) - 1) < 1e-5 and roi.shape == (1, 4)


def test_the_production_path_loads_neither_torch_nor_the_model_code():
    code = ('import sys\n'
            'from acnn_ros.runtime.pipeline import InspectionPipeline\n'
            f'InspectionPipeline.from_model_path({str(DEMO_MODEL)!r}, intra_op_threads=1)\n'
            "loaded = sorted(m for m in sys.modules if m == 'torch' or "
            "m.startswith(('acnn_ros.model', 'acnn_ros.runtime.engines.torch', "
            "'acnn_ros.runtime.engines.tensorrt')))\n"
            'print(loaded)\n')
    run = subprocess.run([sys.executable, '-c', code], cwd=REPO_DIR, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == '[]'

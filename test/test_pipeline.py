# SPDX-License-Identifier: Apache-2.0
"""The ROS-free inference runtime: pipeline, engines, changeover, frame slot, stats, config."""
from pathlib import Path
import threading

from acnn_ros.core.model_card import ModelCardError
from acnn_ros.core.overlay import draw_overlay
from acnn_ros.core.preprocess import preprocess, PreprocessError
from acnn_ros.core.results import InspectionStatus
from acnn_ros.runtime.engines import EngineError
from acnn_ros.runtime.engines.gpu import trt_cache_dir
from acnn_ros.runtime.engines.onnxruntime_engine import normalise_providers
from acnn_ros.runtime.frame_slot import LatestFrameSlot
from acnn_ros.runtime.inference_config import ConfigError, InferenceConfig, resolve_model_path
from acnn_ros.runtime.pipeline import InspectionPipeline, PipelineHolder
from acnn_ros.runtime.stats import diagnostic_level, DiagnosticThresholds, InferenceStats, \
    LEVEL_ERROR, LEVEL_OK, LEVEL_WARN
from contract_model import blob_frame, export_contract_model, ROI_HEIGHT_PX, ROI_WIDTH_PX
import numpy as np
import pytest


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp('pipeline_models')
    return {'contract': export_contract_model(directory, torchscript=True),
            'alt': export_contract_model(directory, stem='alt', class_names=('a', 'b', 'c')),
            'wrong_size': export_contract_model(directory, stem='wrong_size',
                                                card_input_size=(640, 480))}


@pytest.fixture(scope='module')
def pipeline(models):
    return InspectionPipeline.from_model_path(models['contract'], providers=('cpu',),
                                              intra_op_threads=1)


@pytest.mark.parametrize('width, height, x, y, colour', [
    (640, 480, 600.0, 40.0, 'blue'), (1280, 960, 300.0, 700.0, 'red'),
    (320, 240, 100.0, 200.0, 'green'), (1000, 300, 900.0, 150.0, 'red'),
    (333, 250, 40.0, 30.0, 'green')])
def test_outcome_roi_is_in_source_pixels(pipeline, width, height, x, y, colour):
    outcome = pipeline.inspect(blob_frame(width, height, x, y, colour, radius=12))
    assert outcome.status == InspectionStatus.OK
    assert outcome.class_name == colour and outcome.confidence > 0.9
    assert (outcome.image_width, outcome.image_height) == (width, height)
    assert outcome.roi.center_x == pytest.approx(x, abs=1.0)
    assert outcome.roi.center_y == pytest.approx(y, abs=1.0)
    assert outcome.roi.width == pytest.approx(ROI_WIDTH_PX * width / 320, rel=1e-4)
    assert outcome.roi.height == pytest.approx(ROI_HEIGHT_PX * height / 240, rel=1e-4)
    times = outcome.times
    assert times.pipeline_ms >= times.preprocess_ms + times.inference_ms > 0


def test_inspect_image_decodes_and_counts_decode_time(pipeline):
    frame = blob_frame(640, 480, 100, 100, 'blue')
    outcome, bgr = pipeline.inspect_image('rgb8', 640, 480, 1920,
                                          np.ascontiguousarray(frame[:, :, ::-1]).tobytes())
    assert outcome.class_name == 'blue' and np.array_equal(bgr, frame)
    outcome, bgr = pipeline.inspect_image('rgb8', 640, 480, 1920, b'short')
    assert outcome.status == InspectionStatus.ERROR and bgr is None
    assert outcome.detail.startswith('bad image: image data has 5 bytes')
    assert outcome.model_id == pipeline.model_id


def test_torch_backend_agrees_with_onnxruntime(models, pipeline):
    torch_pipeline = InspectionPipeline.from_model_path(
        Path(models['contract']).with_suffix('.pt'), backend='torch')
    assert torch_pipeline.engine.backend == 'torch'
    frame = blob_frame(800, 600, 123, 456, 'green')
    a, b = pipeline.inspect(frame), torch_pipeline.inspect(frame)
    assert a.class_id == b.class_id
    assert np.allclose(a.class_scores, b.class_scores, atol=1e-4)
    assert a.roi.center_x == pytest.approx(b.roi.center_x, abs=0.05)


def test_load_errors_name_the_problem(models, tmp_path):
    with pytest.raises(EngineError, match='takes 320x240 input but its model card says 640x480'):
        InspectionPipeline.from_model_path(models['wrong_size'])
    with pytest.raises(EngineError, match='model file not found'):
        InspectionPipeline.from_model_path(tmp_path / 'missing.onnx')
    orphan = tmp_path / 'orphan.onnx'
    orphan.write_bytes(Path(models['contract']).read_bytes())
    with pytest.raises(ModelCardError, match='model card not found'):
        InspectionPipeline.from_model_path(orphan)
    with pytest.raises(EngineError, match='none of the requested providers'):
        InspectionPipeline.from_model_path(models['contract'], providers=('tensorrt', 'cuda'))
    with pytest.raises(ValueError, match='2 class names given'):
        InspectionPipeline.from_model_path(models['contract'], class_names=('x', 'y'))


def test_an_engine_failure_is_an_error_outcome_not_an_exception(pipeline):
    class BrokenEngine:
        backend = 'broken'

        def run(self, tensor):
            raise RuntimeError('device lost')
    broken = InspectionPipeline(BrokenEngine(), pipeline.card, pipeline.model_path)
    outcome = broken.inspect(blob_frame(64, 48, 10, 10, 'red'))
    assert outcome.status == InspectionStatus.ERROR
    assert outcome.detail == 'engine failure (broken): device lost'


def test_changeover_is_atomic_while_frames_are_inspected(models, pipeline):
    alt = InspectionPipeline.from_model_path(models['alt'], intra_op_threads=1)
    holder = PipelineHolder(pipeline)
    names = {pipeline.model_id: set(pipeline.class_names), alt.model_id: {'a', 'b', 'c'}}
    seen, stop = [], threading.Event()

    def inspect_continuously():
        frame = blob_frame(320, 240, 50, 50, 'red')
        while not stop.is_set():
            outcome = holder.current.inspect(frame)
            seen.append((outcome.model_id, outcome.class_name))
    worker = threading.Thread(target=inspect_continuously)
    worker.start()
    for index in range(40):
        holder.swap(alt if index % 2 == 0 else pipeline)
        threading.Event().wait(0.002)
    stop.set()
    worker.join()
    assert {model for model, _ in seen} == set(names)
    assert all(name in names[model] for model, name in seen)


def test_failed_load_keeps_the_old_pipeline(models, pipeline):
    holder = PipelineHolder(pipeline)
    with pytest.raises(EngineError):
        holder.load(models['wrong_size'])
    assert holder.current is pipeline
    new, old = holder.load(models['alt'], class_names=('x', 'y', 'z'))
    assert old is pipeline and holder.current is new and new.class_names == ('x', 'y', 'z')
    with pytest.raises(ValueError):
        holder.set_class_names(('only',))
    assert holder.current is new
    assert holder.set_class_names(None).class_names == ('a', 'b', 'c')


def test_preprocess_follows_the_model_card_contract():
    frame = np.zeros((96, 128, 3), np.uint8)
    frame[..., 2] = 255  # red in BGR
    tensor, mapping = preprocess(frame, 64, 48)
    assert tensor.shape == (1, 3, 48, 64) and tensor.dtype == np.float32
    assert tensor.flags['C_CONTIGUOUS']
    assert tensor[0, 0].min() == 1.0 and tensor[0, 1:].max() == 0.0  # RGB order, 0..1
    assert (mapping.scale_x, mapping.scale_y) == (2.0, 2.0)
    with pytest.raises(PreprocessError, match='expected a BGR uint8'):
        preprocess(np.zeros((10, 10), np.uint8), 64, 48)


def test_overlay_draws_the_box_where_the_roi_is(pipeline):
    frame = blob_frame(640, 480, 320, 240, 'red', radius=4)
    outcome = pipeline.inspect(frame)
    canvas = draw_overlay(frame, outcome, fps=30.0, min_confidence=0.5)
    x, y, w, h = outcome.roi.clipped(640, 480)
    assert tuple(canvas[y + h // 2, x]) == (0, 200, 0)  # green left edge of the box
    assert np.array_equal(frame, blob_frame(640, 480, 320, 240, 'red', radius=4))  # a copy


def test_latest_frame_slot_keeps_one_frame_and_returns_the_displaced():
    slot = LatestFrameSlot()
    assert slot.put(1) is None
    assert slot.put(2) == 1
    assert slot.take(0) == 2 and slot.take(0.01) is None
    slot.put(3)
    assert slot.close() == 3 and slot.closed
    assert slot.put(4) == 4  # refused after close: the caller reports it


def test_stats_and_diagnostic_levels():
    now = [0.0]
    stats = InferenceStats(clock=lambda: now[0])
    thresholds = DiagnosticThresholds(warn_latency_p99_ms=50, warn_drop_ratio=0.1,
                                      error_error_ratio=0.5)
    assert diagnostic_level(stats.snapshot(), thresholds)[0] == LEVEL_OK
    for index in range(100):
        now[0] += 0.01
        stats.record(InspectionStatus.OK, total_ms=10.0 + index % 10, inference_ms=5.0)
    snap = stats.snapshot()
    assert snap.inspected == 100 and snap.fps == pytest.approx(100, rel=0.02)
    assert snap.latency_p50_ms == pytest.approx(14.5) and snap.latency_p99_ms <= 19
    assert diagnostic_level(snap, thresholds)[0] == LEVEL_OK
    for _ in range(8):
        stats.record(InspectionStatus.OK, total_ms=10.0)
    stats.record(InspectionStatus.DROPPED)
    stats.record(InspectionStatus.DROPPED)
    level, message = diagnostic_level(stats.snapshot(), thresholds)
    assert level == LEVEL_WARN and '2/10 frames dropped' in message
    stats.record(InspectionStatus.OK, total_ms=80.0)
    assert 'p99 latency' in diagnostic_level(stats.snapshot(), thresholds)[1]
    stats.record(InspectionStatus.ERROR, detail='bad image: x')
    stats.record(InspectionStatus.OK, total_ms=1.0)
    level, message = diagnostic_level(stats.snapshot(), thresholds)
    assert level == LEVEL_ERROR and 'bad image: x' in message
    assert stats.snapshot().total_received == 113


def test_config_validation_and_model_path_resolution(tmp_path):
    config = InferenceConfig.from_values({'providers': ['cuda', 'cpu'], 'class_names': ['']})
    assert config.providers == ('cuda', 'cpu') and config.class_names == ()
    for values, message in [({'providers': ['npu']}, "unknown execution provider 'npu'"),
                            ({'providers': []}, 'provider list is empty'),
                            ({'backend': 'caffe'}, "backend='caffe' is not one of"),
                            ({'min_confidence': 1.5}, r'outside \[0, 1\]'),
                            ({'image_qos': 'fast'}, 'image_qos'),
                            ({'model_path': ' '}, 'model_path is empty')]:
        with pytest.raises(ConfigError, match=message):
            InferenceConfig.from_values(values)
    (tmp_path / 'share' / 'models').mkdir(parents=True)
    (tmp_path / 'share' / 'models' / 'm.onnx').write_bytes(b'x')
    dirs = [tmp_path / 'nowhere', tmp_path / 'share']
    assert resolve_model_path('models/m.onnx', dirs) == tmp_path / 'share' / 'models' / 'm.onnx'
    with pytest.raises(ConfigError, match='tried .*nowhere/models/x.onnx'):
        resolve_model_path('models/x.onnx', dirs)
    with pytest.raises(ConfigError, match='model file not found'):
        resolve_model_path(str(tmp_path / 'absent.onnx'))


def test_provider_names_and_tensorrt_cache_keys():
    assert normalise_providers(['TensorRT', 'cuda', 'CPUExecutionProvider', 'cpu']) == (
        'TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider')
    key = trt_cache_dir('/cache', 'abc123', True, gpu='NVIDIA Jetson AGX Orin',
                        trt_version='10.3.0')
    assert key == Path('/cache/abc123_NVIDIA-Jetson-AGX-Orin_trt10.3.0_fp16')
    assert trt_cache_dir('/cache', 'abc123', False, 'NVIDIA Jetson AGX Orin', '10.3.0') != key
    assert trt_cache_dir('/cache', 'abc123', True, 'Orin', '10.7.0') != key
    assert trt_cache_dir('/cache', 'def456', True, 'NVIDIA Jetson AGX Orin', '10.3.0') != key


def test_torch_backend_reads_an_acnn_training_checkpoint_without_a_card(tmp_path):
    from dataclasses import asdict
    from acnn_ros.model.acnn import build_model
    from acnn_ros.model.checkpoint import load_checkpoint_module
    from acnn_ros.model.train import CHECKPOINT_FORMAT, save_checkpoint, TrainConfig
    model = build_model('opt', 4)
    checkpoint = tmp_path / 'untrained.pt'
    save_checkpoint(checkpoint, {'format': CHECKPOINT_FORMAT, 'train_config': asdict(
        TrainConfig(variant='opt')), 'class_names': ['p1069', 'p1071', 'p3707', 'p3709'],
        'model': model.state_dict()})
    pipeline = InspectionPipeline.from_model_path(
        checkpoint, backend='torch', load_checkpoint_module=load_checkpoint_module)
    assert pipeline.card.class_names == ('p1069', 'p1071', 'p3707', 'p3709')
    assert (pipeline.card.input_width, pipeline.card.input_height) == (
        model.config.input_width, model.config.input_height)
    assert 'checkpoint untrained.pt' in pipeline.provider_report
    outcome = pipeline.inspect(blob_frame(1280, 960, 640, 480, 'red'))
    assert outcome.status == InspectionStatus.OK, outcome.detail
    assert len(outcome.class_scores) == 4 and abs(sum(outcome.class_scores) - 1) < 1e-4
    assert 0 <= outcome.roi.center_x <= 1280 and 0 <= outcome.roi.center_y <= 960


def test_native_tensorrt_backend_says_clearly_what_is_missing(models):
    try:
        import tensorrt  # noqa: F401
        pytest.skip('TensorRT is installed here: this test covers machines without it')
    except ImportError:
        pass
    with pytest.raises(EngineError, match="backend tensorrt needs the 'tensorrt' Python module"):
        InspectionPipeline.from_model_path(models['contract'], backend='tensorrt')


def test_a_model_exported_by_acnn_ros_model_export_loads_and_runs(tmp_path):
    """The real export (dynamic batch axis, card with hash and ROI fields) fits the runtime."""
    import torch
    from acnn_ros.core.model_card import ModelCard
    from acnn_ros.model.acnn import build_model
    from acnn_ros.model.export import export_onnx
    torch.manual_seed(0)
    card = ModelCard(name='untrained_opt', class_names=('p1069', 'p1071', 'p3707', 'p3709'),
                     variant='opt')
    path = export_onnx(build_model('opt', 4), card, tmp_path / 'untrained_opt.onnx')
    pipeline = InspectionPipeline.from_model_path(path, providers=('cpu',))
    assert not pipeline.warnings  # the card's content hash is the file's
    assert pipeline.model_id == f'untrained_opt@{pipeline.card.content_hash}'
    outcome = pipeline.inspect(blob_frame(1280, 960, 100, 100, 'red'))
    assert outcome.status == InspectionStatus.OK, outcome.detail
    assert len(outcome.class_scores) == 4 and abs(sum(outcome.class_scores) - 1) < 1e-4
    # An untrained ROI can be anywhere, but its size is the card's fixed ROI, scaled 2x.
    assert outcome.roi.width == pytest.approx(2 * pipeline.card.roi_width_px, rel=0.01)

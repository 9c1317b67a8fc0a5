# SPDX-License-Identifier: Apache-2.0
"""
The GPU check of issue 11, step by step; `benchmarks/gpu_check.sh` runs it in one go.

Needs PyTorch (+ CUDA for `--device cuda`), onnxruntime, OpenCV and rosbags; no ROS, no network,
no colcon install. Steps, each recorded in `<out>/gpu_check.json` and `<out>/gpu_check.md`:
1. the runtime layer imports nothing ROS (static scan of acnn_ros/runtime and sys.modules after
   importing the pipeline);
2. the same weights for both backends: by default the shipped `acnn_demo.onnx`, its weights
   rebuilt in PyTorch (acnn_ros/model/transfer.py) and saved as a training checkpoint
   (`--checkpoint`: a trained checkpoint and its export; `--onnx ''`: a seeded untrained `opt`
   A-CNN);
3. reference: the ONNX model on ONNX Runtime's CPU provider through InspectionPipeline;
4. the torch backend (`backend='torch'`, TorchEngine) with its module moved to the device, in
   fp32 and fp16 (autocast): parity with the reference on the same frames (class agreement,
   max |score| and ROI px differences), model latency and whole-pipeline latency;
5. only where onnxruntime has them: the CUDA and TensorRT execution providers (TensorRT FP16;
   start time of a first and a second session with the engine cache, cache files reused).
A step that cannot run says why; nothing is estimated.
"""
import argparse
import json
import os
from pathlib import Path
import platform
import re
import sys
import time

from acnn_ros.core.stats import percentiles
from benchmarks.common import wall_times_ms
import numpy as np

REPO_DIR = Path(__file__).resolve().parents[1]
CLASSES = ('p1069', 'p1071', 'p3707', 'p3709')
ROS_MODULE = re.compile(r'^\s*(?:import|from)\s+(rclpy|rosidl\w*|\w+_msgs|launch\w*)\b', re.M)


def ros_free_runtime() -> dict:
    """Return ROS imports found in acnn_ros/runtime (source scan + loaded modules)."""
    found = []
    for path in sorted((REPO_DIR / 'acnn_ros' / 'runtime').rglob('*.py')):
        found += [f'{path.name}: {m}' for m in ROS_MODULE.findall(path.read_text())]
    import acnn_ros.runtime.engines  # noqa: F401
    import acnn_ros.runtime.pipeline  # noqa: F401
    loaded = sorted(name for name in sys.modules
                    if name == 'rclpy' or name.startswith('rclpy.') or name.endswith('_msgs'))
    return {'source_imports': found, 'loaded_modules': loaded,
            'ok': not found and not loaded}


def make_model(out: Path, checkpoint: str, onnx: str, seed: int):
    """
    Return (checkpoint for the torch backend, .onnx for ONNX Runtime, what the weights are).

    Both files always hold the same weights: a trained checkpoint and its export, the shipped
    .onnx and its weights rebuilt in PyTorch (acnn_ros/model/transfer.py), or a seeded untrained
    model.
    """
    import torch
    from acnn_ros.core.model_card import ModelCard
    from acnn_ros.model.acnn import build_model
    from acnn_ros.model.export import export_onnx
    from acnn_ros.model.train import CHECKPOINT_FORMAT, load_checkpoint, model_from_checkpoint
    if onnx and not checkpoint:
        from acnn_ros.model.transfer import model_from_onnx
        model, card = model_from_onnx(Path(onnx))
        config = dict(card.extra.get('config', {}))
        config.pop('num_classes', None)
        state = {'format': CHECKPOINT_FORMAT, 'class_names': list(card.class_names),
                 'train_config': {'variant': card.variant, 'overrides': config},
                 'model': model.state_dict(), 'history': []}
        torch.save(state, out / 'acnn_gpu.pt')
        return out / 'acnn_gpu.pt', Path(onnx), f'{card.model_id} (its ONNX weights)'
    if checkpoint:
        state = load_checkpoint(Path(checkpoint))
        model = model_from_checkpoint(state)
        names, variant = tuple(state['class_names']), state['train_config']['variant']
        weights = f'checkpoint {checkpoint} and its export'
    else:
        torch.manual_seed(seed)
        names, variant = CLASSES, 'opt'
        model = build_model(variant, len(names)).eval()
        state = {'format': CHECKPOINT_FORMAT, 'class_names': list(names),
                 'train_config': {'variant': variant, 'overrides': {}},
                 'model': model.state_dict(), 'history': []}
        weights = f'untrained opt, seed {seed} (same graph and cost as a trained one)'
    torch.save(state, out / 'acnn_gpu.pt')
    card = ModelCard(name='acnn_gpu_check', class_names=names, variant=variant)
    export_onnx(model, card, out / 'acnn_gpu.onnx')
    return out / 'acnn_gpu.pt', out / 'acnn_gpu.onnx', weights


def render_frames(count: int, seed: int):
    """Render `count` synthetic 640x480 AOI frames (classes in turn)."""
    from acnn_ros.core.dataset.synthetic import render_frame
    rng = np.random.default_rng(seed)
    return [render_frame(rng, index % len(CLASSES), device=1)[0] for index in range(count)]


class DeviceTorchEngine:
    """The torch backend's module on a device, in fp32 or fp16 autocast (same run contract)."""

    def __init__(self, engine, device: str, fp16: bool):
        import torch
        self.torch, self.device, self.fp16 = torch, torch.device(device), fp16
        self.module = engine.module.to(self.device).eval()
        self.backend = 'torch'
        self.provider_report = (f'torch {torch.__version__} on {device}'
                                f'{" fp16 autocast" if fp16 else " fp32"}')

    def run(self, tensor: np.ndarray):
        """Return (probs, roi) as float32 numpy arrays."""
        torch = self.torch
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.float16,
                                                    enabled=self.fp16):
            probs, roi = self.module(torch.from_numpy(tensor).to(self.device, non_blocking=True))
        return probs.float().cpu().numpy(), roi.float().cpu().numpy()


def timed(function, iterations: int):
    """Return p50 / p99 / mean ms of `function()` over `iterations` calls after 10 warm-ups."""
    times = wall_times_ms(function, iterations, warmup=10)
    stats = percentiles(times)
    return {'p50_ms': stats['p50'], 'p99_ms': stats['p99'], 'mean_ms': float(np.mean(times)),
            'n': iterations}


def _boxes(outcomes) -> np.ndarray:
    return np.array([[o.roi.center_x, o.roi.center_y, o.roi.width, o.roi.height]
                     for o in outcomes])


def measure(pipeline, images, reference, iterations: int) -> dict:
    """Parity of `pipeline` with the reference outcomes, then model and pipeline latency."""
    from acnn_ros.core.preprocess import preprocess
    outcomes = [pipeline.inspect(image) for image in images]
    bad = [o.detail for o in outcomes if o.status != 0]
    result = {'provider': pipeline.provider_report, 'errors': bad[:3]}
    if reference is not None and not bad:
        scores = np.array([o.class_scores for o in outcomes])
        ref_scores = np.array([o.class_scores for o in reference])
        boxes, ref_boxes = _boxes(outcomes), _boxes(reference)
        result['parity'] = {
            'frames': len(images),
            'same_class': int(sum(a.class_id == b.class_id for a, b in zip(outcomes, reference))),
            'max_score_diff': float(np.max(np.abs(scores - ref_scores))),
            'max_roi_px_diff': float(np.max(np.abs(boxes - ref_boxes)))}
    tensor, _ = preprocess(images[0], pipeline.card.input_width, pipeline.card.input_height)
    result['model'] = timed(lambda: pipeline.engine.run(tensor), iterations)
    result['pipeline'] = timed(lambda: pipeline.inspect(images[0]), iterations)
    return result


def torch_runs(checkpoint: Path, device: str, images, reference, iterations: int) -> dict:
    """Torch backend on `device`: fp32, and fp16 where the device is CUDA."""
    from acnn_ros.model.checkpoint import load_checkpoint_module
    from acnn_ros.runtime.pipeline import InspectionPipeline
    runs = {}
    for fp16 in ((False, True) if device.startswith('cuda') else (False,)):
        name = f'torch {device} {"fp16" if fp16 else "fp32"}'
        pipeline = InspectionPipeline.from_model_path(
            checkpoint, backend='torch', warmup_runs=0,
            load_checkpoint_module=load_checkpoint_module)
        pipeline.engine = DeviceTorchEngine(pipeline.engine, device, fp16)
        pipeline.warmup(3)
        runs[name] = measure(pipeline, images, reference, iterations)
    return runs


def onnxruntime_gpu_runs(onnx: Path, out: Path, images, reference, iterations: int) -> dict:
    """CUDA and TensorRT execution providers, only where this onnxruntime build has them."""
    import onnxruntime as ort
    from acnn_ros.runtime.pipeline import InspectionPipeline
    available = ort.get_available_providers()
    runs = {}
    if 'CUDAExecutionProvider' not in available:
        runs['onnxruntime cuda'] = {'skipped': f'onnxruntime {ort.__version__} has {available}'}
    else:
        pipeline = InspectionPipeline.from_model_path(onnx, providers=['cuda'], warmup_runs=3)
        runs['onnxruntime cuda'] = measure(pipeline, images, reference, iterations)
        runs['onnxruntime cuda'].update(expected_provider='CUDAExecutionProvider',
                                        active_provider=pipeline.engine.active_provider)
    if 'TensorrtExecutionProvider' not in available:
        runs['onnxruntime tensorrt fp16'] = {
            'skipped': f'onnxruntime {ort.__version__} has {available}'}
        return runs
    cache = out / 'trt_cache'
    starts = []
    for attempt in range(2):  # the second start must reuse the engine the first one built
        before = {p: p.stat().st_mtime_ns for p in cache.rglob('*') if p.is_file()}
        start = time.perf_counter()
        pipeline = InspectionPipeline.from_model_path(
            onnx, providers=['tensorrt', 'cuda'], trt_fp16=True, trt_cache_dir=str(cache),
            warmup_runs=1)
        after = {p: p.stat().st_mtime_ns for p in cache.rglob('*') if p.is_file()}
        engines = sorted(str(p.name) for p in after if p.suffix == '.engine')
        starts.append({'start_s': time.perf_counter() - start, 'engine_files': engines,
                       'engine_files_rewritten': sorted(
                           str(p.name) for p in after if p.suffix == '.engine'
                           and before.get(p) != after[p]),
                       'provider': pipeline.provider_report})
    result = measure(pipeline, images, reference, iterations)
    result.update(starts=starts, expected_provider='TensorrtExecutionProvider',
                  active_provider=pipeline.engine.active_provider)
    result['cache_hit_on_second_start'] = bool(
        starts[1]['engine_files'] and not starts[1]['engine_files_rewritten'])
    runs['onnxruntime tensorrt fp16'] = result
    return runs


def environment(device: str) -> dict:
    """Return versions and the device, as seen by this process."""
    import onnxruntime as ort
    import torch
    info = {'python': platform.python_version(), 'machine': platform.node(),
            'torch': torch.__version__, 'cuda_available': torch.cuda.is_available(),
            'onnxruntime': ort.__version__, 'ort_providers': ort.get_available_providers(),
            'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), 'device': device}
    if device.startswith('cuda') and torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(torch.device(device))
    try:
        import tensorrt
        info['tensorrt'] = tensorrt.__version__
    except ImportError as exc:
        info['tensorrt'] = f'not importable ({exc})'
    return info


def main(argv=None) -> int:
    """Run every step; exit 1 when a check fails, 0 otherwise (skipped steps say why)."""
    from acnn_ros.app.bench.gpu_check_report import assess, markdown
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cuda', help='cuda, cuda:N or cpu (dry run)')
    parser.add_argument('--out', default='/tmp/acnn_gpu_check')
    parser.add_argument('--frames', type=int, default=32, help='frames for the parity check')
    parser.add_argument('--iterations', type=int, default=200, help='timed runs per latency')
    parser.add_argument('--onnx', default=str(REPO_DIR / 'resource' / 'models'
                                              / 'acnn_demo.onnx'),
                        help="model (with its card) whose weights both backends run; '' = a "
                             'seeded untrained opt A-CNN')
    parser.add_argument('--checkpoint', default='', help='trained acnn_ros checkpoint instead')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {'command': 'python -m benchmarks.gpu_check ' + ' '.join(
        sys.argv[1:] if argv is None else argv)}
    report['runtime_imports_no_ros'] = ros_free_runtime()
    report['environment'] = environment(args.device)
    if args.device.startswith('cuda') and not report['environment']['cuda_available']:
        report['error'] = 'torch sees no CUDA device'
    else:
        from acnn_ros.runtime.pipeline import InspectionPipeline
        checkpoint, onnx, weights = make_model(out, args.checkpoint, args.onnx, args.seed)
        report['model'] = {'checkpoint': str(checkpoint), 'onnx': str(onnx), 'weights': weights}
        images = render_frames(args.frames, args.seed)
        cpu = InspectionPipeline.from_model_path(onnx, providers=['cpu'], warmup_runs=3)
        reference = [cpu.inspect(image) for image in images]
        report['runs'] = {'onnxruntime cpu (reference)': measure(cpu, images, None,
                                                                 args.iterations)}
        report['runs'].update(torch_runs(checkpoint, args.device, images, reference,
                                         args.iterations))
        if args.device.startswith('cuda'):
            report['runs'].update(onnxruntime_gpu_runs(onnx, out, images, reference,
                                                       args.iterations))
    report['assessment'] = assess(report)
    (out / 'gpu_check.json').write_text(json.dumps(report, indent=1, default=str))
    text = markdown(report)
    (out / 'gpu_check.md').write_text(text)
    print(text, flush=True)
    return 0 if report['assessment']['ok'] else 1


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '4')
    raise SystemExit(main())

# SPDX-License-Identifier: Apache-2.0
"""
Inference engines: run the model card's ONNX contract on ONNX Runtime or PyTorch.

Every engine takes the preprocessed float32 [1, 3, H, W] tensor and returns (probs [1, C],
roi [1, 4]) as numpy arrays. ONNX Runtime is the production backend: its execution providers
are tried in the order given (TensorRT, CUDA, CPU...), those missing from the installed build
are skipped, and `provider_report` is the one line a node logs to say which one is active.
The TensorRT execution provider and the CUDA provider could not be exercised on the CPU-only
development machine (see docs/JETSON.md); the CPU path is what the tests run.
"""
import ctypes
import ctypes.util
import glob
import importlib
from pathlib import Path
import re
from typing import Dict, List, Optional, Sequence, Tuple

from acnn_ros.core.model_card import INPUT_NAME, PROBS_NAME, ROI_NAME
import numpy as np

BACKENDS = ('onnxruntime', 'torch', 'tensorrt')
PROVIDER_ALIASES: Dict[str, str] = {
    'tensorrt': 'TensorrtExecutionProvider',
    'cuda': 'CUDAExecutionProvider',
    'cpu': 'CPUExecutionProvider',
}
KNOWN_PROVIDERS = tuple(PROVIDER_ALIASES.values())


class EngineError(RuntimeError):
    """A model cannot be loaded or run by the requested backend."""


def normalise_providers(names: Sequence[str]) -> Tuple[str, ...]:
    """
    Return ONNX Runtime provider names for short ('tensorrt', 'cuda', 'cpu') or full names.

    Raises ValueError naming the unknown entry and the accepted ones; an empty list is an error
    too (there would be nothing to run on).
    """
    canonical = []
    for name in names:
        key = str(name).strip()
        full = PROVIDER_ALIASES.get(key.lower(), key if key in KNOWN_PROVIDERS else None)
        if full is None:
            raise ValueError(f'unknown execution provider {name!r}; use any of '
                             f'{", ".join(PROVIDER_ALIASES)} (or {", ".join(KNOWN_PROVIDERS)})')
        if full not in canonical:
            canonical.append(full)
    if not canonical:
        raise ValueError('the provider list is empty; give at least one of '
                         f'{", ".join(PROVIDER_ALIASES)}')
    return tuple(canonical)


def gpu_name() -> str:
    """Return the GPU model (Jetson device-tree model or first NVIDIA GPU), or 'nogpu'."""
    jetson = Path('/proc/device-tree/model')
    if jetson.is_file():
        text = jetson.read_bytes().decode('ascii', 'ignore').strip('\x00 \n')
        if text:
            return text
    for info in sorted(glob.glob('/proc/driver/nvidia/gpus/*/information')):
        for line in Path(info).read_text(encoding='ascii', errors='ignore').splitlines():
            if line.startswith('Model:'):
                return line.split(':', 1)[1].strip()
    return 'nogpu'


def tensorrt_version() -> str:
    """Return the TensorRT library version (python module, else libnvinfer), or 'unknown'."""
    try:
        return importlib.import_module('tensorrt').__version__
    except ImportError:
        pass
    library = ctypes.util.find_library('nvinfer')
    if library:
        try:
            encoded = int(ctypes.CDLL(library).getInferLibVersion())
        except (OSError, AttributeError):
            return 'unknown'
        # TensorRT >= 10 encodes MAJOR*10000 + MINOR*100 + PATCH, older MAJOR*1000 + ...
        base = 10000 if encoded >= 100000 else 1000
        return f'{encoded // base}.{encoded % base // 100}.{encoded % 100}'
    return 'unknown'


def trt_cache_dir(base_dir: str, model_hash: str, fp16: bool, gpu: Optional[str] = None,
                  trt_version: Optional[str] = None) -> Path:
    """
    Return the engine cache folder for one model on one GPU / TensorRT version / precision.

    TensorRT engines are valid only for the GPU and TensorRT version that built them; keying the
    folder by all four means a JetPack upgrade or a new model builds a fresh engine once, and
    every other start reuses the cached one (building takes minutes on a Jetson).
    """
    parts = [model_hash or 'model', gpu if gpu is not None else gpu_name(),
             'trt' + (trt_version if trt_version is not None else tensorrt_version()),
             'fp16' if fp16 else 'fp32']
    key = '_'.join(re.sub(r'[^A-Za-z0-9.-]+', '-', part).strip('-') for part in parts)
    return Path(base_dir).expanduser() / key


class OnnxRuntimeEngine:
    """ONNX Runtime session with an ordered execution provider list."""

    backend = 'onnxruntime'

    def __init__(self, model_path: Path, providers: Sequence[str] = ('cpu',),
                 intra_op_threads: int = 0, inter_op_threads: int = 0,
                 input_size: Optional[Tuple[int, int]] = None, trt_fp16: bool = True,
                 trt_cache_dir_base: str = '~/.cache/acnn_ros/tensorrt', model_hash: str = '',
                 device_id: int = 0):
        import onnxruntime as ort
        # A vision PC on a line network must not phone home. onnxruntime >= 1.29 Linux wheels
        # look up a telemetry host ~30 s after start even after this call, which is why
        # requirements pin 1.28.0; the call still covers builds that honour it.
        ort.disable_telemetry_events()
        self.model_path = Path(model_path)
        requested = normalise_providers(providers)
        available = set(ort.get_available_providers())
        usable = [name for name in requested if name in available]
        skipped = [name for name in requested if name not in available]
        if not usable:
            raise EngineError(f'none of the requested providers {list(requested)} is in this '
                              f'onnxruntime {ort.__version__} build (it has '
                              f'{sorted(available)}); install onnxruntime-gpu for CUDA/TensorRT '
                              'or add cpu to the list')
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(intra_op_threads)
        options.inter_op_num_threads = int(inter_op_threads)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        provider_options: List[Tuple[str, dict]] = []
        self.trt_cache_path: Optional[Path] = None
        for name in usable:
            if name == 'TensorrtExecutionProvider':
                self.trt_cache_path = trt_cache_dir(trt_cache_dir_base, model_hash, trt_fp16)
                self.trt_cache_path.mkdir(parents=True, exist_ok=True)
                provider_options.append((name, self._tensorrt_options(input_size, trt_fp16,
                                                                      device_id)))
            elif name == 'CUDAExecutionProvider':
                provider_options.append((name, {'device_id': int(device_id)}))
            else:
                provider_options.append((name, {}))
        try:
            self.session = ort.InferenceSession(
                str(self.model_path), sess_options=options,
                providers=[name for name, _ in provider_options],
                provider_options=[opts for _, opts in provider_options])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EngineError(f'onnxruntime cannot load {self.model_path}: {exc}') from exc
        self._check_io(input_size)
        self.active_provider = self.session.get_providers()[0]
        fallback = [name for name in usable if name not in self.session.get_providers()]
        notes = []
        if skipped:
            notes.append(f'not in this build: {", ".join(skipped)}')
        if fallback:
            notes.append(f'failed to initialise: {", ".join(fallback)}')
        self.provider_report = (
            f'onnxruntime {ort.__version__}: active provider {self.active_provider} '
            f'(requested {", ".join(requested)}'
            + (f'; {"; ".join(notes)}' if notes else '') + ')'
            + (f', TensorRT cache {self.trt_cache_path}' if self.active_provider
               == 'TensorrtExecutionProvider' else '')
            + f', threads intra={intra_op_threads or "auto"} inter={inter_op_threads or "auto"}')

    def _tensorrt_options(self, input_size, fp16: bool, device_id: int) -> dict:
        cache = str(self.trt_cache_path)
        options = {'device_id': int(device_id), 'trt_fp16_enable': bool(fp16),
                   'trt_engine_cache_enable': True, 'trt_engine_cache_path': cache,
                   'trt_timing_cache_enable': True, 'trt_timing_cache_path': cache}
        if input_size is not None:
            # A fixed profile: a dynamic batch axis would otherwise make TensorRT rebuild.
            shape = f'{INPUT_NAME}:1x3x{input_size[1]}x{input_size[0]}'
            options.update(trt_profile_min_shapes=shape, trt_profile_opt_shapes=shape,
                           trt_profile_max_shapes=shape)
        return options

    def _check_io(self, input_size) -> None:
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if INPUT_NAME not in inputs or not {PROBS_NAME, ROI_NAME} <= outputs:
            raise EngineError(f'{self.model_path} does not follow the model card contract: '
                              f'inputs {sorted(inputs)} outputs {sorted(outputs)}, expected '
                              f'input {INPUT_NAME!r}, outputs {PROBS_NAME!r} and {ROI_NAME!r}')
        shape = inputs[INPUT_NAME].shape
        if input_size is not None and len(shape) == 4 and isinstance(shape[2], int) \
                and isinstance(shape[3], int) and (shape[3], shape[2]) != tuple(input_size):
            raise EngineError(f'{self.model_path} takes {shape[3]}x{shape[2]} input but its '
                              f'model card says {input_size[0]}x{input_size[1]}')
        if len(shape) != 4 or shape[1] != 3:
            raise EngineError(f'{self.model_path} input {INPUT_NAME!r} has shape {shape}, '
                              'expected [N, 3, H, W]')

    def run(self, tensor: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Return (probs, roi) for a preprocessed batch."""
        probs, roi = self.session.run([PROBS_NAME, ROI_NAME], {INPUT_NAME: tensor})
        return probs, roi


class TorchEngine:
    """
    Development backend: a TorchScript file or an A-CNN training checkpoint, on CPU.

    torch and acnn_ros.model are imported only when this backend is chosen, so the production
    node never loads them.
    """

    backend = 'torch'

    def __init__(self, model_path: Path, intra_op_threads: int = 0, **_ignored):
        import torch
        self._torch = torch
        self.model_path = Path(model_path)
        self.card_hint = None  # card fields read from a checkpoint (TorchScript has none)
        if intra_op_threads:
            torch.set_num_threads(int(intra_op_threads))
        try:
            self.module = torch.jit.load(str(self.model_path), map_location='cpu')
            kind = 'TorchScript'
        except (RuntimeError, ValueError):
            self.module = self._load_checkpoint()
            kind = 'checkpoint'
        except FileNotFoundError as exc:
            raise EngineError(f'model file not found: {self.model_path}') from exc
        self.module.eval()
        self.active_provider = 'torch-cpu'
        self.provider_report = (f'torch {torch.__version__}: {kind} {self.model_path.name} on CPU '
                                f'(development backend), threads {torch.get_num_threads()}')

    def _load_checkpoint(self):
        """Rebuild an A-CNN from a training checkpoint, wrapped to the ONNX output contract."""
        try:
            train = importlib.import_module('acnn_ros.model.train')
            export = importlib.import_module('acnn_ros.model.export')
        except ImportError as exc:
            raise EngineError(f'{self.model_path} is not TorchScript and acnn_ros.model cannot '
                              f'be imported to read it as a checkpoint: {exc}') from exc
        try:
            state = train.load_checkpoint(self.model_path)
            model = train.model_from_checkpoint(state)
        except Exception as exc:  # a checkpoint loader may raise anything torch raises
            raise EngineError(f'cannot load checkpoint {self.model_path}: {exc}') from exc
        config = getattr(model, 'config', None)
        self.card_hint = {'name': self.model_path.stem,
                          'class_names': tuple(state['class_names']),
                          'input_width': int(getattr(config, 'input_width', 640)),
                          'input_height': int(getattr(config, 'input_height', 480)),
                          'variant': str(state['train_config'].get('variant', ''))}
        return export.ContractWrapper(model)

    def run(self, tensor: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Return (probs, roi) for a preprocessed batch."""
        with self._torch.inference_mode():
            outputs = self.module(self._torch.from_numpy(tensor))
        if isinstance(outputs, dict):
            outputs = (outputs[PROBS_NAME], outputs[ROI_NAME])
        probs, roi = outputs[0], outputs[1]
        return probs.detach().numpy(), roi.detach().numpy()


def create_engine(backend: str, model_path: Path, **options):
    """Return an engine for `backend` (one of BACKENDS); ValueError for others."""
    if backend == 'onnxruntime':
        return OnnxRuntimeEngine(model_path, **options)
    if backend == 'torch':
        return TorchEngine(model_path, **options)
    if backend == 'tensorrt':  # UNTESTED native TensorRT (runtime/tensorrt_engine.py)
        from acnn_ros.runtime.tensorrt_engine import TensorRTEngine
        return TensorRTEngine(model_path, **options)
    raise ValueError(f'unknown backend {backend!r}; use one of {", ".join(BACKENDS)}')

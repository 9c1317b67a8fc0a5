# SPDX-License-Identifier: Apache-2.0
"""
The ONNX Runtime backend: the production engine, with an ordered execution provider list.

Its execution providers are tried in the order given (TensorRT, CUDA, CPU...), those missing
from the installed build are skipped, and `provider_report` says which one is active. The
TensorRT execution provider and the CUDA provider could not be exercised on the CPU-only
development machine (see docs/JETSON.md); the CPU path is what the tests run. onnxruntime is
imported when an engine is built, so importing this module (for `normalise_providers`) costs
nothing.
"""
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from acnn_ros.core.model_card import INPUT_NAME, PROBS_NAME, ROI_NAME
from acnn_ros.runtime.engines.contract import EngineError
from acnn_ros.runtime.engines.gpu import trt_cache_dir
import numpy as np

PROVIDER_ALIASES: Dict[str, str] = {
    'tensorrt': 'TensorrtExecutionProvider',
    'cuda': 'CUDAExecutionProvider',
    'cpu': 'CPUExecutionProvider',
}
KNOWN_PROVIDERS = tuple(PROVIDER_ALIASES.values())


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
        # An export with a fixed batch of 1, or the TensorRT profile (fixed at batch 1, below):
        # larger batches go one by one (InspectionPipeline.complete_batch).
        inputs = {i.name: i for i in self.session.get_inputs()}
        fixed_batch = inputs[INPUT_NAME].shape[0] == 1
        self.max_batch = 1 if fixed_batch or \
            self.active_provider == 'TensorrtExecutionProvider' else None
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

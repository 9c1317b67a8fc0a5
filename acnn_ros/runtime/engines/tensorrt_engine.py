# SPDX-License-Identifier: Apache-2.0
"""
Native TensorRT engine for the model card's ONNX contract (backend `tensorrt`).

GPU only, UNTESTED: written against the TensorRT 10 Python API (`tensorrt`, as shipped with
JetPack 6) and NVIDIA's `cuda-python` bindings, but never run: the development machine has no GPU
and no TensorRT. Only its start-up error without TensorRT is exercised by the tests. The
tested route to TensorRT is ONNX Runtime's TensorRT execution provider (backend
`onnxruntime`, providers `[tensorrt, cuda, cpu]`); use this backend only after verifying it on
the target (docs/JETSON.md, "Native TensorRT backend").

The serialized engine is cached in the same folder as the execution provider's cache, keyed by
model hash, GPU, TensorRT version and precision (`gpu.trt_cache_dir`), so it is built once per
device and reused at every start. Its code is kept as it was written (issue 20 moved it only).
"""
import importlib
from pathlib import Path
from typing import Optional, Tuple

from acnn_ros.core.model_card import INPUT_NAME, PROBS_NAME, ROI_NAME
from acnn_ros.runtime.engines.contract import EngineError
from acnn_ros.runtime.engines.gpu import trt_cache_dir
import numpy as np


def _import(name: str, hint: str):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise EngineError(f'backend tensorrt needs the {name!r} Python module ({hint}): '
                          f'{exc}') from exc


def _cudart():
    try:
        return importlib.import_module('cuda.bindings.runtime')  # cuda-python >= 12.6
    except ImportError:
        return _import('cuda.cudart', 'pip install cuda-python matching the CUDA version')


def _check(result):
    """Unpack a cuda-python (error, value...) tuple, raising on a CUDA error."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if int(error) != 0:
        raise EngineError(f'CUDA runtime error {error}')
    return values[0] if len(values) == 1 else values


class TensorRTEngine:
    """UNTESTED native TensorRT execution of `<stem>.onnx` (see the module docstring)."""

    backend = 'tensorrt'
    max_batch = 1           # the engine is built for [1, 3, H, W]

    def __init__(self, model_path: Path, input_size: Tuple[int, int] = (640, 480),
                 trt_fp16: bool = True, trt_cache_dir_base: str = '~/.cache/acnn_ros/tensorrt',
                 model_hash: str = '', device_id: int = 0, workspace_mib: int = 1024,
                 **_ignored):
        trt = _import('tensorrt', 'JetPack ships it; on x86 pip install tensorrt')
        self._cudart = _cudart()
        self.model_path = Path(model_path)
        _check(self._cudart.cudaSetDevice(int(device_id)))
        self._logger = trt.Logger(trt.Logger.WARNING)
        width, height = input_size
        self._input_shape = (1, 3, height, width)
        cache = trt_cache_dir(trt_cache_dir_base, model_hash, trt_fp16)
        engine_path = cache / f'{self.model_path.stem}.engine'
        runtime = trt.Runtime(self._logger)
        serialized: Optional[bytes] = engine_path.read_bytes() if engine_path.is_file() else None
        built = serialized is None
        if built:
            serialized = self._build(trt, trt_fp16, workspace_mib)
            cache.mkdir(parents=True, exist_ok=True)
            engine_path.write_bytes(serialized)
        self._engine = runtime.deserialize_cuda_engine(serialized)
        if self._engine is None:
            raise EngineError(f'TensorRT cannot deserialize {engine_path}; delete it to rebuild')
        self._context = self._engine.create_execution_context()
        self._context.set_input_shape(INPUT_NAME, self._input_shape)
        num_classes = int(self._context.get_tensor_shape(PROBS_NAME)[1])
        self._host = {INPUT_NAME: None,
                      PROBS_NAME: np.empty((1, num_classes), np.float32),
                      ROI_NAME: np.empty((1, 4), np.float32)}
        sizes = {INPUT_NAME: int(np.prod(self._input_shape)) * 4,
                 PROBS_NAME: self._host[PROBS_NAME].nbytes, ROI_NAME: self._host[ROI_NAME].nbytes}
        self._device = {name: _check(self._cudart.cudaMalloc(size))
                        for name, size in sizes.items()}
        for name, pointer in self._device.items():
            self._context.set_tensor_address(name, int(pointer))
        self._stream = _check(self._cudart.cudaStreamCreate())
        self.active_provider = 'TensorRT-native'
        self.provider_report = (
            f'TensorRT {trt.__version__} native engine '
            f'({"fp16" if trt_fp16 else "fp32"}, {"built" if built else "cached"} '
            f'{engine_path}) [UNTESTED backend]')

    def _build(self, trt, fp16: bool, workspace_mib: int) -> bytes:
        builder = trt.Builder(self._logger)
        network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(self.model_path.read_bytes()):
            errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise EngineError(f'TensorRT cannot parse {self.model_path}: {errors}')
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
        if fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        profile.set_shape(INPUT_NAME, self._input_shape, self._input_shape, self._input_shape)
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise EngineError(f'TensorRT failed to build an engine for {self.model_path}')
        return bytes(serialized)

    def run(self, tensor: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Return (probs, roi): copy in, execute, copy out, on one CUDA stream."""
        cudart = self._cudart
        tensor = np.ascontiguousarray(tensor, dtype=np.float32)
        if tensor.shape != self._input_shape:
            raise EngineError(f'input {tensor.shape} is not the engine shape {self._input_shape}')
        _check(cudart.cudaMemcpyAsync(self._device[INPUT_NAME], tensor.ctypes.data, tensor.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self._stream))
        if not self._context.execute_async_v3(int(self._stream)):
            raise EngineError('TensorRT execution failed')
        for name in (PROBS_NAME, ROI_NAME):
            host = self._host[name]
            _check(cudart.cudaMemcpyAsync(host.ctypes.data, self._device[name], host.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost,
                                          self._stream))
        _check(cudart.cudaStreamSynchronize(self._stream))
        return self._host[PROBS_NAME].copy(), self._host[ROI_NAME].copy()

    def __del__(self):
        cudart = getattr(self, '_cudart', None)
        for pointer in getattr(self, '_device', {}).values():
            cudart.cudaFree(pointer)
        if getattr(self, '_stream', None) is not None:
            cudart.cudaStreamDestroy(self._stream)

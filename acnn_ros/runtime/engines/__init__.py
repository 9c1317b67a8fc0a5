# SPDX-License-Identifier: Apache-2.0
"""
Inference engines: one module per backend behind one contract, chosen by name.

- `contract.py`: `InferenceEngine` (what the pipeline calls), `EngineError`, the torch
  backend's injected `CheckpointModuleLoader`;
- `onnxruntime_engine.py`: ONNX Runtime, the production backend (provider list, TensorRT EP);
- `torch_engine.py`: PyTorch, development (TorchScript, or a checkpoint through a loader);
- `tensorrt_engine.py`: native TensorRT, GPU only and UNTESTED here;
- `gpu.py`: GPU / TensorRT probing and the TensorRT engine cache key.

`create_engine(backend, model_path, **options)` is the one place a backend name becomes an
engine; each backend's module (and its heavy library) is imported only when it is chosen.
"""
from pathlib import Path
from typing import Callable, Dict

from acnn_ros.runtime.engines.contract import EngineError, InferenceEngine


def _onnxruntime_engine(model_path: Path, **options) -> InferenceEngine:
    from acnn_ros.runtime.engines.onnxruntime_engine import OnnxRuntimeEngine
    return OnnxRuntimeEngine(model_path, **options)


def _torch_engine(model_path: Path, **options) -> InferenceEngine:
    from acnn_ros.runtime.engines.torch_engine import TorchEngine
    return TorchEngine(model_path, **options)


def _tensorrt_engine(model_path: Path, **options) -> InferenceEngine:
    from acnn_ros.runtime.engines.tensorrt_engine import TensorRTEngine  # UNTESTED, GPU only
    return TensorRTEngine(model_path, **options)


# Backend name -> factory (model_path, **backend options) -> engine.
ENGINE_FACTORIES: Dict[str, Callable[..., InferenceEngine]] = {
    'onnxruntime': _onnxruntime_engine,
    'torch': _torch_engine,
    'tensorrt': _tensorrt_engine,
}
BACKENDS = tuple(ENGINE_FACTORIES)


def create_engine(backend: str, model_path: Path, **options) -> InferenceEngine:
    """Return an engine for `backend` (one of BACKENDS); ValueError for others."""
    factory = ENGINE_FACTORIES.get(backend)
    if factory is None:
        raise ValueError(f'unknown backend {backend!r}; use one of {", ".join(BACKENDS)}')
    return factory(model_path, **options)


__all__ = ['BACKENDS', 'create_engine', 'ENGINE_FACTORIES', 'EngineError', 'InferenceEngine']

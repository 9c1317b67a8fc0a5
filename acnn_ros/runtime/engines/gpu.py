# SPDX-License-Identifier: Apache-2.0
"""
GPU and TensorRT probing: what a TensorRT engine cache is keyed by.

TensorRT engines are valid only for the GPU and TensorRT version that built them; both the ONNX
Runtime TensorRT execution provider and the native TensorRT backend keep their engines in
`trt_cache_dir`. Nothing here needs a GPU: without one `gpu_name` is 'nogpu' and
`tensorrt_version` 'unknown'.
"""
import ctypes
import ctypes.util
import glob
import importlib
from pathlib import Path
import re
from typing import Optional


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

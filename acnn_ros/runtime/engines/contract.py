# SPDX-License-Identifier: Apache-2.0
"""
The engine contract: what every inference backend offers the pipeline, and how it fails.

An engine runs the model card's ONNX contract (`acnn_ros.core.model_card`): `run` takes the
preprocessed float32 [N, 3, H, W] RGB batch and returns (probs [N, C], roi [N, 4]) as numpy
arrays. `provider_report` is the one line a node logs to say which backend and provider run the
model; `active_provider` names that provider alone (diagnostics, the GPU check).
"""
from pathlib import Path
from typing import Any, Callable, Dict, Protocol, Tuple

import numpy as np

# Card fields a torch checkpoint carries itself (ModelCard keyword arguments: name,
# class_names, input_width, input_height, variant): a checkpoint needs no .json card.
CardFields = Dict[str, Any]
# The torch backend's checkpoint reader, injected by whoever composes a pipeline with the model
# code at hand (`acnn_ros.model.checkpoint.load_checkpoint_module`): path -> (a torch module
# returning (probs, roi), its card fields). The runtime never imports acnn_ros.model itself.
CheckpointModuleLoader = Callable[[Path], Tuple[Any, CardFields]]


class EngineError(RuntimeError):
    """A model cannot be loaded or run by the requested backend."""


class InferenceEngine(Protocol):
    """One loaded model on one backend (ONNX Runtime, torch, native TensorRT)."""

    backend: str            # the backend name of `acnn_ros.runtime.engines.BACKENDS`
    active_provider: str    # e.g. 'CPUExecutionProvider', 'torch-cpu', 'TensorRT-native'
    provider_report: str    # one line: backend, version, active provider, options
    # Optional: the largest batch `run` takes (None or absent: any; the pipeline splits).

    def run(self, tensor: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Return (probs [N, C], roi [N, 4]) for a preprocessed batch."""

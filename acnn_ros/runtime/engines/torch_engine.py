# SPDX-License-Identifier: Apache-2.0
"""
The torch backend (development): a TorchScript file, or a training checkpoint on request.

A TorchScript file carries its own graph. A training checkpoint holds weights only: rebuilding
its model needs the model code (`acnn_ros.model`), which the runtime must not import (runtime
imports only core; a robot runs no model code). So a checkpoint is read by a loader that the
composer injects (`load_checkpoint_module`, the `CheckpointModuleLoader` of the contract):
the `acnn` tools, the benchmarks and the tests pass `acnn_ros.model.checkpoint`'s; the
inference node passes none, and a checkpoint then fails with an EngineError saying so. torch is
imported only when this backend is chosen, so the production node never loads it.
"""
from pathlib import Path
from typing import Optional, Tuple

from acnn_ros.core.model_card import PROBS_NAME, ROI_NAME
from acnn_ros.runtime.engines.contract import CardFields, CheckpointModuleLoader, EngineError
import numpy as np


class TorchEngine:
    """Development backend: a TorchScript file or (with a loader) a training checkpoint, CPU."""

    backend = 'torch'

    def __init__(self, model_path: Path, intra_op_threads: int = 0,
                 load_checkpoint_module: Optional[CheckpointModuleLoader] = None, **_ignored):
        import torch
        self._torch = torch
        self.model_path = Path(model_path)
        # Card fields read from a checkpoint (TorchScript has none).
        self.card_hint: Optional[CardFields] = None
        if intra_op_threads:
            torch.set_num_threads(int(intra_op_threads))
        try:
            self.module = torch.jit.load(str(self.model_path), map_location='cpu')
            kind = 'TorchScript'
        except (RuntimeError, ValueError):
            self.module = self._load_checkpoint(load_checkpoint_module)
            kind = 'checkpoint'
        except FileNotFoundError as exc:
            raise EngineError(f'model file not found: {self.model_path}') from exc
        self.module.eval()
        self.active_provider = 'torch-cpu'
        self.provider_report = (f'torch {torch.__version__}: {kind} {self.model_path.name} on CPU '
                                f'(development backend), threads {torch.get_num_threads()}')

    def _load_checkpoint(self, load_checkpoint_module: Optional[CheckpointModuleLoader]):
        """Return the checkpoint's module (ONNX output contract) through the injected loader."""
        if load_checkpoint_module is None:
            raise EngineError(
                f'{self.model_path} is not TorchScript, and no checkpoint loader was given to '
                'the torch backend: a training checkpoint is rebuilt by the model code, which '
                'the runtime does not import (the acnn tools pass '
                'acnn_ros.model.checkpoint.load_checkpoint_module). On a robot, export it '
                '(`acnn export`) and load the .onnx')
        try:
            module, self.card_hint = load_checkpoint_module(self.model_path)
        except Exception as exc:  # a checkpoint loader may raise anything torch raises
            raise EngineError(f'cannot load checkpoint {self.model_path}: {exc}') from exc
        return module

    def run(self, tensor: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Return (probs, roi) for a preprocessed batch."""
        with self._torch.inference_mode():
            outputs = self.module(self._torch.from_numpy(tensor))
        if isinstance(outputs, dict):
            outputs = (outputs[PROBS_NAME], outputs[ROI_NAME])
        probs, roi = outputs[0], outputs[1]
        return probs.detach().numpy(), roi.detach().numpy()

# SPDX-License-Identifier: Apache-2.0
"""
Training checkpoints: the file format, atomic writes, stages, the model they hold.

A run folder holds ``last.pt`` (the end of the latest epoch: weights, optimizer, schedule,
history, best-so-far and the early-stopping counter; what ``--resume`` continues) and
``best.pt`` (the weights of the epoch best on validation, with the history up to it; what is
exported). Both are dicts with ``format == CHECKPOINT_FORMAT``.
"""
from pathlib import Path
from typing import Any, Dict, List

from acnn_ros.model.acnn import build_model
import torch
from torch import nn

CHECKPOINT_FORMAT = 'acnn_ros.checkpoint/1'


def save_checkpoint(path: Path, state: Dict[str, Any]) -> None:
    """Write a checkpoint atomically (a crash never leaves a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix('.partial')
    torch.save(state, partial)
    partial.replace(path)


def load_checkpoint(path: Path) -> Dict[str, Any]:
    """Read a checkpoint written by `train`, with a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint not found: {path}')
    state = torch.load(path, map_location='cpu', weights_only=False)
    if not isinstance(state, dict) or state.get('format') != CHECKPOINT_FORMAT:
        raise ValueError(f'{path} is not an acnn_ros checkpoint ({CHECKPOINT_FORMAT})')
    return state


def training_stages(state: Dict[str, Any]) -> List[Dict[str, Any]]:
    """
    Return the training stages behind a checkpoint, first to last.

    Each stage is {'command', 'epochs', 'num_train'}. Earlier stages are found by following
    `init_from` while those checkpoints still exist; a missing one starts the list with
    {'missing': path}.
    """
    stages = []
    while True:
        stages.insert(0, {'command': state.get('command', ''), 'epochs': len(state['history']),
                          'num_train': state.get('num_train')})
        source = state['train_config'].get('init_from', '')
        if not source:
            return stages
        if not Path(source).is_file():
            stages.insert(0, {'missing': source})
            return stages
        state = load_checkpoint(Path(source))


def model_from_checkpoint(state: Dict[str, Any]) -> nn.Module:
    """Rebuild the model of a checkpoint with its weights (eval mode, CPU)."""
    config = state['train_config']
    model = build_model(config['variant'], len(state['class_names']), **config['overrides'])
    model.load_state_dict(state['model'])
    return model.eval()

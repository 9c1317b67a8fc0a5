# SPDX-License-Identifier: Apache-2.0
"""
Training checkpoints: the file format, atomic writes, stages, the model they hold.

A run folder holds ``last.pt`` (the end of the latest epoch: weights, optimizer, schedule,
history, best-so-far and the early-stopping counter; what ``--resume`` continues) and
``best.pt`` (the weights of the epoch best on validation, with the history up to it; what is
exported). Both are plain dicts (tensors, numbers, strings, lists, dicts) with
``format == CHECKPOINT_FORMAT``, read with ``torch.load(weights_only=True)``: a file holding
any other Python object is refused unread (a pickle can run code when it is loaded).
"""
from pathlib import Path
import pickle
import re
from typing import Any, Dict, List, Tuple
import warnings

from acnn_ros.core.model_card import card_path_for, ModelCard
from acnn_ros.model.acnn import build_model
from acnn_ros.model.export import ContractWrapper
import torch
from torch import nn

CHECKPOINT_FORMAT = 'acnn_ros.checkpoint/1'
# The keys a model can be rebuilt from (a last.pt / best.pt of `acnn train` has more: epoch,
# history, input size, the optimizer; `--resume` reads those where it needs them).
REQUIRED_KEYS = ('train_config', 'class_names', 'model')
EXPECTED = f'a last.pt or best.pt of `acnn train` ({CHECKPOINT_FORMAT})'


class CheckpointError(ValueError):
    """A file that is not a checkpoint of ours: one line naming it and what was expected."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f'{path} is not an acnn_ros checkpoint: {reason}; expected {EXPECTED}')


def save_checkpoint(path: Path, state: Dict[str, Any]) -> None:
    """Write a checkpoint atomically (a crash never leaves a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix('.partial')
    torch.save(state, partial)
    partial.replace(path)


def load_checkpoint(path: Path) -> Dict[str, Any]:
    """
    Read a checkpoint written by `train`; CheckpointError (a ValueError) for anything else.

    Only tensors and plain data are unpickled (weights_only=True): a pickle holding code is
    refused before anything in it runs.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint not found: {path}')
    try:
        with warnings.catch_warnings():     # torch warns about pickle protocols it does not know
            warnings.simplefilter('ignore')
            state = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(path, _refusal(exc)) from None
    except OSError as exc:
        raise ValueError(f'cannot read checkpoint {path}: {exc.strerror or exc}') from None
    except Exception as exc:  # torch.load raises many types on a foreign file
        raise CheckpointError(path, f'not a PyTorch file ({type(exc).__name__}: '
                                    f'{_first_line(exc)})') from None
    if not isinstance(state, dict):
        raise CheckpointError(path, f'it holds a {type(state).__name__}, not a dict')
    if state.get('format') != CHECKPOINT_FORMAT:
        raise CheckpointError(path, f'its format is {state.get("format")!r}')
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(path, f'it lacks {", ".join(missing)}')
    return state


def _refusal(exc: pickle.UnpicklingError) -> str:
    """Return why torch's weights-only unpickler refused a file, in one short clause."""
    text = ' '.join(str(exc).split())
    code = re.search(r'unsupported global:? (?:GLOBAL )?(\S+)', text, re.IGNORECASE)
    if code:
        return (f'it refers to Python objects beyond tensors and plain data ({code.group(1)}), '
                'not loaded: unpickling them could run code')
    detail = re.search(r'WeightsUnpickler error: (.+?)(?: Check the documentation|$)', text)
    return ('not a PyTorch file of tensors and plain data (refused unread: '
            f'{(detail.group(1) if detail else _first_line(exc)).strip()})')


def _first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message (at most 120 characters)."""
    lines = str(exc).strip().splitlines()
    return (lines[0][:120] if lines else '') or 'empty or truncated file'


def training_stages(state: Dict[str, Any]) -> List[Dict[str, Any]]:
    """
    Return the training stages behind a checkpoint, first to last.

    Each stage is {'command', 'epochs', 'num_train'}. Earlier stages are found by following
    `init_from` while those checkpoints still exist; a missing one starts the list with
    {'missing': path}, a shipped model (.onnx) with {'command': its card's `reproduce`,
    'shipped': path}.
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
        if Path(source).suffix == '.onnx':      # a shipped model: its card says how it was made
            card = ModelCard.load(card_path_for(Path(source)))
            stages.insert(0, {'command': f'# the weights of {source} ({card.model_id}), made '
                                         f'by:\n{card.reproduce}', 'shipped': source})
            return stages
        state = load_checkpoint(Path(source))


def model_from_checkpoint(state: Dict[str, Any]) -> nn.Module:
    """Rebuild the model of a checkpoint with its weights (eval mode, CPU)."""
    config = state['train_config']
    model = build_model(config['variant'], len(state['class_names']), **config['overrides'])
    model.load_state_dict(state['model'])
    return model.eval()


def load_checkpoint_module(path: Path) -> Tuple[nn.Module, Dict[str, Any]]:
    """
    Return (the checkpoint's model wrapped to the ONNX output contract, its card fields).

    The torch backend's checkpoint loader (`acnn_ros.runtime.engines.torch_engine`): the
    runtime never imports this package, so whoever composes a pipeline with backend 'torch'
    (the `acnn` tools, the benchmarks, the tests) passes this function as
    `load_checkpoint_module`. Card fields: name (file stem), class names, input size, variant.
    """
    state = load_checkpoint(path)
    model = model_from_checkpoint(state)
    config = getattr(model, 'config', None)
    card_fields = {'name': Path(path).stem, 'class_names': tuple(state['class_names']),
                   'input_width': int(getattr(config, 'input_width', 640)),
                   'input_height': int(getattr(config, 'input_height', 480)),
                   'variant': str(state['train_config'].get('variant', ''))}
    return ContractWrapper(model), card_fields

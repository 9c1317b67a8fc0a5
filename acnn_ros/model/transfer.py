# SPDX-License-Identifier: Apache-2.0
"""
Start a training run from another model: a checkpoint (.pt) or a shipped model (.onnx + card).

`acnn train --init-from resource/models/acnn_demo.onnx` onboards a new product from the demo
model (issue 24, item 2): the localization and the classifier's trunk (where a printed code is,
what its glyphs look like) are reused, and only the class layer is learned again when the new
product has other classes. A class the source model had keeps its row of the class layer, by
name; a new class starts from a fresh row.

A shipped model is an ONNX file whose export folded each BatchNorm into the convolution before
it (fused weights and biases). `model_from_onnx` puts them back (each BatchNorm as "+ bias":
exact in eval mode) and `recalibrate_batchnorm` gives every BatchNorm the statistics of its
convolution's output on the new product's own frames, so training mode starts from the same
function (without it the first fine-tuning step starts from a different network: seen, back
to chance). `freeze_localization` keeps the reused localization fixed for the first epochs
while the new class layer settles (`--freeze-localization-epochs`).
"""
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

from acnn_ros.core.model_card import card_path_for, ModelCard
from acnn_ros.model.acnn import build_model
from acnn_ros.model.augment import to_input
from acnn_ros.model.checkpoint import load_checkpoint
import numpy as np
import torch
from torch import nn

CLASS_LAYER = 'classification.fc.'       # the A-CNN's class layer (acnn.ClassificationNet.fc)


def model_from_onnx(onnx_path: Path) -> Tuple[nn.Module, ModelCard]:
    """Return (the A-CNN of a shipped `.onnx` in eval mode, its card), weights rebuilt."""
    import onnx
    from onnx import numpy_helper

    card = ModelCard.load(card_path_for(Path(onnx_path)))
    config = dict(card.extra.get('config', {}))
    config.pop('num_classes', None)
    model = build_model(card.variant, card.num_classes, **config).eval()
    graph = onnx.load(str(onnx_path)).graph
    weights = {item.name: numpy_helper.to_array(item) for item in graph.initializer}
    convs = [node for node in graph.node if node.op_type == 'Conv']
    modules = [module for module in model.modules()
               if isinstance(module, (nn.Conv2d, nn.BatchNorm2d))]
    torch_convs = [(index, module) for index, module in enumerate(modules)
                   if isinstance(module, nn.Conv2d)]
    if len(convs) != len(torch_convs):
        raise ValueError(f'{onnx_path}: {len(convs)} Conv nodes, the model has '
                         f'{len(torch_convs)} convolutions')
    with torch.no_grad():
        for node, (index, conv) in zip(convs, torch_convs):
            weight = torch.from_numpy(weights[node.input[1]].copy())
            bias = torch.from_numpy(weights[node.input[2]].copy()) if len(node.input) > 2 \
                else torch.zeros(weight.shape[0])
            if weight.shape != conv.weight.shape:
                raise ValueError(f'{node.name}: weight {tuple(weight.shape)}, module '
                                 f'{tuple(conv.weight.shape)}')
            conv.weight.copy_(weight)
            if conv.bias is not None:
                conv.bias.copy_(bias)
                continue
            norm = modules[index + 1]
            if not isinstance(norm, nn.BatchNorm2d):
                raise ValueError(f'{node.name}: no BatchNorm after a bias-free convolution')
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)
            norm.weight.fill_(1.0)
            norm.bias.copy_(bias)
        state = model.state_dict()
        for name, value in weights.items():  # parameters the export kept by name
            key = name[len('model.'):] if name.startswith('model.') else name
            if key in state:
                state[key].copy_(torch.from_numpy(value.copy()))
    return model, card


def recalibrate_batchnorm(model: nn.Module, rgb_frames: np.ndarray) -> None:
    """
    Give each folded BatchNorm the statistics of its convolution's output; same function.

    Mean m and var v of each convolution's output on `rgb_frames` (uint8 [N, H, W, 3]): the
    BatchNorm gets scale sqrt(v + eps) and bias m + fused bias, so eval mode is unchanged and
    training mode (batch statistics) starts near it.
    """
    modules = list(model.modules())
    pairs = [(conv, norm) for conv, norm in zip(modules, modules[1:])
             if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)]
    stats = {}

    def hook(module, _inputs, output):
        stats[module] = (output.mean((0, 2, 3)), output.var((0, 2, 3), unbiased=False))
    handles = [conv.register_forward_hook(hook) for conv, _ in pairs]
    model.eval()
    with torch.no_grad():
        model(to_input(rgb_frames, torch.device('cpu')))
        for handle in handles:
            handle.remove()
        for conv, norm in pairs:
            mean, var = stats[conv]
            norm.bias.add_(mean)
            norm.weight.copy_(torch.sqrt(var + norm.eps))
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(var)


def source_weights(source: Path, rgb_frames: np.ndarray) -> Tuple[Dict[str, torch.Tensor],
                                                                  List[str], str, Dict]:
    """Return (state dict, class names, variant, model config) of a checkpoint or an .onnx."""
    source = Path(source)
    if not source.is_file():
        raise ValueError(f'--init-from {source}: no such file (a last.pt / best.pt of `acnn '
                         'train`, or a shipped model .onnx with its card .json)')
    if source.suffix == '.onnx':
        model, card = model_from_onnx(source)
        recalibrate_batchnorm(model, rgb_frames)
        return model.state_dict(), list(card.class_names), card.variant, _config(model)
    state = load_checkpoint(source)
    config = state['train_config']
    model = build_model(config['variant'], len(state['class_names']), **config['overrides'])
    return state['model'], list(state['class_names']), config['variant'], _config(model)


def _config(model: nn.Module) -> Dict:
    """Return a model's configuration without its class count (what must match to reuse it)."""
    config = getattr(model, 'config', None)
    fields = asdict(config) if is_dataclass(config) else {}
    fields.pop('num_classes', None)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}


def load_initial_weights(model: nn.Module, variant: str, source: Path,
                         class_names: Sequence[str], rgb_frames: np.ndarray,
                         log: Callable[[str], None] = print) -> None:
    """
    Load `source`'s weights into `model`; its class layer row by row, by class name.

    The variant and model configuration (ROI size and output among them) must be the source's,
    and so every other tensor's shape, else a ValueError says what differs. `rgb_frames` (a few
    of this run's training frames) give a shipped model's BatchNorms their statistics back.
    """
    weights, source_classes, source_variant, source_config = source_weights(source, rgb_frames)
    # The ROI's size changes no tensor's shape but what the classifier sees: compare configs.
    here = _config(model)
    differ = ({'variant': (source_variant, variant)} if source_variant != variant else
              {k: (v, here.get(k)) for k, v in source_config.items() if here.get(k) != v})
    if differ:
        raise ValueError(f'--init-from {source}: ' + '; '.join(
            f'{k} {a} there, {b} here' for k, (a, b) in differ.items())
            + ' (use the same variant, --roi-size and --roi-output as the source)')
    target = model.state_dict()
    for name, tensor in target.items():
        if name.startswith(CLASS_LAYER):
            continue
        if name not in weights or weights[name].shape != tensor.shape:
            got = tuple(weights[name].shape) if name in weights else 'missing'
            raise ValueError(f'--init-from {source}: its {name} is {got}, this run needs '
                             f'{tuple(tensor.shape)}')
        target[name] = weights[name]
    kept = [c for c in class_names if c in source_classes]
    for suffix in ('weight', 'bias'):
        rows = target[CLASS_LAYER + suffix].clone()
        for index, name in enumerate(class_names):
            if name in source_classes:
                rows[index] = weights[CLASS_LAYER + suffix][source_classes.index(name)]
        target[CLASS_LAYER + suffix] = rows
    model.load_state_dict(target)
    new = [c for c in class_names if c not in source_classes]
    log(f'starting from the weights of {source} ({source_variant}, classes '
        f'{", ".join(source_classes)})' + (
            f'; class layer learned again for {", ".join(new)}' if new else '')
        + (f'; kept for {", ".join(kept)}' if new and kept else ''))


def freeze_localization(model: nn.Module, frozen: bool) -> None:
    """Hold the localization fixed (no gradient, BatchNorm statistics kept) or release it."""
    localization = getattr(model, 'localization', None)
    if localization is None:
        if frozen:
            raise ValueError('--freeze-localization-epochs needs an A-CNN variant (base, '
                             'best, opt): this model has no localization network')
        return
    for parameter in localization.parameters():
        parameter.requires_grad_(not frozen)
    if frozen:
        localization.eval()

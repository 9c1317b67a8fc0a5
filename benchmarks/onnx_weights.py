# SPDX-License-Identifier: Apache-2.0
"""
Rebuild the PyTorch A-CNN of a shipped `.onnx` model (for the GPU check's torch backend).

The export folds each BatchNorm into the convolution before it, so the ONNX file holds fused
conv weights and biases. This puts them back: each bias-free conv gets its fused weight and the
BatchNorm after it becomes `y = x + fused_bias` (running mean 0, running var 1 - eps, scale 1),
so the state dict keeps the training layout and `TorchEngine` loads it as a checkpoint. The
result is checked by the caller: the torch model must equal ONNX Runtime on the same frames.
"""
from pathlib import Path

from acnn_ros.core.model_card import card_path_for, ModelCard


def model_from_onnx(onnx_path: Path):
    """Return (A-CNN module in eval mode, card) with the weights of `onnx_path`."""
    import onnx
    from onnx import numpy_helper
    import torch
    from torch import nn

    from acnn_ros.model.acnn import build_model
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

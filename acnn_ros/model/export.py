# SPDX-License-Identifier: Apache-2.0
"""
ONNX export that obeys the model-card contract of `acnn_ros.core.model_card`.

`<stem>.onnx`: input ``image`` float32 [N, 3, H, W] RGB in [0, 1] (normalisation is inside the
graph), outputs ``probs`` [N, C] softmax and ``roi`` [N, 4] (cx, cy, w, h) normalised to the
input frame; dynamic batch; opset 17. Beside it: ``<stem>.json`` (the card, whose content_hash
is the .onnx file hash) and ``<stem>.md`` (the same for humans). The export is checked against
PyTorch with ONNX Runtime; the max abs differences go into the card.
"""
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Optional
import warnings

from acnn_ros.core.model_card import (file_hash, INPUT_NAME, ModelCard, PROBS_NAME,
                                      ROI_NAME)
from acnn_ros.model.config import INPUT_MEAN, INPUT_STD
import numpy as np
import torch
from torch import nn

OPSET = 17
PARITY_LIMIT = 1e-3     # fail the export beyond this; <= 1e-4 is what a good export gives


class ExportError(RuntimeError):
    """The export failed or does not match PyTorch."""


class ContractWrapper(nn.Module):
    """Turn a ModelOutput into the (probs, roi) pair of the ONNX contract."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor):
        """Return softmax probabilities [N, C] and ROI [N, 4]."""
        output = self.model(image)
        return torch.softmax(output.logits, dim=1), output.roi


def check_parity(model: nn.Module, onnx_path: Path, width: int, height: int,
                 batch: int = 2, seed: int = 0,
                 images: Optional[np.ndarray] = None) -> Dict[str, float]:
    """Return max |ONNX Runtime - PyTorch| on probs and roi for `images` or random frames."""
    import onnxruntime as ort
    ort.disable_telemetry_events()  # no traffic off this machine (see runtime/engines/)

    if images is None:
        generator = torch.Generator().manual_seed(seed)
        tensor = torch.rand(batch, 3, height, width, generator=generator)
    else:
        tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    wrapper = ContractWrapper(model).eval()
    with torch.no_grad():
        probs_t, roi_t = wrapper(tensor)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(onnx_path), options, providers=['CPUExecutionProvider'])
    probs_o, roi_o = session.run([PROBS_NAME, ROI_NAME], {INPUT_NAME: tensor.numpy()})
    return {'probs_max_abs_diff': float(np.max(np.abs(probs_o - probs_t.numpy()))),
            'roi_max_abs_diff': float(np.max(np.abs(roi_o - roi_t.numpy()))),
            'batch': int(tensor.shape[0])}


def _readable(value: Any) -> str:
    """Return a card value for people: 4 significant digits, `not measured` for None."""
    if value is None:
        return 'not measured'
    if isinstance(value, float):
        return f'{value:.4g}'
    if isinstance(value, (list, tuple)):
        return ', '.join(_readable(v) for v in value) or '-'
    return str(value)


def _nested_list(values: Dict[str, Any], indent: str = '') -> list:
    """Return a dict as Markdown list lines (a dict value becomes an indented sub-list)."""
    lines = []
    for key, value in values.items():
        label = key.replace('_', ' ')
        if isinstance(value, dict):
            lines.append(f'{indent}- {label}:')
            lines += _nested_list(value, indent + '  ')
        else:
            lines.append(f'{indent}- {label}: {_readable(value)}')
    return lines


def card_markdown(card: ModelCard) -> str:
    """Return the human-readable model card."""
    lines = [f'# Model card: {card.name}', '',
             f'- model id: `{card.model_id}` (sha256 of the .onnx, first 12 hex digits)',
             f'- variant: `{card.variant}`',
             f'- classes ({card.num_classes}): ' + ', '.join(f'{i}={n}' for i, n in
                                                             enumerate(card.class_names)),
             f'- input `{INPUT_NAME}`: float32 [N, 3, {card.input_height}, {card.input_width}], '
             'RGB, values in [0, 1] (pixel / 255); normalised inside the graph '
             f'(mean {card.extra.get("input_mean")}, std {card.extra.get("input_std")})',
             f'- output `{PROBS_NAME}`: float32 [N, {card.num_classes}] softmax probabilities',
             f'- output `{ROI_NAME}`: float32 [N, 4] (cx, cy, w, h) normalised to the input frame',
             f'- ROI: {card.roi_width_px}x{card.roi_height_px} px of the input frame, resampled '
             f'to {card.roi_output_width}x{card.roi_output_height} for the classifier',
             f'- ONNX opset {card.extra.get("opset")}, dynamic batch', '']
    if card.metrics:
        lines += ['## Metrics', '']
        lines += [f'- {k.replace("_", " ")}: {_readable(v)}'
                  for k, v in sorted(card.metrics.items())]
        lines.append('')
    parity = card.extra.get('parity')
    if parity:
        lines += ['## Export parity (ONNX Runtime vs PyTorch)', '',
                  f'- max abs diff probs: {parity["probs_max_abs_diff"]:.2e}',
                  f'- max abs diff roi: {parity["roi_max_abs_diff"]:.2e}', '']
    if card.reproduce:
        lines += ['## Reproduce', '', '```bash', card.reproduce, '```', '']
    for key in ('params', 'flops'):
        if key in card.extra:
            lines.append(f'- {key}: {card.extra[key]:,}')
    if isinstance(card.extra.get('training'), dict):
        lines += ['', '## Training', '']
        lines += _nested_list(card.extra['training'])
    return '\n'.join(lines).rstrip() + '\n'


def export_onnx(model: nn.Module, card: ModelCard, onnx_path: Path,
                parity_images: Optional[np.ndarray] = None) -> Path:
    """
    Export `model` to `onnx_path`; write the card (.json) and its .md beside it.

    The card's input size is the export size. ROI fields are filled from the model config when
    the card leaves them 0. Raises ExportError when ONNX Runtime disagrees with PyTorch by more
    than PARITY_LIMIT.
    """
    from acnn_ros.model.flops import count_flops, count_parameters

    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    width, height = card.input_width, card.input_height
    dummy = torch.rand(1, 3, height, width)
    try:
        with warnings.catch_warnings():
            # Known harmless: the A-CNN's ROI size is roi_width / frame width, a tensor -> float
            # conversion the tracer records as a constant. The frame size IS a constant of the
            # exported graph (the card fixes H and W; only the batch axis is dynamic), and
            # check_parity below compares the graph with PyTorch on every export.
            warnings.filterwarnings('ignore', category=torch.jit.TracerWarning,
                                    message='Converting a tensor to a Python float')
            torch.onnx.export(ContractWrapper(model), (dummy,), str(onnx_path), dynamo=False,
                              input_names=[INPUT_NAME], output_names=[PROBS_NAME, ROI_NAME],
                              dynamic_axes={INPUT_NAME: {0: 'batch'}, PROBS_NAME: {0: 'batch'},
                                            ROI_NAME: {0: 'batch'}},
                              opset_version=OPSET, do_constant_folding=True)
    except Exception as exc:  # noqa: B902 - the exporter raises many unrelated types
        raise ExportError(f'ONNX export to {onnx_path} failed: {exc}') from exc
    parity = check_parity(model, onnx_path, width, height, images=parity_images)
    worst = max(parity['probs_max_abs_diff'], parity['roi_max_abs_diff'])
    if worst > PARITY_LIMIT:
        raise ExportError(f'{onnx_path}: ONNX Runtime differs from PyTorch by {worst:.2e} '
                          f'(limit {PARITY_LIMIT:.0e})')
    config = getattr(model, 'config', None)
    extra = dict(card.extra)
    extra.update({'opset': OPSET, 'input_mean': list(INPUT_MEAN), 'input_std': list(INPUT_STD),
                  'parity': parity, 'params': count_parameters(model),
                  'flops': count_flops(model, width, height)})
    if config is not None and hasattr(config, 'to_dict'):
        extra['config'] = config.to_dict()
    roi_fields = {}
    if config is not None and hasattr(config, 'roi_width') and not card.roi_width_px:
        roi_fields = {'roi_width_px': config.roi_width, 'roi_height_px': config.roi_height,
                      'roi_output_width': config.roi_output_width,
                      'roi_output_height': config.roi_output_height}
    final = replace(card, content_hash=file_hash(onnx_path), extra=extra, **roi_fields)
    final.save(onnx_path.with_suffix('.json'))
    onnx_path.with_suffix('.md').write_text(card_markdown(final), encoding='utf-8')
    return onnx_path

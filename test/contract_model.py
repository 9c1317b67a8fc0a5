# SPDX-License-Identifier: Apache-2.0
"""
A tiny model that obeys the ONNX model card contract, for testing the inference runtime.

It is not a trained A-CNN: it finds the brightest blob by a soft-argmax of brightness (so its
`roi` output is a real function of the image) and classifies the blob by its colour (red, green,
blue). A test that puts a coloured blob at a known place in a frame of any size can therefore
check the class and the ROI the runtime maps back to source pixels.
"""
from pathlib import Path

from acnn_ros.core.model_card import file_hash, ModelCard
import numpy as np

CLASS_NAMES = ('red', 'green', 'blue')
INPUT_WIDTH = 320
INPUT_HEIGHT = 240
ROI_WIDTH_PX = 24       # ROI size the model reports, in model input pixels
ROI_HEIGHT_PX = 16
COLOURS_BGR = {'red': (0, 0, 255), 'green': (0, 255, 0), 'blue': (255, 0, 0)}


def _module(input_width: int, input_height: int, slow_layers: int):
    import torch

    class BlobLocator(torch.nn.Module):
        """Soft-argmax of brightness for the ROI, attention-weighted colour for the class."""

        def __init__(self):
            super().__init__()
            xs = (torch.arange(input_width, dtype=torch.float32) + 0.5) / input_width
            ys = (torch.arange(input_height, dtype=torch.float32) + 0.5) / input_height
            self.register_buffer('grid_x', xs.repeat(input_height))
            self.register_buffer('grid_y', ys.repeat_interleave(input_width))
            self.register_buffer('roi_size', torch.tensor(
                [ROI_WIDTH_PX / input_width, ROI_HEIGHT_PX / input_height]))
            # Optional busy work (multiplied by zero below) to emulate a slower model.
            self.slow = torch.nn.Sequential(*[
                torch.nn.Conv2d(3 if i == 0 else 16, 16, 3, padding=1)
                for i in range(slow_layers)])

        def forward(self, image):
            batch = image.shape[0]
            flat = image.reshape(batch, 3, -1)
            brightness = flat.mean(dim=1)
            weights = torch.softmax(brightness * 80.0, dim=1)
            cx = (weights * self.grid_x).sum(dim=1, keepdim=True)
            cy = (weights * self.grid_y).sum(dim=1, keepdim=True)
            colour = (flat * weights.unsqueeze(1)).sum(dim=2)
            logits = colour * 12.0
            if len(self.slow):
                logits = logits + self.slow(image).mean(dim=(1, 2, 3)).unsqueeze(1) * 0.0
            probs = torch.softmax(logits, dim=1)
            roi = torch.cat([cx, cy, self.roi_size.expand(batch, 2)], dim=1)
            return probs, roi

    return BlobLocator().eval()


def export_contract_model(directory: Path, stem: str = 'contract', slow_layers: int = 0,
                          card_input_size=None, torchscript: bool = False,
                          class_names=CLASS_NAMES) -> Path:
    """
    Write `<stem>.onnx` and its `<stem>.json` card (and `<stem>.pt` TorchScript on request).

    `card_input_size` (w, h) writes a card that disagrees with the ONNX input, to test the
    start-up check. Returns the .onnx path.
    """
    import torch
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    module = _module(INPUT_WIDTH, INPUT_HEIGHT, slow_layers)
    example = torch.zeros(1, 3, INPUT_HEIGHT, INPUT_WIDTH)
    onnx_path = directory / f'{stem}.onnx'
    torch.onnx.export(module, (example,), str(onnx_path), dynamo=False, opset_version=17,
                      input_names=['image'], output_names=['probs', 'roi'])
    width, height = card_input_size or (INPUT_WIDTH, INPUT_HEIGHT)
    card = ModelCard(name=stem, class_names=tuple(class_names), input_width=width,
                     input_height=height, variant='contract-test',
                     content_hash=file_hash(onnx_path))
    card.save(onnx_path.with_suffix('.json'))
    if torchscript:
        traced = torch.jit.trace(module, example)
        traced.save(str(directory / f'{stem}.pt'))
        card.save(directory / f'{stem}.json')
    return onnx_path


def blob_frame(width: int, height: int, center_x: float, center_y: float, colour: str,
               radius: int = 0) -> np.ndarray:
    """Return a black BGR frame with a filled square blob of `colour` centred at (x, y)."""
    frame = np.zeros((height, width, 3), np.uint8)
    radius = radius or max(2, min(width, height) // 40)
    x0, x1 = int(round(center_x - radius)), int(round(center_x + radius))
    y0, y1 = int(round(center_y - radius)), int(round(center_y + radius))
    frame[max(y0, 0):y1, max(x0, 0):x1] = COLOURS_BGR[colour]
    return frame

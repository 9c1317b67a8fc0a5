# SPDX-License-Identifier: Apache-2.0
"""
Model card: the contract between an exported A-CNN and every runtime that loads it.

An exported model is a pair `<stem>.onnx` + `<stem>.json` (this card; a human-readable
`<stem>.md` is written beside them). ONNX contract:
- input  `image`: float32 [N, 3, input_height, input_width], RGB, values in [0, 1] (pixel / 255);
  the model normalises internally.
- output `probs`: float32 [N, num_classes], softmax probabilities in class_names order.
- output `roi`:   float32 [N, 4], (cx, cy, w, h) normalised to the model input frame.
"""
from dataclasses import asdict, dataclass, field, fields
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Tuple

CARD_FORMAT = 'acnn_ros.model_card/1'
INPUT_NAME = 'image'
PROBS_NAME = 'probs'
ROI_NAME = 'roi'


class ModelCardError(ValueError):
    """A model card is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class ModelCard:
    """Everything a runtime must know to feed a model and read its outputs."""

    name: str
    class_names: Tuple[str, ...]
    input_width: int = 640
    input_height: int = 480
    variant: str = ''
    roi_width_px: int = 0          # ROI size sampled from the full-resolution input frame
    roi_height_px: int = 0
    roi_output_width: int = 0      # size the ROI is resampled to for the classifier
    roi_output_height: int = 0
    content_hash: str = ''         # sha256 of the .onnx, first 12 hex digits
    metrics: Dict[str, Any] = field(default_factory=dict)
    reproduce: str = ''            # exact command that regenerates this model
    extra: Dict[str, Any] = field(default_factory=dict)
    # Reject thresholds chosen on validation data by `acnn thresholds --write-card`
    # (min_confidence, min_confidence_per_class, the rates they gave, on which data); {} until
    # then. Optional: cards written before it load unchanged, and runtimes ignore it.
    operating_point: Dict[str, Any] = field(default_factory=dict)
    # What the corruption benchmark measured (benchmarks/corruption_benchmark.py --write-card):
    # clean accuracy, the worst corruption at severity 3 and its accuracy, every corruption's
    # accuracy at severity 3, the command and date; {} until measured. Optional, like above.
    robustness: Dict[str, Any] = field(default_factory=dict)
    format: str = CARD_FORMAT  # noqa: A003 (JSON field name)

    @property
    def num_classes(self) -> int:
        """Return the number of classes the model scores."""
        return len(self.class_names)

    @property
    def model_id(self) -> str:
        """Return the id published with every result: name plus short content hash."""
        return f'{self.name}@{self.content_hash}' if self.content_hash else self.name

    def to_json(self) -> str:
        """Serialise to pretty JSON."""
        data = asdict(self)
        data['class_names'] = list(self.class_names)
        return json.dumps(data, indent=2, sort_keys=True) + '\n'

    def save(self, path: Path) -> None:
        """Write the card as JSON."""
        Path(path).write_text(self.to_json(), encoding='utf-8')

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'ModelCard':
        """Build from a dict, validating what runtimes depend on."""
        if data.get('format', CARD_FORMAT) != CARD_FORMAT:
            raise ModelCardError(f'unsupported model card format {data.get("format")!r}, '
                                 f'expected {CARD_FORMAT!r}')
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        try:
            kwargs['class_names'] = tuple(str(n) for n in data['class_names'])
            card = cls(**kwargs)
        except (KeyError, TypeError) as exc:
            raise ModelCardError(f'model card is missing or has a bad field: {exc}') from exc
        if card.num_classes < 1:
            raise ModelCardError('model card lists no classes')
        if card.input_width < 1 or card.input_height < 1:
            raise ModelCardError(
                f'model card input size {card.input_width}x{card.input_height} is invalid')
        return card

    @classmethod
    def load(cls, path: Path) -> 'ModelCard':
        """Read a card from JSON, with a clear error naming the file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding='utf-8'))
        except FileNotFoundError as exc:
            raise ModelCardError(f'model card not found: {path}') from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelCardError(f'cannot read model card {path}: {exc}') from exc
        try:
            return cls.from_dict(data)
        except ModelCardError as exc:
            raise ModelCardError(f'{path}: {exc}') from exc


def card_path_for(model_path: Path) -> Path:
    """Return the card that belongs to a model file: same stem, .json."""
    return Path(model_path).with_suffix('.json')


def file_hash(path: Path, digits: int = 12) -> str:
    """Return the first hex digits of a file's sha256 (model identity in results)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()[:digits]

# SPDX-License-Identifier: Apache-2.0
"""
Training and evaluation loops (multi-task, resumable, seeded, CPU by default).

Frames are decoded once into a uint8 array (see `dataset.load_frames`); each batch is turned
into float RGB in [0, 1] on the fly and, for training, photometrically augmented (gain, gamma,
colour cast, noise) so the model does not learn one camera's look.
"""
from dataclasses import asdict, dataclass, field
import math
from pathlib import Path
import random
from typing import Any, Callable, Dict, List, Optional

from acnn_ros.core.results import RoiBox
from acnn_ros.core.roi import center_error_px
from acnn_ros.model.acnn import build_model
from acnn_ros.model.dataset import FrameSet, keep_box_labels
from acnn_ros.model.losses import multitask_loss
import cv2
import numpy as np
import torch
from torch import nn

CHECKPOINT_FORMAT = 'acnn_ros.checkpoint/1'


@dataclass
class TrainConfig:
    """Everything that decides a training run (stored in every checkpoint)."""

    variant: str = 'opt'
    overrides: Dict[str, Any] = field(default_factory=dict)
    epochs: int = 8
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    labeled_fraction: float = 0.05
    loc_weight: float = 5.0            # 1.0 let the classification gradient drag the ROI away
    augment: bool = True
    seed: int = 0
    device: str = 'cpu'
    threads: int = 2
    init_from: str = ''        # checkpoint whose weights start this run (a second stage)


def resolve_device(name: str) -> torch.device:
    """Return the torch device for 'auto' (CUDA when present, else CPU), 'cpu' or 'cuda'."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError('CUDA was requested but torch sees no CUDA device')
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def to_input(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """Return float32 [N, 3, H, W] RGB in [0, 1] from uint8 [N, H, W, 3]."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return tensor.permute(0, 3, 1, 2).float().div_(255.0)


class Augmenter:
    """
    Random per-image gain, gamma, colour cast, optics blur, JPEG and sensor noise on uint8 frames.

    Together they stand in for another camera: a model trained on one device must read codes
    that are darker, softer and more compressed on the next (the digits differ by a few pixels).

    Gain, gamma and cast are one 256-entry lookup table per image and channel, and the noise is a
    randomly shifted window of a fixed noise field: the same effect as per-pixel maths at a
    fraction of its cost on a CPU (full-resolution frames are large).
    """

    def __init__(self, height: int, width: int, seed: int, margin: int = 64):
        generator = torch.Generator().manual_seed(seed)
        self.height, self.width, self.margin = height, width, margin
        self.noise = torch.randn(height + margin, width + margin, 3, generator=generator)
        self.levels = torch.arange(256, dtype=torch.float32) / 255.0

    def __call__(self, images: np.ndarray, generator: torch.Generator) -> torch.Tensor:
        """Return augmented float32 [N, 3, H, W] RGB in [0, 1] from uint8 [N, H, W, 3]."""
        n = images.shape[0]

        def uniform(low, high, *shape):
            return torch.rand(n, *shape, generator=generator) * (high - low) + low

        gain, gamma = uniform(0.65, 1.25, 1, 1), uniform(0.8, 1.35, 1, 1)
        cast, sigma = uniform(0.8, 1.2, 3, 1), uniform(0.0, 0.03)
        lut = (self.levels.view(1, 1, -1) * gain).clamp(0, 1).pow(gamma) * cast   # [N, 3, 256]
        lut = lut.permute(0, 2, 1).contiguous().numpy()                            # [N, 256, 3]
        offsets = torch.randint(0, self.margin, (n, 2), generator=generator)
        blur = uniform(0.0, 1.0)                      # extra optics blur, sigma in px
        quality = torch.randint(65, 96, (n,), generator=generator)
        recompress = torch.rand(n, generator=generator) < 0.5
        out = torch.empty(n, images.shape[1], images.shape[2], 3)
        for i in range(n):
            oy, ox = int(offsets[i, 0]), int(offsets[i, 1])
            noise = self.noise[oy:oy + images.shape[1], ox:ox + images.shape[2]]
            image = cv2.LUT(images[i], lut[i].reshape(256, 1, 3))
            if float(blur[i]) > 0.2:
                image = cv2.GaussianBlur(image, (0, 0), float(blur[i]))
            if bool(recompress[i]):   # the LUT gave float32 in [0, 1]; JPEG wants uint8
                pixels = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
                _, data = cv2.imencode('.jpg', pixels, [cv2.IMWRITE_JPEG_QUALITY,
                                                        int(quality[i])])
                image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0
            out[i] = torch.from_numpy(image)
            out[i].add_(noise, alpha=float(sigma[i]))
        return out.clamp_(0, 1).permute(0, 3, 1, 2)


def model_loss(model: nn.Module, output, labels: torch.Tensor, boxes: torch.Tensor,
               has_box: torch.Tensor, loc_weight: float):
    """
    Return (loss, parts) from the model's own `training_loss` if it has one, else the A-CNN's.

    A detector trains on its dense head outputs, not on the best detection it reports; the
    model therefore owns its loss, and the loop stays one loop for every variant.
    """
    own = getattr(model, 'training_loss', None)
    if own is not None:
        return own(output, labels, boxes, has_box, loc_weight)
    return multitask_loss(output, labels, boxes, has_box, loc_weight)


def evaluate(model: nn.Module, frames: FrameSet, batch_size: int = 32,
             device: torch.device = torch.device('cpu'), progress: bool = True
             ) -> Dict[str, Any]:
    """
    Return accuracy, per-class accuracy, confusion matrix and ROI centre error (px).

    The centre error is measured on images that have a box, in model-input pixels.
    """
    from tqdm import tqdm

    model.eval()
    predictions, rois = [], []
    with torch.no_grad():
        starts = range(0, len(frames), batch_size)
        for start in tqdm(starts, desc='evaluate', unit='batch', disable=not progress,
                          leave=False):
            x = to_input(frames.images[start:start + batch_size], device)
            output = model(x)
            predictions.append(output.logits.argmax(dim=1).cpu().numpy())
            rois.append(output.roi.cpu().numpy())
    predicted = np.concatenate(predictions)
    roi = np.concatenate(rois)
    num_classes = len(frames.class_names)
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (frames.labels, predicted), 1)
    height, width = frames.images.shape[1:3]
    errors = [center_error_px(RoiBox(r[0] * width, r[1] * height, 0, 0),
                              RoiBox(b[0] * width, b[1] * height, 0, 0))
              for r, b, has in zip(roi, frames.boxes, frames.has_box) if has]
    per_class = {name: float(confusion[i, i] / max(confusion[i].sum(), 1))
                 for i, name in enumerate(frames.class_names)}
    result = {'num_images': len(frames), 'accuracy': float(np.mean(predicted == frames.labels)),
              'per_class_accuracy': per_class, 'confusion': confusion.tolist(),
              'roi_center_error_px_mean': float(np.mean(errors)) if errors else None,
              'roi_center_error_px_median': float(np.median(errors)) if errors else None,
              'roi_center_error_px_p95': float(np.percentile(errors, 95)) if errors else None,
              'num_boxes': len(errors)}
    return result


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


def train(config: TrainConfig, train_frames: FrameSet, test_frames: Optional[FrameSet],
          out_dir: Path, resume: bool = False, command: str = '',
          log: Callable[[str], None] = print, progress: bool = True,
          stop_after: Optional[int] = None) -> Dict[str, Any]:
    """
    Train; write ``last.pt`` after every epoch and return the final checkpoint state.

    With resume=True an existing ``last.pt`` in out_dir is continued (same config required).
    Box labels are kept on `config.labeled_fraction` of the training images (drawn from the
    seed); the classification loss uses every image. `stop_after` ends the run after that many
    epochs of the `config.epochs` schedule (a first stage; --resume can finish it later).
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    torch.set_num_threads(max(1, config.threads))
    device = resolve_device(config.device)
    seed_everything(config.seed)
    class_names = train_frames.class_names
    model = build_model(config.variant, len(class_names), **config.overrides)
    if config.init_from:
        source = load_checkpoint(Path(config.init_from))
        if source['class_names'] != list(class_names):
            raise ValueError(f'{config.init_from} was trained on classes '
                             f'{source["class_names"]}, this dataset has {list(class_names)}')
        model.load_state_dict(source['model'])
        log(f'starting from the weights of {config.init_from}')
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train_frames) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=max(1, config.epochs * steps_per_epoch),
        pct_start=0.15)
    keep = keep_box_labels(train_frames.has_box, config.labeled_fraction, config.seed)
    log(f'training {config.variant} on {len(train_frames)} images, {int(keep.sum())} with a '
        f'box ({config.labeled_fraction:.1%} requested), device {device}')
    history: List[Dict[str, Any]] = []
    start_epoch = 0
    last_path = out_dir / 'last.pt'
    if resume and last_path.is_file():
        state = load_checkpoint(last_path)
        # Fields added to TrainConfig later take their defaults in older checkpoints.
        if {**asdict(TrainConfig()), **state['train_config']} != asdict(config):
            raise ValueError(f'{last_path} was trained with a different configuration; '
                             'start a new --out folder or drop --resume')
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        history = state['history']
        start_epoch = state['epoch'] + 1
        log(f'resuming from {last_path} after epoch {start_epoch}')
    state: Dict[str, Any] = {}
    boxes_all = torch.from_numpy(train_frames.boxes)
    labels_all = torch.from_numpy(train_frames.labels)
    keep_all = torch.from_numpy(keep)
    augmenter = Augmenter(train_frames.images.shape[1], train_frames.images.shape[2], config.seed)
    end_epoch = min(config.epochs, stop_after) if stop_after else config.epochs
    for epoch in range(start_epoch, end_epoch):
        model.train()
        # Per-epoch streams: a resumed run sees the same order and augmentation.
        order = np.random.default_rng([config.seed, epoch]).permutation(len(train_frames))
        generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        totals = {'loss': 0.0, 'cls': 0.0, 'loc': 0.0, 'correct': 0, 'seen': 0}
        bar = tqdm(range(steps_per_epoch), desc=f'epoch {epoch + 1}/{config.epochs}',
                   unit='batch', disable=not progress)
        for step in bar:
            index = np.sort(order[step * config.batch_size:(step + 1) * config.batch_size])
            if config.augment:
                x = augmenter(train_frames.images[index], generator).to(device)
            else:
                x = to_input(train_frames.images[index], device)
            labels = labels_all[index].to(device)
            output = model(x)
            loss, parts = model_loss(model, output, labels, boxes_all[index].to(device),
                                     keep_all[index].to(device), config.loc_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            n = len(index)
            totals['loss'] += float(loss.detach()) * n
            totals['cls'] += parts['cls'] * n
            totals['loc'] += parts['loc'] * n
            totals['correct'] += int((output.logits.argmax(1) == labels).sum())
            totals['seen'] += n
            bar.set_postfix(loss=f'{totals["loss"] / totals["seen"]:.3f}',
                            acc=f'{totals["correct"] / totals["seen"]:.3f}')
        record = {'epoch': epoch + 1, 'train_loss': totals['loss'] / totals['seen'],
                  'train_cls_loss': totals['cls'] / totals['seen'],
                  'train_loc_loss': totals['loc'] / totals['seen'],
                  'train_accuracy': totals['correct'] / totals['seen']}
        if test_frames is not None:
            metrics = evaluate(model, test_frames, config.batch_size, device, progress)
            record.update({'test_accuracy': metrics['accuracy'],
                           'test_roi_center_error_px_mean': metrics['roi_center_error_px_mean']})
        history.append(record)
        log(' '.join(f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}'
                     for k, v in record.items()))
        state = {'format': CHECKPOINT_FORMAT, 'train_config': asdict(config),
                 'class_names': list(class_names), 'model': model.state_dict(),
                 'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict(),
                 'epoch': epoch, 'history': history, 'command': command,
                 'num_train': len(train_frames), 'num_train_boxes': int(keep.sum()),
                 'input_width': int(train_frames.images.shape[2]),
                 'input_height': int(train_frames.images.shape[1])}
        save_checkpoint(last_path, state)
    if not state and last_path.is_file():
        state = load_checkpoint(last_path)     # resumed a run that had already finished
    return state

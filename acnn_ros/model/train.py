# SPDX-License-Identifier: Apache-2.0
"""
Training and evaluation loops (multi-task, validated, resumable, seeded, CPU by default).

Every epoch is evaluated on a validation split (the dataset's ``val`` split, else blocks carved
out of ``train``, never ``test``); ``best.pt`` keeps the best epoch beside ``last.pt``, early
stopping ends a run that stopped improving, ``history.csv`` / ``curves.png`` show the curves,
and the test split is evaluated once, on ``best.pt``, when the run has finished
(``test_metrics.json``). Inputs and augmentation: `acnn_ros.model.augment`; checkpoint files:
`acnn_ros.model.checkpoint`; best epoch, CSV and PNG: `acnn_ros.model.history`.
"""
from dataclasses import asdict
import json
import math
from pathlib import Path
import random
from typing import Any, Callable, Dict, List, Optional

from acnn_ros.core.results import RoiBox
from acnn_ros.core.roi import center_error_px
from acnn_ros.model.acnn import build_model
from acnn_ros.model.augment import Augmenter, to_input
# Re-exported: callers (export, evaluate, benchmarks, tests) import these from here.
from acnn_ros.model.checkpoint import (CHECKPOINT_FORMAT, load_checkpoint,  # noqa: F401
                                       model_from_checkpoint, save_checkpoint, training_stages)
from acnn_ros.model.dataset import FrameSet, keep_box_labels, validation_blocks
from acnn_ros.model.history import BestTracker, plot_curves, write_history_csv
from acnn_ros.model.losses import multitask_loss
from acnn_ros.model.run_pictures import write_test_pictures
from acnn_ros.model.train_config import TrainConfig
from acnn_ros.model.transfer import freeze_localization, load_initial_weights
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

Validate = Callable[[nn.Module, FrameSet], Dict[str, Any]]


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


def to_channels_last(model: nn.Module) -> nn.Module:
    """
    Put the model's 4-D weights in channels_last and return it.

    The frames arrive as NHWC (a view of the uint8 layout) and oneDNN's convolutions are faster
    in it (docs/BENCHMARKS.md, "Training speed"). Only 4-D tensors: `Module.to(memory_format=)`
    also converts 5-D ones and fails on them (ASSN's Conv3d).
    """
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return model


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
             device: torch.device = torch.device('cpu'), progress: bool = True,
             outputs: Optional[Dict[str, np.ndarray]] = None) -> Dict[str, Any]:
    """
    Return accuracy, per-class accuracy, confusion matrix and ROI centre error (px).

    The centre error is measured on images that have a box, in model-input pixels. `outputs`,
    when given, receives the per-frame 'predicted' class ids and 'roi' boxes.
    """
    from tqdm import tqdm

    model.eval()
    predictions, rois = [], []
    cls_loss_sum = 0.0
    with torch.no_grad():
        starts = range(0, len(frames), batch_size)
        for start in tqdm(starts, desc='evaluate', unit='batch', disable=not progress,
                          leave=False):
            x = to_input(frames.images[start:start + batch_size], device)
            output = model(x)
            labels = torch.from_numpy(frames.labels[start:start + batch_size]).long().to(device)
            cls_loss_sum += float(F.cross_entropy(output.logits, labels, reduction='sum'))
            predictions.append(output.logits.argmax(dim=1).cpu().numpy())
            rois.append(output.roi.cpu().numpy())
    predicted = np.concatenate(predictions)
    roi = np.concatenate(rois)
    if outputs is not None:
        outputs.update(predicted=predicted, roi=roi)
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
              'cls_loss': cls_loss_sum / max(len(frames), 1), 'per_class_accuracy': per_class,
              'confusion': confusion.tolist(),
              'roi_center_error_px_mean': float(np.mean(errors)) if errors else None,
              'roi_center_error_px_median': float(np.median(errors)) if errors else None,
              'roi_center_error_px_p95': float(np.percentile(errors, 95)) if errors else None,
              'num_boxes': len(errors)}
    return result


def describe_roi_error(metrics: Dict[str, Any]) -> str:
    """Return the ROI centre error of `evaluate`'s metrics in words (no box: not measured)."""
    if metrics.get('roi_center_error_px_mean') is None:
        return 'ROI centre error not measured (no frame with a box)'
    return (f'ROI centre error mean {metrics["roi_center_error_px_mean"]:.1f} px, median '
            f'{metrics["roi_center_error_px_median"]:.1f}, p95 '
            f'{metrics["roi_center_error_px_p95"]:.1f} ({metrics["num_boxes"]} boxes)')


def _rng_state(device: torch.device) -> Dict[str, Any]:
    """Return torch's global random state (what dropout draws from) for a checkpoint."""
    state = {'cpu': torch.get_rng_state()}
    if device.type == 'cuda':
        state['cuda'] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: Optional[Dict[str, Any]], device: torch.device) -> None:
    """Restore `_rng_state` (older checkpoints have none: the stream then restarts)."""
    if state:
        torch.set_rng_state(state['cpu'])
        if device.type == 'cuda' and 'cuda' in state:
            torch.cuda.set_rng_state(state['cuda'], device)


def _split_validation(config: TrainConfig, train_frames: FrameSet,
                      val_frames: Optional[FrameSet]):
    """Return (training indices into train_frames, validation frames or None, description)."""
    everything = np.arange(len(train_frames))
    if val_frames is not None:
        return everything, val_frames, {'source': 'val split', 'num_images': len(val_frames)}
    carved = validation_blocks(train_frames.labels, config.val_fraction, config.val_block,
                               config.seed)
    if not len(carved):
        return everything, None, {'source': 'none', 'num_images': 0}
    keep = np.setdiff1d(everything, carved)
    return keep, train_frames.subset(carved), {
        'source': f'carved from train ({config.val_fraction:g} in blocks of '
                  f'{config.val_block}, seed {config.seed})', 'num_images': int(len(carved))}


def _train_epoch(model, optimizer, scheduler, frames: FrameSet, positions: np.ndarray,
                 keep_all: torch.Tensor, config: TrainConfig, epoch: int, augmenter: Augmenter,
                 device: torch.device, progress: bool) -> Dict[str, Any]:
    """Run one epoch over frames[positions]; return its record (losses, accuracy, lr)."""
    from tqdm import tqdm

    model.train()
    freeze_localization(model, epoch < config.freeze_localization_epochs)
    # Per-epoch streams: a resumed run sees the same order and augmentation.
    order = positions[np.random.default_rng([config.seed, epoch]).permutation(len(positions))]
    generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    totals = {'loss': 0.0, 'cls': 0.0, 'loc': 0.0, 'correct': 0, 'seen': 0}
    steps = math.ceil(len(positions) / config.batch_size)
    # One input buffer for the epoch: a batch's graph is gone when the next one is augmented.
    buffer = torch.empty(config.batch_size, *frames.images.shape[1:])
    bar = tqdm(range(steps), desc=f'epoch {epoch + 1}/{config.epochs}', unit='batch',
               disable=not progress)
    for step in bar:
        index = np.sort(order[step * config.batch_size:(step + 1) * config.batch_size])
        if config.augment:
            x = augmenter(frames.images[index], generator, buffer).to(device)
        else:
            x = to_input(frames.images[index], device)
        labels = torch.from_numpy(frames.labels[index]).to(device)
        output = model(x)
        loss, parts = model_loss(model, output, labels,
                                 torch.from_numpy(frames.boxes[index]).to(device),
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
    return {'epoch': epoch + 1, 'lr': float(scheduler.get_last_lr()[0]),
            'train_loss': totals['loss'] / totals['seen'],
            'train_cls_loss': totals['cls'] / totals['seen'],
            'train_loc_loss': totals['loc'] / totals['seen'],
            'train_accuracy': totals['correct'] / totals['seen']}


def _evaluate_test_once(state: Dict[str, Any], out_dir: Path, test_frames: FrameSet,
                        config: TrainConfig, device: torch.device, log, progress: bool
                        ) -> Dict[str, Any]:
    """Evaluate best.pt (last.pt without validation) on the test split; write the JSON."""
    name = 'best.pt' if state.get('best', {}).get('best_epoch') else 'last.pt'
    chosen = load_checkpoint(out_dir / name)
    model = model_from_checkpoint(chosen).to(device)
    outputs: Dict[str, np.ndarray] = {}
    metrics = evaluate(model, test_frames, config.batch_size, device, progress, outputs)
    pictures = write_test_pictures(out_dir, test_frames, outputs['predicted'], outputs['roi'])
    metrics.update({'split': 'test', 'checkpoint': name, 'epoch': chosen['epoch'] + 1,
                    'epochs_trained': state['epoch'] + 1})
    (out_dir / 'test_metrics.json').write_text(json.dumps(metrics, indent=2) + '\n',
                                               encoding='utf-8')
    log(f'test split (evaluated once, {name}, epoch {metrics["epoch"]}): accuracy '
        f'{metrics["accuracy"]:.4f}, {describe_roi_error(metrics)} -> '
        f'{out_dir / "test_metrics.json"}' + ''.join(f', {p.name}' for p in pictures))
    return metrics


def _warn_about_boxes(available: int, kept: int, fraction: float,
                      log: Callable[[str], None]) -> None:
    """Say when no box teaches the localization, and how many boxes the fraction left out."""
    if not kept:
        log('warning: no training image has a box: the ROI is learned from the class loss '
            'alone (box ~5 % of train with `acnn label`, or check --labeled-fraction)')
    if available > kept:
        log(f'note: {available - kept} of the {available} boxes in train are not used: '
            f'--labeled-fraction {fraction:g} keeps {kept} (--labeled-fraction 1 uses them all)')


def train(config: TrainConfig, train_frames: FrameSet, test_frames: Optional[FrameSet],
          out_dir: Path, resume: bool = False, command: str = '',
          log: Callable[[str], None] = print, progress: bool = True,
          stop_after: Optional[int] = None, val_frames: Optional[FrameSet] = None,
          validate: Optional[Validate] = None) -> Dict[str, Any]:
    """
    Train with validation; write ``last.pt`` (+ ``best.pt``, CSV, PNG) every epoch.

    Validation is `val_frames` when given, else blocks carved out of `train_frames`
    (`validation_blocks`, `config.val_fraction`); `validate(model, frames)` scores it (default
    `evaluate`). With resume=True an existing ``last.pt`` in out_dir is continued (same config
    and validation required), best-so-far and patience counter included. Box labels are kept on
    `config.labeled_fraction` of the training images (drawn from the seed); the classification
    loss uses every image. `stop_after` ends the run after that many epochs of the
    `config.epochs` schedule (a first stage; --resume can finish it later). When the run has
    finished (schedule done or stopped early) `test_frames` are evaluated once on best.pt ->
    ``test_metrics.json`` (also under 'test_metrics' in the returned ``last.pt`` state).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, config.threads))
    device = resolve_device(config.device)
    seed_everything(config.seed)
    class_names = train_frames.class_names
    positions, val_frames, validation = _split_validation(config, train_frames, val_frames)
    if val_frames is None and config.patience > 0:
        raise ValueError('early stopping (patience) needs a validation split: give the dataset '
                         'images/val or a validation fraction > 0')
    if validate is None:
        def validate(model, frames):
            return evaluate(model, frames, config.batch_size, device, progress)
    if val_frames is not None:
        validation['paths'] = [str(p) for p in val_frames.paths]
    model = build_model(config.variant, len(class_names), **config.overrides)
    if config.init_from:
        spread = positions[np.linspace(0, len(positions) - 1, 32).astype(int)]
        load_initial_weights(model, config.variant, Path(config.init_from), class_names,
                             train_frames.images[np.unique(spread)], log)
    model = to_channels_last(model.to(device))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(positions) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=max(1, config.epochs * steps_per_epoch),
        pct_start=0.15)
    keep = np.zeros(len(train_frames), bool)
    keep[positions] = keep_box_labels(train_frames.has_box[positions], config.labeled_fraction,
                                      config.seed)
    log(f'training {config.variant} on {len(positions)} images, {int(keep.sum())} with a '
        f'box ({config.labeled_fraction:.1%} requested), device {device}; validation: '
        f'{validation["num_images"]} images, {validation["source"]}')
    _warn_about_boxes(int(train_frames.has_box[positions].sum()), int(keep.sum()),
                      config.labeled_fraction, log)
    history: List[Dict[str, Any]] = []
    tracker = BestTracker(patience=config.patience)
    start_epoch, finished = 0, False
    last_path, best_path = out_dir / 'last.pt', out_dir / 'best.pt'
    state: Dict[str, Any] = {}
    if resume and last_path.is_file():
        state = load_checkpoint(last_path)
        # Fields added to TrainConfig later take their defaults in older checkpoints. The
        # patience may change: it decides when to stop, not what the epochs so far learned.
        saved = {**asdict(TrainConfig()), **state['train_config'], 'patience': config.patience}
        if saved != asdict(config):
            raise ValueError(f'{last_path} was trained with a different configuration; '
                             'start a new --out folder or drop --resume')
        before = {k: state.get('validation', validation).get(k) for k in ('source', 'num_images')}
        if before != {k: validation[k] for k in ('source', 'num_images')}:
            raise ValueError(f'{last_path} was validated on {before}, this run on '
                             f'{validation["num_images"]} images ({validation["source"]})')
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        history = state['history']
        _set_rng_state(state.get('rng'), device)   # dropout draws from the global stream
        tracker = BestTracker.from_dict(state.get('best'), config.patience)
        start_epoch = state['epoch'] + 1
        finished = tracker.should_stop or start_epoch >= config.epochs
        log(f'resuming from {last_path} after epoch {start_epoch}' +
            (f' (best so far: epoch {tracker.best_epoch}, {tracker.epochs_since_best} epoch(s) '
             'without improvement)' if tracker.best_epoch else ''))
    elif best_path.exists() or (out_dir / 'test_metrics.json').exists():
        # A new run in an old folder: an old best.pt would otherwise be tested and exported.
        log(f"new run in {out_dir}: removing the previous run's best.pt / test_metrics.json")
        best_path.unlink(missing_ok=True)
        (out_dir / 'test_metrics.json').unlink(missing_ok=True)
    augmenter = Augmenter(train_frames.images.shape[1], train_frames.images.shape[2], config.seed)
    end_epoch = min(config.epochs, stop_after) if stop_after else config.epochs
    if finished:    # early-stopped or done: nothing left to train
        end_epoch = start_epoch
    keep_all = torch.from_numpy(keep)
    for epoch in range(start_epoch, end_epoch):
        record = _train_epoch(model, optimizer, scheduler, train_frames, positions, keep_all,
                              config, epoch, augmenter, device, progress)
        improved = False
        if val_frames is not None:
            metrics = validate(model, val_frames)
            record.update({'val_cls_loss': metrics.get('cls_loss'),
                           'val_accuracy': metrics['accuracy'],
                           'val_roi_center_error_px_mean': metrics['roi_center_error_px_mean'],
                           'val_roi_center_error_px_p95': metrics.get('roi_center_error_px_p95')})
            improved = tracker.update(epoch + 1, metrics)
            record.update({'best_epoch': tracker.best_epoch,
                           'epochs_since_best': tracker.epochs_since_best})
        history.append(record)
        finished = epoch + 1 == config.epochs or tracker.should_stop
        log(' '.join(f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}'
                     for k, v in record.items() if v is not None)   # None: not measured
            + (' (best)' if improved else ''))
        state = {'format': CHECKPOINT_FORMAT, 'train_config': asdict(config),
                 'class_names': list(class_names), 'model': model.state_dict(),
                 'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict(),
                 'epoch': epoch, 'history': history, 'command': command,
                 'num_train': len(positions), 'num_train_boxes': int(keep.sum()),
                 'input_width': int(train_frames.images.shape[2]),
                 'input_height': int(train_frames.images.shape[1]),
                 'validation': validation, 'best': tracker.to_dict(), 'finished': finished,
                 'rng': _rng_state(device)}
        if improved:   # best.pt first: a crash in between leaves last.pt one epoch behind
            save_checkpoint(best_path, {k: v for k, v in state.items()
                                        if k not in ('optimizer', 'scheduler')})
        save_checkpoint(last_path, state)
        write_history_csv(out_dir / 'history.csv', history)
        if not plot_curves(out_dir / 'curves.png', history, tracker.best_epoch,
                           len(class_names)) and epoch == 0:
            log('warning: no curves.png (matplotlib is not installed); history.csv has the data')
        if tracker.should_stop:
            log(f'early stop after epoch {epoch + 1}: {tracker.epochs_since_best} epochs without '
                f'a better validation than epoch {tracker.best_epoch} (patience '
                f'{config.patience})')
            break
    if not state and last_path.is_file():
        state = load_checkpoint(last_path)
    if finished and test_frames is not None and 'test_metrics' not in state:
        state['test_metrics'] = _evaluate_test_once(state, out_dir, test_frames, config,
                                                    device, log, progress)
        save_checkpoint(last_path, state)
    elif not finished and state:
        log(f'paused after epoch {state["epoch"] + 1} of {config.epochs}; the test split is '
            'evaluated once the run has finished (--resume)')
    return state

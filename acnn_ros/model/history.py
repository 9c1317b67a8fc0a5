# SPDX-License-Identifier: Apache-2.0
"""
What a training run remembers per epoch: the best epoch on validation, early stopping, CSV, PNG.

`BestTracker` is the whole model-selection rule (higher validation accuracy wins; on a tie the
lower mean ROI centre error) and the early-stopping counter; its state goes into every
``last.pt`` so a resumed run continues with the same best and the same patience left.
``history.csv`` and ``curves.png`` are rewritten after every epoch from the history list.
"""
import csv
from dataclasses import asdict, dataclass
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

# history.csv columns, in this order (a record lacking one leaves its cell empty).
HISTORY_COLUMNS = ('epoch', 'lr', 'train_loss', 'train_cls_loss', 'train_loc_loss',
                   'train_accuracy', 'val_cls_loss', 'val_accuracy',
                   'val_roi_center_error_px_mean', 'val_roi_center_error_px_p95', 'best_epoch',
                   'epochs_since_best')


def _error_or_inf(value: Optional[float]) -> float:
    return math.inf if value is None else float(value)


def is_better(candidate: Dict[str, Any], best: Optional[Dict[str, Any]]) -> bool:
    """
    Return True when validation metrics `candidate` beat `best` (None: anything beats it).

    Higher accuracy wins; equal accuracy is decided by the lower mean ROI centre error (no box
    in the validation split counts as an infinite error, so such a tie keeps the earlier epoch).
    """
    if best is None:
        return True
    if candidate['accuracy'] != best['accuracy']:
        return candidate['accuracy'] > best['accuracy']
    return (_error_or_inf(candidate.get('roi_center_error_px_mean'))
            < _error_or_inf(best.get('roi_center_error_px_mean')))


@dataclass
class BestTracker:
    """Best validation epoch so far and the early-stopping counter (patience 0 = never stop)."""

    patience: int = 0
    best_epoch: int = 0                       # 1-based; 0 = none yet
    best_metrics: Optional[Dict[str, Any]] = None
    epochs_since_best: int = 0

    def update(self, epoch: int, metrics: Dict[str, Any]) -> bool:
        """Record epoch `epoch`'s validation metrics; return True when it is the new best."""
        keep = {k: metrics.get(k) for k in ('accuracy', 'roi_center_error_px_mean')}
        if is_better(keep, self.best_metrics):
            self.best_epoch, self.best_metrics, self.epochs_since_best = epoch, keep, 0
            return True
        self.epochs_since_best += 1
        return False

    @property
    def should_stop(self) -> bool:
        """Return True when `patience` epochs in a row did not improve on the best."""
        return self.patience > 0 and self.epochs_since_best >= self.patience

    def to_dict(self) -> Dict[str, Any]:
        """Return the state stored in ``last.pt``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, state: Optional[Dict[str, Any]], patience: int) -> 'BestTracker':
        """Rebuild from ``last.pt`` (an older checkpoint without one starts afresh)."""
        if not state:
            return cls(patience=patience)
        return cls(patience=patience, best_epoch=state['best_epoch'],
                   best_metrics=state['best_metrics'],
                   epochs_since_best=state['epochs_since_best'])


def write_history_csv(path: Path, history: Sequence[Dict[str, Any]]) -> None:
    """Write one row per epoch with `HISTORY_COLUMNS` (atomically)."""
    path = Path(path)
    partial = path.with_suffix('.partial')
    with open(partial, 'w', newline='', encoding='utf-8') as stream:
        writer = csv.DictWriter(stream, fieldnames=HISTORY_COLUMNS, extrasaction='ignore')
        writer.writeheader()
        for record in history:
            writer.writerow({k: ('' if record.get(k) is None else record.get(k))
                             for k in HISTORY_COLUMNS})
    partial.replace(path)


def _series(history: Sequence[Dict[str, Any]], key: str) -> List[float]:
    return [math.nan if record.get(key) is None else float(record[key]) for record in history]


def curves_figure(history: Sequence[Dict[str, Any]], best_epoch: int = 0,
                  num_classes: int = 0):
    """
    Return the matplotlib Figure of the training curves (Agg canvas, no pyplot state).

    Panels: losses (training: total, classification, localization; validation:
    classification, the one loss comparable between the two), accuracy (train, validation,
    and chance = 1 / classes when `num_classes` is known) and the validation ROI centre error,
    the last only when validation had boxes (no empty panel with meaningless axes). The best
    epoch on validation is a vertical line on every panel.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [record['epoch'] for record in history]
    roi_errors = _series(history, 'val_roi_center_error_px_mean')
    with_roi = any(not math.isnan(v) for v in roi_errors)
    figure = Figure(figsize=(12 if with_roi else 8.5, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    panels = list(figure.subplots(1, 3 if with_roi else 2))
    loss, accuracy = panels[:2]
    for key, label in (('train_loss', 'train total'), ('train_cls_loss', 'train classification'),
                       ('train_loc_loss', 'train localization')):
        loss.plot(epochs, _series(history, key), marker='.', label=label)
    if any(not math.isnan(v) for v in _series(history, 'val_cls_loss')):
        loss.plot(epochs, _series(history, 'val_cls_loss'), marker='o', linestyle='--',
                  label='validation classification')
    loss.set_title('loss')
    for key, label in (('train_accuracy', 'train'), ('val_accuracy', 'validation')):
        accuracy.plot(epochs, _series(history, key), marker='.', label=label)
    if num_classes > 1:
        accuracy.axhline(1.0 / num_classes, color='red', linestyle=':', linewidth=1,
                         label=f'chance (1/{num_classes})')
    accuracy.set_title('accuracy')
    accuracy.set_ylim(-0.02, 1.02)
    if with_roi:
        panels[2].plot(epochs, roi_errors, marker='.', label='validation mean')
        panels[2].set_title('ROI centre error (px)')
    for axes in panels:
        if best_epoch:
            axes.axvline(best_epoch, color='grey', linestyle='--', linewidth=1,
                         label=f'best (epoch {best_epoch})')
        axes.set_xlabel('epoch')
        if epochs:      # whole epochs only, also for a run of one epoch
            axes.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        if len(epochs) <= 10:
            axes.set_xticks(epochs)
        else:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.ticklabel_format(axis='y', useOffset=False)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    if not with_roi:
        figure.suptitle('no ROI panel: the validation frames have no box', fontsize=9)
    figure.tight_layout()
    return figure


def plot_curves(path: Path, history: Sequence[Dict[str, Any]], best_epoch: int = 0,
                num_classes: int = 0) -> bool:
    """
    Write `curves_figure` as a PNG (atomically).

    Returns False, writing nothing, where matplotlib is not installed (a `pip install
    .[train]` without `report`).
    """
    try:
        figure = curves_figure(history, best_epoch, num_classes)
    except ImportError:
        return False
    partial = Path(path).with_suffix('.partial.png')
    figure.savefig(partial, format='png')
    partial.replace(path)
    return True

# SPDX-License-Identifier: Apache-2.0
"""
Which frames of a training split get a box: the ~5 % that `acnn label` asks a person to box.

The A-CNN learns its localization from a few boxed frames (the paper's 5 %); the rest carry
only a class. The frames to box should cover every class and the spread of positions where the
object appears, so `select_for_labelling` allocates the count over the classes (at least one
each, the rest in proportion, largest remainder) and, inside a class, takes frames round-robin
over a grid of position cells (the model's ROI proposals when a model is given), in a seeded
order: the same inputs give the same frames.

`LabelConfig` holds every default of the labelling tool (CLI, server and page read it).
"""
from collections import defaultdict
from dataclasses import dataclass
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

Position = Tuple[float, float]          # normalised (cx, cy) of a proposal


@dataclass(frozen=True)
class LabelConfig:
    """Defaults of `acnn label` (one source: the CLI, LabelServer and the page use them)."""

    fraction: float = 0.05              # share of the train split to box
    seed: int = 0                       # selection order
    host: str = '127.0.0.1'             # the page is served on this machine only
    port: int = 0                       # 0: any free port
    grid: int = 3                       # position cells per axis for the position spread
    default_box_w: float = 0.1          # proposal size without a model or class boxes yet
    default_box_h: float = 0.1
    nudge_px: int = 2                   # arrow key step (source pixels; Shift: x5)


def allocate(sizes: Dict[int, int], count: int, seed: int = 0) -> Dict[int, int]:
    """
    Split `count` picks over classes of the given sizes: one each first, then in proportion.

    With fewer picks than classes, the picked classes are the largest (seeded ties). A class
    never gets more picks than it has frames.
    """
    classes = sorted(c for c, n in sizes.items() if n > 0)
    count = max(0, min(int(count), sum(sizes[c] for c in classes)))
    quotas = dict.fromkeys(classes, 0)
    if not count:
        return quotas
    rng = np.random.default_rng(seed)
    tie = dict(zip(classes, rng.permutation(len(classes))))
    if count < len(classes):
        for c in sorted(classes, key=lambda c: (-sizes[c], tie[c]))[:count]:
            quotas[c] = 1
        return quotas
    for c in classes:
        quotas[c] = 1
    left = count - len(classes)
    room = {c: sizes[c] - 1 for c in classes}
    while left > 0:
        total_room = sum(room.values())
        shares = {c: left * room[c] / total_room for c in classes}
        grant = {c: min(room[c], math.floor(shares[c])) for c in classes}
        if not sum(grant.values()):
            # Largest remainder: one more to each of the classes with the largest share left.
            order = sorted((c for c in classes if room[c] > 0),
                           key=lambda c: (-(shares[c] - grant[c]), tie[c]))
            grant = dict.fromkeys(classes, 0)
            for c in order[:left]:
                grant[c] = 1
        for c in classes:
            quotas[c] += grant[c]
            room[c] -= grant[c]
            left -= grant[c]
    return quotas


def position_cell(position: Optional[Position], grid: int) -> int:
    """Return the grid cell (row-major) of a normalised position; -1 without one."""
    if position is None:
        return -1
    col = min(grid - 1, max(0, int(position[0] * grid)))
    row = min(grid - 1, max(0, int(position[1] * grid)))
    return row * grid + col


def select_for_labelling(class_ids: Sequence[int], count: int, seed: int = 0,
                         positions: Optional[Sequence[Optional[Position]]] = None,
                         grid: int = LabelConfig.grid) -> List[int]:
    """
    Return the sorted indices of the frames to box.

    `class_ids[i]` is frame i's class (negative: unknown, never picked); `positions[i]` its
    normalised proposal centre or None. Every class gets at least one frame when `count`
    allows; inside a class the frames are taken round-robin over the position cells, each
    cell in a seeded random order, so the picks spread over where the object appears.
    """
    if positions is not None and len(positions) != len(class_ids):
        raise ValueError(f'{len(positions)} positions for {len(class_ids)} frames')
    members: Dict[int, List[int]] = defaultdict(list)
    for index, class_id in enumerate(class_ids):
        if class_id >= 0:
            members[int(class_id)].append(index)
    quotas = allocate({c: len(m) for c, m in members.items()}, count, seed)
    rng = np.random.default_rng(seed)
    chosen = []
    for class_id in sorted(members):
        frames = [members[class_id][i] for i in rng.permutation(len(members[class_id]))]
        cells: Dict[int, List[int]] = defaultdict(list)
        for index in frames:
            cell = position_cell(positions[index] if positions is not None else None, grid)
            cells[cell].append(index)
        queues = [cells[cell] for cell in rng.permutation(sorted(cells))]
        picked = []
        while len(picked) < quotas[class_id]:
            for queue in queues:
                if queue and len(picked) < quotas[class_id]:
                    picked.append(queue.pop(0))
        chosen.extend(picked)
    return sorted(chosen)


def target_count(num_frames: int, fraction: float) -> int:
    """Return how many of `num_frames` a fraction asks for (rounded, at least one frame)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f'fraction must be in (0, 1], got {fraction}')
    return min(num_frames, max(1, int(round(num_frames * fraction)))) if num_frames else 0

# SPDX-License-Identifier: Apache-2.0
"""
Train / val / test split of a recording by contiguous time blocks.

Neighbouring frames of a shift show the same part, the same lighting, the same dust: a random
per-frame split puts near-copies of a test frame into training and overstates accuracy. Here
the recording is cut into blocks of `block_s` seconds (from its first stamp); a whole block
goes to one split. Blocks are grouped by their class (a line runs one product per batch, so
a random draw over all blocks could leave a class out of val): a block whose frames are at
least `PURE_SHARE` one class belongs to that class, the others (mixed production, a
changeover) form one pool of their own. Each group's blocks are shuffled with the seed and
handed out one at a time to the split that is furthest below its target share (relative to
that share: the first blocks go to train, val, test in turn, so every split gets each class
that has at least three blocks). Frames closer than `gap_s` to a
frame of another split are dropped (the guard gap), so even the frames on both sides of a
block boundary never straddle two splits.
"""
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

SPLITS = ('train', 'val', 'test')
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
DEFAULT_BLOCK_S = 30.0
DEFAULT_GAP_S = 1.0
PURE_SHARE = 0.8          # a block with at least this share of one class is that class's


def parse_fractions(text: str) -> Dict[str, float]:
    """Parse 'train,val,test' shares such as '0.7,0.15,0.15' (normalised to sum 1)."""
    try:
        values = [float(v) for v in text.split(',')]
    except ValueError:
        raise ValueError(f'split {text!r} is not three numbers train,val,test') from None
    if len(values) != 3 or any(v < 0 for v in values) or sum(values) <= 0:
        raise ValueError(f'split {text!r} must be three shares >= 0, train,val,test')
    total = sum(values)
    return {name: v / total for name, v in zip(SPLITS, values)}


def block_index(stamps_ns: Sequence[int], block_s: float) -> List[int]:
    """Return the time block of each stamp, counted in `block_s` from the first stamp."""
    if block_s <= 0:
        raise ValueError(f'block length must be > 0 s, got {block_s}')
    if not len(stamps_ns):
        return []
    first = min(stamps_ns)
    block_ns = block_s * 1e9
    return [int((t - first) // block_ns) for t in stamps_ns]


def assign_blocks(blocks: Sequence[Tuple[int, str, int]], fractions: Dict[str, float],
                  seed: int) -> Dict[int, str]:
    """
    Return block id -> split for blocks given as (block id, class or '' mixed, frame count).

    Per class (in sorted order), its blocks in a seeded shuffle go one by one to the split
    with the largest relative shortfall (target - assigned) / target.
    """
    rng = np.random.default_rng(seed)
    active = [s for s in SPLITS if fractions.get(s, 0.0) > 0]
    result = {}
    by_class: Dict[str, List[Tuple[int, int]]] = {}
    for block_id, name, count in blocks:
        by_class.setdefault(name, []).append((block_id, count))
    for name in sorted(by_class):
        members = sorted(by_class[name])
        order = rng.permutation(len(members))
        total = sum(count for _, count in members)
        assigned = dict.fromkeys(active, 0)
        for i in order:
            block_id, count = members[i]
            target = {s: fractions[s] * total for s in active}
            split = max(active, key=lambda s: ((target[s] - assigned[s]) / target[s],
                                               -active.index(s)))
            assigned[split] += count
            result[block_id] = split
    return result


def guard_gap(stamps_ns: Sequence[int], splits: Sequence[Optional[str]],
              gap_s: float) -> List[Optional[str]]:
    """Return `splits` with None for every frame closer than `gap_s` to another split's."""
    if gap_s <= 0:
        return list(splits)
    gap_ns = gap_s * 1e9
    order = sorted(range(len(stamps_ns)), key=lambda i: stamps_ns[i])
    near = [False] * len(stamps_ns)
    for sequence in (order, order[::-1]):
        last: Dict[str, int] = {}
        for i in sequence:
            split = splits[i]
            if split is None:
                continue
            for other, t in last.items():
                if other != split and abs(stamps_ns[i] - t) < gap_ns:
                    near[i] = True
            last[split] = stamps_ns[i]
    return [None if near[i] else splits[i] for i in range(len(splits))]


def split_by_time(stamps_ns: Sequence[int], class_names: Sequence[str],
                  fractions: Dict[str, float], block_s: float = DEFAULT_BLOCK_S,
                  seed: int = 0, gap_s: float = DEFAULT_GAP_S) -> List[Optional[str]]:
    """Return the split of each frame ('train' / 'val' / 'test', None: in a guard gap)."""
    if len(stamps_ns) != len(class_names):
        raise ValueError('one class per stamp expected')
    index = block_index(stamps_ns, block_s)
    members: Dict[int, Counter] = {}
    for block_id, name in zip(index, class_names):
        members.setdefault(block_id, Counter())[name] += 1
    blocks = []
    for block_id, counts in sorted(members.items()):
        name, count = counts.most_common(1)[0]
        total = sum(counts.values())
        blocks.append((block_id, name if count >= PURE_SHARE * total else '', total))
    table = assign_blocks(blocks, fractions, seed)
    return guard_gap(stamps_ns, [table[b] for b in index], gap_s)

# SPDX-License-Identifier: Apache-2.0
"""
Station fusion (issue 21, target 2): a part decided from three views against one camera.

Renders synthetic parts as a 3-camera station sees them (core/dataset/multiview.py: the code
front in at most one camera, grazing or hidden in the others; test camera look, device 1),
inspects every view with the shipped demo model through the same InspectionPipeline as
inference_node, and decides each part as reject_actuator_node does: `fuse_views`
(core/reject/fusion.py) under each fusion policy with config/inspect.yaml's reject policy, and,
for comparison, from each single camera alone. A decision is right when it is the part's
expected one (reject for a reject class, accept for an accept class).

    python -m benchmarks.station_fusion_benchmark --parts 300 [--write-docs]
"""
import argparse
import os
from pathlib import Path
import time

from acnn_ros.core.dataset.multiview import render_part
from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES
from acnn_ros.core.reject.decision import decide, RejectPolicy
from acnn_ros.core.reject.fusion import fuse_views, FUSIONS
from acnn_ros.runtime.pipeline import InspectionPipeline
from benchmarks.common import REPO_DIR, report_section
import numpy as np

SECTION = '<!-- section: station fusion -->'
MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'
CAMERAS = ('cam0', 'cam1', 'cam2')
# config/inspect.yaml's reject_actuator_node policy.
POLICY = RejectPolicy(accept_classes=('p3707', 'p3709'), reject_classes=('p1069', 'p1071'),
                      min_confidence=0.6)


def measure(parts: int, seed: int, model: Path) -> dict:
    """Inspect `parts` 3-view parts; return per-part rows of what each way decided."""
    pipeline = InspectionPipeline.from_model_path(model, warmup_runs=2)
    rows = []
    for part_seed in np.random.SeedSequence(seed).spawn(parts):
        part = render_part(part_seed, len(CAMERAS), device=1)
        outcomes = {camera: pipeline.inspect(view.bgr)
                    for camera, view in zip(CAMERAS, part.views)}
        expected_reject = DEFAULT_CLASSES[part.class_id] in POLICY.reject_classes
        row = {'class': DEFAULT_CLASSES[part.class_id],
               'front': len(part.cameras_seeing('front')),
               'views_right': [outcomes[c].class_name == DEFAULT_CLASSES[part.class_id]
                               for c in CAMERAS]}
        for camera in CAMERAS:
            row[camera] = decide(outcomes[camera], POLICY).reject == expected_reject
        for fusion in FUSIONS:
            row[fusion] = fuse_views(CAMERAS, outcomes, POLICY, fusion).decision.reject == (
                expected_reject)
        rows.append(row)
    return {'rows': rows, 'parts': parts}


def table(result: dict, seconds: float) -> str:
    """Return the docs section: right decisions by way of deciding, split by front views."""
    rows = result['rows']
    groups = (('all parts', rows),
              ('code front in one camera', [r for r in rows if r['front'] == 1]),
              ('code front in none (grazing / hidden)', [r for r in rows if r['front'] == 0]))
    ways = list(CAMERAS) + list(FUSIONS)
    lines = [SECTION, '',
             f'`python -m benchmarks.station_fusion_benchmark --parts {result["parts"]}` '
             f'({time.strftime("%Y-%m-%d")}, {os.cpu_count()} CPUs, load '
             f'{os.getloadavg()[0]:.2f}, {seconds:.0f} s): synthetic 3-camera parts, test '
             'camera look, shipped demo model, config/inspect.yaml policy. Right = the part '
             'gets its expected decision (reject class rejected, accept class accepted).', '',
             '| parts | N | ' + ' | '.join(ways) + ' |',
             '|---|---|' + '---|' * len(ways)]
    for label, group in groups:
        cells = [f'{sum(r[w] for r in group)} ({100.0 * sum(r[w] for r in group) / max(len(group), 1):.1f} %)'  # noqa: E501
                 for w in ways]
        lines.append(f'| {label} | {len(group)} | ' + ' | '.join(cells) + ' |')
    lines += ['', 'A camera that cannot see the code still names a class (its guess): '
              '`best_view` lets the most confident view decide and is the policy for codes that '
              'face one camera; `any_reject` / `all_agree` reject on any such guess, so they '
              'suit stations where every camera sees what it judges (e.g. one feature each).']
    return '\n'.join(lines) + '\n'


def main() -> int:
    """Run the measurement and print (optionally write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--parts', type=int, default=300)
    parser.add_argument('--seed', type=int, default=21)
    parser.add_argument('--model', type=Path, default=MODEL)
    parser.add_argument('--write-docs', action='store_true')
    args = parser.parse_args()
    start = time.monotonic()
    result = measure(args.parts, args.seed, args.model)
    report_section(SECTION, table(result, time.monotonic() - start), args.write_docs)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())

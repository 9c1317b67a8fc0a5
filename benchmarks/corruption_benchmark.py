# SPDX-License-Identifier: Apache-2.0
"""
Corruption benchmark (issue 25): accuracy and ROI error under what printers and cameras do.

In the style of ImageNet-C: the device-shift test look (synthetic device 1, test seeds), every
perturbation of core/dataset/corruptions.py at severities 1-5 (the label printed another way,
re-rendered; or the camera's side applied to the frame), each frame inspected by the model
through the same InspectionPipeline as inference_node. Writes a table (accuracy per severity,
mean ROI centre error at severity 3) and a plot (docs/images/corruption_benchmark.png).

    python -m benchmarks.corruption_benchmark --frames 200 [--model M.onnx] [--write-docs]
"""
import argparse
import json
import os
from pathlib import Path
import time

from acnn_ros.core.dataset.corruptions import (apply_image_corruption, CORRUPTIONS,
                                               robustness_entry, SEVERITIES, text_style_for)
from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES, DEVICES, render_frame
from acnn_ros.runtime.pipeline import InspectionPipeline
from benchmarks.common import REPO_DIR, report_section
import cv2
import numpy as np

SECTION = '<!-- section: corruption benchmark -->'
MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'
PLOT = REPO_DIR / 'docs' / 'images' / 'corruption_benchmark.png'
TEST_SEED = 25_000          # frames no generated training set draws (seeds 0.. per split)


def as_captured(bgr: np.ndarray) -> np.ndarray:
    """Return the frame through the test camera's JPEG, as the generated test split stores it."""
    quality = DEVICES[1].jpeg_quality
    ok, data = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else bgr


def score(pipeline, frames) -> dict:
    """Return accuracy and mean ROI centre error (px) of (bgr, box, class_id) frames."""
    right, errors = 0, []
    for bgr, box, class_id in frames:
        outcome = pipeline.inspect(bgr)
        right += outcome.class_name == DEFAULT_CLASSES[class_id]
        if outcome.roi is not None and box is not None:
            errors.append(float(np.hypot(outcome.roi.center_x - box.center_x,
                                         outcome.roi.center_y - box.center_y)))
    return {'accuracy': right / len(frames), 'roi_error_px': float(np.mean(errors))}


def frames_for(name: str, severity: int, count: int):
    """Yield (bgr, box, class id) of the test frames under a corruption (None: clean)."""
    for index in range(count):
        class_id = index % len(DEFAULT_CLASSES)
        rng = np.random.default_rng(TEST_SEED + index)
        style = (text_style_for(name, severity)
                 if name and CORRUPTIONS[name].kind == 'render' else None)
        bgr, box = render_frame(rng, class_id, device=1, style=style)
        if name and CORRUPTIONS[name].kind == 'image':
            bgr, box = apply_image_corruption(name, bgr, box, severity, seed=index)
        yield as_captured(bgr), box, class_id


def measure(model: Path, count: int) -> dict:
    """Return {'clean': score, corruption: [score per severity]} for `count` frames."""
    pipeline = InspectionPipeline.from_model_path(model, warmup_runs=2)
    results = {'clean': score(pipeline, list(frames_for('', 0, count)))}
    for name in CORRUPTIONS:
        results[name] = [score(pipeline, list(frames_for(name, s, count))) for s in SEVERITIES]
        print(name, [f'{r["accuracy"]:.3f}' for r in results[name]], flush=True)
    return results


def plot(results: dict, path: Path) -> None:
    """Draw accuracy against severity, one line per corruption, the clean level dashed."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(9, 5.5))
    for index, name in enumerate(CORRUPTIONS):   # ten colours: the render ones dashed
        axis.plot([0, *SEVERITIES], [results['clean']['accuracy'] * 100] +
                  [r['accuracy'] * 100 for r in results[name]], marker='o', label=name,
                  linestyle='--' if CORRUPTIONS[name].kind == 'render' else '-',
                  color=f'C{index % 10}')
    axis.axhline(100.0 / len(DEFAULT_CLASSES), color='grey', linestyle=':', label='chance')
    axis.set(xlabel='severity (0 = clean)', ylabel='accuracy %', ylim=(0, 101),
             title='Corruption benchmark: device-shift test look')
    axis.legend(fontsize=7, ncol=2, loc='lower left')
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def table(results: dict, model: Path, count: int, seconds: float) -> str:
    """Return the docs section."""
    clean = results['clean']
    lines = [SECTION, '',
             f'`python -m benchmarks.corruption_benchmark --frames {count}` (model '
             f'`{model.name}`, {time.strftime("%Y-%m-%d")}, {os.cpu_count()} CPUs, load '
             f'{os.getloadavg()[0]:.2f}, {seconds:.0f} s): {count} synthetic test frames '
             '(device 1), accuracy % per severity; ROI = mean centre error in px at severity '
             f'3. Clean: {clean["accuracy"] * 100:.1f} %, ROI {clean["roi_error_px"]:.1f} px. '
             'Plot: `docs/images/corruption_benchmark.png`.', '',
             '| corruption | what | 1 | 2 | 3 | 4 | 5 | ROI px @3 |',
             '|---|---|---|---|---|---|---|---|']
    for name, corruption in CORRUPTIONS.items():
        cells = ' | '.join(f'{r["accuracy"] * 100:.1f}' for r in results[name])
        lines.append(f'| {name} | {corruption.description} | {cells} | '
                     f'{results[name][2]["roi_error_px"]:.1f} |')
    worst = min(CORRUPTIONS, key=lambda n: results[n][2]['accuracy'])
    lines += ['', f'Worst at severity 3: **{worst}**, '
              f'{results[worst][2]["accuracy"] * 100:.1f} % '
              f'({(clean["accuracy"] - results[worst][2]["accuracy"]) * 100:.1f} points below '
              'clean).']
    return '\n'.join(lines) + '\n'


def write_card(model: Path, entry: dict) -> Path:
    """Put `entry` into the model's card as its `robustness` (the .onnx is unchanged)."""
    from dataclasses import replace
    from acnn_ros.core.model_card import card_path_for, ModelCard
    path = card_path_for(model)
    replace(ModelCard.load(path), robustness=entry).save(path)
    return path


def main() -> int:
    """Run the benchmark; print (optionally write) the table and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--frames', type=int, default=200)
    parser.add_argument('--model', type=Path, default=MODEL)
    parser.add_argument('--json', type=Path, default=None, help='write the results here too')
    parser.add_argument('--write-docs', action='store_true',
                        help='write the docs/BENCHMARKS.md section and the plot')
    parser.add_argument('--write-card', action='store_true',
                        help="write the results into the model card's `robustness`")
    parser.add_argument('--from-json', type=Path, default=None,
                        help='report the results of an earlier --json run, measure nothing')
    args = parser.parse_args()
    start = time.monotonic()
    if args.from_json:
        results = json.loads(args.from_json.read_text(encoding='utf-8'))
    else:
        results = measure(args.model, args.frames)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + '\n', encoding='utf-8')
    if args.write_docs:
        plot(results, PLOT)
    if args.write_card:
        command = f'python -m benchmarks.corruption_benchmark --frames {args.frames}'
        path = write_card(args.model, robustness_entry(results, command))
        print(f'robustness written to {path}')
    report_section(SECTION, table(results, args.model, args.frames, time.monotonic() - start),
                   args.write_docs)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())

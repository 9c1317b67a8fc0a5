# SPDX-License-Identifier: Apache-2.0
"""
Model benchmark: A-CNN variants vs plain CNNs on the synthetic device-shift test set.

For every row it trains (or reuses, when the run folder already holds the finished checkpoint)
a model with the project's own training loop and 5 % box labels, then measures on the test split
(device 1): accuracy, ROI centre error (px), parameters, FLOPs (torch.utils.flop_counter) and CPU
latency at batch 1 with 2 threads in PyTorch and ONNX Runtime (median of --repeats runs). It
also runs the four real frames of ../shared/data/aoi_samples through one trained A-CNN and
draws where the ROI lands.

    nice -n 10 python -m benchmarks.model_benchmark --data runs/synth_v1 --runs runs/bench \
        --write-docs

The table goes to stdout, to <runs>/results.json and, with --write-docs, into the
``<!-- section:model -->`` section of docs/BENCHMARKS.md.
"""
import json
from pathlib import Path
import platform
import sys
import time

from acnn_ros.core.model_card import ModelCard
from acnn_ros.model.dataset import load_split
from acnn_ros.model.export import export_onnx
from acnn_ros.model.flops import count_flops, count_parameters
from acnn_ros.model.train import (evaluate, load_checkpoint, model_from_checkpoint,
                                  train, TrainConfig, training_stages)
from benchmarks.common import latency_ms, report_section, training_parser
import numpy as np
import torch

REPO_DIR = Path(__file__).resolve().parents[1]

SECTION = '<!-- section:model -->'
# (row name, variant, overrides, what it is)
ROWS = [
    ('acnn_base', 'base', {}, 'A-CNN base (localization at 1/2 resolution)'),
    ('acnn_best', 'best', {}, 'A-CNN best (1/4 res. localization, ROI upsampled 1.25x)'),
    ('acnn_opt', 'opt', {}, 'A-CNN opt (1/4 res. localization, narrow)'),
    ('acnn_opt_roi64', 'opt', {'roi_output_width': 64, 'roi_output_height': 48},
     'A-CNN opt, ROI resampled to 64x48 (1:1) for the classifier'),
    ('acnn_opt_attnmap', 'opt', {'attention_maps': True},
     'A-CNN opt + attention-map blocks (seed 002)'),
    ('acnn_opt_roi64_attnmap', 'opt', {'roi_output_width': 64, 'roi_output_height': 48,
                                       'attention_maps': True},
     'A-CNN opt, ROI 64x48 (1:1) + attention-map blocks (seed 002)'),
    ('plain_small', 'plain_small', {}, 'plain CNN, frame downscaled 4x (FLOPs ~ opt)'),
    ('plain_full', 'plain_full', {}, 'plain CNN, full 640x480 frame'),
]


def measure_row(name, variant, overrides, args, train_frames, test_frames):
    """Train or reuse one row's model; return its measurements."""
    import onnxruntime as ort

    from acnn_ros.model.acnn import build_model

    run_dir = args.runs / name
    epochs = args.epochs_heavy if variant in ('base', 'best', 'plain_full') else args.epochs
    config = TrainConfig(variant=variant, overrides=dict(overrides), epochs=epochs,
                         batch_size=32, lr=3e-3, labeled_fraction=args.labeled_fraction,
                         seed=args.seed, threads=2)
    started = time.time()
    trained = name not in args.measure_only.split(',')
    given = dict(item.split('=', 1) for item in args.checkpoint if '=' in item)
    description = None
    if name in given:
        state = load_checkpoint(Path(given[name]))
        stages = [stage['epochs'] for stage in training_stages(state) if 'epochs' in stage]
        epochs = ' + '.join(str(n) for n in stages) + (
            f' ({len(stages)} stages)' if len(stages) > 1 else '')
        model = model_from_checkpoint(state)
        roi_output = state['train_config']['overrides'].get('roi_output_width')
        if roi_output and roi_output != overrides.get('roi_output_width'):
            height = state['train_config']['overrides']['roi_output_height']
            description = f'{variant} with the ROI resampled to {roi_output}x{height}'
        metrics = evaluate(model, test_frames, 32, progress=not args.no_progress)
    elif trained:
        state = train(config, train_frames, None, run_dir, resume=True,
                      command=f'benchmarks/model_benchmark.py row {name}',
                      progress=not args.no_progress)
        model = model_from_checkpoint(state)
        metrics = evaluate(model, test_frames, 32, progress=not args.no_progress)
    else:
        model = build_model(variant, len(train_frames.class_names), **overrides).eval()
        metrics = {'accuracy': None, 'num_images': len(test_frames),
                   'roi_center_error_px_mean': None, 'roi_center_error_px_p95': None}
        epochs = 0
    train_s = time.time() - started
    onnx_path = export_onnx(model, ModelCard(name=name, class_names=tuple(
        train_frames.class_names), variant=variant), run_dir / f'{name}.onnx')
    frame = torch.rand(1, 3, 480, 640)
    with torch.no_grad():
        torch_ms = latency_ms(lambda: model(frame), args.repeats)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options,
                                   providers=['CPUExecutionProvider'])
    feed = {'image': frame.numpy()}
    ort_ms = latency_ms(lambda: session.run(None, feed), args.repeats)
    card = ModelCard.load(onnx_path.with_suffix('.json'))
    return {'row': name, 'variant': variant, 'overrides': overrides, 'variant_note': description,
            'accuracy': metrics['accuracy'],
            'errors': None if metrics['accuracy'] is None else int(round(
                (1 - metrics['accuracy']) * metrics['num_images'])),
            'num_test': metrics['num_images'],
            'roi_center_error_px_mean': metrics['roi_center_error_px_mean'],
            'roi_center_error_px_p95': metrics['roi_center_error_px_p95'],
            'params': count_parameters(model), 'flops': count_flops(model),
            'torch_ms': torch_ms, 'ort_ms': ort_ms, 'epochs': epochs,
            'train_s_this_run': train_s, 'parity': card.extra['parity']}


def real_frames(checkpoint: Path, samples_dir: Path, image_out: Path):
    """Run the real AOI frames through a trained A-CNN; draw and return where the ROI lands."""
    import cv2

    state = load_checkpoint(checkpoint)
    model = model_from_checkpoint(state)
    names = state['class_names']
    tiles, rows = [], []
    for image_path in sorted((samples_dir / 'images' / 'train').glob('*.jpg')):
        bgr = cv2.imread(str(image_path))
        label = (samples_dir / 'labels' / 'train' / f'{image_path.stem}.txt').read_text().split()
        true_class = int(label[0])
        cx, cy, w, h = (float(v) for v in label[1:])
        x = torch.from_numpy(bgr[:, :, ::-1].copy()).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            out = model(x)
        probs = torch.softmax(out.logits, 1)[0]
        roi = out.roi[0].tolist()
        error = float(np.hypot((roi[0] - cx) * 640, (roi[1] - cy) * 480))
        predicted = int(probs.argmax())
        rows.append({'frame': image_path.name, 'true': names[true_class],
                     'predicted': names[predicted], 'confidence': float(probs[predicted]),
                     'roi_center_px': [roi[0] * 640, roi[1] * 480],
                     'label_center_px': [cx * 640, cy * 480], 'center_error_px': error})
        tile = bgr.copy()
        cv2.rectangle(tile, (int((cx - w / 2) * 640), int((cy - h / 2) * 480)),
                      (int((cx + w / 2) * 640), int((cy + h / 2) * 480)), (0, 255, 0), 2)
        cv2.rectangle(tile, (int((roi[0] - roi[2] / 2) * 640), int((roi[1] - roi[3] / 2) * 480)),
                      (int((roi[0] + roi[2] / 2) * 640), int((roi[1] + roi[3] / 2) * 480)),
                      (0, 0, 255), 2)
        cv2.putText(tile, f'{image_path.stem}: pred {names[predicted]} '
                          f'{float(probs[predicted]):.2f}, ROI off by {error:.0f}px',
                    (8, 470), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(cv2.resize(tile, (480, 360), interpolation=cv2.INTER_AREA))
    if tiles:
        grid = np.vstack([np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)])
        image_out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(image_out), grid)
    return rows


def markdown(results, real, args, machine) -> str:
    """Return the docs/BENCHMARKS.md section."""
    lines = [SECTION, '## Model (issue 3): A-CNN vs plain CNNs, 5 % box labels', '',
             f'Command: `python -m benchmarks.model_benchmark --data {args.data} '
             f'--runs {args.runs} --epochs {args.epochs} --epochs-heavy {args.epochs_heavy} '
             f'--max-train {args.max_train} --measure-only "{args.measure_only}" '
             + ''.join(f'--checkpoint {c} ' for c in args.checkpoint)
             + (f'--shipped-row {args.shipped_row} ' if args.shipped_row else '')
             + f'--real-checkpoint {args.real_checkpoint} --write-docs`', '',
             f'Machine: {machine}. Data: `acnn synth {args.data} --num-train 3000 --num-test 1000 '
             '--seed 0` (train = device 0, test = device 1, a different simulated camera). '
             f'Every model is trained by `acnn_ros.model.train` with box labels on '
             f'{args.labeled_fraction:.0%} of the training images (classification labels on all).'
             ' FLOPs: torch.utils.flop_counter at 640x480, batch 1. Latency: batch 1, 2 threads, '
             f'median of {args.repeats} runs, on a machine shared with other jobs (so absolute '
             'numbers are noisy; compare within the table).', '',
             '| model | epochs | test accuracy (errors / N) | ROI centre error px (mean / p95) '
             '| params | GFLOPs | PyTorch ms | ONNX Runtime ms |',
             '|---|---|---|---|---|---|---|---|']
    for r in results:
        if r['accuracy'] is None:
            accuracy, roi = 'not trained (CPU budget)', 'n/a'
        else:
            accuracy = f'{r["accuracy"] * 100:.2f} % ({r["errors"]} / {r["num_test"]})'
            roi = ('n/a (whole frame)' if r['variant'].startswith('plain') else
                   f'{r["roi_center_error_px_mean"]:.1f} / {r["roi_center_error_px_p95"]:.1f}')
        lines.append(f'| {r["description"]} | {r["epochs"]} | {accuracy} '
                     f'| {roi} | {r["params"] / 1e6:.3f} M | '
                     f'{r["flops"] / 1e9:.3f} | {r["torch_ms"]:.1f} | {r["ort_ms"]:.1f} |')
    if real:
        lines += ['', 'The four real frames of `../shared/data/aoi_samples` (paper dataset, '
                  'device 0) through the shipped demo model trained ONLY on synthetic frames '
                  '(picture: `docs/images/real_frames_roi.jpg`, green = label, red = ROI):', '',
                  '| frame | true | predicted (confidence) | ROI centre px | label centre px '
                  '| error px |', '|---|---|---|---|---|---|']
        for r in real:
            lines.append(f'| {r["frame"]} | {r["true"]} | {r["predicted"]} '
                         f'({r["confidence"]:.2f}) | ({r["roi_center_px"][0]:.0f}, '
                         f'{r["roi_center_px"][1]:.0f}) | ({r["label_center_px"][0]:.0f}, '
                         f'{r["label_center_px"][1]:.0f}) | {r["center_error_px"]:.0f} |')
    return '\n'.join(lines) + '\n'


def main() -> int:
    """Run the benchmark; return the exit status."""
    names = [r[0] for r in ROWS]
    parser = training_parser(__doc__, 'runs/synth_v1', 'runs/bench', names, ','.join(names))
    parser.add_argument('--epochs', type=int, default=10)
    parser.add_argument('--epochs-heavy', type=int, default=4,
                        help='epochs for the expensive rows (acnn_base, acnn_best, plain_full)')
    parser.add_argument('--checkpoint', action='append', default=[], metavar='ROW=PATH',
                        help='use this trained checkpoint for a row instead of training it '
                             '(e.g. acnn_opt=runs/demo/last.pt, the shipped demo model)')
    parser.add_argument('--labeled-fraction', type=float, default=0.05)
    parser.add_argument('--real-checkpoint', type=Path, default=Path('runs/demo/last.pt'),
                        help='A-CNN checkpoint run on the real frames')
    parser.add_argument('--real-samples', type=Path,
                        default=REPO_DIR.parent / 'shared' / 'data' / 'aoi_samples')
    parser.add_argument('--shipped-row', default='',
                        help='row whose --checkpoint is the shipped demo model (marked so)')
    args = parser.parse_args()
    torch.set_num_threads(2)
    wanted = [r for r in ROWS if r[0] in args.rows.split(',')]
    train_frames = load_split(args.data, 'train', limit=args.max_train,
                              progress=not args.no_progress)
    test_frames = load_split(args.data, 'test', train_frames.class_names,
                             progress=not args.no_progress)
    results = []
    for name, variant, overrides, description in wanted:
        print(f'--- {name}: {description}', flush=True)
        row = measure_row(name, variant, overrides, args, train_frames, test_frames)
        if row['variant_note']:
            description += f' ({row["variant_note"]})'
        if name == args.shipped_row:
            description += ' = shipped `acnn_demo`'
        row['description'] = description
        print(json.dumps(row), flush=True)
        results.append(row)
    real = []
    if args.real_checkpoint.is_file() and (args.real_samples / 'images').is_dir():
        real = real_frames(args.real_checkpoint, args.real_samples,
                           REPO_DIR / 'docs' / 'images' / 'real_frames_roi.jpg')
    machine = (f'{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch '
               f'threads, torch {torch.__version__}')
    args.runs.mkdir(parents=True, exist_ok=True)
    (args.runs / 'results.json').write_text(json.dumps({'rows': results, 'real': real},
                                                       indent=2) + '\n', encoding='utf-8')
    text = markdown(results, real, args, machine)
    report_section(SECTION, text, args.write_docs)
    return 0


if __name__ == '__main__':
    sys.exit(main())

# SPDX-License-Identifier: Apache-2.0
"""
Leave-one-out on the four real bottle frames, and the shipped `acnn_bottle` model, in one go.

    python -m benchmarks.bottle_loo [--samples ../shared/data/aoi_samples] [--out runs/bottle]
        [--folds all|none|STEM,...] [--no-ship] [--device cpu|cuda] [--num-train 700] [--epochs 3]
        [--freeze-localization-epochs 0]

For each real frame F (a fold): `acnn synth --backgrounds SAMPLES --hold-out F` prints every
class's code on the OTHER three frames only (everything measured from them), `acnn train`
fine-tunes the demo model's weights (rebuilt from resource/models/acnn_demo.onnx by
acnn_ros/model/transfer.py; its folded BatchNorms get statistics back,
`recalibrate_batchnorm`) on that data, and the checkpoint is run on F itself: class,
confidence, ROI centre inside F's labelled box. First (unless --no-ship) the same on all four
frames gives resource/models/acnn_bottle.onnx + card. Results: OUT/loo.json, OUT/loo.md,
docs/images/bottle_loo_roi.jpg (each held-out frame with its labelled box in blue and the fold
model's ROI: green when class and centre are right, red otherwise). Each held-out frame is
also moved and re-shot `--reshots` times by simulated camera 1 (its own real code;
`real_background.reshoot`).
Reruns reuse finished steps (delete OUT to redo).
"""
import argparse
from dataclasses import asdict
import json
from pathlib import Path
import subprocess
import sys

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent

CLASSES = ('p1069', 'p1071', 'p3707', 'p3709')
CODES = ('p1069=(1069B)',)          # the product's printed text (dataset README), not pixels


def _cli(*args: str) -> None:
    command = [sys.executable, '-m', 'acnn_ros.cli', *args]
    print('$', ' '.join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def synthetic_rgb_frames(count: int = 32) -> np.ndarray:
    """
    Return `count` fully synthetic RGB frames: the statistics for the demo model's BatchNorms.

    No real frame: nothing of a held-out frame leaks into the fold's starting point.
    """
    from acnn_ros.core.dataset.synthetic import render_frame

    return np.stack([cv2.cvtColor(render_frame(np.random.default_rng(1000 + i), i % 4)[0],
                                  cv2.COLOR_BGR2RGB) for i in range(count)])


def demo_checkpoint(path: Path) -> Path:
    """Write a trainer checkpoint holding the shipped demo model's weights (once)."""
    if path.is_file():
        return path
    import torch

    from acnn_ros.model.train import CHECKPOINT_FORMAT, save_checkpoint, TrainConfig
    from acnn_ros.model.transfer import model_from_onnx, recalibrate_batchnorm

    model, card = model_from_onnx(ROOT / 'resource/models/acnn_demo.onnx')
    recalibrate_batchnorm(model, synthetic_rgb_frames())
    config = TrainConfig(variant=card.variant, overrides={'roi_output_width': 64,
                                                          'roi_output_height': 48})
    with torch.no_grad():
        state = {'format': CHECKPOINT_FORMAT, 'train_config': asdict(config),
                 'class_names': list(card.class_names), 'model': model.state_dict(),
                 'history': [], 'epoch': -1, 'command': card.reproduce,
                 'num_train': card.extra.get('training', {}).get('num_train')}
    save_checkpoint(path, state)
    return path


def real_frames(samples: Path):
    """Return [(stem, BGR frame, class id, (x0, y0, x1, y1))] of the real sample frames."""
    from acnn_ros.core.dataset.labels import read_yolo_label
    from acnn_ros.core.dataset.seed_format import folder_images

    frames = []
    for path in folder_images(samples):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        label = read_yolo_label(path, len(CLASSES))
        h, w = image.shape[:2]
        cx, cy, bw, bh = label.box
        box = ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
        frames.append((path.stem, image, label.class_id, box))
    return frames


def predict(checkpoint: Path, frames):
    """Run a trainer checkpoint on real frames; one result dict per frame."""
    import torch

    from acnn_ros.model.augment import to_input
    from acnn_ros.model.train import load_checkpoint, model_from_checkpoint

    model = model_from_checkpoint(load_checkpoint(checkpoint))
    rgb = np.stack([cv2.cvtColor(f[1], cv2.COLOR_BGR2RGB) for f in frames])
    with torch.no_grad():
        output = model(to_input(rgb, torch.device('cpu')))
    probs = torch.softmax(output.logits, 1).numpy()
    results = []
    for (stem, image, class_id, box), p, roi in zip(frames, probs, output.roi.numpy()):
        h, w = image.shape[:2]
        centre = (float(roi[0] * w), float(roi[1] * h))
        results.append({
            'frame': stem, 'true': CLASSES[class_id], 'predicted': CLASSES[int(p.argmax())],
            'confidence': float(p.max()), 'p_true': float(p[class_id]),
            'roi_centre_px': [round(centre[0], 1), round(centre[1], 1)],
            'roi_size_px': [float(roi[2] * w), float(roi[3] * h)],
            'box_px': [round(v, 1) for v in box],
            'centre_in_box': bool(box[0] <= centre[0] <= box[2] and box[1] <= centre[1] <= box[3]),
            'centre_error_px': float(np.hypot(centre[0] - (box[0] + box[2]) / 2,
                                              centre[1] - (box[1] + box[3]) / 2))})
    return results


def reshot(frame, count: int, seed: int):
    """Return the held-out frame (its own code) moved and shot `count` times by camera 1."""
    from acnn_ros.core.dataset.real_background import reshoot

    stem, image, class_id, (x0, y0, x1, y1) = frame
    shots = []
    for index, shot_seed in enumerate(np.random.SeedSequence(seed).spawn(count)):
        moved, box = reshoot(np.random.default_rng(shot_seed), image,
                             ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), device=1)
        # The JPEG of camera 1, as the dataset writer does.
        _, jpeg = cv2.imencode('.jpg', moved, [cv2.IMWRITE_JPEG_QUALITY, 82])
        shots.append((f'{stem}#{index}', cv2.imdecode(jpeg, cv2.IMREAD_COLOR), class_id,
                      (box.center_x - box.width / 2, box.center_y - box.height / 2,
                       box.center_x + box.width / 2, box.center_y + box.height / 2)))
    return shots


def summary(results):
    """Share right, share with the ROI centre in the box, both, over a list of results."""
    n = len(results)
    right = [r['predicted'] == r['true'] for r in results]
    inside = [r['centre_in_box'] for r in results]
    return {'n': n, 'accuracy': sum(right) / n, 'centre_in_box': sum(inside) / n,
            'right_and_in_box': sum(a and b for a, b in zip(right, inside)) / n}


def draw(frames, results, path: Path, title: str) -> None:
    """2x2 picture: each frame with its labelled box (blue) and the model's ROI."""
    tiles = []
    for (stem, image, _, box), r in zip(frames, results):
        tile = image.copy()
        cv2.rectangle(tile, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])),
                      (255, 160, 0), 1)
        (cx, cy), (rw, rh) = r['roi_centre_px'], r['roi_size_px']
        ok = r['centre_in_box'] and r['predicted'] == r['true']
        colour = (0, 220, 0) if ok else (0, 0, 255)
        cv2.rectangle(tile, (int(cx - rw / 2), int(cy - rh / 2)),
                      (int(cx + rw / 2), int(cy + rh / 2)), colour, 2)
        text = f"{title} {r['frame'][:5]}: {r['predicted']} {r['confidence']:.2f}"
        cv2.putText(tile, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, colour, 2, cv2.LINE_AA)
        tiles.append(tile)
    while len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.vstack([np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.resize(grid, None, fx=0.6, fy=0.6,
                                      interpolation=cv2.INTER_AREA),
                [cv2.IMWRITE_JPEG_QUALITY, 88])


def markdown(report) -> str:
    """Return the tables of docs/BENCHMARKS.md (section bottle) from a loo.json report."""
    def row(label, r, reshot=None, extra=''):
        shots = (f"{reshot['accuracy']:.0%} / {reshot['centre_in_box']:.0%}"
                 if reshot else 'n/a')
        return (f"| {label} | {r['true']} | {r['predicted']} ({r['confidence']:.2f}) | "
                f"{r['centre_error_px']:.0f} | {'yes' if r['centre_in_box'] else 'no'} | "
                f'{shots} |{extra}')
    lines = ['| model / fold | true | predicted (confidence) | ROI centre error px | '
             'centre in box | re-shot x40: class right / centre in box | device-shift test |',
             '|---|---|---|---|---|---|---|']
    for stem, fold in report.get('folds', {}).items():
        lines.append(row(f'fold: held out {stem}', fold['held_out'], fold['held_out_reshot'],
                         f" {fold['device_shift_test']:.1%} |"))
    for r in report.get('baseline_demo', []):
        lines.append(row(f"acnn_demo (synthetic only) on {r['frame']}", r,
                         report.get('baseline_demo_reshot', {}).get(r['frame']), ' n/a |'))
    shift = report.get('shipped_device_shift_test')
    for r in report.get('shipped_on_its_own_four_frames', []):
        lines.append(row(f"acnn_bottle on {r['frame']} (seen in training)", r, None,
                         f' {shift:.1%} |' if shift is not None else ' n/a |'))
    return '\n'.join(lines) + '\n'


def run_fold(args, name: str, hold_out, init: Path) -> Path:
    """Synthesise (without the held-out frames) and train one model; return its checkpoint."""
    data, run = args.out / name / 'data', args.out / name / 'run'
    if not (data / 'synth_command.txt').is_file():
        _cli('synth', str(data), '--backgrounds', str(args.samples), '--num-train',
             str(args.num_train), '--num-test', str(args.num_test), '--seed', str(args.seed),
             '--synthetic-fraction', str(args.synthetic_fraction),
             *[f'--code={c}' for c in CODES], *[f'--hold-out={h}' for h in hold_out])
    if not _metrics_path(run).is_file():
        _cli('train', str(data), '--variant', 'opt', '--roi-output', '64x48', '--epochs',
             str(args.epochs), '--lr', str(args.lr), '--labeled-fraction', '1.0',
             '--init-from', str(init), '--freeze-localization-epochs',
             str(args.freeze_localization_epochs), '--threads', str(args.threads),
             '--device', args.device,
             '--no-progress', '--seed', str(args.seed), '--out', str(run))
    # The trainer keeps best.pt (validation carved from train) beside last.pt.
    return run / 'best.pt' if (run / 'best.pt').is_file() else run / 'last.pt'


def _metrics_path(run: Path) -> Path:
    """Return the test-split metrics file a training run wrote (name of either trainer)."""
    return run / 'test_metrics.json' if (run / 'test_metrics.json').is_file() \
        else run / 'metrics.json'


def _device_shift_accuracy(checkpoint: Path) -> float:
    return json.loads(_metrics_path(checkpoint.parent).read_text())['accuracy']


def main(argv=None) -> int:
    """Run the folds and the shipped model; write OUT/loo.json and the picture."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--samples', type=Path, default=ROOT.parent / 'shared/data/aoi_samples')
    parser.add_argument('--out', type=Path, default=ROOT / 'runs/bottle')
    parser.add_argument('--folds', default='all', help='all, none, or comma-separated stems')
    parser.add_argument('--no-ship', action='store_true', help='skip the shipped model')
    parser.add_argument('--num-train', type=int, default=700)
    parser.add_argument('--num-test', type=int, default=100)
    parser.add_argument('--synthetic-fraction', type=float, default=0.2)
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--freeze-localization-epochs', type=int, default=0,
                        help='as acnn train: first epochs with the localization fixed')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--picture', type=Path, default=ROOT / 'docs/images/bottle_loo_roi.jpg')
    parser.add_argument('--reshots', type=int, default=40,
                        help='held-out frame moved and re-shot by camera 1 this many times')
    args = parser.parse_args(argv)
    if not args.samples.is_dir():
        print(f'no real samples at {args.samples}')
        return 2
    args.out = args.out.resolve()
    args.samples = args.samples.resolve()
    frames = real_frames(args.samples)
    init = demo_checkpoint(args.out / 'demo_init.pt')
    report_path = args.out / 'loo.json'
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    report['baseline_demo'] = predict(init, frames)
    report['baseline_demo_reshot'] = {f[0]: summary(predict(init, reshot(f, args.reshots, 7)))
                                      for f in frames}
    stems = [f[0] for f in frames]
    if not args.no_ship:        # first: the shipped model is the deliverable
        checkpoint = run_fold(args, 'all4', [], init)
        report['shipped_on_its_own_four_frames'] = predict(checkpoint, frames)
        report['shipped_device_shift_test'] = _device_shift_accuracy(checkpoint)
        report_path.write_text(json.dumps(report, indent=2) + '\n')
        command = ' '.join(['python -m benchmarks.bottle_loo', *(argv or sys.argv[1:])])
        _cli('export', str(checkpoint), 'resource/models/acnn_bottle.onnx', '--name',
             'acnn_bottle', '--metrics', str(_metrics_path(checkpoint.parent)), '--reproduce',
             f'{command}  # the four folds + this model; see docs/MODEL.md')
    chosen = stems if args.folds == 'all' else [] if args.folds == 'none' else \
        args.folds.split(',')
    loo = report.setdefault('folds', {})
    for stem in chosen:
        checkpoint = run_fold(args, f'fold_{stem[:5]}', [stem], init)
        held = [f for f in frames if f[0] == stem]
        loo[stem] = {'held_out': predict(checkpoint, held)[0],
                     'held_out_reshot': summary(predict(checkpoint,
                                                        reshot(held[0], args.reshots, 7))),
                     'device_shift_test': _device_shift_accuracy(checkpoint)}
        report_path.write_text(json.dumps(report, indent=2) + '\n')
    done = [s for s in stems if s in loo]
    if done:
        draw([f for f in frames if f[0] in done], [loo[s]['held_out'] for s in done],
             args.picture, 'held out')
    report['args'] = {k: str(v) for k, v in vars(args).items()}
    report_path.write_text(json.dumps(report, indent=2) + '\n')
    (args.out / 'loo.md').write_text(markdown(report))
    for stem in done:
        r = loo[stem]['held_out']
        print(f"fold {stem}: {r['predicted']} (true {r['true']}) conf {r['confidence']:.2f} "
              f"centre in box {r['centre_in_box']} err {r['centre_error_px']:.1f} px; "
              f"reshot {loo[stem]['held_out_reshot']}; "
              f"device-shift test acc {loo[stem]['device_shift_test']:.3f}")
    return 0


if __name__ == '__main__':
    sys.exit(main())

# SPDX-License-Identifier: Apache-2.0
"""Synthesis on real backgrounds: determinism, the code in its labelled box, the old code gone."""
import argparse
from pathlib import Path

from acnn_ros.core.dataset.code_renderer import measure_code, render_code_ink
from acnn_ros.core.dataset.labels import read_yolo_label
from acnn_ros.core.dataset.real_background import (generate_real_dataset, load_backgrounds,
                                                   render_real_frame)
from acnn_ros.core.dataset.seed_format import folder_images, read_class_names
import cv2
import numpy as np
import pytest
from test_synthetic import folder_digest

SAMPLES = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'aoi_samples'
needs_samples = pytest.mark.skipif(not (SAMPLES / 'images').is_dir(),
                                   reason='../shared/data/aoi_samples is absent')


def write_stand_in_samples(folder: Path) -> Path:
    """Write four frames of the project's own generator, one per class, as the samples are."""
    from acnn_ros.core.dataset.synthetic import render_frame

    (folder / 'images').mkdir(parents=True)
    (folder / 'labels').mkdir()
    for class_id, name in enumerate(('p1069', 'p1071', 'p3707', 'p3709')):
        bgr, box = render_frame(np.random.default_rng(100 + class_id), class_id)
        height, width = bgr.shape[:2]
        cv2.imwrite(str(folder / 'images' / f'{name}_0000.jpg'), bgr,
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        (folder / 'labels' / f'{name}_0000.txt').write_text(
            f'{class_id} {box.center_x / width:.6f} {box.center_y / height:.6f} '
            f'{box.width / width:.6f} {box.height / height:.6f}\n', encoding='utf-8')
    return folder


@pytest.fixture(scope='module')
def samples(tmp_path_factory):
    """Return the real frames of ../shared or, where they are absent (CI), generated stand-ins."""
    if (SAMPLES / 'images').is_dir():
        return SAMPLES
    return write_stand_in_samples(tmp_path_factory.mktemp('stand_in_samples'))


@pytest.fixture(scope='module')
def backgrounds(samples):
    return load_backgrounds(samples)


def test_render_code_ink_has_the_requested_size():
    coverage, (cx, cy) = render_code_ink('(3707)', height=14.0, width=30.0)
    ys, xs = np.nonzero(coverage > 0.5 * coverage.max())
    assert abs((xs.max() - xs.min() + 1) - 30) <= 2
    assert abs((ys.max() - ys.min() + 1) - 14) <= 2
    assert abs((xs.max() + xs.min()) / 2 - cx) <= 1.5
    assert abs((ys.max() + ys.min()) / 2 - cy) <= 1.5
    wide, _ = render_code_ink('(3707)', height=14.0, width=40.0)
    assert np.count_nonzero(wide > 0.5) > np.count_nonzero(coverage > 0.5)


@needs_samples
def test_measured_look_of_the_real_codes(backgrounds):
    assert len(backgrounds) == 4
    for background in backgrounds:
        look = background.look
        assert sum(look.ink_bgr) > sum(look.paper_bgr) + 60       # light print on a dark bottle
        assert 10 <= look.ink_height <= 26 and 20 <= look.ink_width <= 40
        assert -8 <= look.angle_deg <= 8 and 0.3 <= look.blur_sigma <= 2.5
        assert 0.2 < background.condense < 1.0                  # the real print is condensed
    # A measurement reads the frame: a horizontally squeezed copy measures narrower.
    b = backgrounds[2]
    squeezed = cv2.resize(b.original, None, fx=0.7, fy=1.0, interpolation=cv2.INTER_AREA)
    box = (b.box[0] * 0.7, b.box[1], b.box[2] * 0.7, b.box[3])
    assert measure_code(squeezed, box).ink_width < b.look.ink_width - 4


def test_the_original_code_is_gone(backgrounds):
    for b in backgrounds:
        cx, cy, w, h = b.box
        x0, x1, y0, y1 = int(cx - w / 2), int(cx + w / 2), int(cy - h / 2), int(cy + h / 2)
        box_before = cv2.cvtColor(b.original, cv2.COLOR_BGR2GRAY)[y0:y1, x0:x1].astype(float)
        box_after = cv2.cvtColor(b.clean, cv2.COLOR_BGR2GRAY)[y0:y1, x0:x1].astype(float)

        def edges(img):
            return float(np.hypot(cv2.Sobel(img, cv2.CV_64F, 1, 0),
                                  cv2.Sobel(img, cv2.CV_64F, 0, 1)).mean())
        # The text's edges and its bright strokes are removed ...
        assert edges(box_after) < 0.5 * edges(box_before), b.name
        assert np.percentile(box_after, 95) < np.percentile(box_before, 95) - 15, b.name
        # ... and nothing else in the frame changed (beyond the inpainting's reach), nothing at
        # all left of the box: the label's text ends there, and a synthetic frame must not
        # show a cut "KOREA" that no real frame shows.
        changed = np.nonzero(np.abs(b.clean.astype(int) - b.original.astype(int)).max(2))
        assert changed[1].min() >= x0 and changed[1].max() <= x1 + 8, b.name
        assert changed[0].min() >= y0 - 8 and changed[0].max() <= y1 + 8, b.name


def test_the_code_is_filled_from_the_bottle_not_from_the_print_beside_it(backgrounds):
    # Inpainting from every neighbour smeared the label's text and the sign into the box: a
    # bright blob beside every synthetic code (90th percentile of the box 86-120 on the real
    # frames, with the bottle below it at 55-85).
    for b in backgrounds:
        cx, cy, w, h = b.box
        x0, x1, y0, y1 = int(cx - w / 2), int(cx + w / 2), int(cy - h / 2), int(cy + h / 2)
        gray = cv2.cvtColor(b.clean, cv2.COLOR_BGR2GRAY).astype(float)
        bottle_below = gray[y1 + 2:y1 + 12, x0:x1]
        assert np.percentile(gray[y0:y1, x0:x1], 90) <= np.percentile(bottle_below, 90) + 5, \
            b.name


# Real frames only: the thresholds are set for the real print (the stand-ins' synthetic
# code is fainter and narrower than what the look measurement expects).
@needs_samples
def test_the_code_lands_in_its_labelled_box(backgrounds):
    for seed, background in enumerate(backgrounds):
        # Same draws, different code: the frames differ only where the code is printed.
        a, box_a = render_real_frame(np.random.default_rng(seed), background, '(3707)')
        b, box_b = render_real_frame(np.random.default_rng(seed), background, '(1071)')
        diff = np.abs(a.astype(int) - b.astype(int)).max(2)
        # The code is printed: the dimmest print on the dimmest real label is 0.4 x 32 grey
        # levels, and the camera's gain can take that down to ~8.
        assert diff.max() > 6, background.name
        ys, xs = np.nonzero(diff > 0.4 * diff.max())
        assert len(xs) > 15

        def inside(box, margin=4):
            return ((xs >= box.center_x - box.width / 2 - margin)
                    & (xs <= box.center_x + box.width / 2 + margin)
                    & (ys >= box.center_y - box.height / 2 - margin)
                    & (ys <= box.center_y + box.height / 2 + margin))
        assert (inside(box_a) | inside(box_b)).mean() > 0.95, background.name
        assert abs(box_a.center_y - box_b.center_y) < 3 and 8 < box_a.height < 40


def test_dataset_is_deterministic_and_in_the_seed_format(tmp_path, backgrounds):
    three = [b for b in backgrounds if not b.name.startswith('p3707')]
    counts = generate_real_dataset(tmp_path / 'a', three, 6, 2, seed=3, synthetic_fraction=0.3,
                                   codes={'p1069': '(1069B)'})
    generate_real_dataset(tmp_path / 'b', three, 6, 2, seed=3, synthetic_fraction=0.3,
                          codes={'p1069': '(1069B)'})
    generate_real_dataset(tmp_path / 'c', three, 6, 2, seed=4, synthetic_fraction=0.3,
                          codes={'p1069': '(1069B)'})
    assert counts == {'train': 6, 'test': 2}
    assert folder_digest(tmp_path / 'a') == folder_digest(tmp_path / 'b') \
        != folder_digest(tmp_path / 'c')
    names = read_class_names(tmp_path / 'a')
    images = folder_images(tmp_path / 'a')
    assert len(images) == 8 and names == ['p1069', 'p1071', 'p3707', 'p3709']
    for image in images:
        label = read_yolo_label(image, len(names))
        assert label.box is not None and names[label.class_id] == image.stem.split('_')[0]


def test_cli_holds_out_a_frame_and_writes_the_seed_format(tmp_path, capsys, samples):
    from acnn_ros.model import synth_cli

    parser = argparse.ArgumentParser()
    synth_cli.add_arguments(parser)
    out = tmp_path / 'ds'
    held_out = next(p.stem for p in folder_images(samples) if p.stem.startswith('p3707'))
    args = parser.parse_args([str(out), '--num-train', '3', '--num-test', '1', '--backgrounds',
                              str(samples), '--hold-out', held_out,
                              '--code', 'p1069=(1069B)'])
    assert synth_cli.run(args) == 0
    printed = capsys.readouterr()
    assert held_out not in printed.out + printed.err
    assert len(folder_images(out, 'train')) == 3 and len(folder_images(out, 'test')) == 1
    assert (out / 'synth_command.txt').is_file()
    bad = parser.parse_args([str(tmp_path / 'x'), '--backgrounds', str(samples),
                             '--hold-out', 'no_such_frame'])
    assert synth_cli.run(bad) == 2
    assert synth_cli.run(parser.parse_args([str(tmp_path / 'y'), '--hold-out', 'a'])) == 2


# Real frames only: the thresholds are set for the real print (the stand-ins' synthetic
# code is fainter and narrower than what the look measurement expects).
@needs_samples
def test_reshoot_moves_the_labelled_box_with_the_real_code(backgrounds):
    from acnn_ros.core.dataset.real_background import reshoot

    for seed, b in enumerate(backgrounds):
        # The real frame and its code-free twin, same draws and borders: they differ only at
        # the code.
        shot, box = reshoot(np.random.default_rng(seed), b.original, b.box, device=1,
                            code_free=b.clean)
        twin, box_twin = reshoot(np.random.default_rng(seed), b.clean, b.box, device=1,
                                 code_free=b.clean)
        assert box == box_twin and 15 < box.width < 50
        diff = np.abs(shot.astype(int) - twin.astype(int)).max(2)
        ys, xs = np.nonzero(diff > 0.4 * diff.max())
        assert diff.max() > 15 and len(xs) > 15, b.name
        inside = ((np.abs(xs - box.center_x) <= box.width / 2 + 4)
                  & (np.abs(ys - box.center_y) <= box.height / 2 + 4))
        assert inside.mean() > 0.95, b.name


# Real frames only: the real prints' spread is what the synthesis must cover.
@needs_samples
def test_prints_on_every_background_cover_the_real_prints_looks(backgrounds):
    from acnn_ros.core.dataset.real_background import _ink_box, print_code
    from acnn_ros.core.dataset.synthetic import code_text

    def contrast(look):
        return float(np.mean(look.ink_bgr) - np.mean(look.paper_bgr))

    dimmest_real = min(contrast(b.look) for b in backgrounds)
    for background in backgrounds:
        look, rng = background.look, np.random.default_rng(7)
        measured = []
        for _ in range(40):
            frame, layer = print_code(rng, background, code_text(background.class_name))
            box = _ink_box(layer, look.pad_x, look.pad_y)
            try:
                measured.append(measure_code(np.clip(frame, 0, 255).astype(np.uint8), (
                    box.center_x, box.center_y, box.width, box.height)))
            except ValueError:          # too dim for the measurement to find its ink
                continue
        assert len(measured) >= 30, background.name
        contrasts = [contrast(m) for m in measured]
        # A print on the brightest background can be as dim as the dimmest real print (a
        # fold holding that print out still trains on dim codes), and as bright as its own.
        assert min(contrasts) <= dimmest_real + 5, background.name
        assert max(contrasts) >= contrast(look), background.name
        heights = [m.ink_height for m in measured]
        assert min(heights) <= look.ink_height + 1 and max(heights) >= look.ink_height - 1


def test_a_dim_code_comes_with_a_dim_label(backgrounds):
    """One ink under one light: the label's other print takes the code's contrast."""
    from acnn_ros.core.dataset.real_background import print_code

    def print_energy(frame, outside):
        gray = cv2.cvtColor(np.clip(frame, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
        tophat = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, np.ones((11, 11), np.uint8))
        return float(tophat[outside].astype(float).sum())

    for background in backgrounds:
        h, w = background.clean.shape[:2]
        cx, cy, bw, bh = background.box
        outside = np.ones((h, w), bool)     # the frame less the code and a margin around it
        outside[max(0, int(cy - bh)):int(cy + bh), max(0, int(cx - bw)):int(cx + bw)] = False
        dim, _ = print_code(np.random.default_rng(3), background, '(3707)', contrast=0.4)
        bright, _ = print_code(np.random.default_rng(3), background, '(3707)', contrast=1.6)
        same, _ = print_code(np.random.default_rng(3), background, '(3707)', contrast=1.0)
        # At its own contrast the label is the real one; dimmed, its print is about 0.4 / 1.6.
        assert np.array_equal(np.round(same[outside]), background.clean[outside].astype(float))
        ratio = print_energy(dim, outside) / print_energy(bright, outside)
        assert 0.15 < ratio < 0.4, (background.name, ratio)


def test_the_code_is_brighter_or_dimmer_than_its_label_as_the_real_codes_are(backgrounds):
    """The real codes are 0.79-1.18 x as bright as their labels: one label, many ratios."""
    from acnn_ros.core.dataset.real_background import _ink_box, print_code

    for background in backgrounds:
        look, rng = background.look, np.random.default_rng(11)
        contrasts = []
        for _ in range(30):
            frame, layer = print_code(rng, background, '(3707)', contrast=1.0)
            box = _ink_box(layer, look.pad_x, look.pad_y)
            try:
                measured = measure_code(np.clip(frame, 0, 255).astype(np.uint8), (
                    box.center_x, box.center_y, box.width, box.height))
            except ValueError:          # too dim for the measurement to find its ink
                continue
            contrasts.append(np.mean(measured.ink_bgr) - np.mean(measured.paper_bgr))
        # The label stays at its own contrast (1.0); the code alone spans the real ratios.
        assert len(contrasts) >= 20, background.name
        assert max(contrasts) / min(contrasts) > 1.5, (background.name, contrasts)


def test_codes_reach_the_frame_edges_and_re_shots_stay_where_they_were(backgrounds):
    """A real code sits at 0.89 of the width: the synthesis must reach past it on both sides."""
    from acnn_ros.core.dataset.real_background import reshoot

    background = backgrounds[0]
    h, w = background.clean.shape[:2]
    rng = np.random.default_rng(5)
    centres = np.array([render_real_frame(rng, background, '(3707)')[1].center_x
                        for _ in range(60)]) / w
    assert centres.max() > 0.92 and centres.min() < 0.08
    assert centres.max() < 0.99 and centres.min() > 0.01
    # Re-shots keep their fixed geometry: recipes compare on the same re-shots.
    shots = np.array([reshoot(rng, background.original, background.box,
                              code_free=background.clean)[1].center_x for _ in range(40)]) / w
    assert 0.08 < shots.min() and shots.max() < 0.92

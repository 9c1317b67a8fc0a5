# SPDX-License-Identifier: Apache-2.0
"""
What printers and cameras do (issue 25): the corruptions, the text styles, dataset metadata.

The generator must not depend on one renderer: the label's text can be drawn by OpenCV or
Pillow, in several faces, with spacing, placement and weight off; the default draws exactly as
before (the shipped model's training data). Every corruption is deterministic, keeps the
frame's shape, and (scale, rotation) moves the code box with the label.
"""
import json

from acnn_ros.core.dataset.corruptions import (apply_image_corruption, CORRUPTIONS, SEVERITIES,
                                               text_style_for)
from acnn_ros.core.dataset.synthetic import generate_dataset, GENERATOR_FILE, render_frame
from acnn_ros.core.dataset.text_style import TextStyle
import numpy as np
import pytest

IMAGE = [name for name, c in CORRUPTIONS.items() if c.kind == 'image']
RENDER = [name for name, c in CORRUPTIONS.items() if c.kind == 'render']


@pytest.fixture(scope='module')
def frame():
    return render_frame(np.random.default_rng(7), 2, device=1)


def test_the_default_style_draws_exactly_as_the_generator_always_did():
    for seed in range(4):
        plain, box = render_frame(np.random.default_rng(seed), seed % 4, device=seed % 2)
        styled, styled_box = render_frame(np.random.default_rng(seed), seed % 4,
                                          device=seed % 2, style=TextStyle())
        assert np.array_equal(plain, styled) and box == styled_box


@pytest.mark.parametrize('name', RENDER)
def test_render_corruptions_print_the_label_another_way(name):
    clean, clean_box = render_frame(np.random.default_rng(3), 1, device=1)
    for severity in (1, 5):
        styled, box = render_frame(np.random.default_rng(3), 1, device=1,
                                   style=text_style_for(name, severity))
        again, _ = render_frame(np.random.default_rng(3), 1, device=1,
                                style=text_style_for(name, severity))
        assert np.array_equal(styled, again)               # deterministic
        assert not np.array_equal(styled, clean)            # and really another print
        assert abs(box.center_y - clean_box.center_y) < 10  # the code is still on its line


@pytest.mark.parametrize('name', IMAGE)
def test_image_corruptions_keep_the_frame_and_are_deterministic(frame, name):
    bgr, box = frame
    assert apply_image_corruption(name, bgr, box, 0) == (bgr, box)
    for severity in SEVERITIES:
        out, out_box = apply_image_corruption(name, bgr, box, severity, seed=4)
        again, _ = apply_image_corruption(name, bgr, box, severity, seed=4)
        assert out.shape == bgr.shape and out.dtype == np.uint8
        assert np.array_equal(out, again)
        assert (out_box.center_x, out_box.center_y) == (box.center_x, box.center_y)
    assert not np.array_equal(apply_image_corruption(name, bgr, box, 5)[0], bgr)


def test_label_scale_scales_the_code_box_and_unknown_names_are_refused(frame):
    bgr, box = frame
    _, larger = apply_image_corruption('label_scale', bgr, box, 5)
    assert larger.width == pytest.approx(box.width * 1.2)
    with pytest.raises(ValueError, match='unknown image corruption'):
        apply_image_corruption('kerning', bgr, box, 1)
    with pytest.raises(ValueError):
        text_style_for('jpeg', 1)


def test_a_generated_dataset_records_the_versions_that_drew_it(tmp_path):
    generate_dataset(tmp_path, 2, 1, seed=3)
    meta = json.loads((tmp_path / GENERATOR_FILE).read_text())
    assert meta['seed'] == 3 and meta['num_train'] == 2
    assert set(meta['versions']) == {'opencv', 'numpy', 'pillow', 'python'}
    again = tmp_path / 'again'
    generate_dataset(again, 2, 1, seed=3)      # same seed, same environment: same files
    for image in sorted((tmp_path / 'images').rglob('*.jpg')):
        assert image.read_bytes() == (again / image.relative_to(tmp_path)).read_bytes()


def test_the_model_card_carries_the_robustness_measured(tmp_path):
    from dataclasses import replace
    from acnn_ros.core.dataset.corruptions import robustness_entry
    from acnn_ros.core.model_card import ModelCard
    score = {'accuracy': 0.9, 'roi_error_px': 3.0}
    results = {'clean': {'accuracy': 0.99, 'roi_error_px': 2.0}}
    results.update({name: [score] * 5 for name in CORRUPTIONS})
    results['kerning'] = [dict(score, accuracy=0.5)] * 5
    entry = robustness_entry(results, 'python -m benchmarks.corruption_benchmark')
    assert entry['worst_at_severity_3'] == {'corruption': 'kerning', 'accuracy': 0.5}
    assert entry['clean_accuracy'] == 0.99 and len(entry['accuracy_at_severity_3']) == 16
    replace(ModelCard('m', ('a', 'b')), robustness=entry).save(tmp_path / 'm.json')
    card = ModelCard.load(tmp_path / 'm.json')      # the optional field round-trips
    assert card.robustness == entry
    assert replace(card, robustness={}) == ModelCard('m', ('a', 'b'))   # nothing else changed


def test_training_data_can_mix_print_styles_and_without_them_nothing_changes(tmp_path):
    plain, mixed = tmp_path / 'plain', tmp_path / 'mixed'
    generate_dataset(plain, 6, 2, seed=5)
    generate_dataset(mixed, 6, 2, seed=5, style_mix=1.0)
    trains = sorted((plain / 'images' / 'train').glob('*.jpg'))
    changed = [p.name for p in trains
               if p.read_bytes() != (mixed / 'images' / 'train' / p.name).read_bytes()]
    assert len(changed) == 6                           # every train frame printed another way
    for test_image in (plain / 'images' / 'test').glob('*.jpg'):  # never the test split
        assert test_image.read_bytes() == (mixed / 'images' / 'test' /
                                           test_image.name).read_bytes()
    assert json.loads((mixed / GENERATOR_FILE).read_text())['train_style_mix'] == 1.0
    with pytest.raises(ValueError, match='style_mix'):
        generate_dataset(tmp_path / 'bad', 1, 1, style_mix=1.5)

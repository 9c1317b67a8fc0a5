# SPDX-License-Identifier: Apache-2.0
"""The station's synthetic parts: N views of one part, the code readable in one or two."""
from acnn_ros.core.dataset.multiview import (camera_angles, code_view, part_seed,
                                             relative_angle, render_part, render_view,
                                             visibility_of)
from acnn_ros.core.dataset.synthetic import render_frame
import numpy as np
import pytest


def test_cameras_stand_evenly_around_the_part_and_angles_wrap():
    assert camera_angles(3) == (0.0, 120.0, 240.0)
    assert relative_angle(350.0, 0.0) == pytest.approx(-10.0)
    assert relative_angle(10.0, 240.0) == pytest.approx(130.0)
    with pytest.raises(ValueError):
        camera_angles(0)


def test_visibility_follows_the_angle_and_hidden_codes_are_not_drawn():
    assert [visibility_of(d) for d in (0, 35, -36, 70, 71, 180)] == [
        'front', 'front', 'grazing', 'grazing', 'hidden', 'hidden']
    assert code_view(0.0).squeeze == pytest.approx(1.0)
    assert code_view(60.0).squeeze == pytest.approx(0.5)
    assert code_view(-60.0).code_x < code_view(0.0).code_x < code_view(60.0).code_x
    assert code_view(120.0).squeeze == 0.0


def test_a_part_has_one_class_and_each_view_its_own_visibility_and_box():
    for seed in np.random.SeedSequence(3).spawn(12):
        part = render_part(seed, 3, device=1)
        assert len(part.views) == 3
        # Three cameras 120 degrees apart: the code is at most 60 degrees from one of them.
        assert min(abs(v.delta_deg) for v in part.views) <= 60.0
        assert len(part.cameras_seeing('front')) <= 1
        for view in part.views:
            assert view.bgr.shape == (480, 640, 3)
            assert (view.box is None) == (view.visibility == 'hidden')
            if view.visibility == 'grazing':
                assert view.box.width < 30.0     # squeezed: narrower than a front code


def test_the_same_seed_gives_the_same_views_and_one_camera_keeps_the_old_frames():
    seed = np.random.SeedSequence(11)
    first, again = render_part(seed, 3), render_part(np.random.SeedSequence(11), 3)
    assert first.class_id == again.class_id and first.facing_deg == again.facing_deg
    assert all(np.array_equal(a.bgr, b.bgr) for a, b in zip(first.views, again.views))
    # render_frame without a view draws exactly as before (datasets and models stay valid).
    plain, box = render_frame(np.random.default_rng(5), 2, device=1)
    again_plain, again_box = render_frame(np.random.default_rng(5), 2, device=1)
    assert np.array_equal(plain, again_plain) and box == again_box


def test_one_camera_renders_exactly_its_view_of_the_part():
    part = render_part(part_seed(4, 17), 3, device=1)
    for index in range(3):
        class_id, view = render_view(part_seed(4, 17), 3, index, device=1)
        assert class_id == part.class_id
        assert np.array_equal(view.bgr, part.views[index].bgr)
        assert view.visibility == part.views[index].visibility

# SPDX-License-Identifier: Apache-2.0
"""
A station's views of one synthetic part: N cameras around a round bottle (issue 21).

The printed code faces one way (`facing_deg`, drawn per part); camera i stands at 360 i / N
degrees. Seen from a camera, the code turned by `delta` from its axis sits `sin(delta)` of the
bottle's radius off the label centre and looks `cos(delta)` as wide:

- `front` (|delta| <= FRONT_DEG): readable as in a single-camera frame;
- `grazing` (up to GRAZING_DEG): squeezed towards the bottle's edge, hard or impossible to read;
- `hidden`: on the back of the label; the frame shows the label without the code (no box).

With three cameras a code faces at most 60 degrees from the nearest camera, so a part is seen
`front` by one camera, or by none (grazing in two); a single camera sees it front only for about
a fifth of the parts. Each view is rendered by `synthetic.render_frame` from a stream of its own
(background, glare, noise differ per camera) with the part's class: everything is reproducible
from the part's seed.
"""
from dataclasses import dataclass
import math
from typing import Optional, Sequence, Tuple

from acnn_ros.core.dataset.synthetic import (CodeView, DEFAULT_CLASSES, FRAME_WIDTH,
                                             render_frame)
from acnn_ros.core.results import RoiBox
import numpy as np

FRONT_DEG = 35.0
GRAZING_DEG = 70.0
VISIBILITIES = ('front', 'grazing', 'hidden')
# The bottle's radius in pixels at the label and its axis in the frame: the code moves by up
# to this much across the label as the part turns.
BOTTLE_RADIUS_PX = 150.0
BOTTLE_AXIS_X = 0.52 * FRAME_WIDTH


@dataclass(frozen=True)
class PartView:
    """One camera's frame of a part, its code box (None: hidden) and how the code faces it."""

    camera_index: int
    bgr: np.ndarray
    box: Optional[RoiBox]
    visibility: str
    delta_deg: float


@dataclass(frozen=True)
class StationPart:
    """A part's class, which way its code faces, and the views of every camera."""

    class_id: int
    facing_deg: float
    views: Tuple[PartView, ...]

    def cameras_seeing(self, visibility: str = 'front') -> Tuple[int, ...]:
        """Return the indices of the cameras that see the code with `visibility`."""
        return tuple(v.camera_index for v in self.views if v.visibility == visibility)


def camera_angles(cameras: int) -> Tuple[float, ...]:
    """Return the angle of each camera around the part, degrees (evenly spaced)."""
    if cameras < 1:
        raise ValueError(f'a station has at least one camera, got {cameras}')
    return tuple(360.0 * index / cameras for index in range(cameras))


def relative_angle(facing_deg: float, camera_deg: float) -> float:
    """Return the code's angle from the camera's axis, in (-180, 180] degrees."""
    delta = (facing_deg - camera_deg) % 360.0
    return delta - 360.0 if delta > 180.0 else delta


def visibility_of(delta_deg: float) -> str:
    """Return front / grazing / hidden for a code `delta_deg` off the camera's axis."""
    size = abs(delta_deg)
    if size <= FRONT_DEG:
        return 'front'
    return 'grazing' if size <= GRAZING_DEG else 'hidden'


def code_view(delta_deg: float) -> CodeView:
    """Return where the code appears in a camera `delta_deg` off its axis (squeeze 0: hidden)."""
    if visibility_of(delta_deg) == 'hidden':
        return CodeView(code_x=BOTTLE_AXIS_X, squeeze=0.0)
    radians = math.radians(delta_deg)
    return CodeView(code_x=BOTTLE_AXIS_X + BOTTLE_RADIUS_PX * math.sin(radians),
                    squeeze=math.cos(radians))


def _part_draws(seed: np.random.SeedSequence, cameras: int, classes: int,
                class_id: Optional[int]) -> Tuple[int, float, list]:
    """Return the part's class, facing and one seed per camera (the same for every camera)."""
    part_seed, *view_seeds = seed.spawn(cameras + 1)
    rng = np.random.default_rng(part_seed)
    drawn = int(rng.integers(classes))
    return (drawn if class_id is None else class_id), float(rng.uniform(0.0, 360.0)), view_seeds


def render_view(seed: np.random.SeedSequence, cameras: int, index: int, device: int = 0,
                class_names: Sequence[str] = DEFAULT_CLASSES) -> Tuple[int, PartView]:
    """Return the class of the part of `seed` and the view of its camera `index` only."""
    class_id, facing, view_seeds = _part_draws(seed, cameras, len(class_names), None)
    delta = relative_angle(facing, camera_angles(cameras)[index])
    bgr, box = render_frame(np.random.default_rng(view_seeds[index]), class_id, device=device,
                            class_names=class_names, view=code_view(delta))
    return class_id, PartView(index, bgr, box, visibility_of(delta), delta)


def render_part(seed: np.random.SeedSequence, cameras: int, device: int = 0,
                class_names: Sequence[str] = DEFAULT_CLASSES,
                class_id: Optional[int] = None) -> StationPart:
    """Render the part of `seed` as `cameras` cameras see it (class drawn unless given)."""
    class_id, facing, view_seeds = _part_draws(seed, cameras, len(class_names), class_id)
    views = []
    for index, (angle, view_seed) in enumerate(zip(camera_angles(cameras), view_seeds)):
        delta = relative_angle(facing, angle)
        bgr, box = render_frame(np.random.default_rng(view_seed), class_id, device=device,
                                class_names=class_names, view=code_view(delta))
        views.append(PartView(index, bgr, box, visibility_of(delta), delta))
    return StationPart(class_id, facing, tuple(views))


def part_seed(seed: int, part_id: int) -> np.random.SeedSequence:
    """Return the seed of part `part_id` of a station run seeded `seed` (same in every camera)."""
    return np.random.SeedSequence([seed, part_id])

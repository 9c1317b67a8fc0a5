# SPDX-License-Identifier: Apache-2.0
"""
The reject scheduler's inputs and outputs: settings, part records, actuations due.

`SchedulerSettings` goes in; `PartRecord` and `Due` (the `Actuation`s to issue and the records
made final) come out.

Kept apart from the state machine (core/reject/scheduler.py, which re-exports both) so that its
consumers (the driver, the archive, the node's messages) read the contract without the machine.
"""
from dataclasses import dataclass
from typing import Any, List, NamedTuple, Optional, Tuple

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.plc.contract import ActuationCommand
from acnn_ros.core.reject.counters import Delivery
from acnn_ros.core.reject.decision import Decision
from acnn_ros.core.reject.fusion import ViewRecord
from acnn_ros.core.results import InspectionOutcome


@dataclass(frozen=True)
class SchedulerSettings:
    """
    Timing of the line, and its cameras (see RejectActuatorConfig, the owner of the defaults).

    `cameras` empty: one camera, a part is its frame (key = header). Otherwise the part of a
    trigger is every frame with its stamp, one per camera (frame_id), fused by `fusion`
    (core/reject/fusion.py).
    """

    reject_delay_s: float
    pulse_width_s: float
    inspection_window_s: float
    max_fire_lateness_s: float
    use_part_trigger: bool
    timing: str
    cameras: Tuple[str, ...] = ()
    fusion: str = 'best_view'

    @classmethod
    def from_config(cls, config) -> 'SchedulerSettings':
        """Take the timing and camera fields of a RejectActuatorConfig."""
        return cls(config.reject_delay_s, config.pulse_width_s, config.inspection_window_s,
                   config.max_fire_lateness_s, config.use_part_trigger, config.timing,
                   tuple(config.cameras), config.fusion)


@dataclass(frozen=True)
class PartRecord:
    """
    Final outcome of one part: what the node publishes as a RejectEvent.

    `key` is the part's header (its trigger's with several cameras); `outcome` the deciding
    view's; `views` every camera's view (empty with one camera).
    """

    part_id: int
    key: FrameKey
    decision: Decision
    outcome: Optional[InspectionOutcome]
    due_time: float
    decided_time: float
    delivery: Delivery
    fire_time: Optional[float]
    actuator: str
    delivery_detail: str = ''
    views: Tuple[ViewRecord, ...] = ()


class Actuation(NamedTuple):
    """A command to issue now; its report goes back with it to `RejectScheduler.on_report`."""

    command: ActuationCommand
    part: Any        # the scheduler's entry of the part: opaque to the driver


class Due(NamedTuple):
    """What `advance` found due: commands to issue (in due order) and final part records."""

    actuations: List[Actuation]
    records: List[PartRecord]

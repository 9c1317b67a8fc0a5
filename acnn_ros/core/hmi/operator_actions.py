# SPDX-License-Identifier: Apache-2.0
"""
The page's operator actions: reset the shift counters, acknowledge the faults standing.

Each is written to the shift database's audit log (`operator_actions`) and logged as an AUDIT
warning with who asked (the page's client address) and the counters before. A reset ends the
shift and starts a new one: the old shift's rows stay for `acnn shift export`. `after_reset`
lets the node reset reject_actuator_node's counters too.
"""
import logging
import time
from typing import Callable, Dict, Optional

from acnn_ros.core.hmi.live_state import LiveState
from acnn_ros.core.shift.store import ShiftStore
from acnn_ros.core.shift.tally import ShiftTally


class OperatorActions:
    """Reset and acknowledge, recorded in the database and the log."""

    def __init__(self, store: ShiftStore, state: LiveState, gallery_size: int,
                 logger: logging.Logger, after_reset: Optional[Callable[[], str]] = None,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.state = state
        self.gallery_size = gallery_size
        self._log = logger
        self._after_reset = after_reset
        self._clock = clock

    def reset_shift(self, by: str) -> Dict:
        """End the shift, start a new one with zero counters; return {'shift_id', 'before'}."""
        now = self._clock()
        before = self.state.tally.counters()
        summary = (f"shift {before['shift_id']}: {before['parts']} parts, {before['good']} good, "
                   f"{before['rejected']} rejected")
        shift = self.store.start_shift(now, f'reset by {by}')
        self.state.new_shift(ShiftTally(shift, now, self.gallery_size))
        actuator = self._after_reset() if self._after_reset else 'not asked'
        detail = f'by {by}; before: {summary}; reject actuator counters: {actuator}'
        self.store.log_action(shift, now, 'reset', detail)
        self._log.warning(f'AUDIT: shift counters reset {detail}; new shift {shift}')
        return {'shift_id': shift, 'before': summary}

    def acknowledge(self, by: str) -> Dict:
        """Acknowledge the faults standing; return {'acknowledged': [names]}."""
        faults = self.state.acknowledge()
        names = [fault['name'] for fault in faults]
        if faults:
            detail = f'by {by}: ' + '; '.join(f"{f['name']}: {f['message']}" for f in faults)
            self.store.log_action(self.state.shift_id, self._clock(), 'acknowledge', detail)
            self._log.warning(f'AUDIT: fault acknowledged {detail}')
        return {'acknowledged': names}

# SPDX-License-Identifier: Apache-2.0
"""
The vision system's state machine of OPC 40100-1 (OPC UA for Machine Vision), pure.

VisionStateMachineType: Preoperational (1), Halted (2), Error (3), Operational (4); inside
Operational the automatic mode (VisionAutomaticModeStateMachineType): Initialized (5),
Ready (6), SingleExecution (7), ContinuousExecution (8). Every state and transition carries the
number and the NodeId (namespace http://opcfoundation.org/UA/MachineVision) of the official
NodeSet2; test/test_vision_system_server.py checks them against that file.

No clock, no thread, no I/O: `call(method)` says whether a method is allowed in the current
state and which transition it causes; `observe_line(...)` gives the automatic transitions the
line's node states cause (a node failed or gone: Error; all active: Operational; ...). The
caller (core/vision_system/server.py) runs the side effects (lifecycle, load_model) and emits
the transition events.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class State:
    """A state of the machine: its StateNumber, browse name and NodeId in the type."""

    number: int
    name: str
    type_node: int          # numeric NodeId in the MachineVision namespace (the state object)


PREOPERATIONAL = State(1, 'Preoperational', 5028)
HALTED = State(2, 'Halted', 5029)
ERROR = State(3, 'Error', 5030)
OPERATIONAL = State(4, 'Operational', 5031)
INITIALIZED = State(5, 'Initialized', 5056)
READY = State(6, 'Ready', 5057)
SINGLE_EXECUTION = State(7, 'SingleExecution', 5058)
CONTINUOUS_EXECUTION = State(8, 'ContinuousExecution', 5059)
TOP_STATES = (PREOPERATIONAL, HALTED, ERROR, OPERATIONAL)
AUTOMATIC_STATES = (INITIALIZED, READY, SINGLE_EXECUTION, CONTINUOUS_EXECUTION)


@dataclass(frozen=True)
class Transition:
    """A transition of the machine: TransitionNumber, browse name, NodeId, from, to, cause."""

    number: int
    name: str
    type_node: int
    source: State
    target: State
    cause: str = ''          # the method that causes it; '' for an automatic transition


TRANSITIONS: Tuple[Transition, ...] = (
    Transition(120, 'PreoperationalToHaltedAuto', 5033, PREOPERATIONAL, HALTED),
    Transition(121, 'PreoperationalToHalted', 5032, PREOPERATIONAL, HALTED, 'Halt'),
    Transition(130, 'PreoperationalToErrorAuto', 5034, PREOPERATIONAL, ERROR),
    Transition(150, 'PreoperationalToInitializedAuto', 5036, PREOPERATIONAL, INITIALIZED),
    Transition(151, 'PreoperationalToInitialized', 5035, PREOPERATIONAL, INITIALIZED,
               'SelectModeAutomatic'),
    Transition(210, 'HaltedToPreoperationalAuto', 5038, HALTED, PREOPERATIONAL),
    Transition(211, 'HaltedToPreoperational', 5037, HALTED, PREOPERATIONAL, 'Reset'),
    Transition(310, 'ErrorToPreoperationalAuto', 5040, ERROR, PREOPERATIONAL),
    Transition(311, 'ErrorToPreoperational', 5039, ERROR, PREOPERATIONAL, 'Reset'),
    Transition(321, 'ErrorToHalted', 5041, ERROR, HALTED, 'Halt'),
    Transition(410, 'OperationalToPreoperationalAuto', 5048, OPERATIONAL, PREOPERATIONAL),
    Transition(411, 'OperationalToPreoperational', 5047, OPERATIONAL, PREOPERATIONAL, 'Reset'),
    Transition(420, 'OperationalToHaltedAuto', 5050, OPERATIONAL, HALTED),
    Transition(421, 'OperationalToHalted', 5049, OPERATIONAL, HALTED, 'Halt'),
    Transition(430, 'OperationalToErrorAuto', 5051, OPERATIONAL, ERROR),
    Transition(561, 'InitializedToReadyRecipe', 5060, INITIALIZED, READY, 'PrepareRecipe'),
    Transition(651, 'ReadyToInitializedRecipe', 5062, READY, INITIALIZED, 'UnprepareRecipe'),
    Transition(671, 'ReadyToSingleExecution', 5064, READY, SINGLE_EXECUTION, 'StartSingleJob'),
    Transition(681, 'ReadyToContinuousExecution', 5066, READY, CONTINUOUS_EXECUTION,
               'StartContinuous'),
    Transition(760, 'SingleExecutionToReadyAuto', 5070, SINGLE_EXECUTION, READY),
    Transition(761, 'SingleExecutionToReadyStop', 5068, SINGLE_EXECUTION, READY, 'Stop'),
    Transition(762, 'SingleExecutionToReadyAbort', 5069, SINGLE_EXECUTION, READY, 'Abort'),
    Transition(861, 'ContinuousExecutionToReadyStop', 5071, CONTINUOUS_EXECUTION, READY, 'Stop'),
    Transition(862, 'ContinuousExecutionToReadyAbort', 5072, CONTINUOUS_EXECUTION, READY,
               'Abort'),
)
_BY_NAME: Dict[str, Transition] = {t.name: t for t in TRANSITIONS}

# Methods that change no state but are allowed only in some: PrepareRecipe in Ready too
# (a changeover: another recipe replaces the prepared one), UnprepareRecipe in Initialized
# (nothing to do). A method not named here or in a transition's cause is always allowed.
STAY_ALLOWED = {'PrepareRecipe': (INITIALIZED, READY), 'UnprepareRecipe': (INITIALIZED,),
                'Halt': (HALTED,), 'Reset': (PREOPERATIONAL,)}
STATE_METHODS = ('SelectModeAutomatic', 'Reset', 'Halt', 'Abort', 'StartSingleJob',
                 'StartContinuous', 'Stop', 'PrepareRecipe', 'UnprepareRecipe')


class MethodNotAllowed(Exception):
    """The method cannot be called in the current state (OPC UA: Bad_InvalidState)."""


class VisionStateMachine:
    """
    The top-level state and the automatic-mode state (None outside Operational).

    `call(method)` returns the transition the method causes (or None: allowed, no state
    change) and applies it; it raises MethodNotAllowed where the specification does not allow
    it. Halt is allowed from Preoperational, Operational and Error; Reset from Halted, Error and
    Operational; SelectModeAutomatic from Preoperational.
    """

    def __init__(self):
        self.top: State = PREOPERATIONAL
        self.automatic: Optional[State] = None

    @property
    def current(self) -> State:
        """Return the innermost current state (the automatic-mode state inside Operational)."""
        return self.automatic or self.top

    @property
    def path(self) -> Tuple[State, ...]:
        """Return (top state,) or (Operational, automatic-mode state)."""
        return (self.top, self.automatic) if self.automatic else (self.top,)

    def transition_for(self, method: str) -> Optional[Transition]:
        """Return the transition `method` causes now; None if allowed without one."""
        for transition in TRANSITIONS:
            if transition.cause == method and transition.source in self.path:
                return transition
        if self.current in STAY_ALLOWED.get(method, ()):
            return None
        if method in STATE_METHODS:
            raise MethodNotAllowed(f'{method} is not allowed in state {self.current.name}')
        return None

    def allowed(self, method: str) -> bool:
        """Return whether `method` may be called in the current state."""
        try:
            self.transition_for(method)
        except MethodNotAllowed:
            return False
        return True

    def call(self, method: str) -> Optional[Transition]:
        """Apply the transition `method` causes; raise MethodNotAllowed if not allowed."""
        transition = self.transition_for(method)
        if transition is not None:
            self._apply(transition)
        return transition

    def take(self, name: str) -> Transition:
        """Apply the transition named `name` (it must start from a current state)."""
        transition = _BY_NAME[name]
        if transition.source not in self.path:
            raise MethodNotAllowed(f'{name} does not start from {self.current.name}')
        self._apply(transition)
        return transition

    def _apply(self, transition: Transition) -> None:
        target = transition.target
        if target in AUTOMATIC_STATES:
            self.top, self.automatic = OPERATIONAL, target
        else:
            self.top, self.automatic = target, None

    def observe_line(self, all_active: bool, failed: bool) -> Tuple[Transition, ...]:
        """
        Apply and return the automatic transitions the line's node states cause (in order).

        `failed`: a node of the line is gone, in ErrorProcessing or finalized; `all_active`:
        every node of the line is active. A failure takes Preoperational and Operational to
        Error; Error goes back to Preoperational once nothing has failed; all nodes active
        takes Preoperational to Operational (Initialized); a node leaving active takes
        Operational to Preoperational. Halted stays until Reset.
        """
        taken = []
        while True:
            name = self._automatic_transition(all_active, failed)
            if name is None or len(taken) == 3:
                return tuple(taken)
            taken.append(self.take(name))

    def _automatic_transition(self, all_active: bool, failed: bool) -> Optional[str]:
        top = self.top
        if failed:
            return {PREOPERATIONAL: 'PreoperationalToErrorAuto',
                    OPERATIONAL: 'OperationalToErrorAuto'}.get(top)
        if top is ERROR:
            return 'ErrorToPreoperationalAuto'
        if top is PREOPERATIONAL and all_active:
            return 'PreoperationalToInitializedAuto'
        if top is OPERATIONAL and not all_active:
            return 'OperationalToPreoperationalAuto'
        return None

    def part_done(self) -> Optional[Transition]:
        """End a single job when a part's result arrives (SingleExecution -> Ready)."""
        if self.automatic is SINGLE_EXECUTION:
            return self.take('SingleExecutionToReadyAuto')
        return None

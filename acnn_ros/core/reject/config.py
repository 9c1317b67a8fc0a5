# SPDX-License-Identifier: Apache-2.0
"""
Parameters of the reject actuator: one table, one frozen dataclass, one validation.

The node declares every entry of `PARAMETERS` (with its description and range) and builds a
`RejectActuatorConfig` from the values; everything is testable here without ROS.
"""
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Mapping, Tuple

from acnn_ros.core.parameter_spec import field_spec, ParameterSpec
from acnn_ros.core.plc import protocols
from acnn_ros.core.plc.protocols import ACTUATORS, PROTOCOLS
from acnn_ros.core.reject.decision import RejectPolicy
from acnn_ros.core.reject.fusion import FUSIONS
from acnn_ros.core.reject.realtime import IsolationSettings

NO_CPU_AFFINITY = -1
TIMINGS = ('fixed_delay', 'plc_tracking')


def _names(values) -> Tuple[str, ...]:
    # ROS cannot declare an empty string array from YAML defaults: [''] means "none".
    return tuple(str(v).strip() for v in (values or ()) if str(v).strip())


def parse_class_thresholds(entries) -> Dict[str, float]:
    """Parse ['name=0.8', ...] into {name: 0.8}; raise ValueError with the bad entry."""
    thresholds = {}
    for entry in _names(entries):
        name, sep, value = entry.partition('=')
        try:
            if not sep or not name.strip():
                raise ValueError
            thresholds[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"min_confidence_per_class entry {entry!r} is not 'name=value'")
    return thresholds


def policy_from_values(values: Mapping[str, Any]) -> RejectPolicy:
    """Build (and validate) the reject policy from parameter values (missing: RejectPolicy's)."""
    kwargs = {}
    for name in ('accept_classes', 'reject_classes'):
        if name in values:
            kwargs[name] = _names(values[name])
    if 'min_confidence' in values:
        kwargs['min_confidence'] = float(values['min_confidence'])
    if 'min_confidence_per_class' in values:
        kwargs['min_confidence_per_class'] = parse_class_thresholds(
            values['min_confidence_per_class'])
    return RejectPolicy(**kwargs)


@dataclass(frozen=True)
class RejectActuatorConfig:
    """Validated configuration of reject_actuator_node."""

    policy: RejectPolicy = field(default_factory=RejectPolicy)
    use_part_trigger: bool = True
    inspection_window_s: float = 0.25
    reject_delay_s: float = 0.5
    pulse_width_s: float = 0.03
    max_fire_lateness_s: float = 0.05
    timing: str = 'fixed_delay'
    actuator: str = 'modbus'
    # The settings of the PLC protocol named by `actuator` (core/plc/<protocol>/config.py),
    # None for an output without a PLC; built from the plc_* / opcua_* parameters.
    plc: Any = None
    gpio_chip: str = '/dev/gpiochip0'
    gpio_line: int = 0
    archive_dir: str = ''
    archive_max_items: int = 200
    counters_period_s: float = 1.0
    python_switch_interval_s: float = 0.001
    realtime_policy: str = 'fifo'
    realtime_priority: int = 40
    cpu_affinity: Tuple[int, ...] = ()
    realtime_executor: bool = False
    # The station's camera names (frame_ids) whose views of a part are fused; (): one camera.
    cameras: Tuple[str, ...] = ()
    fusion: str = 'best_view'

    def __post_init__(self):
        for spec in PARAMETERS:
            # Policy entries are checked by RejectPolicy, protocol ones by their settings.
            value = getattr(self, spec.name, None)
            if value is not None and not spec.in_range(value):
                raise ValueError(f'{spec.name} must be in [{spec.low}, {spec.high}], '
                                 f'got {value}')
        if self.actuator not in ACTUATORS:
            raise ValueError(f'actuator must be one of {ACTUATORS}, got {self.actuator!r}')
        if self.timing not in TIMINGS:
            raise ValueError(f'timing must be one of {TIMINGS}, got {self.timing!r}')
        IsolationSettings.from_config(self)   # policy name and CPU numbers
        if self.fusion not in FUSIONS:
            raise ValueError(f'fusion must be one of {FUSIONS}, got {self.fusion!r}')
        if len(set(self.cameras)) != len(self.cameras) or (
                self.cameras and not self.use_part_trigger):
            raise ValueError(f'cameras {list(self.cameras)}: names must differ, and several '
                             "cameras need use_part_trigger (a part is its trigger's stamp)")
        if self.use_part_trigger and self.inspection_window_s >= self.reject_delay_s:
            raise ValueError(
                f'inspection_window_s ({self.inspection_window_s}) must be shorter than '
                f'reject_delay_s ({self.reject_delay_s}): the fail-safe reject must be decided '
                'before the part reaches the ejector')
        if self.actuator in PROTOCOLS:
            settings = protocols.protocol(self.actuator).CONFIG
            if self.plc is None:
                object.__setattr__(self, 'plc', settings())
            elif not isinstance(self.plc, settings):
                raise ValueError(f'actuator {self.actuator} needs plc settings of type '
                                 f'{settings.__name__}, got {type(self.plc).__name__}')

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> 'RejectActuatorConfig':
        """Build from a {parameter name: value} mapping (missing names keep defaults)."""
        own = {f.name for f in fields(cls)} - {'policy', 'plc'}
        kwargs = {name: _DEFAULT_TYPES[name](values[name])
                  for name in own if name in values}
        if 'cameras' in kwargs:
            kwargs['cameras'] = _names(kwargs['cameras'])
        if 'cpu_affinity' in kwargs:
            kwargs['cpu_affinity'] = tuple(int(cpu) for cpu in kwargs['cpu_affinity']
                                           if int(cpu) != NO_CPU_AFFINITY)
        actuator = kwargs.get('actuator', cls.actuator)
        if actuator in PROTOCOLS:   # only the protocol in use is built (and its library loaded)
            kwargs['plc'] = protocols.config_of(actuator, values)
        return cls(policy=policy_from_values(values), **kwargs)


def _field(name: str, description: str, low=None, high=None) -> ParameterSpec:
    return field_spec(RejectActuatorConfig, name, description, low, high)


def _policy(name: str, description: str, low=None, high=None) -> ParameterSpec:
    return field_spec(RejectPolicy, name, description, low, high, runtime=True)


# Every default is that of RejectActuatorConfig, or of RejectPolicy for the policy entries
# (the run-time parameters), so a default is written once.
PARAMETERS: Tuple[ParameterSpec, ...] = (
    _policy('accept_classes',
            'class names that pass; empty: every class not in reject_classes'),
    _policy('reject_classes', 'class names rejected at any confidence'),
    _policy('min_confidence',
            'minimum confidence that accepts a part (below it: reject); inference_node marks '
            'verdicts below it as low-confidence', 0.0, 1.0),
    # RejectPolicy's empty mapping: ROS has no map type, so entries are 'name=value' strings.
    ParameterSpec(
        'min_confidence_per_class', [''],
        "per-class minimum confidence, entries 'class_name=value'", runtime=True),
    _field('use_part_trigger',
           'join results with PartTrigger messages on `part` (needed for the no-result '
           'fail-safe); false: part ids in result arrival order'),
    _field('inspection_window_s',
           'a part with no result this long after capture is rejected (fail-safe)', 0.001, 60.0),
    _field('reject_delay_s',
           'conveyor travel time from camera to ejector: due time = capture '
           'stamp + this', 0.001, 600.0),
    _field('pulse_width_s', 'how long the ejector output stays on', 0.001, 10.0),
    _field('max_fire_lateness_s',
           'how late after the due time a command still hits the part', 0.0, 10.0),
    _field('timing',
           'fixed_delay: vision fires at the due time | plc_tracking: the verdict is written '
           'at once and the PLC tracks the part by encoder'),
    _field('actuator', 'output backend: modbus | opcua | gpio | topic (no hardware)'),
    *protocols.parameters(),   # plc_* (Modbus and the shared link timing), opcua_*
    _field('gpio_chip', 'GPIO chip of the ejector output (gpio)'),
    _field('gpio_line', 'GPIO line offset of the ejector output (gpio)', 0, 1023),
    _field('archive_dir', "directory of the rejected-part archive; '': off"),
    _field('archive_max_items',
           'rejected parts kept in the archive (oldest deleted first)', 1, 1000000),
    _field('counters_period_s', 'period of ~/counters and /diagnostics publication', 0.05, 60.0),
    _field('python_switch_interval_s',
           'lower the Python GIL switch interval of this process to this (the timing '
           'threads wait for the GIL at most about this long); 0: leave it', 0.0, 0.1),
    _field('realtime_policy',
           'scheduling policy of the firing path (timer + PLC I/O threads): fifo | rr '
           '(real-time, preempts vision; needs CAP_SYS_NICE or an rtprio limit, refused: one '
           'warning, normal policy) | none'),
    _field('realtime_priority',
           'real-time priority of the firing path threads (40: below the kernel IRQ threads, 50)',
           1, 99),
    # () in the dataclass; ROS cannot declare an empty integer array: [-1] means "unchanged".
    ParameterSpec('cpu_affinity', [NO_CPU_AFFINITY],
                  'CPUs of the firing path threads, e.g. [1]; [-1]: unchanged'),
    _field('cameras',
           "camera names (frame_ids) of the station, e.g. ['cam0', 'cam1', 'cam2']: a part is "
           "decided from all their views; ['']: one camera"),
    _field('fusion',
           'how the views of a part decide it: best_view (the most confident) | any_reject | '
           'all_agree (reject unless all views accept one class)'),
    _field('realtime_executor',
           'also run the thread that activates the node (its ROS executor) at realtime_policy, '
           'one priority below: vision then cannot preempt the other GIL holder of the process. '
           'Only with the actuator in a process of its own (line:=processes | two_processes)'),
)

RUNTIME_PARAMETERS = frozenset(spec.name for spec in PARAMETERS if spec.runtime)
_DEFAULT_TYPES = {spec.name: type(spec.default) for spec in PARAMETERS}

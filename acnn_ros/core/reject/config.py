# SPDX-License-Identifier: Apache-2.0
"""
Parameters of the reject actuator: one table, one frozen dataclass, one validation.

The node declares every entry of `PARAMETERS` (with its description and range) and builds a
`RejectActuatorConfig` from the values; everything is testable here without ROS.
"""
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Mapping, Tuple

from acnn_ros.core.parameter_spec import field_spec, ParameterSpec
from acnn_ros.core.reject.decision import RejectPolicy
from acnn_ros.core.reject.realtime import IsolationSettings

ACTUATORS = ('modbus', 'opcua', 'gpio', 'topic')
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
    plc_host: str = '127.0.0.1'
    plc_port: int = 502
    plc_unit: int = 1
    plc_decision_register: int = 0
    plc_reject_coil: int = 0
    plc_heartbeat_register: int = 10
    plc_clock_register: int = 12
    plc_heartbeat_period_s: float = 1.0
    plc_timeout_s: float = 0.1
    plc_reconnect_max_s: float = 2.0
    opcua_endpoint: str = 'opc.tcp://127.0.0.1:4840'
    opcua_namespace: str = 'urn:acnn_ros:vision'
    opcua_part_id_node: str = 's=Vision.PartId'
    opcua_verdict_node: str = 's=Vision.Verdict'
    opcua_reason_node: str = 's=Vision.Reason'
    opcua_heartbeat_node: str = 's=Vision.Heartbeat'
    opcua_valid_until_node: str = 's=Vision.ValidUntil'
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

    def __post_init__(self):
        for spec in PARAMETERS:
            value = getattr(self, spec.name, None)   # policy entries are checked by RejectPolicy
            if value is not None and not spec.in_range(value):
                raise ValueError(f'{spec.name} must be in [{spec.low}, {spec.high}], '
                                 f'got {value}')
        if self.actuator not in ACTUATORS:
            raise ValueError(f'actuator must be one of {ACTUATORS}, got {self.actuator!r}')
        if self.timing not in TIMINGS:
            raise ValueError(f'timing must be one of {TIMINGS}, got {self.timing!r}')
        IsolationSettings.from_config(self)   # policy name and CPU numbers
        if self.use_part_trigger and self.inspection_window_s >= self.reject_delay_s:
            raise ValueError(
                f'inspection_window_s ({self.inspection_window_s}) must be shorter than '
                f'reject_delay_s ({self.reject_delay_s}): the fail-safe reject must be decided '
                'before the part reaches the ejector')
        words = 6 if self.plc_clock_register >= 0 else 4
        block = set(range(self.plc_decision_register, self.plc_decision_register + words))
        if self.plc_heartbeat_register in block:
            raise ValueError(f'plc_heartbeat_register {self.plc_heartbeat_register} overlaps '
                             f'the decision registers {sorted(block)}')
        clock = {self.plc_clock_register, self.plc_clock_register + 1}
        if self.plc_clock_register >= 0 and (clock & block or
                                             self.plc_heartbeat_register in clock):
            raise ValueError(f'plc_clock_register {self.plc_clock_register} (2 registers) '
                             f'overlaps the decision registers {sorted(block)} or the '
                             'heartbeat register')
        if self.actuator == 'opcua':
            # asyncua is imported only by lines that use OPC UA; its parser checks the node ids.
            from acnn_ros.core.plc.opcua import OpcUaConfig
            OpcUaConfig.from_reject_config(self)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> 'RejectActuatorConfig':
        """Build from a {parameter name: value} mapping (missing names keep defaults)."""
        own = {f.name for f in fields(cls)} - {'policy'}
        kwargs = {name: _DEFAULT_TYPES[name](values[name])
                  for name in own if name in values}
        if 'cpu_affinity' in kwargs:
            kwargs['cpu_affinity'] = tuple(int(cpu) for cpu in kwargs['cpu_affinity']
                                           if int(cpu) != NO_CPU_AFFINITY)
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
    _field('plc_host', 'PLC address (Modbus TCP)'),
    _field('plc_port', 'PLC Modbus TCP port', 1, 65535),
    _field('plc_unit', 'Modbus unit / device id of the PLC', 0, 247),
    _field('plc_decision_register',
           'first of 6 holding registers: part id high, part id low, verdict, reason, valid '
           'until high, low (4 without plc_clock_register)', 0, 65530),
    _field('plc_reject_coil',
           'coil pulsed for pulse_width_s at the due time of a reject; -1: none', -1, 65535),
    _field('plc_heartbeat_register',
           'holding register toggled 0/1 every heartbeat period; -1: none', -1, 65535),
    _field('plc_clock_register',
           "first of 2 holding registers with the PLC's free-running millisecond counter; "
           'decisions carry their deadline in it and the PLC ignores a stale one; -1: none '
           '(no protection against a stalled PLC applying old decisions)', -1, 65534),
    _field('plc_heartbeat_period_s', 'heartbeat toggle period (modbus, opcua)', 0.05, 60.0),
    _field('plc_timeout_s',
           'longest wait for one PLC reply (shortened to the time left before the '
           'ejector; modbus, opcua)', 0.005, 10.0),
    _field('plc_reconnect_max_s',
           'longest back-off between reconnection attempts (modbus, opcua)', 0.05, 60.0),
    _field('opcua_endpoint', 'OPC UA server of the PLC, opc.tcp://host:port[/path] (opcua)'),
    _field('opcua_namespace',
           "namespace URI (or index) of the node ids below; '': node ids carry ns= (opcua)"),
    _field('opcua_part_id_node', 'UInt32 variable: part id of the decision'),
    _field('opcua_verdict_node',
           'UInt16 variable: 1 accept, 2 reject (same write as the part id)'),
    _field('opcua_reason_node', 'UInt16 variable: RejectEvent reason (same write as the part id)'),
    _field('opcua_heartbeat_node',
           "Boolean variable toggled every plc_heartbeat_period_s; '': none"),
    _field('opcua_valid_until_node',
           "UtcTime variable: the decision's deadline, same write as the part id; the PLC "
           "ignores a decision whose ValidUntil passed (clocks synchronised); '': none"),
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
    _field('realtime_executor',
           'also run the thread that activates the node (its ROS executor) at realtime_policy, '
           'one priority below: vision then cannot preempt the other GIL holder of the process. '
           'Only with the actuator in a process of its own (line:=processes | two_processes)'),
)

RUNTIME_PARAMETERS = frozenset(spec.name for spec in PARAMETERS if spec.runtime)
_DEFAULT_TYPES = {spec.name: type(spec.default) for spec in PARAMETERS}

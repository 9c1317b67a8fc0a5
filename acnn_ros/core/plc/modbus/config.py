# SPDX-License-Identifier: Apache-2.0
"""
The Modbus TCP settings: where the PLC is and which addresses belong to the vision system.

The one place their defaults are written; parameters `plc_*` (docs/LINE_INTEGRATION.md,
"Modbus TCP register map"). No pymodbus here: a line that does not use Modbus loads nothing.
"""
from dataclasses import dataclass
from typing import Tuple

from acnn_ros.core.parameter_spec import ParameterSpec
from acnn_ros.core.plc.contract import LinkTiming
from acnn_ros.core.plc.protocol_config import check_ranges, protocol_spec, timing_parameters

PREFIX = 'plc_'


@dataclass(frozen=True, kw_only=True)
class ModbusConfig(LinkTiming):
    """Where the PLC is and which addresses belong to the vision system (-1: none)."""

    host: str = '127.0.0.1'
    port: int = 502
    unit: int = 1
    decision_register: int = 0
    reject_coil: int = 0
    heartbeat_register: int = 10
    clock_register: int = 12

    def __post_init__(self):
        self.validate()

    @property
    def decision_words(self) -> int:
        """Return the length of the decision block: 6 with a validity stamp, else 4."""
        return 6 if self.clock_register >= 0 else 4

    def validate(self) -> None:
        """Raise ValueError when a value is out of range or two address ranges overlap."""
        check_ranges(self, PREFIX, PARAMETERS)
        block = set(range(self.decision_register, self.decision_register + self.decision_words))
        if self.heartbeat_register in block:
            raise ValueError(f'plc_heartbeat_register {self.heartbeat_register} overlaps '
                             f'the decision registers {sorted(block)}')
        clock = {self.clock_register, self.clock_register + 1}
        if self.clock_register >= 0 and (clock & block or self.heartbeat_register in clock):
            raise ValueError(f'plc_clock_register {self.clock_register} (2 registers) '
                             f'overlaps the decision registers {sorted(block)} or the '
                             'heartbeat register')


def _spec(name: str, description: str, low=None, high=None) -> ParameterSpec:
    return protocol_spec(ModbusConfig, PREFIX, name, description, low, high)


PARAMETERS: Tuple[ParameterSpec, ...] = (
    _spec('host', 'PLC address (Modbus TCP)'),
    _spec('port', 'PLC Modbus TCP port', 1, 65535),
    _spec('unit', 'Modbus unit / device id of the PLC', 0, 247),
    _spec('decision_register',
          'first of 6 holding registers: part id high, part id low, verdict, reason, valid '
          'until high, low (4 without plc_clock_register)', 0, 65530),
    _spec('reject_coil',
          'coil pulsed for pulse_width_s at the due time of a reject; -1: none', -1, 65535),
    _spec('heartbeat_register',
          'holding register toggled 0/1 every heartbeat period; -1: none', -1, 65535),
    _spec('clock_register',
          "first of 2 holding registers with the PLC's free-running millisecond counter; "
          'decisions carry their deadline in it and the PLC ignores a stale one; -1: none '
          '(no protection against a stalled PLC applying old decisions)', -1, 65534),
) + timing_parameters()

# SPDX-License-Identifier: Apache-2.0
"""
`acnn plc`: commission the line PLC with the addresses reject_actuator_node would use.

    acnn plc show                                  # register map / node ids in force, offline
    acnn plc heartbeat                             # is the vision heartbeat toggling?
    acnn plc test-decision --part-id 7 --verdict reject --yes
    acnn plc pulse --yes                           # one ejector pulse (Modbus)

The PLC and its addresses come from the params file (default config/inspect.yaml, the section
that applies to reject_actuator_node) read as the node reads it; `-p name=value` overrides only
where the PLC is (host, port, unit, endpoint, backend), never an address. Writes need `--yes`
(a line may be running). Exit status: 0 done and read back, 1 done but the check failed (read-back
differs, no heartbeat), 2 not done (bad configuration, PLC unreachable, not answering or refusing,
no --yes), with an `error:` message and no traceback.
"""
import argparse
import logging
from pathlib import Path
import sys
import time

from acnn_ros.core.params_file import load_params_file, node_parameters, ParamsFileError
from acnn_ros.core.plc.commissioning import (NOT_READY_NOTE, PlcDecisionBlock, PlcLinkError,
                                             VERDICT_NAMES, watch_heartbeat)
from acnn_ros.core.plc.contract import VERDICT_ACCEPT, VERDICT_REJECT
from acnn_ros.core.plc.protocols import open_link, register_map
from acnn_ros.core.reject.config import RejectActuatorConfig
from acnn_ros.core.reject.decision import RejectReason
import yaml

NODE = 'reject_actuator_node'
SOURCE_DIR = Path(__file__).resolve().parents[2]
# What `-p` may change: where the PLC is and how it is spoken to, never an address.
OVERRIDABLE = ('actuator', 'plc_host', 'plc_port', 'plc_unit', 'opcua_endpoint')
EXIT_OK, EXIT_CHECK_FAILED, EXIT_NOT_DONE = 0, 1, 2


class CommandError(Exception):
    """Nothing was done: a bad configuration or request (exit status 2)."""


def default_params_file() -> Path:
    """Return config/inspect.yaml of the source checkout, else of the installed share dir."""
    candidate = SOURCE_DIR / 'config' / 'inspect.yaml'
    if candidate.is_file():
        return candidate
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory('acnn_ros')) / 'config' / 'inspect.yaml'
    except (ImportError, LookupError, ValueError):
        return candidate


def _common_arguments() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group('configuration')
    group.add_argument('--params-file', type=Path, default=None,
                       help='ROS 2 parameters YAML; what it sets for reject_actuator_node '
                            '(default: config/inspect.yaml)')
    group.add_argument('--namespace', default='/',
                       help="namespace of reject_actuator_node, for the file's sections "
                            '(default: %(default)s)')
    group.add_argument('-p', dest='overrides', action='append', default=[],
                       metavar='NAME=VALUE',
                       help='override one of: ' + ', '.join(OVERRIDABLE) + ' (repeatable)')
    group.add_argument('--timeout', type=float, default=1.0,
                       help='seconds to wait for the PLC, per request (default: %(default)s)')
    return common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the plc actions and their options."""
    common = _common_arguments()
    actions = parser.add_subparsers(dest='action', metavar='ACTION', required=True)
    actions.add_parser('show', parents=[common], help='the register map / node ids in force '
                       '(no connection)', description='Print the PLC backend, where it is and '
                       'every register, coil or node the vision system writes.')
    heartbeat = actions.add_parser(
        'heartbeat', parents=[common], help='read the heartbeat a few times: does it toggle?',
        description='Read the heartbeat register / node over a few periods and say whether '
                    'it toggles (nothing is written).')
    heartbeat.add_argument('--duration', type=float, default=None,
                           help='seconds to watch (default: 3.5 heartbeat periods)')
    heartbeat.add_argument('--interval', type=float, default=None,
                           help='seconds between reads (default: a quarter period)')
    decision = actions.add_parser(
        'test-decision', parents=[common], help='write one decision as the actuator does, '
        'read it back', description='Write one decision (part id, verdict, reason) to the '
        'configured decision registers / variables in one request, then read it back. The '
        'PLC acts on it as on a real part: a reject may fire the ejector.')
    decision.add_argument('--part-id', type=int, required=True, help='part id (0..2^32-1)')
    decision.add_argument('--verdict', choices=('accept', 'reject'), required=True)
    decision.add_argument('--reason', default=None,
                          help='reject reason, a name or number of RejectEvent.REASON_* '
                               '(default: reject_class for a reject, none for an accept)')
    decision.add_argument('--yes', action='store_true', help='really write (a line may run)')
    pulse = actions.add_parser(
        'pulse', parents=[common], help='pulse the reject coil once (Modbus), read back',
        description='Set the reject coil, hold it pulse_width_s, clear it, reading it back '
                    'each time. The ejector fires.')
    pulse.add_argument('--yes', action='store_true', help='really write (a line may run)')


def load_config(args: argparse.Namespace) -> RejectActuatorConfig:
    """Return the reject actuator's configuration: params file, then -p overrides."""
    path = args.params_file or default_params_file()
    try:
        values = node_parameters(load_params_file(path), NODE, args.namespace)
    except ParamsFileError as exc:
        raise CommandError(str(exc)) from None
    if not values:
        raise CommandError(f'{path} sets nothing for {args.namespace.rstrip("/")}/{NODE}')
    for item in args.overrides:
        name, sep, text = item.partition(':=' if ':=' in item else '=')
        name = name.strip()
        if not sep or not name:
            raise CommandError(f"-p {item!r} is not 'name=value'")
        if name not in OVERRIDABLE:
            raise CommandError(f'-p {name}: only {", ".join(OVERRIDABLE)} can be overridden; '
                               'addresses come from the params file only')
        try:
            values[name] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CommandError(f'-p {item!r}: {exc}') from None
    try:
        return RejectActuatorConfig.from_values(values)
    except (TypeError, ValueError) as exc:
        raise CommandError(f'invalid configuration ({path}): {exc}') from None


def _reason(text, verdict: int) -> int:
    if text is None:
        return RejectReason.REJECT_CLASS if verdict == VERDICT_REJECT else RejectReason.NONE
    try:
        reason = RejectReason(int(text)) if str(text).isdigit() else RejectReason[
            str(text).upper()]
    except (KeyError, ValueError):
        names = ', '.join(r.name.lower() for r in RejectReason)
        raise CommandError(f'--reason {text!r}: not one of {names} (or 0..6)') from None
    if (reason == RejectReason.NONE) != (verdict == VERDICT_ACCEPT):
        raise CommandError('an accept carries reason none, a reject any other reason '
                           '(as reject_actuator_node writes them)')
    return int(reason)


def _describe(decision: PlcDecisionBlock) -> str:
    reason = RejectReason(decision.reason).name.lower() if decision.reason in list(
        RejectReason) else str(decision.reason)
    text = (f'part id {decision.part_id}, verdict {decision.verdict} '
            f'({VERDICT_NAMES.get(decision.verdict, "?")}), reason {decision.reason} ({reason})')
    return text + ('  [power-up / vision not ready]' if decision.not_ready else '')


def show(config: RejectActuatorConfig, args: argparse.Namespace) -> int:
    """Print the backend, where the PLC is and every address written."""
    print(f'params file: {args.params_file or default_params_file()} '
          f'({args.namespace.rstrip("/")}/{NODE})')
    print(f'actuator: {config.actuator}   timing: {config.timing}')
    if config.actuator == 'modbus':
        print(f'PLC: Modbus TCP {config.plc.host}:{config.plc.port} unit {config.plc.unit}'
              f'   (0-based protocol addresses)')
    elif config.actuator == 'opcua':
        print(f'PLC: OPC UA {config.plc.endpoint}   namespace: '
              f'{config.plc.namespace or "(node ids carry ns=)"}')
    elif config.actuator == 'gpio':
        print(f'no PLC: GPIO {config.gpio_chip} line {config.gpio_line}, pulse '
              f'{config.pulse_width_s:g} s')
        return EXIT_OK
    else:
        print('no PLC: the `reject` topic is the output')
        return EXIT_OK
    rows = [('kind', 'address', 'type', 'written', 'meaning')]
    rows += [(e.kind, e.address, e.data_type, e.written, e.meaning)
             for e in register_map(config)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print('  ' + '  '.join(cell.ljust(w) for cell, w in zip(row, widths)) + '  ' + row[4])
    print(f'heartbeat period {config.plc.heartbeat_period_s:g} s, reject pulse '
          f'{config.pulse_width_s:g} s, reply timeout {config.plc.timeout_s:g} s; nothing '
          'else is ever written')
    print(NOT_READY_NOTE)
    return EXIT_OK


def heartbeat(link, config: RejectActuatorConfig, args: argparse.Namespace,
              clock=time.monotonic, sleep=time.sleep) -> int:
    """Watch the heartbeat and say whether it toggles."""
    if not link.has_heartbeat:
        raise CommandError('no heartbeat is configured (plc_heartbeat_register -1 / '
                           "opcua_heartbeat_node '')")
    period = config.plc.heartbeat_period_s
    duration = args.duration if args.duration is not None else 3.5 * period
    interval = args.interval if args.interval is not None else period / 4.0
    print(f'reading the heartbeat every {interval:g} s for {duration:g} s '
          f'(configured period {period:g} s)')
    watch = watch_heartbeat(link.read_heartbeat, duration, interval, period, clock, sleep,
                            on_sample=lambda t, v: print(f'  {t:6.2f} s  {v}', flush=True))
    ok, text = watch.assessment()
    print(('heartbeat OK: ' if ok else 'heartbeat NOT OK: ') + text)
    return EXIT_OK if ok else EXIT_CHECK_FAILED


def requested_decision(args: argparse.Namespace) -> PlcDecisionBlock:
    """Return the decision of --part-id / --verdict / --reason, checked like the actuator's."""
    if not 0 <= args.part_id <= 0xFFFFFFFF:
        raise CommandError(f'--part-id {args.part_id}: the PLC holds 0..{0xFFFFFFFF} (32 bits)')
    verdict = VERDICT_REJECT if args.verdict == 'reject' else VERDICT_ACCEPT
    return PlcDecisionBlock(args.part_id, verdict, _reason(args.reason, verdict))


def test_decision(link, config: RejectActuatorConfig, args: argparse.Namespace) -> int:
    """Write one decision as the actuator does and read it back."""
    decision = requested_decision(args)
    print(f'before: {_describe(link.read_decision())}')
    link.write_decision(decision)
    print(f'wrote:  {_describe(decision)}')
    back = link.read_decision()
    print(f'read:   {_describe(back)}')
    if back != decision:
        print('read-back DIFFERS: the PLC (or its program) changed the values, or another '
              'writer uses these addresses')
        return EXIT_CHECK_FAILED
    print('read-back matches')
    return EXIT_OK


def pulse(link, config: RejectActuatorConfig, args: argparse.Namespace) -> int:
    """Pulse the reject coil once for pulse_width_s, reading it back."""
    if not link.has_coil:
        raise CommandError('no reject coil: ' + (
            'plc_reject_coil is -1' if config.actuator == 'modbus' else
            'the OPC UA backend fires the ejector from the decision (use test-decision '
            '--verdict reject)'))
    coil = config.plc.reject_coil
    if link.read_coil():
        print(f'coil {coil} is ON already (a pulse in progress or a stuck output): not pulsing')
        return EXIT_CHECK_FAILED
    width = config.pulse_width_s
    try:
        link.set_coil(True)
        on = link.read_coil()
        time.sleep(max(0.0, width))
    finally:
        link.set_coil(False)   # the ejector must not stay on, whatever happened
    off = link.read_coil()
    print(f'coil {coil}: set ON, read back {"ON" if on else "OFF"}; cleared after {width:g} s, '
          f'read back {"ON" if off else "OFF"}')
    if not on or off:
        print('read-back DIFFERS from what was written')
        return EXIT_CHECK_FAILED
    return EXIT_OK


ACTIONS = {'heartbeat': (heartbeat, False), 'test-decision': (test_decision, True),
           'pulse': (pulse, True)}


def run(args: argparse.Namespace) -> int:
    """Run one action; print a clear error and return 2 when it could not be done."""
    loggers = [logging.getLogger(name) for name in ('pymodbus', 'asyncua')]
    levels = [logger.level for logger in loggers]
    for logger in loggers:   # their log lines would repeat our messages
        logger.setLevel(logging.CRITICAL)
    try:
        return _run(args)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _check_times(args: argparse.Namespace) -> None:
    for name in ('timeout', 'duration', 'interval'):
        value = getattr(args, name, None)
        if value is not None and not value > 0:
            raise CommandError(f'--{name} must be a positive number of seconds, got {value}')


def _run(args: argparse.Namespace) -> int:
    try:
        _check_times(args)
        config = load_config(args)
        if args.action == 'show':
            return show(config, args)
        action, writes = ACTIONS[args.action]
        if args.action == 'test-decision':
            requested_decision(args)   # a bad request fails before anything is connected
        if writes and not args.yes:
            raise CommandError(f'`acnn plc {args.action}` writes to the PLC and a line may be '
                               'running: add --yes to do it (nothing was written)')
        link = open_link(config, args.timeout)
        print(f'PLC: {link.backend} {link.where()}', flush=True)
        with link:
            return action(link, config, args)
    except (CommandError, PlcLinkError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return EXIT_NOT_DONE
    except ImportError as exc:   # asyncua is an extra: lines on Modbus may not have it
        print(f'error: this backend is not installed here ({exc}); OPC UA needs asyncua',
              file=sys.stderr)
        return EXIT_NOT_DONE

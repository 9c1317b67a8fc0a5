# SPDX-License-Identifier: Apache-2.0
"""
Keep the reject actuator's firing path on time when vision saturates the CPUs.

The firing path is two threads: the scheduler's timer thread (core/reject/scheduler_thread.py)
and the PLC client's I/O thread (core/plc/loop_actuator.py). Under the normal policy
(SCHED_OTHER) they share the cores fairly with the camera and inference threads, so a timer
that expires while both cores are busy waits for a time slice: milliseconds (measured in
docs/BENCHMARKS.md, section line-load). This module gives those threads, and only those:

- a real-time policy (`realtime_policy`: fifo | rr, `realtime_priority` 1..99): a waking
  real-time thread preempts every normal thread at once;
- a CPU affinity (`cpu_affinity`: CPU numbers, e.g. [1]; empty = leave): with vision kept off
  that core (`taskset`, isolcpus) they never queue behind it.

Linux only refuses what it does not allow: real-time scheduling needs CAP_SYS_NICE or an
RLIMIT_RTPRIO at least the priority (EPERM otherwise); a CPU outside the process's cpuset
or a priority outside 1..99 is EINVAL. A refusal is returned as text that says what to set
(`IsolationResult.warning`) and nothing else changes: the node logs it once and keeps running
with the normal policy. Everything here is a plain system call on a thread id; no thread,
no clock.
"""
from dataclasses import dataclass
import errno
import os
from typing import FrozenSet, Sequence, Tuple

POLICIES = ('none', 'fifo', 'rr')
_POLICY_IDS = {'fifo': getattr(os, 'SCHED_FIFO', 1), 'rr': getattr(os, 'SCHED_RR', 2)}

# What a refused real-time request needs, per platform (docs/LINE_INTEGRATION.md, "Real-time
# firing path"; docs/JETSON.md).
HOW_TO_ALLOW = (
    'to allow it: give the user an rtprio limit (/etc/security/limits.conf: '
    "'<user> - rtprio 99', log in again, check with `ulimit -r`), or in a systemd unit "
    'LimitRTPRIO=99 (or CPUSchedulingPolicy=fifo and CPUSchedulingPriority=), or docker run '
    '--cap-add SYS_NICE --ulimit rtprio=99; on a Jetson the same, plus `sudo nvpmodel -m 0` '
    'and `sudo jetson_clocks` for steady clocks')


@dataclass(frozen=True)
class IsolationSettings:
    """How to isolate the firing path (see RejectActuatorConfig, the owner of the defaults)."""

    policy: str
    priority: int
    cpu_affinity: Tuple[int, ...]
    executor: bool   # RejectActuatorConfig.realtime_executor

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f'realtime_policy must be one of {POLICIES}, got {self.policy!r}')
        if any(int(cpu) < 0 for cpu in self.cpu_affinity):
            raise ValueError(f'cpu_affinity: CPU numbers are >= 0, got {list(self.cpu_affinity)}')

    @classmethod
    def from_config(cls, config) -> 'IsolationSettings':
        """Take the realtime_* and cpu_affinity fields of a RejectActuatorConfig."""
        return cls(config.realtime_policy, config.realtime_priority, config.cpu_affinity,
                   config.realtime_executor)

    @property
    def requested(self) -> bool:
        """Return whether anything is to be changed."""
        return self.policy != 'none' or bool(self.cpu_affinity)


@dataclass(frozen=True)
class IsolationResult:
    """What was applied to the timing threads and what the OS refused (with the remedy)."""

    applied: Tuple[str, ...] = ()
    refused: Tuple[str, ...] = ()

    def __add__(self, other: 'IsolationResult') -> 'IsolationResult':
        """Return both results together."""
        return IsolationResult(self.applied + other.applied, self.refused + other.refused)

    @property
    def ok(self) -> bool:
        """Return True when nothing was refused."""
        return not self.refused

    @property
    def summary(self) -> str:
        """Return one line for the start-up log."""
        return '; '.join(self.applied) or 'normal scheduling, no affinity (not requested)'

    @property
    def warning(self) -> str:
        """Return the one warning to log when something was refused ('' when not)."""
        if self.ok:
            return ''
        return ('firing path NOT isolated as configured: ' + '; '.join(self.refused)
                + '. The node keeps running; under CPU load its rejects may fire late.')


def _threads(ids: Sequence[int]) -> str:
    return f'{len(ids)} timing thread' + ('' if len(ids) == 1 else 's')


def _refusal(what: str, exc: OSError, allow: str) -> str:
    if exc.errno == errno.EPERM:
        return f'{what} refused by the OS (EPERM, no CAP_SYS_NICE / rtprio limit); {allow}'
    return f'{what} refused by the OS ({errno.errorcode.get(exc.errno, exc.errno)}: {exc})'


def isolate_executor(settings: IsolationSettings, thread_id: int) -> IsolationResult:
    """
    Put the node's executor thread at the policy, one priority below the timing threads.

    The executor thread is the other holder of the process's GIL: a normal thread holding it
    while vision preempts it delays the real-time timer thread waiting for it (measured in
    docs/BENCHMARKS.md, section line-load). Only for an actuator in a process of its own.
    """
    if not settings.executor or settings.policy == 'none':
        return IsolationResult()
    below = IsolationSettings(settings.policy, max(1, settings.priority - 1), (), False)
    result = isolate_threads(below, [thread_id])
    return IsolationResult(tuple(text.replace('1 timing thread', '1 executor thread')
                                 for text in result.applied), result.refused)


def isolate_threads(settings: IsolationSettings, thread_ids: Sequence[int]) -> IsolationResult:
    """Apply `settings` to each native thread id (Linux: per thread); never raises OSError."""
    applied, refused = [], []
    cpus = {int(cpu) for cpu in settings.cpu_affinity}
    ids = [tid for tid in thread_ids if tid]
    if settings.policy != 'none':
        what = f'realtime_policy {settings.policy} priority {settings.priority}'
        try:
            for tid in ids:
                os.sched_setscheduler(tid, _POLICY_IDS[settings.policy],
                                      os.sched_param(settings.priority))
            applied.append(f'{what} on {_threads(ids)}')
        except OSError as exc:
            low = os.sched_get_priority_min(_POLICY_IDS[settings.policy])
            high = os.sched_get_priority_max(_POLICY_IDS[settings.policy])
            allow = HOW_TO_ALLOW
            if exc.errno == errno.EINVAL:
                exc = OSError(exc.errno, f'priority must be in {low}..{high}')
            refused.append(_refusal(what, exc, allow))
    if cpus:
        what = f'cpu_affinity {sorted(cpus)}'
        try:
            for tid in ids:
                os.sched_setaffinity(tid, cpus)
            applied.append(f'{what} on {_threads(ids)}')
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                exc = OSError(exc.errno, 'CPUs this process may use: '
                              f'{sorted(os.sched_getaffinity(0))}')
            refused.append(_refusal(what, exc, 'allow the CPU in the container / cgroup cpuset'))
    return IsolationResult(tuple(applied), tuple(refused))


def thread_scheduling(thread_id: int) -> Tuple[str, int, FrozenSet[int]]:
    """Return (policy name, priority, CPUs) of a native thread id, for logs and tests."""
    policy = os.sched_getscheduler(thread_id)
    names = {value: name for name, value in _POLICY_IDS.items()}
    return (names.get(policy, 'none'), os.sched_getparam(thread_id).sched_priority,
            frozenset(os.sched_getaffinity(thread_id)))

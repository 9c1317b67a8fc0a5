# SPDX-License-Identifier: Apache-2.0
"""Memory of a process as Linux reports it in /proc/<pid>/status (VmRSS, VmHWM, ...), in MiB."""
from pathlib import Path
from typing import Dict


def parse_proc_status(text: str) -> Dict[str, float]:
    """Return every field of /proc/<pid>/status text given in kB, in MiB (VmRSS, VmHWM, ...)."""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(':')
        parts = value.split()
        if len(parts) == 2 and parts[1] == 'kB':
            fields[key] = int(parts[0]) / 1024.0
    return fields


def memory_mib(pid: int) -> Dict[str, float]:
    """Return the memory fields of process `pid` in MiB ({} when it is gone or unreadable)."""
    try:
        return parse_proc_status(Path(f'/proc/{pid}/status').read_text(encoding='ascii'))
    except OSError:
        return {}


def rss_mib(pid: int) -> float:
    """Return the resident set size (VmRSS) of process `pid` in MiB (0.0 when gone)."""
    return memory_mib(pid).get('VmRSS', 0.0)


def peak_rss_mib(pid: int) -> float:
    """Return the peak resident set size (VmHWM) of process `pid` in MiB (0.0 when gone)."""
    return memory_mib(pid).get('VmHWM', 0.0)

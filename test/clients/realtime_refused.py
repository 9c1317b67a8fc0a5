# SPDX-License-Identifier: Apache-2.0
"""
Client of test_reject_realtime: asks for SCHED_FIFO 40 on its own thread.

Run without CAP_SYS_NICE (setpriv): prints `OK <policy>` or `REFUSED <policy>`, then the
warning isolate_threads gave.
"""
import threading

from acnn_ros.core.reject.realtime import isolate_threads, IsolationSettings, thread_scheduling


def main():
    tid = threading.get_native_id()
    result = isolate_threads(IsolationSettings('fifo', 40, (), False), [tid])
    print('OK' if result.ok else 'REFUSED', thread_scheduling(tid)[0])
    print(result.warning)


if __name__ == '__main__':
    main()

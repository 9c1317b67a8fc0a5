# SPDX-License-Identifier: Apache-2.0
"""
Several stations writing their parts to one PostgreSQL shift database at the rated part rate.

    python -m benchmarks.shift_postgres_benchmark --stations 2 --rate 18.5 --seconds 600

A throw-away PostgreSQL cluster on 127.0.0.1 (Debian's server binaries); each station is a
ShiftStore + ShiftRecorder of its own (its own connection pool and writer thread, as one
hmi_node each) fed part rows at `--rate` Hz for `--seconds`, 1 % of them sent twice (a retried
batch). At the end: every part's row present exactly once per station, the writer's failures
and lost rows, and how long the last rows took to be written after the last part.
"""
import argparse
import os
import sys
import threading
import time

from acnn_ros.app.bench.postgres_cluster import PostgresCluster
from acnn_ros.core.shift.recorder import ShiftRecorder
from acnn_ros.core.shift.schema import parts
from acnn_ros.core.shift.store import ShiftStore
from sqlalchemy import func, select

NS = 1_000_000_000


def part(shift: int, part_id: int, stamp_ns: int, station: str) -> dict:
    """Return a part row as hmi_node writes it (every third a reject)."""
    reject = part_id % 3 == 0
    return {'shift_id': shift, 'part_id': part_id, 'stamp_ns': stamp_ns,
            'frame_id': f'{station}_cam', 'class_id': 1, 'class_name': 'p1069',
            'confidence': 0.97, 'decision': 'reject' if reject else 'accept',
            'reason': 'REJECT_CLASS' if reject else 'NONE', 'reason_detail': '',
            'fail_safe': False, 'cameras': f'{station}_cam', 'model_id': 'bench',
            'delivery': 'FIRED' if reject else 'NOT_REQUIRED', 'actuator': 'modbus',
            'due_ns': stamp_ns + NS // 2, 'fire_ns': stamp_ns + NS // 2 if reject else 0}


def station(url: str, name: str, rate: float, seconds: float, results: dict) -> None:
    store = ShiftStore(url, name)
    shift = store.current_shift(time.time())
    recorder = ShiftRecorder(store)
    count, start = int(rate * seconds), time.monotonic()
    for index in range(count):
        time.sleep(max(0.0, start + index / rate - time.monotonic()))
        row = part(shift, index + 1, time.time_ns(), name)
        recorder.submit(row)
        if index % 100 == 0:
            recorder.submit(row)          # the same part again: stored once
    last = time.monotonic()
    recorder.flush(60.0)
    results[name] = {'store': store, 'shift': shift, 'sent': count, 'recorder': recorder,
                     'drain_s': time.monotonic() - last}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--stations', type=int, default=2)
    parser.add_argument('--rate', type=float, default=18.5, help='parts per second per station')
    parser.add_argument('--seconds', type=float, default=600.0)
    args = parser.parse_args()
    cluster = PostgresCluster().start()
    try:
        results = {}
        threads = [threading.Thread(target=station, args=(
            cluster.url, f'station{i + 1}', args.rate, args.seconds, results))
            for i in range(args.stations)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        store = next(iter(results.values()))['store']
        with store.engine.connect() as connection:
            counted = {row[0]: (row[1], row[2]) for row in connection.execute(
                select(parts.c.station_id, func.count(),
                       func.count(func.distinct(parts.c.part_id)))
                .group_by(parts.c.station_id))}
        print(f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, {os.cpu_count()} CPUs, '
              f'PostgreSQL on 127.0.0.1; {args.stations} stations x {args.rate:g} parts/s x '
              f'{args.seconds:g} s, 1 % of the parts sent twice')
        print('| station | parts sent | rows | distinct parts | lost | write failures | '
              'last rows written after (s) |')
        print('|---|---|---|---|---|---|---|')
        ok = True
        for name, result in sorted(results.items()):
            rows, distinct = counted.get(name, (0, 0))
            recorder = result['recorder']
            ok &= rows == distinct == result['sent'] and recorder.dropped == 0
            print(f"| {name} | {result['sent']} | {rows} | {distinct} | {recorder.dropped} | "
                  f"{recorder.failures} | {result['drain_s']:.2f} |")
            recorder.close()
            result['store'].close()
        print(f'every part once: {"yes" if ok else "NO"}; load average '
              f'{" ".join(open("/proc/loadavg").read().split()[:3])}')
        return 0 if ok else 1
    finally:
        cluster.stop()


if __name__ == '__main__':
    sys.exit(main())

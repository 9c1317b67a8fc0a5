# SPDX-License-Identifier: Apache-2.0
"""
The shift store against a real PostgreSQL server that this module starts.

A throw-away cluster on 127.0.0.1 (acnn_ros/app/bench/postgres_cluster.py); the same code as
SQLite, through psycopg 3.

Two stations write to one database at once, each from a ShiftStore and ShiftRecorder of its
own (own connection pool, own writer thread), and each sends a share of its parts twice (a
retried batch): every part's row is present exactly once, with its station id.
"""
import threading

from acnn_ros.app.bench.postgres_cluster import PostgresCluster
from acnn_ros.core.shift.recorder import ShiftRecorder
from acnn_ros.core.shift.rows import part_row
from acnn_ros.core.shift.schema import parts
from acnn_ros.core.shift.store import ShiftStore
from acnn_ros.core.shift.tally import ShiftTally
import pytest
from sqlalchemy import func, select
from test_shift_store import reject_event

PARTS_PER_STATION = 3000

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope='module')
def postgres():
    try:
        cluster = PostgresCluster().start()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    yield cluster
    cluster.stop()


def _station(url, station_id, results):
    store = ShiftStore(url, station_id)
    shift = store.current_shift(now=1.0)
    recorder = ShiftRecorder(store, batch_s=0.02)
    for part_id in range(1, PARTS_PER_STATION + 1):
        row = part_row(reject_event(part_id, part_id % 4, frame_id=f'{station_id}_cam'), shift)
        recorder.submit(row)
        if part_id % 10 == 0:
            recorder.submit(row)       # the same part again: stored once
    recorder.close()
    results[station_id] = (store, shift, recorder)


def test_two_stations_one_database(postgres):
    results = {}
    threads = [threading.Thread(target=_station, args=(postgres.url, name, results))
               for name in ('station1', 'station2')]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert set(results) == {'station1', 'station2'}
    store = results['station1'][0]
    assert store.dialect == 'postgresql'
    with store.engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(parts)).scalar()
        by_station = dict(connection.execute(
            select(parts.c.station_id, func.count(func.distinct(parts.c.part_id)))
            .group_by(parts.c.station_id)).all())
    assert total == 2 * PARTS_PER_STATION
    assert by_station == {'station1': PARTS_PER_STATION, 'station2': PARTS_PER_STATION}
    for name, (station, shift, recorder) in results.items():
        assert recorder.dropped == 0 and recorder.failures == 0
        counters = ShiftTally.from_store(station, shift).counters()
        assert counters['parts'] == PARTS_PER_STATION
        assert counters['rejected'] == PARTS_PER_STATION * 3 // 4
        ids = [row['part_id'] for row in station.part_rows(shift)]
        assert ids == list(range(1, PARTS_PER_STATION + 1)), name
        station.close()
    print(f'PostgreSQL: 2 stations x {PARTS_PER_STATION} parts (+10 % sent twice), '
          f'{total} rows, each once')

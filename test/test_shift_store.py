# SPDX-License-Identifier: Apache-2.0
"""
The shift store on SQLite (a real database file): rows, conflicts, tally rebuilt, CSV export.

RejectEvents are plain objects with the message's field names (rows.part_row is duck-typed).
"""
import csv
import io
from types import SimpleNamespace

from acnn_ros.core.shift.recorder import ShiftRecorder
from acnn_ros.core.shift.rows import part_row
from acnn_ros.core.shift.schema import PART_COLUMNS
from acnn_ros.core.shift.store import engine_url, ShiftStore
from acnn_ros.core.shift.tally import ShiftTally
import pytest

T0_NS = 1_780_000_020 * 1_000_000_000   # a whole minute


def _time(ns):
    return SimpleNamespace(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def reject_event(part_id, reason=0, stamp_ns=None, frame_id='cam0', class_name='p1070',
                 **extra):
    """Return an object with RejectEvent's fields: accepted when reason is 0."""
    stamp = T0_NS + part_id * 100_000_000 if stamp_ns is None else stamp_ns
    fields = {'header': SimpleNamespace(stamp=_time(stamp), frame_id=frame_id),
              'part_id': part_id, 'decision': 1 if reason else 0, 'reason': reason,
              'reason_detail': '' if not reason else 'why', 'fail_safe': reason >= 3,
              'class_id': 2, 'class_name': class_name, 'confidence': 0.9,
              'due_time': _time(stamp + 300_000_000),
              'fire_time': _time(stamp + 290_000_000 if reason else 0),
              'delivery': 1 if reason else 0, 'actuator': 'modbus'}
    fields.update(extra)
    return SimpleNamespace(**fields)


@pytest.fixture
def store(tmp_path):
    store = ShiftStore(str(tmp_path / 'shift.sqlite'), 'station1')
    yield store
    store.close()


def test_engine_url():
    assert engine_url('/var/lib/acnn/shift.sqlite') == 'sqlite:////var/lib/acnn/shift.sqlite'
    assert engine_url('postgresql://acnn@db:5432/aoi') == 'postgresql+psycopg://acnn@db:5432/aoi'
    assert engine_url('sqlite:///x.db') == 'sqlite:///x.db'
    with pytest.raises(ValueError):
        ShiftStore('', 'station1')


def test_part_row_fields():
    row = part_row(reject_event(7, reason=6), shift_id=3, model_id='acnn_demo@abc')
    assert row['decision'] == 'reject' and row['reason'] == 'NO_RESULT' and row['fail_safe']
    assert row['stamp_ns'] == T0_NS + 700_000_000 and row['frame_id'] == 'cam0'
    assert row['cameras'] == 'cam0' and row['model_id'] == 'acnn_demo@abc'
    assert row['delivery'] == 'FIRED' and row['due_ns'] == T0_NS + 1_000_000_000
    assert set(row) | {'station_id'} == set(PART_COLUMNS)
    # Fields a newer RejectEvent may carry: the views of a multi-camera part, its model id.
    assert part_row(reject_event(8, views=[]), 3)['cameras'] == 'cam0'
    views = [SimpleNamespace(camera='top'), SimpleNamespace(camera='side')]
    multi = part_row(reject_event(8, views=views, model_id='m2'), 3, 'm1')
    assert multi['cameras'] == 'top,side' and multi['model_id'] == 'm2'
    assert part_row(reject_event(9, reason=42), 3)['reason'] == 'UNKNOWN_42'


def test_rows_stored_once_and_tally_rebuilt(store):
    shift = store.current_shift(now=100.0)
    assert store.current_shift(now=200.0) == shift     # the open shift is kept
    reasons = [0, 1, 0, 2, 6, 0, 1, 0, 0, 5]            # 5 rejects by 4 reasons, 5 good
    rows = [part_row(reject_event(i + 1, reason), shift) for i, reason in enumerate(reasons)]
    live = ShiftTally(shift, 100.0)
    for row in rows:
        live.add(row)
    assert store.add_parts(rows) == 10
    assert store.add_parts(rows[:4]) == 0                # a retried batch adds nothing
    rebuilt = ShiftTally.from_store(store, shift)
    assert rebuilt.counters() == live.counters()
    counters = rebuilt.counters()
    assert (counters['parts'], counters['good'], counters['rejected']) == (10, 5, 5)
    assert counters['yield_pct'] == 50.0 and counters['fail_safe'] == 2
    assert counters['without_result'] == 1
    assert counters['pareto'] == [['REJECT_CLASS', 2], ['DROPPED_FRAME', 1],
                                  ['LOW_CONFIDENCE', 1], ['NO_RESULT', 1]]
    assert rebuilt.yield_trend() == live.yield_trend() == [[T0_NS // 10**9, 10, 5]]
    assert [g['part_id'] for g in rebuilt.gallery] == [2, 4, 5, 7, 10]
    assert list(rebuilt.gallery) == list(live.gallery)


def test_new_shift_and_audit_log(store):
    first = store.current_shift(now=100.0)
    store.add_parts([part_row(reject_event(1, 1), first)])
    second = store.start_shift(now=200.0, started_by='operator reset')
    assert second != first and store.current_shift(now=300.0) == second
    store.log_action(second, 200.0, 'reset', 'before: 1 parts')
    assert ShiftTally.from_store(store, second).parts == 0
    assert ShiftTally.from_store(store, first).parts == 1
    assert [(a['action'], a['detail']) for a in store.actions()] == [('reset', 'before: 1 parts')]
    # The same part id in a new shift (camera restarted) is a new row: another frame.
    store.add_parts([part_row(reject_event(1, 0, stamp_ns=T0_NS + 10**12), second)])
    assert ShiftTally.from_store(store, second).parts == 1


def test_other_station_not_counted(tmp_path):
    path = str(tmp_path / 'plant.sqlite')
    one, two = ShiftStore(path, 'station1'), ShiftStore(path, 'station2')
    try:
        shift1, shift2 = one.current_shift(1.0), two.current_shift(1.0)
        one.add_parts([part_row(reject_event(i, 0), shift1) for i in range(1, 6)])
        two.add_parts([part_row(reject_event(i, 1), shift2) for i in range(1, 4)])
        assert ShiftTally.from_store(one, shift1).counters()['parts'] == 5
        assert ShiftTally.from_store(two, shift2).counters()['rejected'] == 3
    finally:
        one.close()
        two.close()


def test_gallery_and_minutes_bounded(store):
    shift = store.current_shift(now=1.0)
    rows = [part_row(reject_event(i, 1, stamp_ns=T0_NS + i * 60 * 10**9), shift)
            for i in range(1, 41)]
    live = ShiftTally(shift, 1.0, gallery_size=24, minutes_kept=30)
    for row in rows:
        live.add(row)
    store.add_parts(rows)
    rebuilt = ShiftTally.from_store(store, shift, gallery_size=24, minutes_kept=30)
    for tally in (live, rebuilt):
        assert len(tally.gallery) == 24 and tally.gallery[-1]['part_id'] == 40
        assert len(tally.minutes) == 30 and tally.parts == 40


def test_recorder_batches_and_csv_export(store):
    shift = store.current_shift(now=1.0)
    recorder = ShiftRecorder(store, batch_s=0.05)
    for i in range(1, 1201):
        assert recorder.submit(part_row(reject_event(i, i % 3), shift))
    assert recorder.flush()
    recorder.close()
    assert recorder.written == 1200 and recorder.dropped == 0
    out = io.StringIO()
    assert store.export_csv(out, shift) == 1200
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [int(r['part_id']) for r in rows] == list(range(1, 1201))
    assert rows[0]['station_id'] == 'station1' and rows[0]['reason'] == 'REJECT_CLASS'
    assert tuple(rows[0]) == PART_COLUMNS


def test_recorder_keeps_rows_while_database_fails(store):
    shift = store.current_shift(now=1.0)
    calls = []
    add_parts = store.add_parts

    def flaky(rows):
        calls.append(len(rows))
        if len(calls) <= 2:
            raise OSError('server restarting')
        return add_parts(rows)
    store.add_parts = flaky
    recorder = ShiftRecorder(store, batch_s=0.01, retry_s=0.01)
    for i in range(1, 11):
        recorder.submit(part_row(reject_event(i, 0), shift))
    assert recorder.flush()
    recorder.close()
    assert recorder.failures == 2 and recorder.written == 10
    assert ShiftTally.from_store(store, shift).parts == 10


def test_acnn_shift_export(tmp_path, capsys):
    from acnn_ros.cli import main
    database = str(tmp_path / 'shift.sqlite')
    store = ShiftStore(database, 'station1')
    first = store.current_shift(now=1.0)
    store.add_parts([part_row(reject_event(i, i % 2), first) for i in range(1, 4)])
    second = store.start_shift(now=2.0, started_by='test')
    store.add_parts([part_row(reject_event(i, 1, stamp_ns=T0_NS + 10**12 + i), second)
                     for i in range(1, 3)])
    store.close()
    out = tmp_path / 'latest.csv'
    assert main(['shift', 'export', '--database', database, '--station', 'station1',
                 '--out', str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding='utf-8')))
    assert [(r['shift_id'], r['part_id']) for r in rows] == [(str(second), '1'),
                                                             (str(second), '2')]
    assert main(['shift', 'export', '--database', database, '--station', 'station1',
                 '--shift', str(first)]) == 0
    printed = capsys.readouterr()
    assert len(printed.out.strip().splitlines()) == 1 + 3
    assert '3 parts of station station1' in printed.err
    assert main(['shift', 'export', '--database', database, '--station', 'nobody']) == 2

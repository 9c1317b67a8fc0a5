# SPDX-License-Identifier: Apache-2.0
"""
The shift database's tables (SQLAlchemy Core), the same for SQLite and PostgreSQL.

One row per part in `parts`, keyed by the station and the part's frame (capture stamp in ns,
frame_id) and part id: a row written twice (a retried batch) is stored once. `shifts` holds
each station's shifts (an operator's reset starts a new one); `operator_actions` is the audit
log of the page's actions (reset, fault acknowledged).
"""
from sqlalchemy import (BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer,
                        MetaData, String, Table, Text, UniqueConstraint)

# SQLite makes only an INTEGER PRIMARY KEY an auto-incremented row id.
ROW_ID = BigInteger().with_variant(Integer, 'sqlite')

metadata = MetaData()

shifts = Table(
    'shifts', metadata,
    Column('id', ROW_ID, primary_key=True, autoincrement=True),
    Column('station_id', String(64), nullable=False),
    Column('started', Float, nullable=False),      # wall clock, seconds since the epoch
    Column('ended', Float, nullable=True),
    Column('started_by', String(200), nullable=False),
    Index('ix_shifts_station', 'station_id', 'id'),
)

parts = Table(
    'parts', metadata,
    Column('id', ROW_ID, primary_key=True, autoincrement=True),
    Column('station_id', String(64), nullable=False),
    Column('shift_id', ROW_ID, ForeignKey('shifts.id'), nullable=False),
    Column('part_id', BigInteger, nullable=False),
    Column('stamp_ns', BigInteger, nullable=False),   # capture stamp of the part's frame
    Column('frame_id', String(200), nullable=False),
    Column('class_id', Integer, nullable=False),
    Column('class_name', String(200), nullable=False),
    Column('confidence', Float, nullable=False),
    Column('decision', String(8), nullable=False),    # accept | reject
    Column('reason', String(32), nullable=False),     # RejectReason name (NONE when accepted)
    Column('reason_detail', Text, nullable=False),
    Column('fail_safe', Boolean, nullable=False),
    Column('cameras', String(400), nullable=False),   # comma-separated camera frame ids
    Column('model_id', String(200), nullable=False),
    Column('delivery', String(16), nullable=False),   # Delivery name: PLC / actuator outcome
    Column('actuator', String(32), nullable=False),
    Column('due_ns', BigInteger, nullable=False),
    Column('fire_ns', BigInteger, nullable=False),
    UniqueConstraint('station_id', 'stamp_ns', 'frame_id', 'part_id', name='uq_parts_frame'),
    Index('ix_parts_shift', 'shift_id', 'decision'),
)

operator_actions = Table(
    'operator_actions', metadata,
    Column('id', ROW_ID, primary_key=True, autoincrement=True),
    Column('station_id', String(64), nullable=False),
    Column('shift_id', ROW_ID, nullable=False),
    Column('time', Float, nullable=False),
    Column('action', String(32), nullable=False),
    Column('detail', Text, nullable=False),
)

# The columns of `parts` a part row carries (all but the row id), in CSV order.
PART_COLUMNS = tuple(c.name for c in parts.columns if c.name != 'id')

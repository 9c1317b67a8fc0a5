# SPDX-License-Identifier: Apache-2.0
"""
The shift store: one row per part in SQLite (embedded default) or a plant PostgreSQL server.

SQLAlchemy Core over both: `ShiftStore('/var/lib/acnn/shift.sqlite', 'station1')` or
`ShiftStore('postgresql://acnn@plant-db/aoi', 'station1')` (psycopg 3 driver). Several stations
may write to one PostgreSQL database: every row carries its station id, and a row written twice
(a batch retried after a lost connection) is stored once (insert ... on conflict do nothing on
the part's frame key). Counters and the gallery are rebuilt from here after a restart
(`ShiftTally.from_store`).
"""
import csv
from typing import Dict, Iterable, List, Optional, Sequence, TextIO

from acnn_ros.core.shift.schema import metadata, operator_actions, PART_COLUMNS, parts, shifts
from sqlalchemy import case, create_engine, event, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

MINUTE_NS = 60_000_000_000


def engine_url(database: str) -> str:
    """
    Return the SQLAlchemy URL of `database`: a file path (SQLite) or a URL.

    `postgresql://...` gets the psycopg 3 driver (`postgresql+psycopg://`); other URLs pass.
    """
    if '://' not in database:
        return f'sqlite:///{database}'
    if database.startswith(('postgresql://', 'postgres://')):
        return 'postgresql+psycopg://' + database.split('://', 1)[1]
    return database


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    # WAL: the page's reads do not wait for the writer; NORMAL: a commit is on disk at the
    # next checkpoint (a power cut may lose the last batch, never corrupt the file).
    cursor.execute('PRAGMA journal_mode=WAL')
    cursor.execute('PRAGMA synchronous=NORMAL')
    cursor.execute('PRAGMA busy_timeout=5000')
    cursor.close()


class ShiftStore:
    """The shift database of one station (tables made on first use)."""

    def __init__(self, database: str, station_id: str):
        if not station_id:
            raise ValueError('station_id must not be empty')
        if not database:
            raise ValueError('database must be a file path or a URL')
        self.station_id = station_id
        self.url = engine_url(database)
        self.engine: Engine = create_engine(self.url, pool_pre_ping=True)
        self.dialect = self.engine.dialect.name
        if self.dialect == 'sqlite':
            event.listen(self.engine, 'connect', _sqlite_pragmas)
        self._create_tables()

    def _create_tables(self) -> None:
        """Create the tables that are missing (stations starting at once may race: retry)."""
        for attempt in range(3):
            try:
                metadata.create_all(self.engine)
                return
            except DBAPIError:   # another station created one between check and create
                if attempt == 2:
                    raise

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    # -- shifts and the audit log --------------------------------------------------------

    def current_shift(self, now: float) -> int:
        """Return the id of this station's open shift; start one if there is none."""
        with self.engine.begin() as connection:
            found = connection.execute(
                select(shifts.c.id).where(shifts.c.station_id == self.station_id,
                                          shifts.c.ended.is_(None))
                .order_by(shifts.c.id.desc()).limit(1)).scalar()
            if found is not None:
                return int(found)
            return int(connection.execute(shifts.insert().values(
                station_id=self.station_id, started=now, ended=None,
                started_by='first start')).inserted_primary_key[0])

    def start_shift(self, now: float, started_by: str) -> int:
        """End this station's open shift and start a new one; return its id."""
        with self.engine.begin() as connection:
            connection.execute(update(shifts).where(
                shifts.c.station_id == self.station_id, shifts.c.ended.is_(None))
                .values(ended=now))
            return int(connection.execute(shifts.insert().values(
                station_id=self.station_id, started=now, ended=None,
                started_by=started_by)).inserted_primary_key[0])

    def shift_started(self, shift_id: int) -> float:
        """Return when shift `shift_id` started (wall clock, s)."""
        with self.engine.connect() as connection:
            return float(connection.execute(
                select(shifts.c.started).where(shifts.c.id == shift_id)).scalar_one())

    def log_action(self, shift_id: int, now: float, action: str, detail: str) -> None:
        """Append one operator action to the audit log."""
        with self.engine.begin() as connection:
            connection.execute(operator_actions.insert().values(
                station_id=self.station_id, shift_id=shift_id, time=now, action=action,
                detail=detail))

    def actions(self, limit: int = 20) -> List[Dict]:
        """Return this station's last `limit` operator actions, newest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(operator_actions).where(operator_actions.c.station_id == self.station_id)
                .order_by(operator_actions.c.id.desc()).limit(limit))
            return [dict(row._mapping) for row in rows]

    # -- parts ------------------------------------------------------------------------------

    def add_parts(self, rows: Sequence[Dict]) -> int:
        """Insert part rows (one transaction); a row already stored is skipped. Return added."""
        if not rows:
            return 0
        insert = postgresql_insert if self.dialect == 'postgresql' else sqlite_insert
        statement = insert(parts).on_conflict_do_nothing(
            index_elements=['station_id', 'stamp_ns', 'frame_id', 'part_id'])
        with self.engine.begin() as connection:
            result = connection.execute(statement, [dict(row, station_id=self.station_id)
                                                    for row in rows])
            return max(result.rowcount, 0)

    def _of_shift(self, query, shift_id: int):
        return query.where(parts.c.station_id == self.station_id, parts.c.shift_id == shift_id)

    def counts(self, shift_id: int) -> List[Dict]:
        """Return the shift's parts counted by decision, reason, fail-safe and cameras."""
        columns = (parts.c.decision, parts.c.reason, parts.c.fail_safe, parts.c.cameras)
        with self.engine.connect() as connection:
            rows = connection.execute(self._of_shift(
                select(*columns, func.count().label('count')), shift_id).group_by(*columns))
            return [dict(row._mapping) for row in rows]

    def minutes(self, shift_id: int, limit: int) -> List[Dict]:
        """Return the shift's last `limit` minutes: minute (capture stamp // 60 s), parts, good."""
        minute = (parts.c.stamp_ns // MINUTE_NS).label('minute')
        good = func.sum(case((parts.c.decision == 'accept', 1), else_=0))
        with self.engine.connect() as connection:
            rows = connection.execute(self._of_shift(
                select(minute, func.count().label('parts'), good.label('good')), shift_id)
                .group_by(minute).order_by(minute.desc()).limit(limit))
            return [dict(row._mapping) for row in reversed(rows.all())]

    def recent_rejects(self, shift_id: int, limit: int) -> List[Dict]:
        """Return the shift's last `limit` rejected parts, oldest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(self._of_shift(select(parts), shift_id)
                                      .where(parts.c.decision == 'reject')
                                      .order_by(parts.c.stamp_ns.desc()).limit(limit))
            return [dict(row._mapping) for row in reversed(rows.all())]

    def part_rows(self, shift_id: Optional[int] = None,
                  station_id: Optional[str] = None) -> Iterable[Dict]:
        """Yield part rows in capture order: a shift's (or every shift's) of one station."""
        query = select(parts).where(parts.c.station_id == (station_id or self.station_id))
        if shift_id is not None:
            query = query.where(parts.c.shift_id == shift_id)
        with self.engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(
                query.order_by(parts.c.stamp_ns, parts.c.id))
            for row in result:
                yield dict(row._mapping)

    def latest_shift(self) -> Optional[int]:
        """Return this station's most recent shift id, or None."""
        with self.engine.connect() as connection:
            found = connection.execute(select(func.max(shifts.c.id)).where(
                shifts.c.station_id == self.station_id)).scalar()
            return None if found is None else int(found)

    def export_csv(self, stream: TextIO, shift_id: Optional[int] = None) -> int:
        """Write the shift's part rows as CSV (header line first); return the row count."""
        writer = csv.DictWriter(stream, fieldnames=PART_COLUMNS, extrasaction='ignore')
        writer.writeheader()
        count = 0
        for row in self.part_rows(shift_id):
            writer.writerow(row)
            count += 1
        return count

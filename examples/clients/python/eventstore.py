"""A small Python client of the event_sourcing extension (psycopg 3).

Nothing here is a library to install: it shows the four loops a service
needs, in plain SQL on the es API, for copying into your own code.

- handle(): a command handler. Reads the stream, decides, appends
  expecting the version it read, and retries on SQLSTATE 40001.
- read_stream(): a stream's events, page by page.
- consume(): a subscription consumer. Waits with es.wait, then polls and
  processes the events in one transaction, so that commit acknowledges them.
- run_projections(): the loop that catches up async projections.

Every query names the columns it reads, so new columns in es.events do not
change what it gets.  Connections are opened by the caller (psycopg.connect
reads PGHOST, PGPORT, PGDATABASE, ... from the environment) with
autocommit=True: every transaction here is an explicit conn.transaction().
"""

import time

import psycopg
from psycopg.types.json import Jsonb

SERIALIZATION_FAILURE = "40001"
VERSION_CONFLICT = "es_expected_version"   # the constraint name of a version conflict

# es.append's events, built from a JSON array of {"type": ..., "data": ...}
# (one parameter, whatever the batch size), in array order.
APPEND_SQL = """
SELECT es.append(%(stream_id)s, %(expected)s, VARIADIC ARRAY(
    SELECT es.event(e ->> 'type', e -> 'data')
    FROM jsonb_array_elements(%(events)s) WITH ORDINALITY AS x(e, n)
    ORDER BY n))
"""

READ_SQL = """
SELECT stream_version, event_type, data, global_position
FROM es.read_stream(%s, %s, %s)
"""


class Conflicts:
    """What handle() met on its way: version conflicts (the stream moved)
    and other serialization failures (e.g. under REPEATABLE READ)."""

    def __init__(self):
        self.version = 0
        self.other = 0


def append(conn, stream_id, expected_version, events):
    """Appends events [{"type": t, "data": {...}}, ...]; the new version."""
    row = conn.execute(APPEND_SQL, {"stream_id": stream_id,
                                    "expected": expected_version,
                                    "events": Jsonb(events)}).fetchone()
    return row[0]


def read_stream(conn, stream_id, from_version=1, page=1000):
    """Yields (stream_version, event_type, data, global_position) of a
    stream's events in version order, page events per query."""
    while True:
        rows = conn.execute(READ_SQL, (stream_id, from_version, page)).fetchall()
        yield from rows
        if len(rows) < page:
            return
        from_version = rows[-1][0] + 1


def handle(conn, stream_id, evolve, initial, decide, attempts=20, conflicts=None):
    """Runs one command against a stream: folds its events with
    evolve(state, event_type, data) from initial, asks decide(state) for the
    events to append (a list, may be empty) and appends them expecting the
    version it read, in one transaction.  On SQLSTATE 40001 the whole
    transaction is tried again with fresh state, at most `attempts` times.
    Returns the stream's version after the command."""
    for attempt in range(1, attempts + 1):
        try:
            with conn.transaction():
                state, version = initial, 0
                for version, event_type, data, _ in read_stream(conn, stream_id):
                    state = evolve(state, event_type, data)
                events = decide(state)
                if not events:
                    return version
                return append(conn, stream_id, version, events)
        except psycopg.errors.SerializationFailure as e:
            # 40001: both kinds are safe to retry; the constraint name says
            # which one it was (worth counting: many version conflicts mean
            # a hot stream)
            if conflicts is not None:
                if e.diag.constraint_name == VERSION_CONFLICT:
                    conflicts.version += 1
                else:
                    conflicts.other += 1
            if attempt == attempts:
                raise
            time.sleep(0.001 * attempt)     # a little back-off


def consume(conn, subscription, process, stop, batch=100, wait_ms=1000):
    """Follows a subscription until stop() is true and nothing is left:
    es.wait (outside any transaction: it holds a snapshot while it waits),
    then es.poll and process(rows) in one transaction.  If process raises,
    the transaction rolls back and the same events come again.
    rows are (global_position, stream_id, stream_version, event_type, data)."""
    while True:
        stopping = stop()
        try:
            with conn.transaction():
                rows = conn.execute(
                    "SELECT global_position, stream_id, stream_version, event_type, data"
                    " FROM es.poll(%s, %s)", (subscription, batch)).fetchall()
                if rows:
                    process(rows)       # its writes commit with the acknowledgement
        except Redeliver:
            continue
        if not rows:
            if stopping:
                return
            conn.execute("SELECT es.wait(%s, %s)", (subscription, wait_ms))


class Redeliver(Exception):
    """Raised by a process() callback to roll its batch back: the events
    are delivered again by the next poll."""


def run_projections(conn, stop, batch=1000, idle_s=0.05):
    """Catches up the caller's async projections until stop() is true and a
    run applies nothing; each run is its own transaction.  Returns the
    number of events applied."""
    total = 0
    while True:
        stopping = stop()
        applied = conn.execute("SELECT es.run_projections(%s)", (batch,)).fetchone()[0]
        total += applied
        if applied == 0:
            if stopping:
                return total
            time.sleep(idle_s)

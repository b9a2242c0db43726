// A small Node client of the event_sourcing extension (node-postgres).
//
// Nothing here is a library to install: it shows the four loops a service
// needs, in plain SQL on the es API, for copying into your own code.
//
// - handle(): a command handler. Reads the stream, decides, appends
//   expecting the version it read, and retries on SQLSTATE 40001.
// - readStream(): a stream's events, page by page.
// - consume(): a subscription consumer. Waits with es.wait, then polls and
//   processes the events in one transaction, so that commit acknowledges them.
// - runProjections(): the loop that catches up async projections.
//
// Every query names the columns it reads, so new columns in es.events do
// not change what it gets.  Connections come from a pg.Pool made by the
// caller (it reads PGHOST, PGPORT, PGDATABASE, ... from the environment).
'use strict';

const pg = require('pg');

const SERIALIZATION_FAILURE = '40001';
const VERSION_CONFLICT = 'es_expected_version'; // the constraint name of a version conflict

// bigint (versions, positions) as JS numbers: exact below 2^53
const types = {
  getTypeParser: (oid, format) =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format),
};

// es.append's events, built from a JSON array of {type, data} (one
// parameter, whatever the batch size), in array order.
const APPEND_SQL = `
SELECT es.append($1, $2, VARIADIC ARRAY(
    SELECT es.event(e ->> 'type', e -> 'data')
    FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS x(e, n)
    ORDER BY n)) AS version`;

const READ_SQL = `
SELECT stream_version, event_type, data, global_position
FROM es.read_stream($1, $2, $3)`;

// Appends events [{type, data}, ...] through client; the new version.
async function append(client, streamId, expectedVersion, events) {
  const r = await client.query(APPEND_SQL, [streamId, expectedVersion, JSON.stringify(events)]);
  return r.rows[0].version;
}

// Yields {stream_version, event_type, data, global_position} of a stream's
// events in version order, `page` events per query.
async function* readStream(client, streamId, fromVersion = 1, page = 1000) {
  for (;;) {
    const { rows } = await client.query(READ_SQL, [streamId, fromVersion, page]);
    yield* rows;
    if (rows.length < page) return;
    fromVersion = rows[rows.length - 1].stream_version + 1;
  }
}

// Runs fn(client) in a transaction on a client of the pool: COMMIT if it
// returns, ROLLBACK (and the error thrown on) if it throws.
async function transaction(pool, fn) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

// Runs one command against a stream: folds its events with
// evolve(state, event) from initial, asks decide(state) for the events to
// append (an array, may be empty) and appends them expecting the version it
// read, in one transaction.  On SQLSTATE 40001 the whole transaction is
// tried again with fresh state, at most `attempts` times.  conflicts, if
// given, counts {version, other}.  Resolves to the stream's version after
// the command.
async function handle(pool, streamId, evolve, initial, decide, { attempts = 20, conflicts } = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transaction(pool, async (client) => {
        let state = initial;
        let version = 0;
        for await (const event of readStream(client, streamId)) {
          state = evolve(state, event);
          version = event.stream_version;
        }
        const events = await decide(state);
        if (events.length === 0) return version;
        return append(client, streamId, version, events);
      });
    } catch (err) {
      if (err.code !== SERIALIZATION_FAILURE || attempt >= attempts) throw err;
      // 40001: both kinds are safe to retry; the constraint name says which
      // one it was (worth counting: many version conflicts mean a hot stream)
      if (conflicts) {
        if (err.constraint === VERSION_CONFLICT) conflicts.version++;
        else conflicts.other++;
      }
      await sleep(attempt); // a little back-off
    }
  }
}

// Thrown by a process() callback to roll its batch back: the events are
// delivered again by the next poll.
class Redeliver extends Error {}

// Follows a subscription until stop() is true and nothing is left:
// es.wait (outside any transaction: it holds a snapshot while it waits),
// then es.poll and process(rows, client) in one transaction, whose writes
// commit with the acknowledgement.  If process throws Redeliver, the
// transaction rolls back and the same events come again.
// rows are {global_position, stream_id, stream_version, event_type, data}.
async function consume(pool, subscription, process, stop, { batch = 100, waitMs = 1000 } = {}) {
  for (;;) {
    const stopping = stop();
    let rows;
    try {
      rows = await transaction(pool, async (client) => {
        const r = await client.query(
          `SELECT global_position, stream_id, stream_version, event_type, data
           FROM es.poll($1, $2)`, [subscription, batch]);
        if (r.rows.length > 0) await process(r.rows, client);
        return r.rows;
      });
    } catch (err) {
      if (err instanceof Redeliver) continue;
      throw err;
    }
    if (rows.length === 0) {
      if (stopping) return;
      await pool.query('SELECT es.wait($1, $2)', [subscription, waitMs]);
    }
  }
}

// Catches up the caller's async projections until stop() is true and a run
// applies nothing; each run is its own transaction.  Resolves to the number
// of events applied.
async function runProjections(pool, stop, { batch = 1000, idleMs = 50 } = {}) {
  let total = 0;
  for (;;) {
    const stopping = stop();
    const r = await pool.query('SELECT es.run_projections($1) AS applied', [batch]);
    total += r.rows[0].applied;
    if (r.rows[0].applied === 0) {
      if (stopping) return total;
      await sleep(idleMs);
    }
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

module.exports = {
  types, append, readStream, transaction, handle, Redeliver, consume, runProjections, sleep,
  VERSION_CONFLICT,
};

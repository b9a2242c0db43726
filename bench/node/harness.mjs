// The Node harness of the peer comparison (run by bench/peers.sh): drives
// four stores through node-postgres, each with its own pg.Pool of the same
// size, so that every store pays the same client costs:
//
//   raw        plain SQL on tables shaped like es.events / es.streams
//              (bench/sql/raw_schema.sql): the limit
//   es         the event_sourcing extension (es.append, es.read_stream,
//              es.fold, es.read_all)
//   messagedb  Message DB (npm @eventide/message-db: write_message,
//              get_stream_messages, get_category_messages)
//   emmett     Emmett's PostgreSQL event store (npm
//              @event-driven-io/emmett-postgresql: appendToStream,
//              readStream, aggregateStream, readMessagesBatch)
//
//   node harness.mjs setup STORE
//       10,000 streams acct-1..acct-10000 with one event each, 20 streams
//       of 1,000 events (read-1..read-20), one of 100,000 (fold-1), each
//       written through the store's own append
//   node harness.mjs run STORE WORKLOAD CLIENTS SECONDS
//       after a second of unrecorded warm-up, prints one line:
//       store workload clients ops ops/s events/s conflicts
//
// Workloads: ping (SELECT 1 through the store's pool: the client's round
// trip), append_any / append_exact (one event per call, a random one of
// the 10,000 streams, no expected version / the exact one), append_batch
// (100 events per call), read_stream (a whole 1,000-event stream), fold
// (the state of the 100,000-event stream: a sum), follow (the first 100,000
// events of the global log in pages of 1,000).
//
// Connection from PGHOST, PGPORT, PGUSER, PGDATABASE.  Wake-up
// notifications are off (event_sourcing.notify = off on the es pool; the
// peers send none).
import pg from 'pg';
import crypto from 'node:crypto';
import { getPostgreSQLEventStore, readMessagesBatch } from '@event-driven-io/emmett-postgresql';
import { dumbo } from '@event-driven-io/dumbo';

const POOL_SIZE = 4;
const PAYLOAD = { amount: 42, currency: 'EUR', note: 'benchmark event payload' };
const STREAMS = 10000;
const WARMUP_MS = 1000;

const [, , command, storeName, workload, clientsArg, secondsArg] = process.argv;

function pool(options = '') {
  // PGOPTIONS (the run's synchronous_commit) plus the store's own options
  return new pg.Pool({ max: POOL_SIZE, options: [process.env.PGOPTIONS, options].filter(Boolean).join(' ') });
}

function connectionString() {
  const u = new URL('postgresql://localhost');
  u.username = process.env.PGUSER || 'postgres';
  u.pathname = '/' + (process.env.PGDATABASE || 'postgres');
  u.searchParams.set('host', process.env.PGHOST);
  u.searchParams.set('port', process.env.PGPORT || '5432');
  return u.toString();
}

const batchOf = (n) => Array.from({ length: n }, (_, i) => ({ ...PAYLOAD, amount: i + 1 }));

// Each store: append(stream, expected|null, payloads) → new version (1 =
// first event, whatever the store counts from; null on a conflict),
// versions() → Map of every stream's version, readStream(stream) → events
// read, fold(stream) → the sum of amounts, follow(after, n) → {count, last}.
function makeStore(name) {
  if (name === 'raw') {
    const p = pool();
    return {
      p,
      async append(stream, expected, payloads) {
        const n = payloads.length;
        const r = expected === null
          ? await p.query(`
              WITH v AS (INSERT INTO raw.streams AS s (stream_id, category, version, created_at, updated_at)
                         VALUES ($1, split_part($1, '-', 1), $2, now(), now())
                         ON CONFLICT (stream_id) DO UPDATE SET version = s.version + $2, updated_at = now()
                         RETURNING s.version)
              INSERT INTO raw.events (stream_id, stream_version, event_id, event_type, schema_version, data, occurred_at)
              SELECT $1, v.version - $2 + e.n, es.uuid_v7(), 'Deposited', 1, e.d, now()
              FROM v, jsonb_array_elements($3::jsonb) WITH ORDINALITY AS e(d, n)
              RETURNING stream_version`, [stream, n, JSON.stringify(payloads)])
          : await p.query(`
              WITH v AS (UPDATE raw.streams SET version = version + $3, updated_at = now()
                         WHERE stream_id = $1 AND version = $2 RETURNING version)
              INSERT INTO raw.events (stream_id, stream_version, event_id, event_type, schema_version, data, occurred_at)
              SELECT $1, v.version - $3 + e.n, es.uuid_v7(), 'Deposited', 1, e.d, now()
              FROM v, jsonb_array_elements($4::jsonb) WITH ORDINALITY AS e(d, n)
              RETURNING stream_version`, [stream, expected, n, JSON.stringify(payloads)]);
        return r.rows.length ? Number(r.rows[r.rows.length - 1].stream_version) : null;
      },
      async versions() {
        const r = await p.query('SELECT stream_id, version FROM raw.streams');
        return new Map(r.rows.map((x) => [x.stream_id, Number(x.version)]));
      },
      async readStream(stream) {
        const r = await p.query(`SELECT stream_version, event_type, data, global_position
                                 FROM raw.events WHERE stream_id = $1 ORDER BY stream_version`, [stream]);
        return r.rows.length;
      },
      async fold(stream) {
        const r = await p.query("SELECT sum((data ->> 'amount')::numeric) AS s FROM raw.events WHERE stream_id = $1", [stream]);
        return Number(r.rows[0].s);
      },
      async follow(after, n) {
        const r = await p.query(`SELECT global_position, stream_id, stream_version, event_type, data
                                 FROM raw.events WHERE global_position > $1 ORDER BY global_position LIMIT $2`, [after, n]);
        return { count: r.rows.length, last: r.rows.length ? Number(r.rows[r.rows.length - 1].global_position) : after };
      },
    };
  }
  if (name === 'es') {
    const p = pool('-c event_sourcing.notify=off');
    return {
      p,
      async append(stream, expected, payloads) {
        try {
          const r = await p.query(`
              SELECT es.append($1, $2, VARIADIC ARRAY(
                  SELECT es.event('Deposited', e.d)
                  FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS e(d, n) ORDER BY n)) AS v`,
            [stream, expected, JSON.stringify(payloads)]);
          return Number(r.rows[0].v);
        } catch (err) {
          if (err.code === '40001' && err.constraint === 'es_expected_version') return null;
          throw err;
        }
      },
      async versions() {
        const r = await p.query('SELECT stream_id, version FROM es.streams');
        return new Map(r.rows.map((x) => [x.stream_id, Number(x.version)]));
      },
      async readStream(stream) {
        const r = await p.query(`SELECT stream_version, event_type, data, global_position
                                 FROM es.read_stream($1)`, [stream]);
        return r.rows.length;
      },
      async fold(stream) {
        const r = await p.query("SELECT es.fold($1, 'sum') ->> 'balance' AS s", [stream]);
        return Number(r.rows[0].s);
      },
      async follow(after, n) {
        const r = await p.query(`SELECT global_position, stream_id, stream_version, event_type, data
                                 FROM es.read_all($1, $2)`, [after, n]);
        return { count: r.rows.length, last: r.rows.length ? Number(r.rows[r.rows.length - 1].global_position) : after };
      },
    };
  }
  if (name === 'messagedb') {
    // Message DB's functions find each other through the search path
    const p = pool('-c search_path=message_store,public');
    return {
      p,
      async append(stream, expected, payloads) {
        // write_message writes one message: a batch is one statement calling
        // it once per message (positions count from 0: version = position + 1)
        try {
          const r = payloads.length === 1
            ? await p.query('SELECT message_store.write_message($1, $2, $3, $4, NULL, $5) AS p',
              [crypto.randomUUID(), stream, 'Deposited', payloads[0], expected === null ? null : expected - 1])
            : await p.query(`SELECT max(message_store.write_message(gen_random_uuid()::text, $1, 'Deposited', e.d)) AS p
                             FROM (SELECT d FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS x(d, n)
                                   ORDER BY n) e`, [stream, JSON.stringify(payloads)]);
          return Number(r.rows[0].p) + 1;
        } catch (err) {
          if (/Wrong expected version/.test(err.message)) return null;
          throw err;
        }
      },
      async versions() {
        const r = await p.query('SELECT stream_name, max(position) AS p FROM message_store.messages GROUP BY stream_name');
        return new Map(r.rows.map((x) => [x.stream_name, Number(x.p) + 1]));
      },
      async readStream(stream) {
        const r = await p.query('SELECT * FROM message_store.get_stream_messages($1, 0, 1000)', [stream]);
        for (const row of r.rows) row.data = JSON.parse(row.data); // text, unlike the others' jsonb
        return r.rows.length;
      },
      async fold(stream) {
        // in pages of 1,000 (its default batch size), folded here
        let sum = 0;
        for (let position = 0; ;) {
          const r = await p.query('SELECT position, data FROM message_store.get_stream_messages($1, $2, 1000)',
            [stream, position]);
          for (const row of r.rows) sum += JSON.parse(row.data).amount;
          if (r.rows.length < 1000) return sum;
          position = Number(r.rows[r.rows.length - 1].position) + 1;
        }
      },
      async follow(after, n) {
        // every stream here is in one category: the category is the log
        const r = await p.query(`SELECT global_position, stream_name, position, type, data
                                 FROM message_store.get_category_messages('acct', $1, $2)`, [after + 1, n]);
        for (const row of r.rows) row.data = JSON.parse(row.data);
        return { count: r.rows.length, last: r.rows.length ? Number(r.rows[r.rows.length - 1].global_position) : after };
      },
    };
  }
  if (name === 'emmett') {
    const p = pool();
    const store = getPostgreSQLEventStore(connectionString(), { connectionOptions: { pool: p } });
    const db = dumbo({ connectionString: connectionString(), pool: p });
    const evolve = (s, e) => s + e.data.amount;
    return {
      p,
      store,
      async append(stream, expected, payloads) {
        try {
          const r = await store.appendToStream(stream, payloads.map((d) => ({ type: 'Deposited', data: d })),
            expected === null ? {} : { expectedStreamVersion: BigInt(expected) });
          return Number(r.nextExpectedStreamVersion);
        } catch (err) {
          if (err.name === 'ExpectedVersionConflictError' || /expected version/i.test(err.message)) return null;
          throw err;
        }
      },
      async versions() {
        const r = await p.query('SELECT stream_id, stream_position FROM emt_streams');
        return new Map(r.rows.map((x) => [x.stream_id, Number(x.stream_position)]));
      },
      async readStream(stream) {
        const r = await store.readStream(stream);
        return r.events.length;
      },
      async fold(stream) {
        const r = await store.aggregateStream(stream, { evolve, initialState: () => 0 });
        return r.state;
      },
      async follow(after, n) {
        const r = await readMessagesBatch(db.execute, { after: BigInt(after), batchSize: n });
        const m = r.messages;
        return { count: m.length, last: m.length ? Number(m[m.length - 1].metadata.globalPosition) : after };
      },
      async close() { await db.close(); },
    };
  }
  throw new Error(`unknown store ${name}`);
}

// n workers call fn on the items, concurrently, until every one is done
async function parallel(n, items, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++]);
  }));
}

async function setup(s) {
  if (storeName === 'emmett') await s.store.schema.migrate();
  if (storeName === 'es') {
    await s.p.query(`SELECT es.create_reducer('sum', '{"balance": 0}', rules =>
        '{"Deposited": [{"op": "add", "target": "$.balance", "from": "$.data.amount"}]}')`);
  }
  const streams = Array.from({ length: STREAMS }, (_, i) => `acct-${i + 1}`);
  await parallel(POOL_SIZE, streams, (st) => s.append(st, null, [PAYLOAD]));
  const reads = Array.from({ length: 20 }, (_, i) => `acct-read${i + 1}`);
  await parallel(POOL_SIZE, reads, async (st) => {
    for (let k = 0; k < 10; k++) await s.append(st, null, batchOf(100));
  });
  for (let k = 0; k < 100; k++) await s.append('acct-fold1', null, batchOf(1000));
  const check = { read: await s.readStream('acct-read1'), fold: await s.fold('acct-fold1') };
  const f = await s.follow(0, 1000);
  console.log(`${storeName}: set up; a read stream has ${check.read} events, the fold gives ${check.fold}, ` +
              `the log's first page ${f.count} events`);
}

async function run(s) {
  const clients = Number(clientsArg);
  let known = null;
  if (workload === 'append_exact') known = await s.versions();
  let ops = 0;
  let events = 0;
  let conflicts = 0;
  const rnd = (n) => 1 + Math.floor(Math.random() * n);
  const op = {
    async ping() { await s.p.query('SELECT 1'); events += 1; },
    async append_any() { await s.append(`acct-${rnd(STREAMS)}`, null, [PAYLOAD]); events += 1; },
    async append_exact() {
      const st = `acct-${rnd(STREAMS)}`;
      const v = await s.append(st, known.get(st), [PAYLOAD]);
      if (v === null) { conflicts++; known = await s.versions(); return; }
      known.set(st, v);
      events += 1;
    },
    async append_batch() { await s.append(`acct-${rnd(STREAMS)}`, null, batchOf(100)); events += 100; },
    async read_stream() { events += await s.readStream(`acct-read${rnd(20)}`); },
    async fold() { await s.fold('acct-fold1'); events += 100000; },
    async follow() {
      let after = 0;
      let n = 0;
      while (n < 100000) {
        const r = await s.follow(after, 1000);
        if (r.count === 0) break;
        n += r.count;
        after = r.last;
      }
      events += n;
    },
  }[workload];
  if (!op) throw new Error(`unknown workload ${workload}`);
  // warm up, unrecorded: open the pool's connections, prepare, compile
  const warm = Date.now() + WARMUP_MS;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (Date.now() < warm) await op();
  }));
  ops = events = conflicts = 0;
  const deadline = Date.now() + Number(secondsArg) * 1000;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (Date.now() < deadline) {
      await op();
      ops++;
    }
  }));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log([storeName, workload, clients, ops, (ops / secs).toFixed(1), (events / secs).toFixed(1), conflicts].join('\t'));
}

const s = makeStore(storeName);
try {
  if (command === 'setup') await setup(s);
  else if (command === 'run') await run(s);
  else throw new Error('usage: node harness.mjs setup STORE | run STORE WORKLOAD CLIENTS SECONDS');
} finally {
  if (s.close) await s.close();
  await s.p.end();
}

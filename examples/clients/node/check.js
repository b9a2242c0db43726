// Runs the Node client (eventstore.js) against a database with the
// extension and checks what it did; run by test/t/clients_node.sh against a
// throwaway cluster (connection from PGHOST, PGPORT, PGUSER, PGDATABASE).
//
// 1. Four writers run 25 deposit commands each on one account, concurrently,
//    with the retry loop: the stream ends at exactly version 100, balance
//    100.  A forced conflict is retried and counted as a version conflict.
// 2. readStream pages through that stream: versions 1..100 in order.
// 3. Four writers append to 20 order streams in transactions of which one
//    in five rolls back, while a subscription consumer (rolling back one
//    batch in five itself) and an async projection runner follow: the
//    consumer handled every committed event exactly once and nothing else;
//    the projection counted every committed event once.
// Prints what it saw; exits with 1 at the first check that fails.
'use strict';

const pg = require('pg');
const es = require('./eventstore');

const WRITERS = 4;
const COMMANDS = 25;

const pool = new pg.Pool({ max: 12, types: es.types });

function check(what, ok) {
  console.log((ok ? 'ok     ' : 'FAILED ') + what);
  if (!ok) process.exit(1);
}

const balance = (state, e) => (e.event_type === 'Deposited' ? state + e.data.amount : state);
const deposit = (amount) => [{ type: 'Deposited', data: { amount } }];

async function commands() {
  const conflicts = { version: 0, other: 0 };
  const writer = async () => {
    for (let i = 0; i < COMMANDS; i++) {
      await es.handle(pool, 'account-1', balance, 0, () => deposit(1), { attempts: 100, conflicts });
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
  const client = await pool.connect();
  let state = 0;
  for await (const e of es.readStream(client, 'account-1')) state = balance(state, e);
  client.release();
  const { rows } = await pool.query("SELECT es.stream_version('account-1') AS v");
  console.log(`       ${WRITERS} writers x ${COMMANDS} commands: ${conflicts.version} version ` +
              `conflicts and ${conflicts.other} other serialization failures retried`);
  check(`account-1 at version ${rows[0].v}, balance ${state}`,
        rows[0].v === WRITERS * COMMANDS && state === WRITERS * COMMANDS);

  // a conflict on purpose: another session appends between our read and
  // our append, once; the handler retries with the new state
  const forced = { version: 0, other: 0 };
  const version = await es.handle(pool, 'account-1', balance, 0, async (state) => {
    if (forced.version === 0) await es.append(pool, 'account-1', null, deposit(5));
    return state < 1000 ? deposit(1) : [];
  }, { conflicts: forced });
  check(`forced conflict: ${forced.version} version conflict retried, version ${version}`,
        forced.version === 1 && forced.other === 0 && version === WRITERS * COMMANDS + 2);
  // a refusal of the command itself is not retried
  let refused = null;
  await es.handle(pool, 'account-1', balance, 0, () => { throw new RangeError('refused'); })
    .catch((err) => { refused = err; });
  const after = await pool.query("SELECT es.stream_version('account-1') AS v");
  check('a failing decision rejects, appends nothing',
        refused instanceof RangeError && after.rows[0].v === version);
}

async function reading() {
  const client = await pool.connect();
  const versions = [];
  for await (const e of es.readStream(client, 'account-1', 1, 7)) versions.push(e.stream_version);
  client.release();
  check(`readStream in pages of 7: ${versions.length} events, versions 1..${versions[versions.length - 1]}`,
        versions.length === WRITERS * COMMANDS + 2 && versions.every((v, i) => v === i + 1));
}

async function following() {
  await pool.query("SELECT es.create_subscription('orders', categories => '{order}')");
  await pool.query('CREATE TABLE handled (stream_id text, stream_version bigint)');
  await pool.query('CREATE TABLE order_counts (stream_id text PRIMARY KEY, n bigint)');
  await pool.query(`
    CREATE FUNCTION count_order(e es.events) RETURNS void LANGUAGE sql AS $$
        INSERT INTO order_counts VALUES (e.stream_id, 1)
        ON CONFLICT (stream_id) DO UPDATE SET n = order_counts.n + 1
    $$`);
  await pool.query("SELECT es.create_projection('order_counts', 'count_order(es.events)', " +
                   "'{ItemAdded}', async => true, tables => '{order_counts}')");

  const committed = []; // "stream_id/stream_version" of committed events
  const rolledBack = { writers: 0, consumer: 0 };
  let done = false;
  const stop = () => done;

  const writer = async () => {
    for (let i = 0; i < 50; i++) {
      const stream = `order-${1 + Math.floor(Math.random() * 20)}`;
      const n = 1 + Math.floor(Math.random() * 2);
      try {
        const version = await es.transaction(pool, async (client) => {
          const v = await es.append(client, stream, null,
            Array.from({ length: n }, (_, k) => ({ type: 'ItemAdded', data: { n: k } })));
          await es.sleep(Math.random() * 4); // commit out of order
          if (Math.random() < 0.2) throw new es.Redeliver(); // roll this one back
          return v;
        });
        for (let v = version - n + 1; v <= version; v++) committed.push(`${stream}/${v}`);
      } catch (err) {
        if (!(err instanceof es.Redeliver)) throw err;
        rolledBack.writers++;
      }
    }
  };
  const handleBatch = async (rows, client) => {
    for (const r of rows) {
      await client.query('INSERT INTO handled VALUES ($1, $2)', [r.stream_id, r.stream_version]);
    }
    if (Math.random() < 0.2) {
      rolledBack.consumer++;
      throw new es.Redeliver(); // as if processing failed: delivered again
    }
  };

  const consumer = es.consume(pool, 'orders', handleBatch, stop, { batch: 17, waitMs: 500 });
  const runner = es.runProjections(pool, stop, { batch: 23 });
  await Promise.all(Array.from({ length: WRITERS }, writer));
  done = true;
  const [, applied] = await Promise.all([consumer, runner]);

  const handled = (await pool.query('SELECT stream_id, stream_version FROM handled'))
    .rows.map((r) => `${r.stream_id}/${r.stream_version}`);
  const counts = {};
  for (const r of (await pool.query('SELECT stream_id, n FROM order_counts')).rows) counts[r.stream_id] = r.n;
  const expected = {};
  for (const c of committed) {
    const s = c.split('/')[0];
    expected[s] = (expected[s] || 0) + 1;
  }
  console.log(`       ${committed.length} events committed, ${rolledBack.writers} writer transactions ` +
              `and ${rolledBack.consumer} consumer batches rolled back`);
  const distinct = new Set(handled);
  check(`consumer handled ${handled.length} events, ${distinct.size} distinct, exactly the committed ones`,
        handled.length === distinct.size && distinct.size === committed.length &&
        committed.every((c) => distinct.has(c)));
  const sameCounts = Object.keys(expected).length === Object.keys(counts).length &&
    Object.entries(expected).every(([s, n]) => counts[s] === n);
  check(`projection runner applied ${applied} events, counts match`,
        applied === committed.length && sameCounts);
}

(async () => {
  await commands();
  await reading();
  await following();
  await pool.end();
})().catch((err) => {
  console.error('FAILED', err);
  process.exit(1);
});

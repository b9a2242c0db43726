"""Runs the Python client (eventstore.py) against a database with the
extension and checks what it did; run by test/t/clients_python.sh against a
throwaway cluster (connection from PGHOST, PGPORT, PGUSER, PGDATABASE).

1. Four writers run 25 deposit commands each on one account, concurrently,
   with the retry loop: the stream ends at exactly version 100, balance 100.
   A forced conflict is retried and counted as a version conflict.
2. read_stream pages through that stream: versions 1..100 in order.
3. Four writers append to 20 order streams in transactions of which one in
   five rolls back, while a subscription consumer (rolling back one batch in
   five itself) and an async projection runner follow: the consumer handled
   every committed event exactly once and nothing else; the projection
   counted every committed event once.
Prints what it saw; exits with 1 at the first check that fails.
"""

import random
import sys
import threading
import time

import psycopg

import eventstore as es

WRITERS = 4
COMMANDS = 25


def connect():
    return psycopg.connect("", autocommit=True)


def check(what, ok):
    print(("ok     " if ok else "FAILED ") + what, flush=True)
    if not ok:
        sys.exit(1)


def balance(state, event_type, data):
    return state + data["amount"] if event_type == "Deposited" else state


def commands():
    """1: concurrent command handlers on one stream."""
    conflicts = es.Conflicts()
    errors = []

    def writer():
        try:
            with connect() as conn:
                for _ in range(COMMANDS):
                    es.handle(conn, "account-1", balance, 0,
                              lambda state: [{"type": "Deposited", "data": {"amount": 1}}],
                              attempts=100, conflicts=conflicts)
        except Exception as e:      # reported below
            errors.append(e)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(f"writers finished without errors {errors}", not errors)
    with connect() as conn:
        version = conn.execute("SELECT es.stream_version('account-1')").fetchone()[0]
        state = 0
        for _, event_type, data, _ in es.read_stream(conn, "account-1"):
            state = balance(state, event_type, data)
    print(f"       {WRITERS} writers x {COMMANDS} commands: {conflicts.version} version "
          f"conflicts and {conflicts.other} other serialization failures retried")
    check(f"account-1 at version {version}, balance {state}",
          version == WRITERS * COMMANDS and state == WRITERS * COMMANDS)

    # a conflict on purpose: another session appends between our read and
    # our append, once; the handler retries with the new state
    forced = es.Conflicts()
    with connect() as conn, connect() as other:
        def decide(state):
            if forced.version == 0:
                es.append(other, "account-1", None, [{"type": "Deposited", "data": {"amount": 5}}])
            return [{"type": "Deposited", "data": {"amount": 1}}] if state < 1000 else []
        version = es.handle(conn, "account-1", balance, 0, decide, conflicts=forced)
        check(f"forced conflict: {forced.version} version conflict retried, version {version}",
              forced.version == 1 and forced.other == 0 and version == WRITERS * COMMANDS + 2)
        # a refusal of the command itself is not retried
        try:
            es.handle(conn, "account-1", balance, 0, lambda state: 1 / 0)
            check("a failing decision raises", False)
        except ZeroDivisionError:
            check("a failing decision raises, appends nothing",
                  conn.execute("SELECT es.stream_version('account-1')").fetchone()[0] == version)


def reading():
    """2: paging through a stream."""
    with connect() as conn:
        versions = [v for v, _, _, _ in es.read_stream(conn, "account-1", page=7)]
        check(f"read_stream in pages of 7: {len(versions)} events, versions 1..{versions[-1]}",
              versions == list(range(1, WRITERS * COMMANDS + 3)))


def following():
    """3: a consumer and a projection runner under concurrent writers."""
    with connect() as conn:
        conn.execute("SELECT es.create_subscription('orders', categories => '{order}')")
        conn.execute("CREATE TABLE handled (stream_id text, stream_version bigint)")
        conn.execute("CREATE TABLE order_counts (stream_id text PRIMARY KEY, n bigint)")
        conn.execute("""
            CREATE FUNCTION count_order(e es.events) RETURNS void LANGUAGE sql AS $$
                INSERT INTO order_counts VALUES (e.stream_id, 1)
                ON CONFLICT (stream_id) DO UPDATE SET n = order_counts.n + 1
            $$""")
        conn.execute("SELECT es.create_projection('order_counts', 'count_order(es.events)', '{ItemAdded}',"
                     " async => true, tables => '{order_counts}')")

    committed = []              # (stream_id, stream_version) of committed events
    lock = threading.Lock()
    done = threading.Event()
    errors = []
    rolled_back = [0, 0]        # writers, consumer

    def writer(seed):
        rnd = random.Random(seed)
        try:
            with connect() as conn:
                for _ in range(50):
                    stream = f"order-{rnd.randint(1, 20)}"
                    n = rnd.randint(1, 2)
                    try:
                        with conn.transaction():
                            version = es.append(conn, stream, None,
                                                [{"type": "ItemAdded", "data": {"n": i}} for i in range(n)])
                            time.sleep(rnd.random() * 0.004)   # commit out of order
                            if rnd.random() < 0.2:
                                raise es.Redeliver()            # roll this one back
                    except es.Redeliver:
                        with lock:
                            rolled_back[0] += 1
                        continue
                    with lock:
                        committed.extend((stream, v) for v in range(version - n + 1, version + 1))
        except Exception as e:
            errors.append(e)

    def process(rows):
        with consumer.cursor() as cur:
            cur.executemany("INSERT INTO handled VALUES (%s, %s)",
                            [(stream_id, version) for _, stream_id, version, _, _ in rows])
        if random.random() < 0.2:
            rolled_back[1] += 1
            raise es.Redeliver()    # as if processing failed: delivered again

    consumer = connect()
    runner = connect()
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    threads.append(threading.Thread(
        target=lambda: es.consume(consumer, "orders", process, done.is_set, batch=17, wait_ms=500)))
    applied = []
    threads.append(threading.Thread(
        target=lambda: applied.append(es.run_projections(runner, done.is_set, batch=23))))
    for t in threads:
        t.start()
    for t in threads[:WRITERS]:
        t.join()
    done.set()
    for t in threads[WRITERS:]:
        t.join()
    check(f"writers finished without errors {errors}", not errors)

    with connect() as conn:
        handled = conn.execute("SELECT stream_id, stream_version FROM handled").fetchall()
        counts = dict(conn.execute("SELECT stream_id, n FROM order_counts").fetchall())
    expected = {}
    for stream, _ in committed:
        expected[stream] = expected.get(stream, 0) + 1
    print(f"       {len(committed)} events committed, {rolled_back[0]} writer transactions and "
          f"{rolled_back[1]} consumer batches rolled back")
    check(f"consumer handled {len(handled)} events, {len(set(handled))} distinct, "
          "exactly the committed ones",
          len(handled) == len(set(handled)) and set(handled) == set(committed))
    check(f"projection runner applied {applied[0]} events, counts match",
          applied[0] == len(committed) and counts == expected)
    consumer.close()
    runner.close()


if __name__ == "__main__":
    commands()
    reading()
    following()

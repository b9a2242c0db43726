#!/usr/bin/env bash
# A randomized run: several writers append in transactions that sleep
# between their appends and commit in any order, one in five rolling back,
# while consumers follow the log: two sessions polling one subscription
# (rolling back a fifth of their polls), a filtered subscription, and a
# reader that follows es.read_all with its own cursor.  At the end every
# committed event has arrived exactly once at each consumer, and nothing
# else has.
set -eu
source "$(dirname "$0")/../lib.sh"

es_scratch dir log
es_cluster_start "$dir" "max_connections = 40"
es_store logtest
es_psql -d logtest <<'SQL'
SELECT es.create_subscription('all');
SELECT es.create_subscription('ticks', '{Tick}', '{acct}');
CREATE TABLE received (consumer text, event_id uuid, global_position bigint, event_type text);
CREATE TABLE stop (at timestamptz);
-- poll a subscription until the writers have stopped and nothing is left
CREATE PROCEDURE consume(sub text, consumer text) LANGUAGE plpgsql AS $$
DECLARE
    n int;
    stopping boolean;
BEGIN
    LOOP
        stopping := EXISTS (SELECT FROM stop);
        INSERT INTO received
        SELECT consumer, p.event_id, p.global_position, p.event_type
        FROM es.poll(sub, 37) p;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF random() < 0.2 THEN ROLLBACK; ELSE COMMIT; END IF;
        EXIT WHEN stopping AND n = 0;
        IF n = 0 THEN PERFORM pg_sleep(0.002); END IF;
    END LOOP;
END $$;
-- follow es.read_all with a cursor
CREATE PROCEDURE follow() LANGUAGE plpgsql AS $$
DECLARE
    cursor_at bigint := 0;
    n int;
    stopping boolean;
BEGIN
    LOOP
        stopping := EXISTS (SELECT FROM stop);
        INSERT INTO received
        SELECT 'follower', r.event_id, r.global_position, r.event_type
        FROM es.read_all(cursor_at, 53) r;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT coalesce(max(global_position), 0) INTO cursor_at
        FROM received WHERE consumer = 'follower';
        COMMIT;
        EXIT WHEN stopping AND n = 0;
        IF n = 0 THEN PERFORM pg_sleep(0.002); END IF;
    END LOOP;
END $$;
 -- for contrast, what the classic consumer sees: "the last position I saw"
-- over the table itself (it is expected to miss events; only reported)
CREATE PROCEDURE follow_naively() LANGUAGE plpgsql AS $$
DECLARE
    cursor_at bigint := 0;
    n int;
    stopping boolean;
BEGIN
    LOOP
        stopping := EXISTS (SELECT FROM stop);
        INSERT INTO received
        SELECT 'naive', e.event_id, e.global_position, e.event_type
        FROM es.events e WHERE e.global_position > cursor_at
        ORDER BY e.global_position LIMIT 53;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT coalesce(max(global_position), 0) INTO cursor_at
        FROM received WHERE consumer = 'naive';
        COMMIT;
        EXIT WHEN stopping AND n = 0;
        IF n = 0 THEN PERFORM pg_sleep(0.002); END IF;
    END LOOP;
END $$;
SQL

es_psql -d logtest -c "CALL consume('all', 'poller-1')" & c1=$!
es_psql -d logtest -c "CALL consume('all', 'poller-2')" & c2=$!
es_psql -d logtest -c "CALL consume('ticks', 'ticks')" & c3=$!
es_psql -d logtest -c "CALL follow()" & c4=$!
es_psql -d logtest -c "CALL follow_naively()" & c5=$!
es_writers logtest <<'SQL'
\set s random(1, 40)
SELECT es.append('acct-' || :s, NULL, es.event('Tick', jsonb_build_object('s', :s)));
SELECT pg_sleep(random() * 0.004);
SELECT es.append('misc-' || :s, NULL, es.event('Tock', jsonb_build_object('s', :s)));
SQL
wait $c1 $c2 $c3 $c4 $c5

result=$(es_psql -d logtest -At <<'SQL'
WITH committed AS (SELECT event_id, event_type, stream_id FROM es.events),
pollers AS (SELECT * FROM received WHERE consumer LIKE 'poller-%')
SELECT 'committed ' || (SELECT count(*) FROM committed)
UNION ALL
SELECT 'polled ' || count(*) || ' distinct ' || count(DISTINCT event_id) FROM pollers
UNION ALL
SELECT 'by both pollers ' || (SELECT count(*) FROM pollers WHERE consumer = 'poller-1') ||
       ' + ' || (SELECT count(*) FROM pollers WHERE consumer = 'poller-2')
UNION ALL
SELECT 'missing from pollers ' || count(*) FROM
    (SELECT event_id FROM committed EXCEPT SELECT event_id FROM pollers) m
UNION ALL
SELECT 'unknown to pollers ' || count(*) FROM
    (SELECT event_id FROM pollers EXCEPT SELECT event_id FROM committed) m
UNION ALL
SELECT 'followed ' || count(*) || ' distinct ' || count(DISTINCT event_id)
FROM received WHERE consumer = 'follower'
UNION ALL
SELECT 'follower differs ' || count(*) FROM
    ((SELECT event_id FROM committed EXCEPT SELECT event_id FROM received WHERE consumer = 'follower')
     UNION ALL
     (SELECT event_id FROM received WHERE consumer = 'follower' EXCEPT SELECT event_id FROM committed)) d
UNION ALL
SELECT 'ticks ' || count(*) || ' distinct ' || count(DISTINCT event_id)
FROM received WHERE consumer = 'ticks'
UNION ALL
SELECT 'ticks differ ' || count(*) FROM
    ((SELECT event_id FROM committed WHERE event_type = 'Tick'
      EXCEPT SELECT event_id FROM received WHERE consumer = 'ticks')
     UNION ALL
     (SELECT event_id FROM received WHERE consumer = 'ticks'
      EXCEPT SELECT event_id FROM committed WHERE event_type = 'Tick')) d
UNION ALL
SELECT 'a naive consumer missed ' || count(*) || ' (not checked)' FROM
    (SELECT event_id FROM committed EXCEPT SELECT event_id FROM received WHERE consumer = 'naive') m
UNION ALL
SELECT 'positions left ' || string_agg(name || '=' || events_behind, ',' ORDER BY name)
FROM es.subscriptions
SQL
)
echo "$result"
committed=$(echo "$result" | sed -n 's/^committed //p')
ticks=$(es_psql -d logtest -At -c "SELECT count(*) FROM es.events WHERE event_type = 'Tick'")
# about four fifths of 8 x 150 transactions of two events each committed
[ "$committed" -gt 1000 ]
echo "$result" | grep -qx "polled $committed distinct $committed"
echo "$result" | grep -qx "missing from pollers 0"
echo "$result" | grep -qx "unknown to pollers 0"
echo "$result" | grep -qx "followed $committed distinct $committed"
echo "$result" | grep -qx "follower differs 0"
echo "$result" | grep -qx "ticks $ticks distinct $ticks"
echo "$result" | grep -qx "ticks differ 0"
echo "$result" | grep -qx "positions left all=0,ticks=0"

#!/usr/bin/env bash
# An async projection caught up under concurrent appends equals the same
# projection run inline.  Writers append in transactions that sleep between
# appends, commit in any order and roll back one in five, while two
# sessions call es.run_projections in a loop (rolling back a fifth of their
# runs).  The handlers check that each stream's events arrive in order and
# none is missing; at the end the two read models are equal, every event
# was applied once, and no error was recorded.
set -eu
source "$(dirname "$0")/../lib.sh"

es_scratch dir async
es_cluster_start "$dir" "max_connections = 40"
es_store asynctest
es_psql -d asynctest <<'SQL'
CREATE TABLE inline_model (account text PRIMARY KEY, version bigint, total bigint, events int);
CREATE TABLE async_model (LIKE inline_model INCLUDING ALL);
CREATE TABLE async_applied (global_position bigint);
CREATE TABLE stop (at timestamptz);
CREATE FUNCTION apply_to(model regclass, e es.events) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    last bigint;
BEGIN
    EXECUTE format('SELECT version FROM %s WHERE account = $1', model) INTO last USING e.stream_id;
    IF coalesce(last, 0) <> e.stream_version - 1 THEN
        RAISE EXCEPTION '% got version % of % after %', model, e.stream_version, e.stream_id, last;
    END IF;
    EXECUTE format('INSERT INTO %s AS m VALUES ($1, $2, $3, 1) ON CONFLICT (account) DO UPDATE'
                   ' SET version = excluded.version, total = m.total + excluded.total, events = m.events + 1', model)
    USING e.stream_id, e.stream_version, (e.data->>'n')::bigint;
END $$;
CREATE FUNCTION on_inline(e es.events) RETURNS void LANGUAGE sql
    AS $$ SELECT apply_to('inline_model', e) $$;
CREATE FUNCTION on_async(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM apply_to('async_model', e);
    INSERT INTO async_applied VALUES (e.global_position);
END $$;
SELECT es.create_projection('inline', 'on_inline(es.events)', event_types => '{Tick}',
                            tables => '{inline_model}');
SELECT es.create_projection('async', 'on_async(es.events)', event_types => '{Tick}',
                            async => true, tables => '{async_model, async_applied}');
-- run the async projections until the writers have stopped and nothing is left
CREATE PROCEDURE runner() LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    stopping boolean;
BEGIN
    LOOP
        stopping := EXISTS (SELECT FROM stop);
        n := es.run_projections(37);
        IF random() < 0.2 THEN ROLLBACK; ELSE COMMIT; END IF;
        EXIT WHEN stopping AND n = 0
            AND (SELECT events_behind FROM es.projections WHERE name = 'async') = 0;
        IF n = 0 THEN PERFORM pg_sleep(0.002); END IF;
    END LOOP;
END $$;
SQL

es_psql -d asynctest -c "CALL runner()" & r1=$!
es_psql -d asynctest -c "CALL runner()" & r2=$!
es_writers asynctest <<'SQL'
\set s random(1, 30)
\set n random(1, 1000)
SELECT es.append('acct-' || :s, NULL, es.event('Tick', jsonb_build_object('n', :n)));
SELECT pg_sleep(random() * 0.003);
SELECT es.append('misc-' || :s, NULL, es.event('Tock', jsonb_build_object('n', :n)));
SELECT es.append('acct-' || (:s % 30 + 1), NULL, es.event('Tick', jsonb_build_object('n', :n)));
SQL
wait $r1 $r2

result=$(es_psql -d asynctest -At <<'SQL'
SELECT 'ticks ' || count(*) FROM es.events WHERE event_type = 'Tick'
UNION ALL
SELECT 'applied ' || count(*) || ' distinct ' || count(DISTINCT global_position) FROM async_applied
UNION ALL
SELECT 'models differ ' || count(*) FROM
    ((SELECT * FROM inline_model EXCEPT SELECT * FROM async_model)
     UNION ALL
     (SELECT * FROM async_model EXCEPT SELECT * FROM inline_model)) d
UNION ALL
SELECT 'async ' || events_behind || ' behind, error ' || coalesce(error_message, 'none')
FROM es.projections WHERE name = 'async'
SQL
)
echo "$result"
ticks=$(echo "$result" | sed -n 's/^ticks //p')
[ "$ticks" -gt 1000 ]
echo "$result" | grep -qx "applied $ticks distinct $ticks"
echo "$result" | grep -qx "models differ 0"
echo "$result" | grep -qx "async 0 behind, error none"

#!/usr/bin/env bash
# The background worker in a preloaded cluster: it starts with the server,
# applies an async projection's events with nothing else running (woken by
# the appending commits: its naptime is an hour), runs the handler as the
# projection's registrant (never as its own superuser role), survives a
# handler that fails (the error is recorded, the other projection goes on,
# the failing one resumes once fixed), survives kill -9 of the postmaster
# and stops cleanly at a fast shutdown (SIGTERM).
set -eu
source "$(dirname "$0")/../lib.sh"

es_scratch dir worker
es_cluster_start "$dir" "shared_preload_libraries = 'event_sourcing'" \
    "event_sourcing.worker_databases = 'wtest'" \
    "event_sourcing.worker_naptime = '1h'"

# expect WANTED GOT: show GOT; fail unless it is WANTED
expect() {
    printf '%s\n' "$2"
    [ "$2" = "$1" ] || { printf 'expected:\n%s\n' "$1"; exit 1; }
}

# wait_for DB CONDITION: poll until the SQL condition holds (at most 90 s).
wait_for() {
    for _ in $(seq 1 900); do
        [ "$(es_psql -d "$1" -At -c "SELECT ($2)::boolean" 2>/dev/null)" = t ] && return 0
        sleep 0.1
    done
    echo "timed out waiting for: $2"
    es_psql -d "$1" -c "SELECT * FROM es.workers" -c "SELECT name, position, events_behind, last_error FROM es.consumers" || true
    tail -20 "$dir/server.log"
    return 1
}

# the worker starts with the server; its database does not exist yet, so
# it fails and is restarted until the database is there
es_psql -d postgres -c "CREATE ROLE alice LOGIN"
es_store wtest
es_psql -d wtest -c "GRANT CREATE ON SCHEMA public TO alice" \
    -c "GRANT EXECUTE ON FUNCTION es.create_projection(text, regprocedure, text[], boolean, regclass[]) TO alice"
wait_for wtest "(SELECT state = 'idle' FROM es.workers WHERE database = 'wtest')"
expect "wtest|idle|t" "$(es_psql -d wtest -At -c "SELECT database, state, pid IS NOT NULL FROM es.workers")"
expect "event_sourcing worker|wtest" \
    "$(es_psql -d wtest -At -c "SELECT backend_type, datname FROM pg_stat_activity WHERE backend_type = 'event_sourcing worker'")"

# alice's async projection; the handler notes who it runs as
es_pg psql -X -q -v ON_ERROR_STOP=1 -U alice -d wtest >/dev/null <<'SQL'
CREATE TABLE model (global_position bigint PRIMARY KEY, who text, session_who text);
CREATE FUNCTION on_tick(e es.events) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO model VALUES (e.global_position, current_user, session_user) $$;
SELECT es.create_projection('good', 'on_tick(es.events)', event_types => '{Tick}',
                            async => true, tables => '{model}');
SELECT es.append('t-' || i, NULL, es.event('Tick', jsonb_build_object('i', i)))
FROM generate_series(1, 50) i \g /dev/null
SQL
wait_for wtest "(SELECT count(*) = 50 FROM model)"
echo "applied without a call to es.run_projections:"
expect "50|50|alice|alice" \
    "$(es_psql -d wtest -At -c "SELECT count(*), count(DISTINCT global_position), min(who), max(who) FROM model")"
expect "good|50|0|idle" \
    "$(es_psql -d wtest -At -c "SELECT name, position, events_behind, worker_state FROM es.consumers")"

# a failing handler: the worker goes on, the error is recorded
es_psql -d wtest -c "ALTER SYSTEM SET event_sourcing.worker_naptime = '100ms'" -c "SELECT pg_reload_conf()" >/dev/null
pid=$(es_psql -d wtest -At -c "SELECT pid FROM es.workers")
es_pg psql -X -q -v ON_ERROR_STOP=1 -U alice -d wtest >/dev/null <<'SQL'
CREATE TABLE strict_model (global_position bigint PRIMARY KEY);
CREATE FUNCTION on_strict(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF (e.data->>'i')::int = 60 THEN
        RAISE EXCEPTION 'event % refused', e.data->>'i' USING ERRCODE = '22023';
    END IF;
    INSERT INTO strict_model VALUES (e.global_position);
END $$;
SELECT es.create_projection('strict', 'on_strict(es.events)', event_types => '{Tick}',
                            async => true, tables => '{strict_model}');
SELECT es.append('t-' || i, NULL, es.event('Tick', jsonb_build_object('i', i)))
FROM generate_series(51, 70) i \g /dev/null
SQL
wait_for wtest "(SELECT count(*) = 70 FROM model) AND (SELECT last_error IS NOT NULL FROM es.consumers WHERE name = 'strict')"
echo "after the failing event:"
expect "good|70|0|||
strict|59|11|22023|event 60 refused|60" \
    "$(es_psql -d wtest -At -c "SELECT name, position, events_behind, last_error_sqlstate, last_error, last_error_position FROM es.consumers ORDER BY name")"
expect 59 "$(es_psql -d wtest -At -c "SELECT count(*) FROM strict_model")"
[ "$(es_psql -d wtest -At -c "SELECT pid FROM es.workers")" = "$pid" ] || { echo "the worker restarted"; exit 1; }
echo "the worker kept running"
expect 0 "$(es_psql -d wtest -At -c "SELECT errors FROM es.workers")"
# fixed: the projection resumes at the failing event after its back-off
es_pg psql -X -q -v ON_ERROR_STOP=1 -U alice -d wtest >/dev/null <<'SQL'
CREATE OR REPLACE FUNCTION on_strict(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO strict_model VALUES (e.global_position);
END $$;
SQL
wait_for wtest "(SELECT count(*) = 70 FROM strict_model)"
expect "good|70|0|
strict|70|0|" "$(es_psql -d wtest -At -c "SELECT name, position, events_behind, last_error FROM es.consumers ORDER BY name")"

# kill -9 of the postmaster in the middle of appends; after the restart
# the worker applies the rest, each event once
for i in $(seq 71 400); do
    echo "SELECT es.append('t-$i', NULL, es.event('Tick', '{\"i\": $i}'));"
done >"$dir/load.sql"
es_give "$dir/load.sql"
es_pg psql -X -q -d wtest -f "$dir/load.sql" >/dev/null 2>&1 &
load=$!
wait_for wtest "(SELECT count(*) > 100 FROM model)"
postmaster=$(head -1 "$dir/data/postmaster.pid")
kill -9 "$postmaster"
wait "$load" || true
started=no
for _ in $(seq 1 30); do
    if as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null 2>&1; then
        started=yes; break
    fi
    sleep 1
done
[ "$started" = yes ] || { tail -20 "$dir/server.log"; exit 1; }
grep -q "was not properly shut down; automatic recovery in progress" "$dir/server.log" ||
    { echo "the restart ran no crash recovery"; exit 1; }
echo "restarted after kill -9"
es_psql -d wtest -c "SELECT es.append('after-restart', NULL, es.event('Tick', '{}'))" >/dev/null
wait_for wtest "(SELECT count(*) = (SELECT count(*) FROM es.events WHERE event_type = 'Tick') FROM model)"
got=$(es_psql -d wtest -At <<'SQL'
SELECT 'model equals the log: ' || ((SELECT array_agg(global_position ORDER BY 1) FROM model)
    = (SELECT array_agg(global_position ORDER BY 1) FROM es.events WHERE event_type = 'Tick'))::text;
SELECT 'strict equals the log: ' || ((SELECT array_agg(global_position ORDER BY 1) FROM strict_model)
    = (SELECT array_agg(global_position ORDER BY 1) FROM es.events WHERE event_type = 'Tick'))::text;
SELECT 'handlers ran as: ' || string_agg(DISTINCT who || '/' || session_who, ', ') FROM model;
SELECT 'worker: ' || CASE WHEN state IN ('idle', 'running') THEN 'up' ELSE state END FROM es.workers;
SQL
)
expect "model equals the log: true
strict equals the log: true
handlers ran as: alice/postgres
worker: up" "$got"
[ "$(es_psql -d wtest -At -c "SELECT pid FROM es.workers")" != "$pid" ]
echo "a new worker process runs"

# a fast shutdown sends SIGTERM: the idle worker exits (code 0), the
# server shuts down cleanly, without a crash or a restart of the worker
es_psql -d wtest -c "ALTER SYSTEM SET event_sourcing.worker_naptime = '1h'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
wait_for wtest "(SELECT state = 'idle' FROM es.workers)"
as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
sed -n '/received fast shutdown request/,$p' "$dir/server.log" >"$dir/shutdown.log"
cat "$dir/shutdown.log"
grep -q 'event_sourcing worker for database "wtest" stopped' "$dir/shutdown.log"
grep -q "database system is shut down" "$dir/shutdown.log"
grep -E "event_sourcing worker.*exited with exit code|terminated by signal|was terminated|PANIC|terminating any other active" "$dir/shutdown.log" &&
    { echo "unclean stop"; exit 1; }
echo "stopped cleanly"

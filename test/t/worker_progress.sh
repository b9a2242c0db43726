#!/usr/bin/env bash
# Progress of long operations.  With the library preloaded, a back-fill
# (an inline projection created over a history), a rebuild and a catch-up
# (es.run_projections) each show in es.progress, read from a second session
# while they run: their handler stops at the 2,500th of 3,000 events until
# the test opens a gate, so the numbers read are exact.  Without the
# preload es.progress is empty and the operation sends NOTICEs to its own
# session instead (here every millisecond; each handler call sleeps 2 ms).
set -eu
source "$(dirname "$0")/../lib.sh"

es_scratch dir progress
es_cluster_start "$dir/preloaded" "shared_preload_libraries = 'event_sourcing'"
es_store ptest
es_store other
es_psql -d postgres -c "CREATE ROLE watcher LOGIN"
es_psql -d ptest <<'SQL'
CREATE TABLE gate (open boolean);
CREATE TABLE seen (global_position bigint);
CREATE TABLE seen_async (global_position bigint);
-- waits at the 2,500th event until the gate opens (each statement of a
-- READ COMMITTED function sees the latest commits)
CREATE FUNCTION wait_at_2500(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- a handler's own EXCEPTION block (a subtransaction rolled back) does
    -- not end the report
    IF (e.data->>'n')::int = 100 THEN
        BEGIN
            PERFORM 1 / 0;
        EXCEPTION WHEN division_by_zero THEN NULL;
        END;
    END IF;
    IF (e.data->>'n')::int = 2500 THEN
        WHILE NOT EXISTS (SELECT FROM gate) LOOP
            PERFORM pg_sleep(0.01);
        END LOOP;
    END IF;
END $$;
CREATE FUNCTION on_tick(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wait_at_2500(e);
    INSERT INTO seen VALUES (e.global_position);
END $$;
CREATE FUNCTION on_tick_async(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wait_at_2500(e);
    INSERT INTO seen_async VALUES (e.global_position);
END $$;
SELECT es.append('p-' || n, NULL, es.event('Tick', jsonb_build_object('n', n)))
FROM generate_series(1, 3000) n \g /dev/null
SQL

# expect WANTED GOT: show GOT; fail unless it is WANTED
expect() {
    printf '%s\n' "$2"
    [ "$2" = "$1" ] || { printf 'expected:\n%s\n' "$1"; exit 1; }
}

# watch SQL WANTED: run SQL in the background, show es.progress from this session
# once the operation waits at the gate, open the gate, wait for the end
watch() {
    es_psql -d ptest -c "DELETE FROM gate"
    es_psql -d ptest -c "$1" >/dev/null &
    local op=$!
    for _ in $(seq 1 600); do
        [ "$(es_psql -d ptest -At -c "SELECT count(*) FROM es.progress WHERE done >= 2499")" = 1 ] && break
        sleep 0.1
    done
    got=$(es_psql -d ptest -At <<'SQL'
SELECT database, phase, projection, done, total, percent, events,
       events_per_second > 0, started_at <= updated_at,
       pid <> pg_backend_pid() AS another_session,
       pid IN (SELECT pid FROM pg_stat_activity WHERE state = 'active')
FROM es.progress
SQL
)
    expect "$2" "$got"
    # another database shows it to members of pg_read_all_stats only
    expect "watcher 0, superuser 1" "$(es_pg psql -X -At -U watcher -d other -c "SELECT 'watcher ' || count(*) FROM es.progress"), $(es_psql -d other -At -c "SELECT 'superuser ' || count(*) FROM es.progress")"
    es_psql -d ptest -c "INSERT INTO gate VALUES (true)"
    wait "$op"
    expect "after it: 0 in progress" "after it: $(es_psql -d ptest -At -c "SELECT count(*) FROM es.progress") in progress"
}

echo "back-fill:"
watch "SELECT es.create_projection('slow', 'on_tick(es.events)', tables => '{seen}')" \
    "ptest|back-fill|slow|2499|3000|83.3|2499|t|t|t|t"
echo "rebuild:"
watch "SELECT es.rebuild_projection('slow')" \
    "ptest|rebuild|slow|2499|3000|83.3|2499|t|t|t|t"
echo "catch-up:"
es_psql -d ptest -c "SELECT es.create_projection('slow_async', 'on_tick_async(es.events)', async => true, tables => '{seen_async}')" >/dev/null
watch "SELECT es.run_projections()" \
    "ptest|catch-up|slow_async|2499|3000|83.3|2499|t|t|t|t"
expect "3000|3000" "$(es_psql -d ptest -At -c "SELECT (SELECT count(*) FROM seen), (SELECT count(*) FROM seen_async)")"

# an error ends the operation's report too
got=$(es_psql -d ptest -At -v ON_ERROR_STOP=0 2>&1 <<'SQL' | grep -c "ERROR:  no"
CREATE FUNCTION fail_at_10(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF (e.data->>'n')::int = 10 THEN RAISE EXCEPTION 'no'; END IF;
END $$;
SELECT es.create_projection('failing', 'fail_at_10(es.events)');
SQL
)
expect 1 "$got"
expect "after an error: 0 in progress" \
    "after an error: $(es_psql -d ptest -At -c "SELECT count(*) FROM es.progress") in progress"

# without the preload: no shared memory, NOTICEs to the session
es_cluster_start "$dir/plain"
es_store ntest
got=$(es_psql -d ntest -At <<'SQL' 2>&1 | sed -E 's/[0-9]+ events\/s$/N events\/s/'
CREATE TABLE t ();
CREATE FUNCTION slow(e es.events) RETURNS void LANGUAGE sql AS $$ SELECT pg_sleep(0.002) $$;
SELECT es.append('n-' || n, NULL, es.event('Tick', '{}')) FROM generate_series(1, 3) n \g /dev/null
SELECT 'in es.progress: ' || count(*) FROM es.progress;
SET event_sourcing.progress_notice_interval = '1ms';
SELECT FROM es.create_projection('slow', 'slow(es.events)', tables => '{t}');
SELECT 'replayed ' || es.rebuild_projection('slow');
SET event_sourcing.progress_notice_interval = 0;
SELECT 'replayed ' || es.rebuild_projection('slow');
SQL
)
expect 'in es.progress: 0
NOTICE:  back-fill of projection "slow": 1 of 3 positions (33%), 1 events, N events/s
NOTICE:  back-fill of projection "slow": 2 of 3 positions (66%), 2 events, N events/s
NOTICE:  back-fill of projection "slow": 3 of 3 positions (100%), 3 events, N events/s
NOTICE:  rebuild of projection "slow": 1 of 3 positions (33%), 1 events, N events/s
NOTICE:  rebuild of projection "slow": 2 of 3 positions (66%), 2 events, N events/s
NOTICE:  rebuild of projection "slow": 3 of 3 positions (100%), 3 events, N events/s
replayed 3
replayed 3' "$got"

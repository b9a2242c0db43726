#!/usr/bin/env bash
# The log on a hot standby.  A standby has none of the primary's position
# locks, so it cannot tell whether an earlier position is still held by a
# transaction in progress there: es.read_all, es.log_horizon, es.poll and
# es.wait refuse (25006, with a hint to read the log on the primary) rather
# than return a later event before an earlier one.  Stream reads and folds
# work there, and a fold whose reducer takes snapshots writes nothing.
#
# A real streaming standby: pg_basebackup -R of the primary, started on its
# own socket directory; the test waits until the standby has replayed the
# primary's WAL up to an LSN taken after the writes.
set -eu
source "$(dirname "$0")/../lib.sh"

es_scratch primary log_primary
es_scratch standby log_standby

es_cluster_start "$primary" "wal_level = replica" "hot_standby = on"
es_store store
es_psql -d store >/dev/null <<'SQL'
SELECT es.create_reducer('tally', '{"n": 0}',
    rules => '{"Counted": [{"op": "add", "target": "$.n", "from": "$.data.by"}]}',
    snapshot_every => 2);
SELECT es.create_subscription('mailer');
SQL

# the standby, from a base backup of the primary
primary_host=$PGHOST
primary_port=$PGPORT
es_pg pg_basebackup -D "$standby/data" -R -X stream --no-sync
ES_CLUSTERS+=("$standby")
standby_port=$(es_free_port)
printf '%s\n' "port = $standby_port" "unix_socket_directories = '$standby'" |
    as_pg tee -a "$standby/data/postgresql.conf" >/dev/null
as_pg "$PG_BINDIR/pg_ctl" -D "$standby/data" -l "$standby/server.log" -w start >/dev/null 9>&-

on_primary() { PGHOST=$primary_host PGPORT=$primary_port es_psql -d store -At "$@"; }
on_standby() { PGHOST=$standby PGPORT=$standby_port es_psql -d store -At "$@"; }

# Wait until the standby has replayed everything the primary has written
# so far: the primary's current WAL position, taken now, against the
# standby's pg_last_wal_replay_lsn(), looked at every 10 ms in the server
# (PostgreSQL 15 has no function that waits for an LSN); no fixed sleeps.
catch_up() {
    local lsn
    lsn=$(on_primary -c "SELECT pg_current_wal_lsn()")
    on_standby -c "DO \$\$
        DECLARE deadline timestamptz := clock_timestamp() + interval '120 s';
        BEGIN
            WHILE pg_last_wal_replay_lsn() < '$lsn'::pg_lsn LOOP
                IF clock_timestamp() > deadline THEN
                    RAISE EXCEPTION 'the standby has not replayed % after 120 s', '$lsn';
                END IF;
                PERFORM pg_sleep(0.01);
            END LOOP;
        END \$\$"
}

# Run a statement on the standby and print how it ended: ok, or the
# SQLSTATE, message and hint of its error.
try_on_standby() {
    on_standby <<SQL
DO \$\$
DECLARE st text; msg text; hint text;
BEGIN
    PERFORM * FROM ($1) q;
    RAISE NOTICE 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RAISE NOTICE '% | % | %', st, msg, hint;
END \$\$;
SQL
}

# A transaction on the primary takes position 1 and stays open ...
coproc HOLD { on_primary 2>&1; }
echo "BEGIN; SELECT es.append('tally-1', NULL, es.event('Counted', '{\"by\": 1}'));" >&"${HOLD[1]}"
read -r -t 60 version <&"${HOLD[0]}"
[ "$version" = 1 ]
# ... while later positions commit
on_primary >/dev/null <<'SQL'
SELECT es.append('tally-2', NULL, es.event('Counted', '{"by": 10}'));
SELECT es.append('tally-2', NULL, es.event('Counted', '{"by": 20}'), es.event('Counted', '{"by": 30}'));
SQL
catch_up
echo "primary: positions committed $(on_primary -c "SELECT string_agg(global_position::text, ',' ORDER BY 1) FROM es.events"), read_all returns '$(on_primary -c "SELECT string_agg(global_position::text, ',') FROM es.read_all(0)")'"
# the primary's log waits for position 1
[ -z "$(on_primary -c "SELECT string_agg(global_position::text, ',') FROM es.read_all(0)")" ]
[ "$(on_standby -c "SELECT pg_is_in_recovery()")" = t ]
echo "standby: positions visible $(on_standby -c "SELECT string_agg(global_position::text, ',' ORDER BY 1) FROM es.events")"

# Every read of the log refuses on the standby, as does every wait on it.
expected="NOTICE:  25006 | cannot execute %s during recovery | Read the log (es.read_all, es.poll, es.wait, es.log_horizon) on the primary. Stream reads and folds work on a standby."
check_refused() {
    local out
    out=$(try_on_standby "$1" 2>&1)
    echo "$1: $out"
    # shellcheck disable=SC2059
    [ "$out" = "$(printf "$expected" "$2")" ]
}
check_refused "SELECT * FROM es.read_all(0)" "es.read_all()"
check_refused "SELECT * FROM es.read_all(1, NULL, ARRAY['Counted'], ARRAY['tally'])" "es.read_all()"
check_refused "SELECT es.log_horizon()" "es.log_horizon()"
check_refused "SELECT * FROM es.poll('mailer')" "es.poll()"
check_refused "SELECT es.wait('mailer', 0)" "es.wait()"

# Stream reads and folds work on the standby, on what it has replayed; the
# fold passes snapshot_every but does not try to write a snapshot there.
standby_reads() {
    on_standby <<'SQL'
SELECT string_agg(stream_version || ':' || (data->>'by'), ',' ORDER BY stream_version) FROM es.read_stream('tally-2');
SELECT es.stream_version('tally-1'), es.stream_version('tally-2');
SELECT es.fold('tally-2', 'tally');
SELECT es.fold('tally-2', 'tally', to_version => 2);
SELECT count(*) FROM es.snapshots;
SQL
}
out=$(standby_reads | tr '\n' ' ')
echo "standby, position 1 in progress: $out"
[ "$out" = '1:10,2:20,3:30 0|3 {"n": 60} {"n": 30} 0 ' ]

# Position 1 commits: the primary's log returns everything, in order; the
# standby still refuses the log, and its stream reads see the new event.
echo "COMMIT; SELECT 'committed';" >&"${HOLD[1]}"
read -r -t 60 line <&"${HOLD[0]}"
[ "$line" = committed ]
on_primary -c "SELECT es.fold('tally-2', 'tally')" >/dev/null   # takes a snapshot
catch_up
log=$(on_primary -c "SELECT string_agg(global_position::text, ',') FROM es.read_all(0)")
echo "primary after the commit: read_all returns $log"
[ "$log" = 1,2,3,4 ]
check_refused "SELECT * FROM es.read_all(0)" "es.read_all()"
check_refused "SELECT * FROM es.poll('mailer')" "es.poll()"
out=$(standby_reads | tr '\n' ' ')
echo "standby, all committed: $out"
[ "$out" = '1:10,2:20,3:30 1|3 {"n": 60} {"n": 30} 1 ' ]
out=$(on_standby -c "SELECT es.fold('tally-1', 'tally')")
[ "$out" = '{"n": 1}' ]
# the registries' views, lag included, can be read there
out=$(on_standby -c "SELECT name, position, events_behind FROM es.subscriptions")
echo "standby, es.subscriptions: $out"
[ "$out" = 'mailer|0|4' ]

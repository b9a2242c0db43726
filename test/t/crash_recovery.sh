#!/usr/bin/env bash
# Durability: four clients append in a loop (single events and batches, no
# expected version, eight streams), the postmaster is killed with SIGKILL
# mid-load, the cluster restarts (crash recovery), and every append a client
# saw acknowledged must be there, at the version it was acknowledged with;
# every stream's versions must run 1..n without a gap, and es.streams must
# agree with es.events.
set -eu
source "$(dirname "$0")/../lib.sh"

es_scratch dir crash
es_cluster_start "$dir" "synchronous_commit = on"
es_psql -d postgres -c "CREATE EXTENSION event_sourcing"

# Each writer prints "stream|version|first_event_id|count" once acknowledged.
for w in 1 2 3 4; do
    for i in $(seq 1 3000); do
        n=$(( i % 3 == 0 ? 3 : 1 ))
        s="crash-$(( (w + i) % 8 ))"
        if [ "$n" = 1 ]; then
            echo "SELECT '$s', es.append('$s', NULL, es.event('Tick', '{\"w\": $w, \"i\": $i}', event_id => md5('$w-$i')::uuid)), md5('$w-$i')::uuid, 1;"
        else
            echo "SELECT '$s', es.append('$s', NULL, es.event('Tick', '{\"w\": $w, \"i\": $i}', event_id => md5('$w-$i')::uuid), es.event('Tock', '{}', event_id => md5('$w-$i-b')::uuid), es.event('Tock', '{}', event_id => md5('$w-$i-c')::uuid)), md5('$w-$i')::uuid, 3;"
        fi
    done >"$dir/writer$w.sql"
done
es_give "$dir"/writer*.sql
pids=()
for w in 1 2 3 4; do
    es_pg psql -X -q -At -d postgres -f "$dir/writer$w.sql" >"$dir/acks$w.txt" 2>/dev/null &
    pids+=($!)
done

# let the load run, then kill the postmaster without warning
for _ in $(seq 1 100); do
    [ "$(cat "$dir"/acks*.txt 2>/dev/null | wc -l)" -ge 400 ] && break
    sleep 0.1
done
postmaster=$(head -1 "$dir/data/postmaster.pid")
kill -9 "$postmaster"
for p in "${pids[@]}"; do wait "$p" || true; done
acked=$(cat "$dir"/acks*.txt | grep -c '|' || true)
echo "acknowledged before the crash: $acked appends"
[ "$acked" -gt 0 ] || { echo "no append was acknowledged"; exit 1; }

# restart once the orphaned backends have noticed and exited: crash
# recovery replays the WAL
started=no
for _ in $(seq 1 30); do
    if as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null 2>&1; then
        started=yes; break
    fi
    sleep 1
done
[ "$started" = yes ] || { tail -20 "$dir/server.log"; exit 1; }
# the restart must have replayed the WAL, not found a clean shutdown
grep -q "was not properly shut down; automatic recovery in progress" "$dir/server.log" ||
    { echo "the restart ran no crash recovery"; tail -20 "$dir/server.log"; exit 1; }
echo "crash recovery ran"
cat "$dir"/acks*.txt | grep '|' >"$dir/acks.txt"
es_give "$dir/acks.txt"

es_psql -d postgres -At <<SQL >"$dir/verify.txt"
CREATE TEMP TABLE acks (stream_id text, version bigint, first_id uuid, n int);
\copy acks FROM '$dir/acks.txt' WITH (FORMAT text, DELIMITER '|')
-- every acknowledged batch is stored, ending at the acknowledged version
SELECT 'lost: ' || count(*) FROM acks a
WHERE NOT EXISTS (SELECT 1 FROM es.events e
                  WHERE e.event_id = a.first_id AND e.stream_id = a.stream_id
                    AND e.stream_version = a.version - a.n + 1);
-- versions run 1..n per stream, and es.streams agrees
SELECT 'gaps: ' || count(*) FROM (
    SELECT stream_id FROM es.events GROUP BY stream_id
    HAVING count(*) <> max(stream_version) OR min(stream_version) <> 1) g;
SELECT 'stream rows off: ' || count(*) FROM es.streams s
WHERE s.version IS DISTINCT FROM (SELECT max(stream_version) FROM es.events e
                                  WHERE e.stream_id = s.stream_id);
SELECT 'streams without a row: ' || count(*) FROM (SELECT DISTINCT stream_id FROM es.events) e
WHERE NOT EXISTS (SELECT 1 FROM es.streams s WHERE s.stream_id = e.stream_id);
-- the store keeps working: an exact-version append after recovery
SELECT es.stream_version('crash-0') AS v \gset
SELECT 'append after recovery: ' ||
       (es.append('crash-0', :v, es.event('After', '{}')) = :v + 1);
SQL
cat "$dir/verify.txt"
diff <(printf 'lost: 0\ngaps: 0\nstream rows off: 0\nstreams without a row: 0\nappend after recovery: true\n') "$dir/verify.txt"

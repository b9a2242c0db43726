#!/usr/bin/env bash
# What running an upcaster function as its registrant costs: backend CPU
# time (utime + stime of /proc/self/stat, so that other load on the machine
# does not count) per es.read_stream of 100,000 events, through no step,
# one declarative step, and one SQL function step read with default
# settings (they differ from the captured ones by pg_temp only), with the
# captured settings, and with another TimeZone (the switch then sets and
# restores it for every event).  Builds and installs the extension (set
# ES_PG_ROOT for a private installation) and runs a throwaway cluster.
set -eu
source "$(dirname "$0")/../../test/lib.sh"
cd "$ES_ROOT"
es_install_deps
es_lock
es_build_install
es_scratch dir upcast_switch
es_cluster_start "$dir/c"
es_store b
es_psql -d b <<'SQL'
INSERT INTO es.events (stream_id, stream_version, event_id, event_type, schema_version, data, occurred_at)
SELECT s.id, g, es.uuid_v7(), s.type, 1, '{"amount": 42, "note": "x"}', now()
FROM (VALUES ('acct-1', 'Paid'), ('acct-2', 'Deposited'), ('acct-3', 'Noted')) s(id, type),
     generate_series(1, 100000) g;
INSERT INTO es.streams (stream_id, category, version, created_at, updated_at)
SELECT id, 'acct', 100000, now(), now() FROM unnest('{acct-1,acct-2,acct-3}'::text[]) id;
CREATE FUNCTION public.note_to_memo(data jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE
    AS $$ SELECT data - 'note' || jsonb_build_object('memo', data->'note') $$;
SELECT es.create_upcaster('Deposited', 1, rules => '[{"op": "move", "from": "$.data.note", "target": "$.memo"}]');
SELECT es.create_upcaster('Noted', 1, fn => 'public.note_to_memo(jsonb)');
VACUUM ANALYZE;
SQL
cpu='split_part(pg_read_file($$/proc/self/stat$$), $$ $$, 14)::int + split_part(pg_read_file($$/proc/self/stat$$), $$ $$, 15)::int'
for round in 1 2 3; do
    for q in "no step|acct-1|" "one rules step|acct-2|" "fn, default settings|acct-3|" \
             "fn, captured settings|acct-3|SET search_path = \"\$user\", public, pg_temp;" \
             "fn, other TimeZone|acct-3|SET TimeZone = 'Asia/Tokyo';"; do
        IFS='|' read -r name stream pre <<<"$q"
        ms=$({
            echo "$pre"
            echo "SELECT count(*) FROM es.read_stream('$stream') \\g /dev/null"
            echo "SELECT $cpu AS t0 \\gset"
            for _ in $(seq 10); do echo "SELECT count(*), sum(length(data::text)) FROM es.read_stream('$stream') \\g /dev/null"; done
            echo "SELECT (($cpu - :t0) * 1000.0 / current_setting('es_bench.hz')::int / 10)::numeric(8,1);"
        } | es_psql -d b -At -c "SET es_bench.hz = $(getconf CLK_TCK)" -f -)
        printf 'round %s: %-24s %s ms CPU per read of 100,000 events\n' "$round" "$name" "$ms"
    done
done

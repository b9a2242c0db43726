#!/usr/bin/env bash
# pg_dump / pg_restore into a fresh database keeps every event (its tags
# included), every stream and the position counter: the restored store is
# identical, new appends continue the streams' versions, and global
# positions do not restart.  The upcaster registry comes back too, its function included,
# and events read upcast the same way.
set -eu
source "$(dirname "$0")/../lib.sh"

es_scratch dir dump
es_cluster_start "$dir"
es_store src
es_psql -d postgres -c "CREATE DATABASE dst"
es_psql -d src <<'SQL'
SELECT es.append('a-1', 0, es.event('Opened', '{"owner": "Ada"}', '{"by": "test"}'));
SELECT es.append('a-1', 1, VARIADIC (SELECT array_agg(es.event('Tick', jsonb_build_object('n', i)))
                                     FROM generate_series(1, 50) i));
SELECT es.append('b-1', NULL, es.event('Opened', '{}', occurred_at => '2001-02-03 04:05:06+00',
                                       schema_version => 3));
SELECT es.append('c-1', 0, es.event('Tagged', '{}', tags => ARRAY['t:1', 'u:2']));
CREATE FUNCTION public.tick_v3(data jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT data || jsonb_build_object('twice', (data->>'count')::numeric * 2) $$;
SELECT es.create_upcaster('Tick', 1, '[{"op": "move", "from": "$.data.n", "target": "$.count"}]');
SELECT es.create_upcaster('Tick', 2, fn => 'public.tick_v3(jsonb)');
SQL
es_copy_db src dst

snapshot=$(cat <<'SQL'
SELECT md5(string_agg(e::text, ',' ORDER BY global_position)) FROM es.events e
UNION ALL
SELECT md5(string_agg(s::text, ',' ORDER BY stream_id)) FROM es.streams s
UNION ALL
SELECT md5(string_agg(c::text, ',' ORDER BY event_type)) FROM es.upcaster_chains c
UNION ALL
SELECT md5(string_agg(r::text, ',' ORDER BY stream_version)) FROM es.read_stream('a-1') r
UNION ALL
SELECT md5(string_agg(r::text, ',' ORDER BY global_position)) FROM es.read_events('[{"tags": ["u:2"]}]') r
SQL
)
es_same_rows src dst "$snapshot"

max=$(es_psql -d src -At -c "SELECT max(global_position) FROM es.events")
out=$(es_psql -d dst -At <<'SQL'
SELECT es.append('a-1', 51, es.event('Closed', '{}'));
SELECT global_position FROM es.events WHERE stream_id = 'a-1' AND stream_version = 52;
SQL
)
echo "after restore: $out (max position before: $max)"
[ "$(echo "$out" | sed -n 1p)" = 52 ]
[ "$(echo "$out" | sed -n 2p)" -gt "$max" ]

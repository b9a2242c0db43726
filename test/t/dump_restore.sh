#!/usr/bin/env bash
# pg_dump / pg_restore into a fresh database keeps every event (its tags
# included), every stream and the position counter: the restored store is
# identical, new appends continue the streams' versions, and global
# positions do not restart.  The upcaster registry comes back too, its function included,
# and events read upcast the same way.  The stream lifecycle survives too:
# deleted, truncated and tombstoned streams (a reserved id included), their
# `$` events and the retention policies; a restored tombstone still refuses
# appends, and es.purge removes the same events from both stores.
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
SELECT es.append('del-1', 0, es.event('Opened', '{}'), es.event('Closed', '{}'));
SELECT es.delete_stream('del-1', 2);
SELECT es.append('del-1', 2, es.event('Reopened', '{}'));
SELECT es.append('tomb-1', 0, es.event('Opened', '{}'));
SELECT es.tombstone_stream('tomb-1');
SELECT es.tombstone_stream('tomb-9');
SELECT es.append('trunc-1', 0, es.event('A', '{}'), es.event('B', '{}'), es.event('C', '{}'));
SELECT es.truncate_stream('trunc-1', 3);
SELECT es.create_retention('ret', max_count => 1);
SELECT es.append('ret-1', 0, es.event('G', '{}'), es.event('G', '{}'));
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
UNION ALL
SELECT string_agg(format('%s %s %s %s', category, max_age, max_count, owner), ',' ORDER BY category)
FROM es.retention
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

# the lifecycle after the restore: a tombstone still refuses appends (55000),
# a deleted stream goes on at its version, purge removes the same events
out=$(es_psql -d dst -At <<'SQL'
DO $$ BEGIN
    PERFORM es.append('tomb-1', 1, es.event('Again', '{}'));
    RAISE EXCEPTION 'appended to a tombstoned stream';
EXCEPTION WHEN object_not_in_prerequisite_state THEN NULL;
END $$;
SELECT es.append('del-1', 3, es.event('Noted', '{}'));
SQL
)
echo "append to del-1 after restore: $out"
[ "$out" = 4 ]
es_psql -d src -c "CALL es.purge()"
es_psql -d dst -c "CALL es.purge()"
es_same_rows src dst "SELECT string_agg(stream_id || ':' || stream_version, ',' ORDER BY global_position)
                      FROM es.events WHERE stream_id IN ('del-1', 'tomb-1', 'trunc-1', 'ret-1', '\$del-1', '\$tomb-1', '\$tomb-9', '\$trunc-1')
                      AND stream_version <= 3"

#!/usr/bin/env bash
# The log's cursor survives pg_dump / pg_restore into another cluster:
# positions are the sequence's (dumped with the events), not transaction
# ids, so a read_all cursor taken in the source reads on in the restored
# store, subscriptions keep their positions and deliver exactly the events
# they had not acknowledged, and new events come after every restored one.
set -eu
source "$(dirname "$0")/../lib.sh"

es_scratch src logsrc
es_scratch dst logdst

es_cluster_start "$src"
es_store store
es_psql -d store <<'SQL'
SELECT es.create_subscription('half');
SELECT es.create_subscription('orders', categories => '{order}');
SELECT es.append('order-' || i % 3, NULL, es.event('Placed', jsonb_build_object('i', i)))
FROM generate_series(1, 10) i;
SELECT count(*) FROM es.poll('half', 4);
SELECT count(*) FROM es.poll('orders', 2);
SQL
# burn transaction ids, so that the source's xids run ahead of the target's
for _ in $(seq 1 200); do es_psql -d store -c "SELECT pg_current_xact_id()" >/dev/null; done
query="SELECT string_agg(event_id::text, ',' ORDER BY global_position) FROM es.read_all(6)"
tail_src=$(es_psql -d store -At -c "$query")
subs_src=$(es_psql -d store -At -c "SELECT string_agg(name || '=' || position, ',' ORDER BY name) FROM es.subscriptions")
half_src=$(es_psql -d store -At -c "SELECT string_agg(event_id::text, ',' ORDER BY global_position) FROM es.events WHERE global_position > 4")
max_src=$(es_psql -d store -At -c "SELECT max(global_position) FROM es.events")
es_pg pg_dump -Fc -f "$src/store.dump" store
es_cluster_stop "$src"

# another cluster, whose transaction ids start low again
es_cluster_start "$dst"
es_psql -d postgres -c "CREATE DATABASE store"
es_pg pg_restore --exit-on-error -d store "$src/store.dump"

tail_dst=$(es_psql -d store -At -c "$query")
subs_dst=$(es_psql -d store -At -c "SELECT string_agg(name || '=' || position, ',' ORDER BY name) FROM es.subscriptions")
half_dst=$(es_psql -d store -At -c "SELECT string_agg(event_id::text, ',' ORDER BY global_position) FROM es.poll('half')")
horizon=$(es_psql -d store -At -c "SELECT es.log_horizon()")
echo "subscriptions: source $subs_src, restored $subs_dst; horizon $horizon (max position $max_src)"
[ -n "$tail_src" ] && [ "$tail_src" = "$tail_dst" ]
[ "$subs_src" = "$subs_dst" ]
[ "$half_src" = "$half_dst" ]
[ "$horizon" = $((max_src + 1)) ]

# new events follow every restored one, and reach the subscriptions once
out=$(es_psql -d store -At <<'SQL'
SELECT es.append('order-9', NULL, es.event('Shipped', '{}'));
SELECT string_agg(global_position::text, ',') FROM es.poll('half');
SELECT count(*) FROM es.poll('half');
SELECT string_agg(stream_id, ',' ORDER BY global_position) FROM es.poll('orders');
SQL
)
echo "after restore: $(echo "$out" | tr '\n' ' ')"
[ "$(echo "$out" | sed -n 2p)" = $((max_src + 1)) ]
[ "$(echo "$out" | sed -n 3p)" = 0 ]
# orders had taken 2 of its 10 events: the other 8 and the new one
[ "$(echo "$out" | sed -n 4p | tr ',' '\n' | wc -l)" = 9 ]

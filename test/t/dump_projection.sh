#!/usr/bin/env bash
# pg_dump / pg_restore of a store with a live projection: the restored
# events, registry and read model are identical (pg_restore's COPY into
# es.events fires no handler, so nothing is applied twice), and the
# projection still runs in the restored database.
set -eu
source "$(dirname "$0")/../lib.sh"

es_scratch dir projdump
es_cluster_start "$dir"
es_store src
es_psql -d postgres -c "CREATE DATABASE dst"
es_psql -d src <<'SQL'
CREATE TABLE balances (account text PRIMARY KEY, balance numeric NOT NULL, events int NOT NULL);
CREATE FUNCTION apply_event(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO balances AS b VALUES (e.stream_id, (e.data->>'amount')::numeric, 1)
    ON CONFLICT (account) DO UPDATE
        SET balance = b.balance + excluded.balance, events = b.events + 1;
END $$;
-- history before the projection (back-filled) and after it (incremental)
\o /dev/null
SELECT es.append('acct-' || (i % 7), NULL, es.event('Deposited', jsonb_build_object('amount', i)))
FROM generate_series(1, 200) i;
SELECT es.create_projection('balances', 'apply_event(es.events)',
                            event_types => ARRAY['Deposited'], tables => ARRAY['balances']::regclass[]);
SELECT es.append('acct-' || (i % 5), NULL, es.event('Deposited', jsonb_build_object('amount', i)),
                                          es.event('Noted', '{}'))
FROM generate_series(1, 100) i;
\o
SQL
es_copy_db src dst

snapshot=$(cat <<'SQL'
SELECT md5(string_agg(e::text, ',' ORDER BY global_position)) FROM es.events e
UNION ALL
SELECT md5(string_agg(b::text, ',' ORDER BY account)) FROM balances b
UNION ALL
SELECT string_agg(concat_ws(' ', name, handler, event_types, mode, tables, owner), ',') FROM es.projections
SQL
)
es_same_rows src dst "$snapshot"

# the read model agrees with the events (nothing applied twice)
check=$(cat <<'SQL'
SELECT count(*) FROM balances b
FULL JOIN (SELECT stream_id, sum((data->>'amount')::numeric) AS balance, count(*)::int AS events
           FROM es.events WHERE event_type = 'Deposited' GROUP BY stream_id) x
  ON x.stream_id = b.account
WHERE b.balance IS DISTINCT FROM x.balance OR b.events IS DISTINCT FROM x.events
SQL
)
[ "$(es_psql -d dst -At -c "$check")" = 0 ]

# the projection still runs after the restore, once per event
out=$(es_psql -d dst -At <<'SQL'
SELECT es.append('acct-1', NULL, es.event('Deposited', '{"amount": 1000}'));
SELECT balance - (SELECT sum((data->>'amount')::numeric) FROM es.events
                  WHERE stream_id = 'acct-1' AND event_type = 'Deposited' AND (data->>'amount')::int < 1000)
FROM balances WHERE account = 'acct-1';
SQL
)
echo "after restore: $out"
[ "$(echo "$out" | sed -n 2p)" = 1000 ]
[ "$(es_psql -d dst -At -c "$check")" = 0 ]
# and a rebuild in the restored database reproduces the read model
es_psql -d dst -At -c "SELECT es.rebuild_projection('balances')"
[ "$(es_psql -d dst -At -c "$check")" = 0 ]
echo ok

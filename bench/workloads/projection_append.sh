# The cost to an append of one inline projection whose handler upserts a row.
title="One event per transaction with an inline projection (single-row upsert) vs without"
describe="10,000 streams. An inline projection handles \`Deposited\` events with a SQL handler that
upserts one row of a read-model table. A: append a \`Deposited\` event (the handler runs in the
appending transaction). B: append a \`Noted\` event, which no projection handles, to the same
streams (the append alone, with the trigger's check). No expected version."
label_a="es.append + projection"
label_b="es.append alone"
unit=tps
per_tx=1
clients="1 4"
sync="on"

setup_sql() {
    fill_sql es 10000 10000
    cat <<'SQL'
CREATE TABLE balances (stream_id text PRIMARY KEY, balance numeric NOT NULL);
CREATE FUNCTION project_balance(e es.events) RETURNS void LANGUAGE sql AS $$
    INSERT INTO balances AS b VALUES (e.stream_id, (e.data->>'amount')::numeric)
    ON CONFLICT (stream_id) DO UPDATE SET balance = b.balance + excluded.balance
$$;
SELECT es.create_projection('balances', 'project_balance(es.events)',
    event_types => ARRAY['Deposited'], tables => ARRAY['balances']::regclass[]);
SQL
}

script_a() {
    echo '\set n random(1, 10000)'
    append_one_sql "'acct-' || :n" NULL
}

script_b() {
    echo '\set n random(1, 10000)'
    append_one_sql "'acct-' || :n" NULL Noted
}

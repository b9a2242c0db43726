# Rebuilding a projection over 100,000 events with a trivial handler,
# against the same copy done in plain SQL.
title="Projection rebuild over 100,000 events vs a plain SQL copy"
describe="100,000 events in 100 streams. A: \`es.rebuild_projection('copy')\`, whose handler is a
SQL function inserting the event's stream id and amount into a table (emptied by the rebuild).
B: \`TRUNCATE\` the same kind of table and \`INSERT ... SELECT\` the same columns from \`es.events\` in
global order, in one transaction. Events replayed per second."
label_a="es.rebuild_projection"
label_b="SQL copy"
conflicts=no
unit=events
per_tx=100000
clients="1"
sync="on"

setup_sql() {
    fill_sql es 100 100000
    cat <<'SQL'
CREATE TABLE copied (stream_id text, amount numeric);
CREATE TABLE copied_raw (stream_id text, amount numeric);
CREATE FUNCTION copy_event(e es.events) RETURNS void LANGUAGE sql AS $$
    INSERT INTO copied VALUES (e.stream_id, (e.data->>'amount')::numeric)
$$;
SELECT es.create_projection('copy', 'copy_event(es.events)', tables => ARRAY['copied']::regclass[]);
SQL
}

script_a() {
    echo "SELECT es.rebuild_projection('copy');"
}

script_b() {
    cat <<'SQL'
BEGIN;
TRUNCATE copied_raw;
INSERT INTO copied_raw SELECT stream_id, (data->>'amount')::numeric FROM es.events ORDER BY global_position;
COMMIT;
SQL
}

# Reading 100,000 events that each need one declarative upcasting step,
# against reading 100,000 events of a type without upcasters.
title="Reading 100,000 events: one declarative upcasting step vs none"
describe="Two streams of 100,000 events each with the same data. \`acct-1\`'s events are
\`Deposited\` at schema version 1, upcast by one declarative step (rename \`note\` to \`memo\`);
\`acct-2\`'s are \`Paid\`, a type without upcasters. A: \`SELECT count(*), sum(length(data::text))
FROM es.read_stream('acct-1')\`. B: the same over \`acct-2\`. Events read per second."
label_a="read_stream, one upcasting step"
label_b="read_stream, no step"
conflicts=no
unit=events
per_tx=100000
clients="1"
sync="on"

setup_sql() {
    fill_sql es 1 100000
    cat <<'SQL'
INSERT INTO es.events (stream_id, stream_version, event_id, event_type, schema_version, data, occurred_at)
SELECT 'acct-2', stream_version, es.uuid_v7(), 'Paid', 1, data, occurred_at
FROM es.events WHERE stream_id = 'acct-1' ORDER BY stream_version;
INSERT INTO es.streams (stream_id, category, version, created_at, updated_at)
VALUES ('acct-2', 'acct', 100000, now(), now());
SELECT es.create_upcaster('Deposited', 1, rules => '[{"op": "move", "from": "$.data.note", "target": "$.memo"}]');
SQL
}

script_a() {
    echo "SELECT count(*), sum(length(data::text)) FROM es.read_stream('acct-1');"
}

script_b() {
    echo "SELECT count(*), sum(length(data::text)) FROM es.read_stream('acct-2');"
}

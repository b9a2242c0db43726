# Reading 100,000 events that each need one function upcasting step (run
# as the role that created it, with its captured settings), against reading
# 100,000 events of a type without upcasters.
title="Reading 100,000 events: one function upcasting step vs none"
describe="Two streams of 100,000 events each with the same data. \`acct-1\`'s events are
\`Deposited\` at schema version 1, upcast by one step that calls a SQL function (rename \`note\` to
\`memo\`), which runs as the role that created the step with the settings captured then (the
reader's settings differ from them by \`pg_temp\` only, as with default settings); \`acct-2\`'s are
\`Paid\`, a type without upcasters. A: \`SELECT count(*), sum(length(data::text))
FROM es.read_stream('acct-1')\`. B: the same over \`acct-2\`. Events read per second."
label_a="read_stream, one function step"
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
CREATE FUNCTION public.note_to_memo(data jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE
    AS $$ SELECT data - 'note' || jsonb_build_object('memo', data->'note') $$;
SELECT es.create_upcaster('Deposited', 1, fn => 'public.note_to_memo(jsonb)');
SQL
}

script_a() {
    echo "SELECT count(*), sum(length(data::text)) FROM es.read_stream('acct-1');"
}

script_b() {
    echo "SELECT count(*), sum(length(data::text)) FROM es.read_stream('acct-2');"
}

# One conditional append per transaction: es.append_if with a one-item
# query against es.append with an expected version, each reading what it
# decides on in the same statement.
title="es.append_if (one-item query) vs es.append (expected version)"
describe="10,000 streams with one event each, tagged with the stream's own tag,
to start with. Each transaction picks a random stream and appends one
event, in one statement on both sides. A: \`es.append_if(q, (SELECT
max(global_position) FROM es.read_events(q)), s, NULL, es.event(...,
tags))\` with q the one-item query of the stream's tag: a consistency
boundary. B: \`es.append(s, es.stream_version(s), es.event(...))\`: the
stream as the boundary. Both write to es.events (B's written count reads
the baseline's empty sequence)."
unit=tps
per_tx=1
clients="1 4"
sync="on off"

setup_sql() {
    echo "SELECT es.append('acct-' || i, 0, es.event('Opened', '{}', tags => ARRAY['acct:' || i])) FROM generate_series(1, 10000) i;"
}

script_a() {
    cat <<SQL
\\set n random(1, 10000)
SELECT es.append_if(q, (SELECT coalesce(max(global_position), 0) FROM es.read_events(q)),
                    'acct-' || :n, NULL,
                    es.event('Deposited', '$PAYLOAD', tags => ARRAY['acct:' || :n]))
FROM (SELECT jsonb_build_array(jsonb_build_object('tags', jsonb_build_array('acct:' || :n))) AS q) x;
SQL
}

script_b() {
    echo '\set n random(1, 10000)'
    append_one_sql "'acct-' || :n" "es.stream_version('acct-' || :n)"
}

# Folding a 100,000-event stream with a PL/pgSQL reducer function, against a
# hand-written PL/pgSQL loop over the same rows doing the same arithmetic.
title="Fold of a 100,000-event stream: PL/pgSQL reducer vs hand-written PL/pgSQL loop"
describe="One stream of 100,000 events. A: \`es.fold('acct-1', 'sum_pl')\`, whose reducer is a PL/pgSQL
function \`(state jsonb, event es.events) RETURNS jsonb\` adding \`data->>'amount'\` to \`state->'balance'\`,
called once per event. B: one PL/pgSQL function that loops over the same rows
(\`FOR e IN SELECT * FROM es.events WHERE stream_id = ... ORDER BY stream_version\`) and does the same
arithmetic on a jsonb state. Figures are events folded per second."
label_a="es.fold, PL/pgSQL reducer"
label_b="PL/pgSQL loop"
conflicts=no
unit=events
per_tx=100000
clients="1"
sync="on"

setup_sql() {
    fill_sql es 1 100000
    sum_pl_sql
    cat <<'SQL'
CREATE FUNCTION loop_pl(sid text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    state jsonb := '{"balance": 0}';
    e es.events;
BEGIN
    FOR e IN SELECT * FROM es.events WHERE stream_id = sid ORDER BY stream_version LOOP
        state := jsonb_build_object('balance', (state->>'balance')::numeric + (e.data->>'amount')::numeric);
    END LOOP;
    RETURN state;
END $$;
SQL
}

script_a() {
    echo "SELECT es.fold('acct-1', 'sum_pl');"
}

script_b() {
    echo "SELECT loop_pl('acct-1');"
}

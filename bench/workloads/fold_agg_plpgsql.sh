# es.fold_agg over a 100,000-event stream with a PL/pgSQL reducer function:
# the aggregate returns to the executor after every event, so it switches to
# the reducer's registrant (and its captured settings) around every call.
title="es.fold_agg of a 100,000-event stream: PL/pgSQL reducer vs hand-written PL/pgSQL loop"
describe="One stream of 100,000 events. A: \`SELECT es.fold_agg(e, 'sum_pl' ORDER BY stream_version) FROM
es.events e WHERE stream_id = 'acct-1'\`, the reducer of \`fold_plpgsql\`, with one identity switch per
event. B: the hand-written PL/pgSQL loop of \`fold_plpgsql\`. Figures are events folded per second."
label_a="es.fold_agg, PL/pgSQL reducer"
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
    echo "SELECT es.fold_agg(e, 'sum_pl' ORDER BY stream_version) FROM es.events e WHERE stream_id = 'acct-1';"
}

script_b() {
    echo "SELECT loop_pl('acct-1');"
}

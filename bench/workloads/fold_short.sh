# Folding a short stream with a PL/pgSQL reducer function: what a fold costs
# besides its events (looking the reducer up, the identity switch, reading
# snapshots), against a hand-written PL/pgSQL loop over the same rows.
title="Fold of a 10-event stream: PL/pgSQL reducer vs hand-written PL/pgSQL loop"
describe="One stream of 10 events. A: \`es.fold('acct-1', 'sum_pl')\`, whose reducer is a PL/pgSQL
function \`(state jsonb, event es.events) RETURNS jsonb\` (the one of \`fold_plpgsql\`), run as its
registrant with its captured settings. B: one PL/pgSQL function looping over the same rows doing the
same arithmetic. Transactions per second: with 10 events, a fold's fixed cost dominates."
label_a="es.fold, PL/pgSQL reducer"
label_b="PL/pgSQL loop"
conflicts=no
unit=tps
per_tx=1
clients="1"
sync="on"

setup_sql() {
    fill_sql es 1 10
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

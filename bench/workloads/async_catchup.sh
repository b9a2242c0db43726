# Catch-up of an asynchronous projection over a backlog of 1,000,000 events,
# against plain SQL calling the same handler over the same rows in order.
title="Async projection catch-up over 1,000,000 events vs plain SQL calling the handler"
describe="1,000,000 events in 1,000 streams; an async projection with a trivial PL/pgSQL handler
(\`BEGIN NULL; END\`), never run before. A: in a transaction that is rolled back (so every run
starts from the same position), \`es.run_projections(1000000)\`: the gap-safe read, upcasting, a
subtransaction, one handler call per event and the position update. B: the same handler called
by plain SQL over \`es.events ORDER BY global_position\`. Events applied per second."
label_a="es.run_projections"
label_b="SQL calling the handler"
conflicts=no
unit=events
per_tx=1000000
clients="1"
sync="on"

setup_sql() {
    fill_sql es 1000 1000000
    cat <<'SQL'
CREATE FUNCTION noop(e es.events) RETURNS void LANGUAGE plpgsql AS 'BEGIN NULL; END';
SELECT es.create_projection('catchup', 'noop(es.events)', async => true);
SQL
}

script_a() {
    cat <<'SQL'
BEGIN;
SELECT es.run_projections(1000000);
ROLLBACK;
SQL
}

script_b() {
    echo "SELECT count(noop(e)) FROM (SELECT e FROM es.events e ORDER BY global_position LIMIT 1000000) s;"
}

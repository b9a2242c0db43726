# Polling a backlog of 1,000,000 events through a subscription, against a
# raw ordered scan of the same rows.
title="Polling a backlog of 1,000,000 events vs a raw ordered scan"
describe="1,000,000 events in 1,000 streams, one subscription at the start of the log. A: in one
transaction that is rolled back (so every run starts from the same checkpoint),
\`SELECT count(*), sum(length(data::text)) FROM es.poll('all', 1000000)\`: the gap-safe read,
upcasting and the checkpoint update. B: the same aggregate over
\`SELECT * FROM es.events ORDER BY global_position LIMIT 1000000\`. Events per second."
label_a="es.poll"
label_b="ordered scan"
conflicts=no
unit=events
per_tx=1000000
clients="1"
sync="on"

setup_sql() {
    fill_sql es 1000 1000000
    echo "SELECT es.create_subscription('all');"
}

script_a() {
    cat <<'SQL'
BEGIN;
SELECT count(*), sum(length(data::text)) FROM es.poll('all', 1000000);
ROLLBACK;
SQL
}

script_b() {
    cat <<'SQL'
SELECT count(*), sum(length(data::text))
FROM (SELECT * FROM es.events ORDER BY global_position LIMIT 1000000) e;
SQL
}

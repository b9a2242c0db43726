# What the stream lifecycle costs a read of a stream with no hidden events:
# es.read_stream and es.fold now look at the stream's row (hidden_through,
# tombstoned) and at its category's retention policy (a per-backend cache)
# before reading.  Measured against a plain-SQL read of the same rows; run
# it on a build before the lifecycle (the same workload file works there)
# and compare the ratios.
title="Reading and folding a 10-event stream with nothing hidden: es.read_stream + es.fold vs plain SQL"
describe="One stream of 10 events (\`acct-1\`), nothing hidden; a retention policy exists for another
category (\`other\`), so the policy cache is not empty. A: \`SELECT count(*) FROM es.read_stream('acct-1')\`
then \`SELECT es.fold('acct-1', 'sum_rules')\` (rules reducer, no snapshots). B: the same two reads in
plain SQL over es.events (\`count(*)\`, and \`sum\` of the amounts in version order). Transactions per
second: with 10 events the fixed cost of a read shows; compare A/B with a build before the lifecycle."
label_a="es.read_stream + es.fold"
label_b="plain SQL"
conflicts=no
unit=tps
per_tx=1
clients="1"
sync="on"

setup_sql() {
    fill_sql es 1 10
    sum_rules_sql
    cat <<'SQL'
INSERT INTO es.retention_registry (category, max_count, owner) VALUES ('other', 5, current_user::regrole);
SQL
}

script_a() {
    echo "SELECT count(*) FROM es.read_stream('acct-1');"
    echo "SELECT es.fold('acct-1', 'sum_rules');"
}

script_b() {
    echo "SELECT count(*) FROM es.events WHERE stream_id = 'acct-1';"
    echo "SELECT sum((data->>'amount')::numeric ORDER BY stream_version) FROM es.events WHERE stream_id = 'acct-1';"
}

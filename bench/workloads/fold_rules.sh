# Folding a 100,000-event stream with a declarative (rules) reducer, against
# plain SQL summing the same field of the same rows.
title="Fold of a 100,000-event stream: rules reducer vs SQL sum"
describe="One stream, \`acct-1\`, of 100,000 \`Deposited\` events. A: \`es.fold('acct-1', 'sum_rules')\`,
a rules reducer that adds \`\$.data.amount\` to \`balance\` (numeric), no snapshots. B: the same sum in
plain SQL, \`SELECT sum((data->>'amount')::numeric) FROM es.events WHERE stream_id = 'acct-1'\`.
Figures are events folded per second."
label_a="es.fold, rules"
label_b="SQL sum"
conflicts=no
unit=events
per_tx=100000
clients="1"
sync="on"

setup_sql() {
    fill_sql es 1 100000
    sum_rules_sql
}

script_a() {
    echo "SELECT es.fold('acct-1', 'sum_rules');"
}

script_b() {
    echo "SELECT sum((data->>'amount')::numeric) FROM es.events WHERE stream_id = 'acct-1';"
}

# The same fold with the rules reducer (A) and the equivalent PL/pgSQL
# reducer function (B).
title="Fold of a 100,000-event stream: rules reducer vs the equivalent PL/pgSQL reducer"
describe="One stream of 100,000 events. A: \`es.fold\` with the rules reducer of \`fold_rules\`.
B: \`es.fold\` with the PL/pgSQL reducer of \`fold_plpgsql\`, which computes the same state.
Figures are events folded per second; the target is A at least 3 times B."
label_a="es.fold, rules"
label_b="es.fold, PL/pgSQL reducer"
conflicts=no
unit=events
per_tx=100000
clients="1"
sync="on"

setup_sql() {
    fill_sql es 1 100000
    sum_rules_sql
    sum_pl_sql
}

script_a() {
    echo "SELECT es.fold('acct-1', 'sum_rules');"
}

script_b() {
    echo "SELECT es.fold('acct-1', 'sum_pl');"
}

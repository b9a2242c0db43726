# Folding a long stream with snapshots every 100 events, as the stream grows.
title="Fold with snapshots every 100 events, as the stream grows"
describe="One stream, \`acct-1\`, topped up to each length; a rules reducer with \`snapshot_every => 100\`.
The warm-up fold stores the snapshot at the stream's last multiple of 100, which later folds start
from. A: \`es.fold('acct-1', 'snap_rules')\`. B: plain SQL reading the stream's last 100 events
(\`ORDER BY stream_version DESC LIMIT 100\`), what a fold from the snapshot must at most read. Transactions per second; a fold's latency is 1/tps (the target is under 2 ms, flat in length)."
label_a="es.fold from a snapshot"
label_b="SQL sum of the last 100"
conflicts=no
unit=tps
per_tx=1
clients="1"
sync="on"
levels="10000 100000 1000000"
quick_levels="100000"
size_label="stream length (events)"

setup_sql() {
    cat <<'SQL'
SELECT es.create_reducer('snap_rules', '{"balance": 0}', snapshot_every => 100,
    rules => '{"Deposited": [{"op": "add", "target": "$.balance", "from": "$.data.amount"}]}');
SQL
}

grow_sql() {	# $1: events in the stream
    fill_sql es 1 "$1"
    echo "SELECT es.fold('acct-1', 'snap_rules');"
}

script_a() {
    echo "SELECT es.fold('acct-1', 'snap_rules');"
}

script_b() {
    cat <<'SQL'
SELECT sum((data->>'amount')::numeric)
FROM (SELECT data FROM es.events WHERE stream_id = 'acct-1'
      ORDER BY stream_version DESC LIMIT 100) last_100;
SQL
}

# Reading a whole 1,000-event stream, against a raw SELECT of the same rows.
title="Reading a 1,000-event stream vs a raw SELECT"
describe="100 streams of 1,000 events each (100,000 events). Each transaction reads one random
stream whole, every column of every event sent to the client (pgbench reads and discards them).
A: \`SELECT * FROM es.read_stream(s)\`. B: \`SELECT * FROM es.events WHERE stream_id = s
ORDER BY stream_version\` (the same rows, through the primary key). Events per second."
label_a="es.read_stream"
label_b="raw SELECT"
conflicts=no
unit=events
per_tx=1000
clients="1 4"
sync="on"

setup_sql() {
    fill_sql es 100 100000
}

script_a() {
    echo '\set n random(1, 100)'
    echo "SELECT * FROM es.read_stream('acct-' || :n);"
}

script_b() {
    echo '\set n random(1, 100)'
    echo "SELECT * FROM es.events WHERE stream_id = 'acct-' || :n ORDER BY stream_version;"
}

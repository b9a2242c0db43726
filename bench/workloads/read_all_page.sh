# A page of 1,000 events of the global log, against a raw SELECT of the
# same rows.
title="A 1,000-event page of the log (es.read_all) vs a raw SELECT"
describe="100,000 events in 100 streams. Each transaction reads the 1,000 events after a random
position, every column sent to the client. A: \`SELECT * FROM es.read_all(p, 1000)\` (gap-safe:
computes the horizon, reads below it with a fresh snapshot, upcasts). B: \`SELECT * FROM es.events
WHERE global_position > p ORDER BY global_position LIMIT 1000\` (not gap-safe). Events per second."
label_a="es.read_all"
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
    echo '\set p random(0, 99000)'
    echo "SELECT * FROM es.read_all(:p, 1000);"
}

script_b() {
    echo '\set p random(0, 99000)'
    echo "SELECT * FROM es.events WHERE global_position > :p ORDER BY global_position LIMIT 1000;"
}

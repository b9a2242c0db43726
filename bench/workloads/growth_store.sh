# Append cost as the store grows: the single-event append of
# append_one_any, measured with the store at each size.
source "$BENCH/workloads/append_one_any.sh"
title="Growth: one event per transaction as the store grows"
describe="The workload of \"no expected version\" above (random one of
10,000 streams), measured with both stores topped up to each size first
(events spread evenly over the 10,000 streams, written directly with one
INSERT ... SELECT, the same statement for both sides). 1 client,
synchronous_commit off, so that CPU cost, not the WAL flush, is measured."
clients="1"
sync="off"
levels="0 100000 1000000"
quick_levels="100000"

grow_sql() {	# $1: events in each store
    for s in es raw; do
        fill_sql "$s" 10000 "$1"
    done
}

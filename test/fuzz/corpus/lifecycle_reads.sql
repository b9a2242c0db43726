-- Issue 17, read side: stream reads, folds and the log under every kind of
-- hiding with absurd values (a retention max_age near the interval's
-- limits, max_count at the bigint limit, a tombstoned version-0 row,
-- "$" streams and "$" filters).
-- lifecycle-merge: the UPDATEs / INSERTs stand for es.delete_stream,
-- es.tombstone_stream and es.create_retention (then role fuzz).
-- role: superuser
SELECT es.create_reducer('lc', snapshot_every => 1, rules => '{"*": [{"op": "count", "target": "$.n"}]}');
SELECT es.append('lc-1', 0, es.event('E', '{}'), es.event('E', '{}'), es.event('E', '{}'));
SELECT es.append('$lc-1', NULL, es.event('$deleted', '{"stream_id": "lc-1"}'));
SELECT es.fold('lc-1', 'lc');
UPDATE es.streams SET hidden_through = version WHERE stream_id = 'lc-1';
SELECT es.fold('lc-1', 'lc', 'infinity', 9223372036854775807), es.snapshot('lc-1', 'lc');
SELECT * FROM es.read_stream('lc-1', 9223372036854775807, 9223372036854775807, true);
UPDATE es.streams SET tombstoned = true WHERE stream_id = 'lc-1';
INSERT INTO es.streams (stream_id, category, version, created_at, updated_at, tombstoned)
VALUES ('lc-0', 'lc', 0, now(), now(), true);
SELECT es.fold('lc-0', 'lc', '-infinity', 0), count(*) FROM es.read_stream('lc-0', 0, 0, true);
INSERT INTO es.retention_registry (category, max_age, max_count, owner)
VALUES ('lc', interval '178000000 years', 9223372036854775807, current_user::regrole);
SELECT es.fold('lc-1', 'lc'), count(*) FROM es.read_stream('lc-1');
UPDATE es.retention_registry SET max_age = interval '1 month -29 days', max_count = 1;
SELECT es.fold('lc-1', 'lc'), count(*) FROM es.read_stream('lc-1', NULL, 1, true);
UPDATE es.retention_registry SET max_age = interval '-178000000 years';
UPDATE es.retention_registry SET max_age = interval '1 microsecond', max_count = NULL;
SELECT es.fold('$lc-1', 'lc'), count(*) FROM es.read_stream('$lc-1');
INSERT INTO es.retention_registry (category, max_count, owner) VALUES ('$lc', 1, current_user::regrole);
SELECT count(*) FROM es.read_stream('$lc-1');
SELECT count(*) FROM es.read_all(0, NULL, '{$deleted,$}', '{lc,$lc,$}');
SELECT * FROM es.log_lag(0, '{$deleted}', '{lc}');
SELECT * FROM es.log_lag(0, NULL, '{$lc}');
SELECT es.create_subscription('lc', '{$deleted}', '{lc}');
SELECT count(*) FROM es.poll('lc');
TRUNCATE es.retention_registry;
SELECT es.fold('lc-1', 'lc');

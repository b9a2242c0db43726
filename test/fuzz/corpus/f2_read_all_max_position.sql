-- Found by the random fuzzer in the UBSan run: es.read_all after the largest
-- position computed after + 1 (signed overflow in src/log.c); the log has
-- nothing after it.
-- role: fuzz
SELECT es.append('f2-1', NULL, es.event('E', '{}'));
SELECT count(*) FROM es.read_all(9223372036854775807);
SELECT count(*) FROM es.read_all(9223372036854775807, 9223372036854775807, (SELECT array_agg(i::text) FROM generate_series(1, 1000) i), NULL);
SELECT count(*) FROM es.read_all(9223372036854775806);

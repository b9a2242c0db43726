-- Found by the fuzzer (seed 1, case 6): es.next_position (the default of
-- es.events.global_position, executable by whoever is granted it) took any
-- number as a regclass and failed with XX000 "could not open relation with
-- OID 0".
-- role: fuzz
SELECT es.next_position(0);
SELECT es.next_position(4294967295);
SELECT es.next_position('pg_class');
SELECT es.next_position('es.events');

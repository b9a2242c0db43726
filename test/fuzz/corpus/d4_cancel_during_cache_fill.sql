-- Issue 13, defect 4 (a variant): a fold cancelled while it compiles a
-- big reducer into the session's cache; the next fold must not find a
-- half-built entry.
-- role: fuzz
CREATE TABLE fz.d4c AS
SELECT ('{"*": [' || string_agg(format('{"op": "set", "target": "$.\"f%s\"", "value": %s}', i, i), ',') || ']}')::jsonb AS r
FROM generate_series(1, 300000) i;
SELECT es.create_reducer('d4c', rules => r) FROM fz.d4c;
SELECT es.append('d4c-1', NULL, es.event('E', '{}'));
\c
SET statement_timeout = '50ms';
SELECT es.fold('d4c-1', 'd4c');
SET statement_timeout = '5s';
SELECT length(es.fold('d4c-1', 'd4c')::text);
SELECT length(es.fold('d4c-1', 'd4c')::text);

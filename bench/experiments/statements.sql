-- Does splitting an append into separate statements cost anything?  Plain
-- tables like es.events / es.streams; server-side timing of 30,000 appends
-- in one transaction (no round trip, no commit), in microseconds each:
-- one = read + checked update + insert in one CTE statement; three = the
-- same as three statements; two = a SELECT, then update + insert.
-- Run by bench/experiments/statements.sh.
\timing off
CREATE TABLE streams (stream_id text PRIMARY KEY, category text NOT NULL, version bigint NOT NULL CHECK (version >= 1), created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE SEQUENCE pos;
CREATE TABLE events (global_position bigint NOT NULL DEFAULT nextval('pos'), stream_id text NOT NULL, stream_version bigint NOT NULL CHECK (stream_version >= 1), event_id uuid NOT NULL, event_type text NOT NULL, schema_version int NOT NULL DEFAULT 1, data jsonb NOT NULL, metadata jsonb, occurred_at timestamptz NOT NULL DEFAULT now(), recorded_at timestamptz NOT NULL DEFAULT now(), transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(), PRIMARY KEY (stream_id, stream_version), UNIQUE (event_id));
INSERT INTO streams SELECT 'acct-' || i, 'acct', 1, now(), now() FROM generate_series(1, 10000) i;
INSERT INTO events (stream_id, stream_version, event_id, event_type, data) SELECT 'acct-' || i, 1, gen_random_uuid(), 'Deposited', '{}' FROM generate_series(1, 10000) i;
VACUUM ANALYZE;
-- one statement: read, checked update and insert in a CTE
CREATE FUNCTION one(s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  WITH cur AS (SELECT version FROM streams WHERE stream_id = s),
       v AS (UPDATE streams st SET version = cur.version + 1, updated_at = now() FROM cur
             WHERE st.stream_id = s AND st.version = cur.version RETURNING st.stream_id, st.version)
  INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata, occurred_at)
  SELECT v.stream_id, v.version, gen_random_uuid(), 'Deposited', 1, '{"amount": 42, "currency": "EUR", "note": "benchmark event payload"}', NULL, now() FROM v;
END $$;
-- three statements, as es.stream_version + es.append do: read, checked update, insert
CREATE FUNCTION three(s text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE cur bigint; nv bigint;
BEGIN
  SELECT version INTO cur FROM streams WHERE stream_id = s;
  UPDATE streams st SET version = cur + 1, updated_at = now() WHERE st.stream_id = s AND st.version = cur RETURNING st.version INTO nv;
  INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata, occurred_at)
  VALUES (s, nv, gen_random_uuid(), 'Deposited', 1, '{"amount": 42, "currency": "EUR", "note": "benchmark event payload"}', NULL, now());
END $$;
-- two statements: version known, checked update then insert (es.append alone)
CREATE FUNCTION two(s text, cur bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE nv bigint;
BEGIN
  UPDATE streams st SET version = cur + 1, updated_at = now() WHERE st.stream_id = s AND st.version = cur RETURNING st.version INTO nv;
  INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata, occurred_at)
  VALUES (s, nv, gen_random_uuid(), 'Deposited', 1, '{"amount": 42, "currency": "EUR", "note": "benchmark event payload"}', NULL, now());
END $$;
CREATE FUNCTION timeit(f text, n int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); s text; v bigint;
BEGIN
  FOR i IN 1..n LOOP
    s := 'acct-' || (1 + (random() * 9999)::int);
    IF f = 'one' THEN PERFORM one(s);
    ELSIF f = 'three' THEN PERFORM three(s);
    ELSE SELECT version INTO v FROM streams WHERE stream_id = s; PERFORM two(s, v);
    END IF;
  END LOOP;
  RETURN round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / n, 2);
END $$;

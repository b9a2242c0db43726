#!/usr/bin/env bash
# The pg_cron recipe (docs/operations.md): without preloading
# event_sourcing, pg_cron runs es.run_projections() every minute and keeps
# an async projection current; the handler runs as the projection's
# registrant, not as the job's user.  Needs the postgresql-15-cron package
# (.ci/run installs it): without it the test says SKIP and passes.
set -eu
source "$(dirname "$0")/../lib.sh"

if [ -n "${ES_PG_BUILD:-}" ]; then
    libdir=$("$(es_pg_config)" --pkglibdir)
    sharedir=$("$(es_pg_config)" --sharedir)
else
    libdir=${ES_PG_ROOT:-}/usr/lib/postgresql/$PG_MAJOR/lib
    sharedir=${ES_PG_ROOT:-}/usr/share/postgresql/$PG_MAJOR
fi
system_lib=/usr/lib/postgresql/$PG_MAJOR/lib
system_share=/usr/share/postgresql/$PG_MAJOR
if [ ! -f "$libdir/pg_cron.so" ]; then
    if [ ! -f "$system_lib/pg_cron.so" ]; then
        echo "SKIP: pg_cron is not installed (Debian package postgresql-$PG_MAJOR-cron)"
        exit 0
    fi
    # a private copy of PostgreSQL (ES_PG_ROOT) made before the package
    # was installed: add pg_cron to it
    as_root cp "$system_lib/pg_cron.so" "$libdir/"
    as_root cp "$system_share"/extension/pg_cron* "$sharedir/extension/"
fi

es_scratch dir cron
es_cluster_start "$dir" "shared_preload_libraries = 'pg_cron'" \
    "cron.database_name = 'ctest'" "cron.use_background_workers = on" \
    "max_worker_processes = 16"
es_psql -d postgres -c "CREATE ROLE alice LOGIN"
es_store ctest
es_psql -d ctest <<'SQL'
CREATE EXTENSION pg_cron;
GRANT CREATE ON SCHEMA public TO alice;
GRANT EXECUTE ON FUNCTION es.create_projection(text, regprocedure, text[], boolean, regclass[]) TO alice;
SQL
es_pg psql -X -q -v ON_ERROR_STOP=1 -U alice -d ctest >/dev/null <<'SQL'
CREATE TABLE model (global_position bigint PRIMARY KEY, who text);
CREATE FUNCTION on_tick(e es.events) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO model VALUES (e.global_position, current_user) $$;
SELECT es.create_projection('cron_fed', 'on_tick(es.events)', async => true, tables => '{model}');
SELECT es.append('c-' || i, NULL, es.event('Tick', '{}')) FROM generate_series(1, 20) i;
SQL
# the recipe: one job, every minute (pg_cron's finest schedule before 1.5)
es_psql -d ctest -At -c "SELECT cron.schedule('es-run-projections', '* * * * *', 'SELECT es.run_projections()')" >/dev/null

for _ in $(seq 1 150); do
    [ "$(es_psql -d ctest -At -c "SELECT count(*) FROM model")" = 20 ] && break
    sleep 1
done
got=$(es_psql -d ctest -At <<'SQL'
SELECT count(*), count(DISTINCT who), min(who) FROM model;
SELECT name, position, events_behind, worker_state FROM es.consumers;
SELECT status, return_message FROM cron.job_run_details ORDER BY runid LIMIT 1;
SQL
)
echo "$got"
[ "$got" = "20|1|alice
cron_fed|20|0|no worker
succeeded|SELECT 1" ] || { echo "unexpected"; tail -20 "$dir/server.log"; exit 1; }

/*
 * event_sourcing: the upgrade from 0.1 to 0.2.
 *
 * The open upgrade script: every change to the schema after 0.1 is
 * appended here, in the order it is made, as well as made in
 * event_sourcing.sql (CONTRIBUTING.md, "The upgrade discipline").
 * test/t/upgrade.sh checks that a store created at 0.1 and updated
 * equals a fresh install of 0.2.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION event_sourcing UPDATE TO '0.2'" to load this file. \quit

-- One rule language (issue 16): rename_type takes the new event type as
-- "value", which es.upcaster_chains reads.
CREATE OR REPLACE VIEW es.upcaster_chains AS
SELECT u.event_type,
       pg_catalog.min(u.from_version) AS first_version,
       pg_catalog.max(u.from_version) OPERATOR(pg_catalog.+) 1 AS latest_version,
       pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'from_version', u.from_version,
           'to_version', u.from_version OPERATOR(pg_catalog.+) 1,
           'to_type', COALESCE(
               (SELECT r OPERATOR(pg_catalog.->>) 'value'
                FROM pg_catalog.jsonb_array_elements(u.rules) AS r
                WHERE r OPERATOR(pg_catalog.->>) 'op' OPERATOR(pg_catalog.=) 'rename_type'),
               u.event_type),
           'rules', u.rules,
           'function', u.fn OPERATOR(pg_catalog.||) '(jsonb)')
         ORDER BY u.from_version) AS steps
FROM es.upcasters_registry u
GROUP BY u.event_type;

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

/*
 * event_sourcing.h
 *	  What every module of the extension shares: the supported PostgreSQL
 *	  versions, limits on caller input, and the names clients rely on.
 */
#ifndef EVENT_SOURCING_H
#define EVENT_SOURCING_H

#if PG_VERSION_NUM < 150000
#error "event_sourcing requires PostgreSQL 15 or later"
#endif

/* Name of the constraint reported with a version conflict (SQLSTATE 40001). */
#define ES_EXPECTED_VERSION_CONSTRAINT "es_expected_version"

/*
 * Longest stream id accepted, in bytes.  The primary key of es.events is a
 * btree on (stream_id, stream_version); a btree entry must fit in a third of
 * a page, so ids far longer than this would fail deep inside the index code.
 */
#define ES_MAX_STREAM_ID_BYTES 1024

/* Longest event type accepted, in bytes (event types are matched often). */
#define ES_MAX_EVENT_TYPE_BYTES 1024

#endif							/* EVENT_SOURCING_H */

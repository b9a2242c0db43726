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

/* Most tags one event may carry, and the longest tag, in bytes. */
#define ES_MAX_TAGS 32
#define ES_MAX_TAG_BYTES 256

/* Columns of es.events, in table order (0-based), and their number. */
typedef enum EsEventColumn
{
	ES_COL_GLOBAL_POSITION = 0,
	ES_COL_STREAM_ID,
	ES_COL_STREAM_VERSION,
	ES_COL_EVENT_ID,
	ES_COL_EVENT_TYPE,
	ES_COL_SCHEMA_VERSION,
	ES_COL_DATA,
	ES_COL_METADATA,
	ES_COL_OCCURRED_AT,
	ES_COL_RECORDED_AT,
	ES_COL_TRANSACTION_ID,
	ES_COL_TAGS,
	ES_EVENT_NATTS
} EsEventColumn;

/* The same columns as a select list over es.events aliased "e". */
#define ES_EVENT_COLUMNS \
	"e.global_position, e.stream_id, e.stream_version, e.event_id," \
	" e.event_type, e.schema_version, e.data, e.metadata, e.occurred_at," \
	" e.recorded_at, e.transaction_id, e.tags"

#endif							/* EVENT_SOURCING_H */

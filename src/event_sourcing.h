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
	ES_COL_TAGS,				/* 0.2 */
	ES_EVENT_NATTS
} EsEventColumn;

/*
 * The library serves the declarations of every released script until the
 * update (CONTRIBUTING.md): es.events of 0.1 has no tags column.  Rows of
 * that shape are read into arrays of ES_EVENT_NATTS with tags null.
 */
#define ES_EVENT_NATTS_0_1 ES_COL_TAGS

/* Is natts the number of columns of es.events at some version? */
#define ES_EVENT_NATTS_OK(natts) \
	((natts) == ES_EVENT_NATTS || (natts) == ES_EVENT_NATTS_0_1)

/* Fill the columns a row of an older es.events lacks (natts given) with NULL. */
#define ES_EVENT_ROW_PAD(natts, values, nulls) \
	do { \
		for (int es_pad_i_ = (natts); es_pad_i_ < ES_EVENT_NATTS; es_pad_i_++) \
		{ \
			(values)[es_pad_i_] = (Datum) 0; \
			(nulls)[es_pad_i_] = true; \
		} \
	} while (0)

/*
 * The same columns as a select list over es.events aliased "e": all of
 * them, in table order, whichever version's table it is.
 */
#define ES_EVENT_COLUMNS "e.*"

#endif							/* EVENT_SOURCING_H */

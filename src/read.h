/*
 * read.h
 *	  Reading streams: es.stream_version and es.read_stream, and the version
 *	  look-up that the append path shares.
 */
#ifndef ES_READ_H
#define ES_READ_H

#include "executor/spi.h"
#include "utils/tuplestore.h"

/*
 * Current version of a stream (0 when it has no events).  Must run inside
 * an SPI connection, as the extension's owner.  fresh_snapshot: read with a
 * new snapshot (in READ COMMITTED) rather than the calling statement's.
 */
extern int64 es_stream_version_spi(Datum stream_id, bool fresh_snapshot);

/*
 * Rows of an open SPI cursor over ES_EVENT_COLUMNS, fetched in batches and
 * handed out one at a time, deformed but not upcast (callers that must name
 * the event in an upcasting error look at it first).  A row's values point
 * into the current batch and stay valid until the next call; the batch
 * pointer is kept here, so SPI calls made by user code between rows do no
 * harm.  Close with es_event_cursor_close.
 */
typedef struct EsEventCursor
{
	Portal		portal;
	long		batch_size;
	SPITupleTable *batch;
	uint64		n;
	uint64		next;
} EsEventCursor;

extern void es_event_cursor_open(EsEventCursor *c, Portal portal, long batch_size);
extern bool es_event_cursor_next(EsEventCursor *c, Datum *values, bool *nulls);
extern void es_event_cursor_close(EsEventCursor *c);

/*
 * Drain a cursor over ES_EVENT_COLUMNS into a tuplestore of es.events rows,
 * upcasting each row; closes the cursor.  Inside SPI, as the owner.
 */
extern void es_read_into(Portal portal, Tuplestorestate *store, TupleDesc desc);

/*
 * A direct, ordered scan of one stream's events through the primary key of
 * es.events, without SPI: versions in (after, upto], forward or backward,
 * under the active snapshot.  es_stream_scan_next returns each row's values
 * (EsEventColumn order) in arrays valid until the next call.  The caller
 * acts as the extension's owner.
 */
typedef struct EsStreamScan EsStreamScan;

extern EsStreamScan *es_stream_scan_begin(text *stream_id, int64 after, int64 upto,
										  bool backward);
extern bool es_stream_scan_next(EsStreamScan *scan, Datum **values, bool **nulls);
extern void es_stream_scan_end(EsStreamScan *scan);

#endif							/* ES_READ_H */

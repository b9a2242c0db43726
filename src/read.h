/*
 * read.h
 *	  Reading events: direct ordered scans of a stream (folds), and batched
 *	  cursors over es.events (read_stream, the log, projections).
 */
#ifndef ES_READ_H
#define ES_READ_H

#include "executor/spi.h"
#include "utils/tuplestore.h"

/*
 * Rows of an open SPI cursor over ES_EVENT_COLUMNS, fetched in batches and
 * handed out one at a time, deformed but not upcast (callers that must name
 * the event in an upcasting error look at it first).  A row's values point
 * into the current batch and stay valid until the next call; the batch
 * pointer is kept here, so SPI calls made by user code between rows do no
 * harm.  User code cannot close the portal (it is pinned while the cursor
 * is open: CLOSE ALL fails instead), and a FETCH or MOVE it runs on the
 * portal is an error at the next fetch.  Close with es_event_cursor_close.
 */
typedef struct EsEventCursor
{
	Portal		portal;
	long		batch_size;
	SPITupleTable *batch;
	uint64		n;
	uint64		next;
	uint64		fetched;		/* rows fetched so far: the portal's position */
} EsEventCursor;

extern void es_event_cursor_open(EsEventCursor *c, Portal portal, long batch_size);
extern bool es_event_cursor_next(EsEventCursor *c, Datum *values, bool *nulls);
extern void es_event_cursor_close(EsEventCursor *c);

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

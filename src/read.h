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
 * Drain a cursor over ES_EVENT_COLUMNS into a tuplestore of es.events rows,
 * upcasting each row; closes the cursor.  Inside SPI, as the owner.
 */
extern void es_read_into(Portal portal, Tuplestorestate *store, TupleDesc desc);

#endif							/* ES_READ_H */

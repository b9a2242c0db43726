/*
 * read.h
 *	  Reading streams: es.stream_version and es.read_stream, and the version
 *	  look-up that the append path shares.
 */
#ifndef ES_READ_H
#define ES_READ_H

/*
 * Current version of a stream (0 when it has no events).  Must run inside
 * an SPI connection, as the extension's owner.  fresh_snapshot: read with a
 * new snapshot (in READ COMMITTED) rather than the calling statement's.
 */
extern int64 es_stream_version_spi(Datum stream_id, bool fresh_snapshot);

#endif							/* ES_READ_H */

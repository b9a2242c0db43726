/*
 * lifecycle.h
 *	  The stream lifecycle, write side: es.delete_stream,
 *	  es.tombstone_stream, es.truncate_stream, retention policies
 *	  (es.create_retention / es.drop_retention), the lifecycle events in
 *	  the `$` companion streams, and es.purge, the one door through the
 *	  immutability trigger of es.events.
 *
 * What other modules call in:
 *	 es.append checks every batch with es_lifecycle_check_append (reserved
 *	 `$` names) and, when its version check fails, calls
 *	 es_lifecycle_check_tombstoned first, so that an append to a tombstoned
 *	 stream fails with 55000 whatever its expected version; the
 *	 immutability trigger asks es_lifecycle_purge_door whether the DELETE
 *	 it fires for is es.purge's own.
 */
#ifndef ES_LIFECYCLE_H
#define ES_LIFECYCLE_H

#include "event.h"

/* Name of the constraint reported when a tombstoned stream is written (55000). */
#define ES_STREAM_TOMBSTONED_CONSTRAINT "es_stream_tombstoned"

/*
 * Refuse (42939) a batch for es.append whose stream id or an event type
 * begins with `$`, unless it is the lifecycle event this module is writing.
 */
extern void es_lifecycle_check_append(text *stream_id, EsNewEvent *events, int n);

/*
 * Raise 55000 if the stream is tombstoned.  Inside SPI, as the owner, with
 * the stream's row locked (or after a version check that found no row to
 * change).
 */
extern void es_lifecycle_check_tombstoned(text *stream_id);

/*
 * Is this DELETE of relation relid es.purge's own?  True at most once per
 * opening: the door closes as it is passed.
 */
extern bool es_lifecycle_purge_door(Oid relid);

#endif							/* ES_LIFECYCLE_H */

/*
 * event_insert.h
 *	  Writing es.append's checked events into es.events without SPI.
 */
#ifndef ES_EVENT_INSERT_H
#define ES_EVENT_INSERT_H

#include "event.h"

/* Register the invalidation callback; called from _PG_init. */
extern void es_event_insert_init(void);

/*
 * Insert the batch as versions first .. first + n - 1 of the stream, as
 * the extension's owner, with the table's defaults, constraints, indexes
 * and row triggers, as an INSERT statement would.
 */
extern void es_insert_events(text *stream_id, int64 first, EsNewEvent *events, int n);

#endif							/* ES_EVENT_INSERT_H */

/*
 * log.h
 *	  The global log: gap-safe reads in position order (es.read_all),
 *	  durable subscriptions (es.poll) and wake-ups.
 *
 * The SQL-callable functions live in log.c; the rest of the extension only
 * sets up the module's settings.
 */
#ifndef ES_LOG_H
#define ES_LOG_H

#include "utils/portal.h"

/*
 * Advisory lock keys of the log, in the objsubid field of pg_locks (the
 * field that tells pg_advisory_lock(bigint) keys, 1, from
 * pg_advisory_lock(int, int) keys, 2): no SQL-level advisory lock can take
 * or collide with them.  database is the current database; a position lock
 * has the position's high and low 32 bits in classid and objid, the barrier
 * has classid = objid = 0.
 */
#define ES_LOG_LOCK_POSITION	0x4553	/* 17747: first position of an appending transaction */
#define ES_LOG_LOCK_BARRIER		0x4554	/* 17748: allocation barrier */

/* Name of the notification channel (event_sourcing.notify = on). */
#define ES_LOG_CHANNEL "es_events"

/* Define the module's settings; called from _PG_init. */
extern void es_log_init(void);

/*
 * The log's horizon: every event below it is committed or will never
 * exist.  Read the rows below it with a snapshot taken afterwards.  Must
 * be called inside SPI, as the extension's owner.
 */
extern int64 es_log_horizon_internal(void);

/*
 * A cursor over the events with after < position < bound (bound: a horizon
 * computed just before), in position order, whose stored type is in types
 * or may be upcast to another (check the upcast type) and whose category is
 * in categories; NULL arrays do not filter.  Inside SPI, as the owner.
 */
extern Portal es_log_open(int64 after, int64 bound, Datum types, Datum categories);

#endif							/* ES_LOG_H */

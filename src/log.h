/*
 * log.h
 *	  The global log's read path: positions that make appenders in flight
 *	  visible (es.next_position), the horizon below which the log is
 *	  complete, and the gap-safe filtered read in position order that
 *	  es.read_all, subscriptions (subscription.c) and async projections
 *	  (projection_async.c) share.
 */
#ifndef ES_LOG_H
#define ES_LOG_H

#include "access/tupdesc.h"
#include "utils/portal.h"
#include "utils/tuplestore.h"

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

/*
 * event_sourcing.notify: send NOTIFY es_events from every appending
 * transaction (defined with the other settings in event_sourcing.c).
 */
extern bool es_log_notify;

/* Register the transaction callback; called from _PG_init. */
extern void es_log_init(void);

/*
 * Raise 25006 on a hot standby, which cannot tell where the log is
 * complete: function names the SQL function refused (NULL: any read of the
 * log).  Every read of the horizon calls it.
 */
extern void es_log_refuse_standby(const char *function);

/* The next value the position sequence will hand out.  Inside SPI. */
extern int64 es_log_sequence_next(void);

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

/* What a read keeps: the event types and categories it is filtered by. */
typedef struct EsLogFilter
{
	Datum		types;			/* text[], or 0: every type */
	Datum		categories;		/* text[], or 0: every category */
	int			ntypes;
	text	  **type_list;		/* the types, detoasted, for the C check */
} EsLogFilter;

/* A filter from stored text[] values (0: none). */
extern void es_log_filter_from_arrays(EsLogFilter *f, Datum types, Datum categories);

/*
 * Read the events after position `after` and below `horizon` that pass the
 * filter, upcast, in position order, at most max_count of them (-1: no
 * limit), into the tuplestore.  Returns how many; *through is the position
 * up to which the log has been consumed.  Inside SPI, as the owner.
 */
extern int64 es_log_read(int64 after, int64 horizon, int64 max_count,
						 const EsLogFilter *f, Tuplestorestate *store,
						 TupleDesc desc, int64 *through);

#endif							/* ES_LOG_H */

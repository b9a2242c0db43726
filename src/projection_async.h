/*
 * projection_async.h
 *	  Async projections: es.run_projections catches each async projection
 *	  the caller owns up with the global log, gap-safe, outside the
 *	  appending transactions.
 *
 * es.run_projections and the background worker (worker.c) call
 * es_async_run.  The registry's rows and handler calls are projection.h's,
 * the log's read path log.h's.
 */
#ifndef ES_PROJECTION_ASYNC_H
#define ES_PROJECTION_ASYNC_H

#include "utils/elog.h"

/* What the background worker adds to a run (each member may be NULL). */
typedef struct EsAsyncHooks
{
	/* true: leave this projection out of the run (it is backing off) */
	bool		(*skip) (const char *name, void *arg);
	/* the projection's outcome: events applied, its error (NULL: none) */
	void		(*done) (const char *name, int64 applied, const ErrorData *error,
						 void *arg);
	void	   *arg;
} EsAsyncHooks;

/*
 * Catch every async projection that caller may run up with the log, at
 * most max_count events each, each handler run as its projection's
 * registrant; returns the events applied.  In the caller's transaction.
 */
extern int64 es_async_run(Oid caller, int32 max_count, const EsAsyncHooks *hooks);

#endif							/* ES_PROJECTION_ASYNC_H */

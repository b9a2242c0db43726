/*
 * projection_async.h
 *	  Async projections: es.run_projections catches each async projection
 *	  the caller owns up with the global log, gap-safe, outside the
 *	  appending transactions.
 *
 * Only the SQL-callable es.run_projections lives in projection_async.c;
 * nothing else calls in.  The registry's rows and handler calls are
 * projection.h's, the log's read path log.h's.
 */
#ifndef ES_PROJECTION_ASYNC_H
#define ES_PROJECTION_ASYNC_H

#endif							/* ES_PROJECTION_ASYNC_H */

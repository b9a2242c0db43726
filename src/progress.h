/*
 * progress.h
 *	  Progress of long operations on projections: back-fill (an inline
 *	  projection created over an existing history), rebuild and catch-up
 *	  (es.run_projections, the background worker).
 *
 * With the library in shared_preload_libraries, each backend reports its
 * operation in a slot of shared memory that every session reads through
 * es.progress; without it, the operation sends a NOTICE at most every
 * event_sourcing.progress_notice_interval to its own session.
 *
 * Progress is counted in log positions: an operation walks the positions
 * after `after` up to `last` (cheap to know up front, where counting the
 * events that match would cost a scan of the log), and counts the events
 * its handler was given.
 */
#ifndef ES_PROGRESS_H
#define ES_PROGRESS_H

#include "datatype/timestamp.h"

/* event_sourcing.progress_notice_interval, in ms (event_sourcing.c). */
extern int	es_progress_notice_interval;

/* One operation in progress in this backend. */
typedef struct EsProgress
{
	const char *phase;			/* "back-fill", "rebuild", "catch-up" */
	const char *name;			/* the projection */
	int64		after;			/* positions walked start after this one */
	int64		last;			/* ... and end at this one */
	int64		done;			/* positions walked */
	int64		events;			/* events passed to the handler */
	TimestampTz started_at;
	TimestampTz noticed_at;		/* last NOTICE (no shared memory) */
	uint64		ticket;			/* of the shared slot, 0: none */
} EsProgress;

/* Start reporting an operation that walks the positions after..last. */
extern void es_progress_begin(EsProgress *pr, const char *phase,
							  const char *name, int64 after, int64 last);
/* One event at position was passed to the handler. */
extern void es_progress_event(EsProgress *pr, int64 position);
/* The operation is over (an error ends it at transaction end). */
extern void es_progress_end(EsProgress *pr);

/* Shared memory of the progress slots (the library preloaded). */
extern Size es_progress_shmem_size(void);
extern void es_progress_shmem_init(void);
/* The transaction callbacks; called from _PG_init when preloading. */
extern void es_progress_init(void);

#endif							/* ES_PROGRESS_H */

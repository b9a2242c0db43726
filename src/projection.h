/*
 * projection.h
 *	  Projections: read models maintained by user handlers, called from a
 *	  trigger on es.events inside the appending transaction (inline), and
 *	  rebuilt from the whole history on demand.
 *
 * projection.c holds the SQL-callable functions of inline projections
 * (es.create_projection, es.drop_projection, es.rebuild_projection, the
 * trigger and its WHEN function) and offers what async projections
 * (projection_async.c) share with them: a registry row as a projection,
 * its event-type filter, and handler calls in batches run as the
 * projection's registrant.
 */
#ifndef ES_PROJECTION_H
#define ES_PROJECTION_H

#include "catalog.h"
#include "progress.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "fmgr.h"

/* One projection, as the trigger, the replay and the async runs need it. */
typedef struct EsProjection
{
	MemoryContext cxt;			/* where it lives; its handler is resolved here */
	char	   *name;
	char	   *what;			/* "projection \"name\"", for errors */
	char	   *handler_name;	/* qualified signature, as stored */
	Oid			owner;			/* the registrant: handlers run as it */
	Datum		settings;		/* its captured settings (text[]), or 0 */
	bool		settings_parsed;	/* parsed_settings is filled in */
	EsSettings	parsed_settings;	/* settings taken apart at the first switch */
	int			ntypes;			/* -1: every event type */
	char	  **types;			/* NULL entries match nothing */
	int		   *type_lens;
	int			ntables;
	Oid		   *tables;
	/* the handler, resolved and checked when first called (see projection.c) */
	uint64		resolved_at;	/* invalidation count then; 0: not yet */
	FmgrInfo   *flinfo;
} EsProjection;

/* Register the registry cache's invalidation callbacks; called from _PG_init. */
extern void es_projection_init(void);

/*
 * Fill a projection from registry values (name, handler signature,
 * event_types text[] or types_isnull, tables regclass[], owner, settings
 * text[] or settings_isnull); everything is allocated in the current
 * memory context.  Never raises for what a restore or a manual edit may
 * leave in the registry (NULL array elements, a handler that no longer
 * exists or has another signature): such problems are raised when the
 * projection runs, naming it.
 */
extern void es_fill_projection(EsProjection *p, Datum name, Datum handler,
							   Datum types, bool types_isnull, Datum tables,
							   Oid owner, Datum settings, bool settings_isnull);

/* Does the projection handle this (upcast) event type? */
extern bool es_projection_matches(const EsProjection *p, text *event_type);

/*
 * Events passed to one projection's handler in batches: collected (as the
 * extension's owner, upcast), then handed to the handler under a single
 * switch to the projection's registrant and its captured settings.
 * before_call, if set, is called with each event's values just before its
 * handler call (async runs note where they are); progress, if set, counts
 * each event after its handler call (progress.h).
 */
typedef struct EsHandlerBatch
{
	const EsProjection *projection;
	TupleDesc	desc;			/* of es.events */
	bool		replay;			/* for error context lines */
	MemoryContext cxt;			/* the collected tuples; reset by each flush */
	int			n;
	int			max;
	HeapTuple  *tuples;
	void		(*before_call) (void *arg, const Datum *values);
	void	   *before_call_arg;
	EsProgress *progress;
} EsHandlerBatch;

extern void es_batch_init(EsHandlerBatch *b, const EsProjection *p, TupleDesc desc,
						  int max, bool replay);
/* Add an (upcast) event; true when the batch is full and must be flushed. */
extern bool es_batch_add(EsHandlerBatch *b, const Datum *values, const bool *nulls);
/* Pass the collected events to the handler, as the registrant; empties it. */
extern void es_batch_flush(EsHandlerBatch *b);
extern void es_batch_free(EsHandlerBatch *b);

#endif							/* ES_PROJECTION_H */

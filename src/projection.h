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
 * its event-type filter, and a handler call as the caller.
 */
#ifndef ES_PROJECTION_H
#define ES_PROJECTION_H

#include "fmgr.h"

/* One projection, as the trigger, the replay and the async runs need it. */
typedef struct EsProjection
{
	char	   *name;
	char	   *handler_name;	/* qualified signature, as stored */
	Oid			handler;		/* InvalidOid: the function is gone */
	FmgrInfo	flinfo;			/* valid when handler is */
	int			ntypes;			/* -1: every event type */
	char	  **types;
	int		   *type_lens;
	int			ntables;
	Oid		   *tables;
} EsProjection;

/* Register the registry cache's invalidation callbacks; called from _PG_init. */
extern void es_projection_init(void);

/*
 * Fill a projection from registry values (name, handler signature,
 * event_types text[] or types_isnull, tables regclass[]); everything is
 * allocated in the current memory context.
 */
extern void es_fill_projection(EsProjection *p, Datum name, Datum handler,
							   Datum types, bool types_isnull, Datum tables);

/* Does the projection handle this (upcast) event type? */
extern bool es_projection_matches(const EsProjection *p, text *event_type);

/*
 * Call a projection's handler with one event (values already upcast, in
 * EsEventColumn order; event the same row as a composite datum) as the
 * caller of the current owner switch.  Errors surface unchanged, with a
 * context line naming the projection and the event (replay: "replaying").
 */
extern void es_call_handler(const EsProjection *p, Datum event, const Datum *values,
							bool replay);

#endif							/* ES_PROJECTION_H */

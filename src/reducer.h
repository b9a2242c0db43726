/*
 * reducer.h
 *	  The reducer registry: es.create_reducer / es.drop_reducer, and a
 *	  per-backend cache of what folds need to know about a reducer.
 */
#ifndef ES_REDUCER_H
#define ES_REDUCER_H

#include "fmgr.h"
#include "utils/jsonb.h"

/*
 * A reducer as a fold uses it.  Entries live in a per-backend cache that is
 * replaced when the registry changes; a fold copies what it needs (see
 * fold.c) and never keeps an entry across user code.
 */
typedef struct EsReducer
{
	char	   *name;
	int64		revision;		/* bumped by every create_reducer */
	Jsonb	   *initial_state;
	char	   *apply_name;		/* function reducer: its qualified signature */
	Oid			apply;			/* ... and its OID (InvalidOid: it is gone) */
	struct EsRules *rules;		/* compiled rules, or NULL */
	int32		snapshot_every; /* 0: no snapshots */
	Oid			owner;
} EsReducer;

/* Register the invalidation callback; called from _PG_init. */
extern void es_reducer_init(void);

/*
 * Look a reducer up by name (SPI connected, acting as the owner); an unknown
 * name is an error.  The entry stays valid until the end of the current
 * fold (es_reducer_pin / es_reducer_unpin bracket every fold).
 */
extern EsReducer *es_reducer_lookup(text *name);
extern void es_reducer_pin(void);
extern void es_reducer_unpin(void);

/*
 * What a fold's result depends on besides the events: the reducer's
 * revision, the row version of the function it calls, and the upcasting
 * generation.  Snapshots are valid only under the fingerprint they were
 * taken with.  Returns the function's OID check result via *apply_exists.
 */
extern int64 es_reducer_fingerprint(const EsReducer *reducer);

#endif							/* ES_REDUCER_H */

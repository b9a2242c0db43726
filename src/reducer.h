/*
 * reducer.h
 *	  The reducer registry: es.create_reducer / es.drop_reducer, and a
 *	  per-backend cache of what folds need to know about a reducer.
 */
#ifndef ES_REDUCER_H
#define ES_REDUCER_H

#include "fmgr.h"
#include "utils/jsonb.h"

#include "catalog.h"

/*
 * A reducer as a fold uses it: one complete, immutable cache entry in its
 * own memory context.  A fold acquires it (es_reducer_acquire), which pins
 * it, and releases it at the end; an entry that went stale meanwhile is
 * freed by its last release.
 */
typedef struct EsReducer
{
	char	   *name;
	char	   *what;			/* "reducer \"name\"", for messages */
	int64		revision;		/* new for every create_reducer, never reused */
	Jsonb	   *initial_state;
	char	   *apply_name;		/* function reducer: its qualified signature */
	Oid			apply;			/* ... and its OID (InvalidOid: it is gone) */
	struct EsRules *rules;		/* compiled rules, or NULL */
	int32		snapshot_every; /* 0: no snapshots */
	Oid			owner;			/* the registrant: function reducers run as it */
	EsSettings	settings;		/* ... with the settings captured at creation */
	uint64		definition;		/* hash of the whole registry row */
	/* cache bookkeeping (reducer.c) */
	MemoryContext cxt;
	uint32		fn_hash;		/* syscache hash of apply */
	int			pins;
	bool		published;		/* in the cache (not yet replaced) */
	bool		stale;			/* an invalidation hit it: look it up again */
} EsReducer;

/* Register the invalidation callbacks; called from _PG_init. */
extern void es_reducer_init(void);

/*
 * The latest committed definition of a reducer, pinned (SPI connected,
 * acting as the owner); an unknown name is an error.  Every successful
 * es_reducer_acquire needs one es_reducer_release, errors included.
 */
extern EsReducer *es_reducer_acquire(text *name);
extern void es_reducer_release(EsReducer *reducer);

/*
 * What a fold's result depends on besides the events: the reducer's
 * definition (its registry row: revision, rules or function, initial state,
 * owner and captured settings), the row version of the function it calls,
 * and the upcasting generation.  Snapshots are valid only under the
 * fingerprint they were taken with.  A function reducer's function is
 * checked on the way: it must exist and still take (jsonb, es.events) and
 * return jsonb.
 */
extern int64 es_reducer_fingerprint(const EsReducer *reducer);

#endif							/* ES_REDUCER_H */

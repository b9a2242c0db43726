/*
 * upcast.h
 *	  Upcasting: stored events of an old schema version read as the latest
 *	  version of their type, on every read path.  Stored rows never change.
 */
#ifndef ES_UPCAST_H
#define ES_UPCAST_H

#include "fmgr.h"

/* Register the registry cache's invalidation callbacks; from _PG_init. */
extern void es_upcast_init(void);

/*
 * Upcast one es.events row in place (values / nulls in EsEventColumn
 * order): when an upcaster chain applies to its event type and schema
 * version, event_type, schema_version and data are replaced by the chain's
 * result, allocated in the current memory context.  Returns true when the
 * row changed.  Called as the extension's owner; user functions run as the
 * caller (es_become_caller).
 */
extern bool es_upcast_row(Datum *values, bool *nulls);

/* The schema version new events of this type get when none is given. */
extern int32 es_latest_schema_version(text *event_type);

/*
 * A value that changes whenever upcasting may give other results (the
 * registry is edited, a function it calls is replaced).  Deterministic:
 * every backend computes the same value for the same definitions, so
 * stored snapshots can record the one they were built under.
 */
extern uint64 es_upcast_generation(void);

#endif							/* ES_UPCAST_H */

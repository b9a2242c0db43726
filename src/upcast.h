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
 * row changed.  Function steps run as their registrant, with the settings
 * captured when they were created, whoever calls.
 */
extern bool es_upcast_row(Datum *values, bool *nulls);

/*
 * The event type a row (values / nulls as above) reads as, known without
 * running any upcaster: only a rename_type rule changes a type, a function
 * step never does.  The stored type itself when no step renames it, else a
 * new text in the current memory context; NULL when it cannot be known (a
 * step's stored rules rename ambiguously, or the row has no event type):
 * then upcast the row to find out.  Filters call it before es_upcast_row,
 * so that an event type's upcasters run only where that type is wanted.
 */
extern text *es_upcast_final_type(const Datum *values, const bool *nulls);

/*
 * The stored event types whose events may read as one of types (a text[]):
 * types itself, and every type with upcasters whose chain may end in one
 * of them.  For SQL that filters es.events by stored type.
 */
extern Datum es_upcast_stored_types(Datum types);

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

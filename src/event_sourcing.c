/*
 * event_sourcing.c
 *	  Module entry point of the event_sourcing extension.
 *
 * The SQL-callable functions live in one module per concern:
 *	 event.c		es.event, checking of new events
 *	 uuid7.c		time-ordered event ids
 *	 append.c		es.append
 *	 read.c			es.stream_version, es.read_stream
 *	 reducer.c		the reducer registry and its cache
 *	 rules.c		declarative reducers
 *	 fold.c			es.fold, es.snapshot, es.fold_agg
 *	 immutable.c	the trigger that keeps es.events append-only
 *	 upcast.c		the upcaster registry, its cache, es.upcast
 *	 upcast_rules.c	the declarative upcaster rules
 *	 projection.c	projections: handlers run from a trigger, rebuilds
 *	 log.c			the global log: es.read_all, subscriptions, wake-ups
 *	 catalog.c		owner identity, kept SPI plans, cache invalidation
 */
#include "postgres.h"

#include "fmgr.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "reducer.h"
#include "upcast.h"
#include "projection.h"
#include "log.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Set up the per-backend caches' invalidation. */
void
_PG_init(void)
{
	es_catalog_init();
	es_upcast_init();
	es_reducer_init();
	es_projection_init();
	es_log_init();
}

/*
 * event_sourcing.c
 *	  Module entry point of the event_sourcing extension: _PG_init, and
 *	  every setting (GUC) of the extension, defined here in one place and
 *	  read by the module that uses it through that module's header.
 *
 * The SQL-callable functions live in one module per concern:
 *	 check.c			input checks shared by every entry point
 *	 event.c			es.event, checking of new events
 *	 uuid7.c			time-ordered event ids
 *	 append.c			es.append
 *	 read.c				es.stream_version, es.read_stream, event cursors
 *	 upcast.c			the upcaster registry, its cache, es.upcast
 *	 rule_lang.c		the rule language of reducers and upcasters:
 *						the compiler of a rule, paths, conditions
 *	 upcast_rules.c		upcaster rules applied to event data
 *	 reducer.c			the reducer registry and its cache
 *	 rules.c			reducer rules applied to a working state
 *	 fold.c				es.fold, es.snapshot, es.fold_agg
 *	 projection.c		inline projections: handlers run from a trigger,
 *						create, drop, rebuild
 *	 projection_async.c	es.run_projections: async projections caught up
 *						from the log
 *	 log.c				the log's read path: positions, horizon, es.read_all
 *	 subscription.c		subscriptions: create, drop, es.poll, es.wait
 *	 immutable.c		the trigger that keeps es.events append-only
 *	 catalog.c			owner identity, kept SPI plans, cache invalidation
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "reducer.h"
#include "upcast.h"
#include "projection.h"
#include "log.h"
#include "visibility.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* event_sourcing.notify (log.h) */
bool		es_log_notify = false;

/* Define the settings of the extension. */
static void
define_settings(void)
{
	DefineCustomBoolVariable("event_sourcing.notify",
							 "Sends NOTIFY " ES_LOG_CHANNEL " from every transaction that appends events.",
							 "The payload is the transaction's first global position.  "
							 "NOTIFY serializes committing transactions on a cluster-wide lock.",
							 &es_log_notify,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("event_sourcing");
}

/* Define the settings; set up the per-backend caches' invalidation. */
void
_PG_init(void)
{
	define_settings();
	es_catalog_init();
	es_upcast_init();
	es_reducer_init();
	es_projection_init();
	es_log_init();
	es_visibility_init();
}

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
 *	 lifecycle.c		stream lifecycle: delete, tombstone, truncate,
 *						retention policies, lifecycle events, es.purge
 *	 worker.c			the background worker (preloaded): async projections
 *						caught up by themselves, woken by appenders
 *	 progress.c			progress of back-fills, rebuilds, catch-ups
 *	 immutable.c		the trigger that keeps es.events append-only
 *	 catalog.c			owner identity, kept SPI plans, cache invalidation
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "reducer.h"
#include "upcast.h"
#include "projection.h"
#include "log.h"
#include "visibility.h"
#include "event_insert.h"
#include "progress.h"
#include "worker.h"

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
	/* a PGC_POSTMASTER setting can only be defined while preloading */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomStringVariable("event_sourcing.worker_databases",
								   "Databases whose async projections a background worker keeps current.",
								   "A comma-separated list; one worker per database.  Needs event_sourcing "
								   "in shared_preload_libraries and a restart.",
								   &es_worker_databases,
								   "",
								   PGC_POSTMASTER,
								   0,
								   NULL, NULL, NULL);
	DefineCustomBoolVariable("event_sourcing.worker_enabled",
							 "Lets the background workers run the async projections.",
							 "Off: the workers stay idle until it is turned on again (reload).",
							 &es_worker_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("event_sourcing.worker_naptime",
							"How long a background worker sleeps when no append wakes it.",
							"Also the first back-off after an error; back-offs double up to a minute.",
							&es_worker_naptime,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("event_sourcing.worker_batch_size",
							"Most events a background worker applies to one projection per transaction.",
							NULL,
							&es_worker_batch_size,
							1000, 1, 1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("event_sourcing.worker_delay",
							"Least time between two runs of a background worker that appends woke.",
							"The commits of that time are applied together.  0: a run at every wake-up.",
							&es_worker_delay,
							10, 0, 10000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("event_sourcing.worker_wakeups",
							 "Lets appending transactions wake their database's background worker at commit.",
							 "Off: the worker finds new events every worker_naptime.",
							 &es_worker_wakeups,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("event_sourcing.progress_notice_interval",
							"Least time between progress NOTICEs of a back-fill, rebuild or catch-up.",
							"Only without shared_preload_libraries (with it, es.progress shows progress).  "
							"0 turns the NOTICEs off.",
							&es_progress_notice_interval,
							5000, 0, 3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
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
	es_event_insert_init();
	es_worker_init();
}

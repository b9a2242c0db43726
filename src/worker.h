/*
 * worker.h
 *	  The background worker: with the library in shared_preload_libraries,
 *	  one worker per database named in event_sourcing.worker_databases
 *	  catches the async projections up with the log, woken by the
 *	  transactions that append.
 */
#ifndef ES_WORKER_H
#define ES_WORKER_H

/* The settings (defined with the others in event_sourcing.c). */
extern char *es_worker_databases;
extern bool es_worker_enabled;
extern int	es_worker_naptime;
extern int	es_worker_batch_size;
extern int	es_worker_delay;
extern bool es_worker_wakeups;

/*
 * Register the workers, the shared memory and the wake-up callback when the
 * library is being preloaded; nothing otherwise.  From _PG_init, after the
 * settings are defined.
 */
extern void es_worker_init(void);

/*
 * The committing transaction appended events: wake the database's worker
 * once the commit is visible and the transaction's locks are released
 * (nothing when the library is not preloaded or no worker runs there).
 * Called from the log's commit callback (log.c).
 */
extern void es_worker_appended(void);

/* The entry point of a worker (bgw_function_name). */
extern PGDLLEXPORT void es_worker_main(Datum arg);

#endif							/* ES_WORKER_H */

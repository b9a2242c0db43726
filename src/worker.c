/*
 * worker.c
 *	  The background worker: async projections kept current with no other
 *	  moving part.
 *
 * With event_sourcing in shared_preload_libraries, _PG_init registers one
 * worker per database named in event_sourcing.worker_databases.  Each
 * connects as the bootstrap superuser and, in a loop, runs what
 * es.run_projections runs (es_async_run): every async projection of its
 * database caught up, at most worker_batch_size events per projection and
 * transaction, each handler run as its projection's registrant with the
 * settings captured at its creation (projection.c switches identity per
 * batch), never as the worker's own role.
 *
 * Wake-ups.  A transaction that appended (it took a position lock, see
 * log.c) bumps its database's counter in shared memory and sets the
 * worker's latch once it has committed and released its locks (a resource
 * release callback at RESOURCE_RELEASE_AFTER_LOCKS), so the worker's
 * horizon already includes it: no NOTIFY, no lock, an atomic add and a
 * SetLatch.  Between wake-ups the worker sleeps worker_naptime, which also
 * covers commits that never wake it (COMMIT PREPARED, worker_wakeups off).
 * Runs that wake-ups start are at least worker_delay apart, so that under
 * a stream of commits each run applies many events, not one.
 *
 * Errors.  A failing handler is handled by es_async_run: its batch rolls
 * back to the event before the failing one, the error is recorded in the
 * projection's registry row and the other projections go on; the worker
 * then leaves that projection alone for a back-off that doubles from
 * worker_naptime up to a minute at each further failure.  Any other error
 * aborts the worker's transaction, is recorded in its slot (es.workers) and
 * makes the whole worker back off the same way.  SIGTERM (server shutdown)
 * ends the worker at the next interrupt check, rolling back its
 * transaction; after a crash the postmaster starts it again.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "event_sourcing.h"
#include "progress.h"
#include "projection_async.h"
#include "worker.h"

/* Most databases one cluster runs workers for. */
#define ES_MAX_WORKERS 64
/* Longest back-off after repeated errors, in ms. */
#define ES_MAX_BACKOFF_MS 60000
/* Bytes of the last error kept per worker. */
#define ES_ERROR_BYTES 256

/* The settings (event_sourcing.c defines them). */
char	   *es_worker_databases = NULL;
bool		es_worker_enabled = true;
int			es_worker_naptime = 1000;
int			es_worker_batch_size = 1000;
int			es_worker_delay = 10;
bool		es_worker_wakeups = true;

/* What a worker is doing, as es.workers shows it. */
typedef enum EsWorkerState
{
	WORKER_NOT_RUNNING = 0,
	WORKER_STARTING,
	WORKER_IDLE,
	WORKER_RUNNING,
	WORKER_BACKING_OFF,
	WORKER_DISABLED,
	WORKER_NO_EXTENSION
} EsWorkerState;

static const char *const state_names[] = {
	"not running", "starting", "idle", "running", "backing off", "disabled",
	"no extension"
};

/* One worker's slot in shared memory. */
typedef struct EsWorkerSlot
{
	char		dbname[NAMEDATALEN];	/* fixed at startup */
	Oid			database;		/* set once the worker is connected */
	Latch	   *latch;			/* the worker's, while it runs */
	pg_atomic_uint64 appends;	/* commits that appended and woke it */
	slock_t		mutex;			/* protects what follows */
	int			pid;
	EsWorkerState state;
	TimestampTz started_at;
	TimestampTz last_run_at;
	int64		runs;
	int64		applied;
	int64		errors;
	TimestampTz error_at;
	char		error[ES_ERROR_BYTES];
} EsWorkerSlot;

typedef struct EsWorkerShared
{
	int			nworkers;
	EsWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} EsWorkerShared;

static EsWorkerShared *shared = NULL;

/* The databases parsed in _PG_init (the postmaster's copy). */
static int	ndatabases = 0;
static char databases[ES_MAX_WORKERS][NAMEDATALEN];

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* This transaction appended and committed: wake the worker after its locks. */
static bool wake_pending = false;

/* Bytes of shared memory: the worker slots and the progress slots. */
static Size
worker_shmem_size(void)
{
	return add_size(offsetof(EsWorkerShared, slots) +
					sizeof(EsWorkerSlot) * ndatabases,
					es_progress_shmem_size());
}

static void
worker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(worker_shmem_size());
}

/* Create (the postmaster) or attach to the slots. */
static void
worker_shmem_startup(void)
{
	bool		found;
	int			i;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("event_sourcing workers",
							 offsetof(EsWorkerShared, slots) +
							 sizeof(EsWorkerSlot) * ndatabases, &found);
	if (!found)
	{
		shared->nworkers = ndatabases;
		for (i = 0; i < ndatabases; i++)
		{
			EsWorkerSlot *s = &shared->slots[i];

			memset(s, 0, sizeof(*s));
			strlcpy(s->dbname, databases[i], sizeof(s->dbname));
			pg_atomic_init_u64(&s->appends, 0);
			SpinLockInit(&s->mutex);
		}
	}
	es_progress_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

/* The resource release callback: the wake-up, once the locks are gone. */
static void
worker_release_callback(ResourceReleasePhase phase, bool isCommit,
						bool isTopLevel, void *arg pg_attribute_unused())
{
	int			i;

	if (!wake_pending || phase != RESOURCE_RELEASE_AFTER_LOCKS || !isTopLevel)
		return;
	wake_pending = false;
	if (!isCommit || shared == NULL)
		return;
	for (i = 0; i < shared->nworkers; i++)
	{
		EsWorkerSlot *s = &shared->slots[i];
		Latch	   *latch;

		if (s->database != MyDatabaseId)
			continue;
		pg_atomic_fetch_add_u64(&s->appends, 1);
		latch = s->latch;
		if (latch != NULL)
			SetLatch(latch);
	}
}

/* The committing transaction appended events (log.c's commit callback). */
void
es_worker_appended(void)
{
	if (shared != NULL && shared->nworkers > 0 && es_worker_wakeups)
		wake_pending = true;
}

/* Parse event_sourcing.worker_databases into databases[]. */
static void
parse_databases(void)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;

	if (es_worker_databases == NULL || es_worker_databases[0] == '\0')
		return;
	raw = pstrdup(es_worker_databases);
	if (!SplitIdentifierString(raw, ',', &names))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in parameter \"event_sourcing.worker_databases\"")));
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		int			i;
		bool		seen = false;

		for (i = 0; i < ndatabases; i++)
			seen |= strcmp(databases[i], name) == 0;
		if (seen)
			continue;
		if (ndatabases == ES_MAX_WORKERS)
			ereport(FATAL,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event_sourcing.worker_databases names more than %d databases",
							ES_MAX_WORKERS)));
		strlcpy(databases[ndatabases++], name, NAMEDATALEN);
	}
}

/* Register the workers and hooks when preloading; from _PG_init. */
void
es_worker_init(void)
{
	int			i;

	if (!process_shared_preload_libraries_in_progress)
		return;
	parse_databases();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;
	RegisterResourceReleaseCallback(worker_release_callback, NULL);
	es_progress_init();

	for (i = 0; i < ndatabases; i++)
	{
		BackgroundWorker w;

		memset(&w, 0, sizeof(w));
		w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		w.bgw_start_time = BgWorkerStart_RecoveryFinished;
		w.bgw_restart_time = 5;
		strlcpy(w.bgw_library_name, "event_sourcing", BGW_MAXLEN);
		strlcpy(w.bgw_function_name, "es_worker_main", BGW_MAXLEN);
		snprintf(w.bgw_name, BGW_MAXLEN, "event_sourcing worker for database %s",
				 databases[i]);
		strlcpy(w.bgw_type, "event_sourcing worker", BGW_MAXLEN);
		w.bgw_main_arg = Int32GetDatum(i);
		RegisterBackgroundWorker(&w);
	}
}

/* ---------------------------------------------------------------------
 * The worker process
 * ---------------------------------------------------------------------
 */

static EsWorkerSlot *my_slot = NULL;

/* A projection that failed: left alone until retry_at. */
typedef struct Failing
{
	char	   *name;
	int			failures;
	TimestampTz retry_at;
} Failing;

static List *failing = NIL;		/* of Failing, in TopMemoryContext */

/* SIGTERM: stop; during a run, at the next interrupt check (die). */
static volatile sig_atomic_t got_sigterm = false;
static volatile sig_atomic_t in_run = false;
static bool batch_full = false; /* a projection applied a full batch */

static void
set_state(EsWorkerState state)
{
	SpinLockAcquire(&my_slot->mutex);
	my_slot->state = state;
	SpinLockRelease(&my_slot->mutex);
}

/* Back-off after the n-th failure in a row. */
static int
backoff_ms(int failures)
{
	int64		ms = Max(es_worker_naptime, 10);

	while (--failures > 0 && ms < ES_MAX_BACKOFF_MS)
		ms *= 2;
	return (int) Min(ms, ES_MAX_BACKOFF_MS);
}

static Failing *
find_failing(const char *name)
{
	ListCell   *lc;

	foreach(lc, failing)
	{
		Failing    *f = lfirst(lc);

		if (strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

/* EsAsyncHooks.skip: a failing projection waits for its retry time. */
static bool
skip_failing(const char *name, void *arg pg_attribute_unused())
{
	Failing    *f = find_failing(name);

	return f != NULL && GetCurrentTimestamp() < f->retry_at;
}

/* EsAsyncHooks.done: note failures (and recoveries) and full batches. */
static void
note_outcome(const char *name, int64 applied, const ErrorData *error,
			 void *arg pg_attribute_unused())
{
	Failing    *f = find_failing(name);

	if (error == NULL)
	{
		if (f != NULL)
		{
			failing = list_delete_ptr(failing, f);
			pfree(f->name);
			pfree(f);
		}
		if (applied >= es_worker_batch_size)
			batch_full = true;
		return;
	}
	if (f == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		f = palloc0(sizeof(Failing));
		f->name = pstrdup(name);
		failing = lappend(failing, f);
		MemoryContextSwitchTo(old);
	}
	f->failures++;
	f->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											  backoff_ms(f->failures));
}

/*
 * SIGTERM: between runs the loop exits with code 0; a run in progress is
 * interrupted as a backend's query is (die(): the transaction rolls back,
 * exit code 1).
 */
static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	if (in_run)
		die(postgres_signal_arg);
	SetLatch(MyLatch);
	errno = save_errno;
}

/* Clear the slot when the worker exits. */
static void
worker_exit(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	if (my_slot == NULL)
		return;
	my_slot->latch = NULL;
	SpinLockAcquire(&my_slot->mutex);
	my_slot->pid = 0;
	my_slot->state = WORKER_NOT_RUNNING;
	SpinLockRelease(&my_slot->mutex);
}

/*
 * One run: catch the database's async projections up in a transaction.
 * Returns false after an error (already reported to the log), with its
 * message in *error.
 */
static bool
run_once(int64 *applied, bool *no_extension, char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;
	EsAsyncHooks hooks = {skip_failing, note_outcome, NULL};

	*applied = 0;
	*no_extension = false;
	batch_full = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "catching up async projections");
		if (!OidIsValid(get_extension_oid("event_sourcing", true)))
			*no_extension = true;
		else
			*applied = es_async_run(GetUserId(), es_worker_batch_size, &hooks);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		*error = edata->message ? pstrdup(edata->message) : pstrdup("unknown error");
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(true);
	return ok;
}

/* The worker's main loop (bgw_main_arg: its slot). */
void
es_worker_main(Datum arg)
{
	int			index = DatumGetInt32(arg);
	MemoryContext cxt;
	int			failures = 0;
	TimestampTz retry_at = 0;
	TimestampTz last_start = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();

	if (shared == NULL || index < 0 || index >= shared->nworkers)
		elog(ERROR, "event_sourcing worker %d has no slot", index);
	my_slot = &shared->slots[index];
	BackgroundWorkerInitializeConnection(my_slot->dbname, NULL, 0);

	before_shmem_exit(worker_exit, (Datum) 0);
	my_slot->database = MyDatabaseId;
	SpinLockAcquire(&my_slot->mutex);
	my_slot->pid = MyProcPid;
	my_slot->state = WORKER_STARTING;
	my_slot->started_at = GetCurrentTimestamp();
	SpinLockRelease(&my_slot->mutex);
	my_slot->latch = MyLatch;
	ereport(LOG,
			(errmsg("event_sourcing worker started for database \"%s\"",
					my_slot->dbname)));

	cxt = AllocSetContextCreate(TopMemoryContext, "es worker",
								ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		long		wait_ms = es_worker_naptime;
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		if (got_sigterm)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		now = GetCurrentTimestamp();
		if (!es_worker_enabled)
			set_state(WORKER_DISABLED);
		else if (now < retry_at)
			wait_ms = Max(1, TimestampDifferenceMilliseconds(now, retry_at));
		else
		{
			uint64		seen;
			int64		applied;
			bool		no_extension;
			char	   *error = NULL;
			bool		ok;

			/*
			 * Runs started by wake-ups are at least worker_delay apart: the
			 * commits of that time are applied together (each run has a
			 * fixed cost: a transaction, the horizon, a registry update).
			 * A backlog (the last run took a full batch) is not delayed.
			 */
			if (!batch_full && last_start != 0 && es_worker_delay > 0 &&
				!TimestampDifferenceExceeds(last_start, now, es_worker_delay))
			{
				(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 Max(1, es_worker_delay -
									 TimestampDifferenceMilliseconds(last_start, now)),
								 PG_WAIT_EXTENSION);
				continue;
			}
			last_start = now;
			seen = pg_atomic_read_u64(&my_slot->appends);
			set_state(WORKER_RUNNING);
			MemoryContextReset(cxt);
			MemoryContextSwitchTo(cxt);
			in_run = true;
			if (got_sigterm)
				break;
			ok = run_once(&applied, &no_extension, &error);
			in_run = false;
			now = GetCurrentTimestamp();
			SpinLockAcquire(&my_slot->mutex);
			my_slot->runs++;
			my_slot->last_run_at = now;
			my_slot->applied += applied;
			if (!ok)
			{
				my_slot->errors++;
				my_slot->error_at = now;
				strlcpy(my_slot->error, error, sizeof(my_slot->error));
			}
			SpinLockRelease(&my_slot->mutex);
			if (!ok)
			{
				failures++;
				wait_ms = backoff_ms(failures);
				retry_at = TimestampTzPlusMilliseconds(now, wait_ms);
				set_state(WORKER_BACKING_OFF);
			}
			else
			{
				failures = 0;
				retry_at = 0;
				set_state(no_extension ? WORKER_NO_EXTENSION : WORKER_IDLE);
				/* more to do: a full batch, or commits during the run */
				if (batch_full ||
					pg_atomic_read_u64(&my_slot->appends) != seen)
					continue;
			}
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	ereport(LOG,
			(errmsg("event_sourcing worker for database \"%s\" stopped",
					my_slot->dbname)));
	proc_exit(0);
}

PG_FUNCTION_INFO_V1(es_worker_status);

/*
 * es.worker_status(): one row per configured worker (none when the library
 * is not preloaded or worker_databases is empty); the last error of another
 * database's worker only for members of pg_read_all_stats.
 */
Datum
es_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; shared != NULL && i < shared->nworkers; i++)
	{
		EsWorkerSlot *s = &shared->slots[i];
		Datum		values[11];
		bool		nulls[11] = {0};
		int			pid;
		EsWorkerState state;
		TimestampTz started_at;
		TimestampTz last_run_at;
		int64		runs;
		int64		applied;
		int64		errors;
		TimestampTz error_at;
		char		error[ES_ERROR_BYTES];

		SpinLockAcquire(&s->mutex);
		pid = s->pid;
		state = s->state;
		started_at = s->started_at;
		last_run_at = s->last_run_at;
		runs = s->runs;
		applied = s->applied;
		errors = s->errors;
		error_at = s->error_at;
		memcpy(error, s->error, sizeof(error));
		SpinLockRelease(&s->mutex);

		values[0] = CStringGetTextDatum(s->dbname);
		values[1] = Int32GetDatum(pid);
		nulls[1] = pid == 0;
		values[2] = CStringGetTextDatum(state_names[state]);
		values[3] = TimestampTzGetDatum(started_at);
		nulls[3] = pid == 0;
		values[4] = TimestampTzGetDatum(last_run_at);
		nulls[4] = runs == 0;
		values[5] = Int64GetDatum(runs);
		values[6] = Int64GetDatum(applied);
		values[7] = Int64GetDatum((int64) pg_atomic_read_u64(&s->appends));
		values[8] = Int64GetDatum(errors);
		values[9] = CStringGetTextDatum(error);
		nulls[9] = errors == 0 || (s->database != MyDatabaseId && !all);
		values[10] = TimestampTzGetDatum(error_at);
		nulls[10] = errors == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * progress.c
 *	  Progress of back-fills, rebuilds and catch-ups: a slot per backend in
 *	  shared memory, read by es.progress (the library preloaded), or NOTICEs
 *	  to the running session at most every progress_notice_interval.
 *
 * A backend writes only its own slot (indexed by its backend id), under the
 * slot's spinlock, once per event passed to a handler: a handler call costs
 * far more.  The slot is cleared when the operation ends, and by the
 * transaction callbacks when an error ends it first.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "event_sourcing.h"
#include "progress.h"

/* Bytes of a projection's name kept in a slot (longer names are cut). */
#define PROGRESS_NAME_BYTES 128
#define PROGRESS_PHASE_BYTES 16

/* The progress of one backend, as es.progress shows it. */
typedef struct EsProgressSlot
{
	slock_t		mutex;
	int			pid;			/* 0: no operation */
	Oid			database;
	uint64		ticket;			/* which operation of the backend */
	char		phase[PROGRESS_PHASE_BYTES];
	char		name[PROGRESS_NAME_BYTES];
	int64		done;
	int64		total;
	int64		events;
	TimestampTz started_at;
	TimestampTz updated_at;
} EsProgressSlot;

/* event_sourcing.progress_notice_interval */
int			es_progress_notice_interval = 5000;

/* The slots (MaxBackends of them), NULL when the library is not preloaded. */
static EsProgressSlot *slots = NULL;
static int	nslots = 0;

/* This backend's slot holds an operation, begun at this nesting level. */
static bool slot_busy = false;
static int	busy_level = 0;
static uint64 next_ticket = 0;

/* This backend's slot, or NULL. */
static EsProgressSlot *
my_slot(void)
{
	if (slots == NULL || MyBackendId == InvalidBackendId ||
		MyBackendId < 1 || MyBackendId > nslots)
		return NULL;
	return &slots[MyBackendId - 1];
}

/* Empty this backend's slot (if it still holds ticket; 0: any). */
static void
clear_slot(uint64 ticket)
{
	EsProgressSlot *s = my_slot();

	if (s == NULL || !slot_busy)
		return;
	SpinLockAcquire(&s->mutex);
	if (ticket == 0 || s->ticket == ticket)
	{
		s->pid = 0;
		slot_busy = false;
	}
	SpinLockRelease(&s->mutex);
}

/* An error ended the operation: free the slot. */
static void
progress_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PREPARE)
		clear_slot(0);
}

/*
 * A subtransaction rolled back: free the slot if the operation began in it
 * (not when a handler's own EXCEPTION block catches an error).
 */
static void
progress_subxact_callback(SubXactEvent event,
						  SubTransactionId mySubid pg_attribute_unused(),
						  SubTransactionId parentSubid pg_attribute_unused(),
						  void *arg pg_attribute_unused())
{
	if (event == SUBXACT_EVENT_ABORT_SUB && slot_busy &&
		GetCurrentTransactionNestLevel() <= busy_level)
		clear_slot(0);
}

/* Bytes of shared memory the slots need. */
Size
es_progress_shmem_size(void)
{
	return mul_size(MaxBackends, sizeof(EsProgressSlot));
}

/*
 * Attach to (the postmaster: create) the slots; from the shared memory
 * startup hook, with AddinShmemInitLock held.
 */
void
es_progress_shmem_init(void)
{
	bool		found;
	int			i;

	slots = ShmemInitStruct("event_sourcing progress",
							es_progress_shmem_size(), &found);
	nslots = MaxBackends;
	if (!found)
	{
		for (i = 0; i < nslots; i++)
		{
			memset(&slots[i], 0, sizeof(EsProgressSlot));
			SpinLockInit(&slots[i].mutex);
		}
	}
}

/* Free the slot when an error ends the operation; from _PG_init, preloading. */
void
es_progress_init(void)
{
	RegisterXactCallback(progress_xact_callback, NULL);
	RegisterSubXactCallback(progress_subxact_callback, NULL);
}

/* Copy the operation's numbers into the slot. */
static void
publish(EsProgress *pr, EsProgressSlot *s, bool first)
{
	SpinLockAcquire(&s->mutex);
	if (first)
	{
		s->pid = MyProcPid;
		s->database = MyDatabaseId;
		s->ticket = pr->ticket;
		strlcpy(s->phase, pr->phase, sizeof(s->phase));
		strlcpy(s->name, pr->name, sizeof(s->name));
		s->total = pr->last - pr->after;
		s->started_at = pr->started_at;
	}
	if (s->ticket == pr->ticket)
	{
		s->done = pr->done;
		s->events = pr->events;
		s->updated_at = GetCurrentTimestamp();
	}
	SpinLockRelease(&s->mutex);
}

/* Start reporting an operation that walks the positions after..last. */
void
es_progress_begin(EsProgress *pr, const char *phase, const char *name,
				  int64 after, int64 last)
{
	EsProgressSlot *s = my_slot();

	pr->phase = phase;
	pr->name = name;
	pr->after = after;
	pr->last = Max(last, after);
	pr->done = 0;
	pr->events = 0;
	pr->started_at = GetCurrentTimestamp();
	pr->noticed_at = pr->started_at;
	pr->ticket = 0;
	if (s != NULL)
	{
		pr->ticket = ++next_ticket;
		slot_busy = true;
		busy_level = GetCurrentTransactionNestLevel();
		publish(pr, s, true);
	}
}

/* Events per second since the operation started. */
static double
rate(int64 events, TimestampTz from, TimestampTz to)
{
	double		seconds = (double) (to - from) / USECS_PER_SEC;

	return seconds > 0 ? events / seconds : 0;
}

/* One event at position was passed to the handler. */
void
es_progress_event(EsProgress *pr, int64 position)
{
	EsProgressSlot *s;
	TimestampTz now;

	if (pr == NULL)
		return;
	pr->events++;
	if (position > pr->after)
		pr->done = Min(position, pr->last) - pr->after;
	if (pr->ticket != 0)
	{
		if ((s = my_slot()) != NULL)
			publish(pr, s, false);
		return;
	}
	if (es_progress_notice_interval <= 0)
		return;
	now = GetCurrentTimestamp();
	if (!TimestampDifferenceExceeds(pr->noticed_at, now,
									es_progress_notice_interval))
		return;
	pr->noticed_at = now;
	ereport(NOTICE,
			(errmsg("%s of projection \"%s\": " INT64_FORMAT " of " INT64_FORMAT " positions (%d%%), " INT64_FORMAT " events, %.0f events/s",
					pr->phase, pr->name, pr->done, pr->last - pr->after,
					pr->last > pr->after ?
					(int) (pr->done * 100 / (pr->last - pr->after)) : 100,
					pr->events, rate(pr->events, pr->started_at, now))));
}

/* The operation is over. */
void
es_progress_end(EsProgress *pr)
{
	if (pr->ticket != 0)
		clear_slot(pr->ticket);
	pr->ticket = 0;
}

PG_FUNCTION_INFO_V1(es_progress_status);

/*
 * es.progress_status(): the operations in progress in the current database,
 * in every database for members of pg_read_all_stats (as pg_stat_activity
 * shows other databases' queries); none when the library is not preloaded.
 */
Datum
es_progress_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	bool		all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; slots != NULL && i < nslots; i++)
	{
		EsProgressSlot copy;
		Datum		values[10];
		bool		nulls[10] = {0};

		SpinLockAcquire(&slots[i].mutex);
		memcpy(&copy, &slots[i], sizeof(copy));
		SpinLockRelease(&slots[i].mutex);
		if (copy.pid == 0 || (copy.database != MyDatabaseId && !all))
			continue;
		values[0] = Int32GetDatum(copy.pid);
		values[1] = ObjectIdGetDatum(copy.database);
		values[2] = CStringGetTextDatum(copy.phase);
		values[3] = CStringGetTextDatum(copy.name);
		values[4] = Int64GetDatum(copy.done);
		values[5] = Int64GetDatum(copy.total);
		values[6] = Int64GetDatum(copy.events);
		values[7] = Float8GetDatum(rate(copy.events, copy.started_at, now));
		values[8] = TimestampTzGetDatum(copy.started_at);
		values[9] = TimestampTzGetDatum(copy.updated_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

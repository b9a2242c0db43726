/*
 * log.c
 *	  The global log: es.read_all, subscriptions (es.poll) and wake-ups.
 *
 * Positions come from es.events_global_position_seq in the order appenders
 * allocate them, but transactions commit in another order: a reader that
 * simply remembers "the last position I saw" skips an event whose
 * transaction allocated a smaller position and committed later.  The log
 * therefore reads only below a horizon: a position such that every event
 * below it is either committed and visible to the reader, or will never
 * exist.
 *
 * Appenders make their positions in flight visible.  es.next_position(),
 * the default of es.events.global_position, does this on the first
 * allocation of a transaction, under a barrier:
 *
 *	 lock the barrier SHARE
 *	 p := nextval(sequence)
 *	 lock position p EXCLUSIVE, owned by the top-level transaction
 *	 release the barrier
 *
 * Later allocations of the transaction are plain nextval() calls: they are
 * all greater than p (the sequence must keep CACHE 1 and never go back), so
 * the smallest position a transaction may still commit is its locked one.
 * The position lock is released when the transaction ends, after its commit
 * became visible to new snapshots.  A transaction that appends nothing
 * takes no lock and delays no reader.
 *
 * A reader computes the horizon with the barrier held EXCLUSIVE (which
 * waits only for appenders inside the three steps above):
 *
 *	 horizon := min(smallest locked position, sequence's next value)
 *
 * then releases it and reads the rows with global_position < horizon using
 * a snapshot taken after that, in every isolation level.  An event at
 * position x < horizon belongs to a transaction that either allocated its
 * first position p <= x before the barrier and had ended by then (it was
 * never in the lock table: its commit is in the snapshot, or it aborted),
 * or allocated p after the barrier (impossible: p would be >= horizon).
 * A transaction in flight at the barrier holds horizon <= p <= x.  Readers
 * never block appenders beyond the barrier's few instructions, and
 * appenders never wait for each other.
 *
 * The reader's own transaction counts too: once it has appended, it reads
 * only below its own first position until it commits (its own events and
 * those of others after that position cannot be known to be complete).
 *
 * Subscriptions are rows of es.subscriptions_registry.  es.poll locks the
 * row (FOR UPDATE: concurrent pollers of one subscription take turns), reads
 * after its position with the gap-safe read, and moves the position in the
 * caller's transaction: commit acknowledges the events, rollback delivers
 * them again.
 *
 * Wake-ups: with event_sourcing.notify = on, the first allocation of an
 * appending transaction queues NOTIFY es_events with that position as
 * payload (opt-in, since NOTIFY serializes committing transactions on a
 * cluster-wide lock); es.wait() waits in the server for a subscription to
 * have events, without NOTIFY.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "check.h"
#include "log.h"
#include "read.h"
#include "upcast.h"

/* Rows fetched from the cursor at a time. */
#define LOG_BATCH 1000

/* How often es.wait looks at the log, in milliseconds. */
#define WAIT_INTERVAL_MS 10

/* event_sourcing.notify: send NOTIFY es_events from appending transactions. */
static bool log_notify = false;

/* Has the current transaction locked its first position? */
static bool position_locked = false;

static SPIPlanPtr plan_next_value = NULL;
static SPIPlanPtr plan_read = NULL;
static SPIPlanPtr plan_sub_insert = NULL;
static SPIPlanPtr plan_sub_lock = NULL;
static SPIPlanPtr plan_sub_delete = NULL;
static SPIPlanPtr plan_sub_advance = NULL;
static SPIPlanPtr plan_sub_position = NULL;

/* Forget the position lock when the transaction ends. */
static void
log_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			position_locked = false;
			break;
		default:
			break;
	}
}

/* Define the settings and the transaction callback. */
void
es_log_init(void)
{
	DefineCustomBoolVariable("event_sourcing.notify",
							 "Sends NOTIFY " ES_LOG_CHANNEL " from every transaction that appends events.",
							 "The payload is the transaction's first global position.  "
							 "NOTIFY serializes committing transactions on a cluster-wide lock.",
							 &log_notify,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("event_sourcing");
	RegisterXactCallback(log_xact_callback, NULL);
}

/* The lock tag of a position, or of the barrier. */
static void
position_tag(LOCKTAG *tag, int64 position)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId,
						 (uint32) ((uint64) position >> 32),
						 (uint32) position,
						 ES_LOG_LOCK_POSITION);
}

static void
barrier_tag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, 0, 0, ES_LOG_LOCK_BARRIER);
}

PG_FUNCTION_INFO_V1(es_next_position);

/*
 * es.next_position(sequence): the default of es.events.global_position.
 * The first call of a transaction locks the position it hands out.
 */
Datum
es_next_position(PG_FUNCTION_ARGS)
{
	Oid			seq = PG_GETARG_OID(0);
	LOCKTAG		barrier;
	LOCKTAG		tag;
	int64		position;
	ResourceOwner saved_owner;

	if (position_locked)
		PG_RETURN_INT64(nextval_internal(seq, true));

	/* an error before the release aborts the transaction, which releases */
	barrier_tag(&barrier);
	(void) LockAcquire(&barrier, ShareLock, false, false);
	position = nextval_internal(seq, true);
	position_tag(&tag, position);

	/* the lock belongs to the top-level transaction: a savepoint rolled
	 * back does not release it */
	saved_owner = CurrentResourceOwner;
	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = saved_owner;
	}
	PG_END_TRY();
	LockRelease(&barrier, ShareLock, false);
	position_locked = true;

	if (log_notify)
	{
		char		payload[32];

		snprintf(payload, sizeof(payload), INT64_FORMAT, position);
		Async_Notify(ES_LOG_CHANNEL, payload);
	}
	PG_RETURN_INT64(position);
}

/* The next value the position sequence will hand out.  Inside SPI. */
static int64
sequence_next(void)
{
	bool		isnull;

	es_run_plan(es_keep_plan(&plan_next_value,
							 "SELECT CASE WHEN s.is_called"
							 " THEN s.last_value OPERATOR(pg_catalog.+) 1"
							 " ELSE s.last_value END"
							 " FROM es.events_global_position_seq s",
							 0, NULL),
				NULL, NULL, true, 1, SPI_OK_SELECT);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The horizon: every event below it is committed or will never exist.
 * Inside SPI, as the owner.
 */
static int64
log_horizon(void)
{
	LOCKTAG		barrier;
	LockData   *locks;
	int64		horizon;
	int			i;

	barrier_tag(&barrier);
	(void) LockAcquire(&barrier, ExclusiveLock, false, false);
	horizon = sequence_next();
	locks = GetLockStatusData();
	for (i = 0; i < locks->nelements; i++)
	{
		LockInstanceData *l = &locks->locks[i];
		int64		position;

		if (l->locktag.locktag_type != LOCKTAG_ADVISORY ||
			l->locktag.locktag_field1 != MyDatabaseId ||
			l->locktag.locktag_field4 != ES_LOG_LOCK_POSITION ||
			l->holdMask == 0)
			continue;
		position = (int64) (((uint64) l->locktag.locktag_field2 << 32) |
							(uint64) l->locktag.locktag_field3);
		if (position < horizon)
			horizon = position;
	}
	LockRelease(&barrier, ExclusiveLock, false);
	pfree(locks->locks);
	pfree(locks);
	return horizon;
}

/* log_horizon for the other modules (async projections). */
int64
es_log_horizon_internal(void)
{
	return log_horizon();
}

/* What a read keeps: the event types and categories it is filtered by. */
typedef struct LogFilter
{
	Datum		types;			/* text[], or 0: every type */
	Datum		categories;		/* text[], or 0: every category */
	int			ntypes;
	text	  **type_list;		/* the types, detoasted, for the C check */
} LogFilter;

/* Build a filter from stored text[] values (0: none). */
static void
filter_from_arrays(LogFilter *f, Datum types, Datum categories)
{
	f->types = types;
	f->categories = categories;
	f->ntypes = 0;
	f->type_list = NULL;
	if (types != (Datum) 0)
	{
		Datum	   *elems;
		bool	   *elem_nulls;
		int			i;

		deconstruct_array(DatumGetArrayTypeP(types), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, &elem_nulls, &f->ntypes);
		f->type_list = palloc(sizeof(text *) * f->ntypes);
		for (i = 0; i < f->ntypes; i++)
			f->type_list[i] = elem_nulls[i] ? NULL : DatumGetTextPP(elems[i]);
	}
}

/* Does an (upcast) event type pass the filter? */
static bool
type_wanted(const LogFilter *f, Datum type)
{
	text	   *t = DatumGetTextPP(type);
	Size		len = VARSIZE_ANY_EXHDR(t);
	int			i;

	if (f->types == (Datum) 0)
		return true;
	for (i = 0; i < f->ntypes; i++)
	{
		text	   *w = f->type_list[i];

		if (w != NULL && VARSIZE_ANY_EXHDR(w) == len &&
			memcmp(VARDATA_ANY(w), VARDATA_ANY(t), len) == 0)
			return true;
	}
	return false;
}

/*
 * Open a cursor over ES_EVENT_COLUMNS for the events with after < position
 * < bound, in position order, whose stored type is in types or may be
 * renamed by an upcaster (the caller checks the upcast type) and whose
 * category is in categories (NULL: no filter), under a snapshot taken now
 * -- after the caller computed bound, in every isolation level.  Inside
 * SPI, as the owner.
 */
Portal
es_log_open(int64 after, int64 bound, Datum types, Datum categories)
{
	static const Oid argtypes[] = {INT8OID, INT8OID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	Portal		portal;

	values[0] = Int64GetDatum(after);
	values[1] = Int64GetDatum(bound);
	values[2] = types;
	nulls[2] = types == (Datum) 0 ? 'n' : ' ';
	values[3] = categories;
	nulls[3] = categories == (Datum) 0 ? 'n' : ' ';
	CommandCounterIncrement();
	PushActiveSnapshot(GetLatestSnapshot());
	portal = SPI_cursor_open(NULL,
							 es_keep_plan(&plan_read,
										  "SELECT " ES_EVENT_COLUMNS " FROM es.events e"
										  " WHERE e.global_position OPERATOR(pg_catalog.>) $1"
										  " AND e.global_position OPERATOR(pg_catalog.<) $2"
										  " AND ($3 IS NULL"
										  " OR e.event_type OPERATOR(pg_catalog.=) ANY ($3)"
										  " OR e.event_type IN (SELECT u.event_type FROM es.upcasters_registry u))"
										  " AND ($4 IS NULL"
										  " OR pg_catalog.split_part(e.stream_id, '-', 1)"
										  " OPERATOR(pg_catalog.=) ANY ($4))"
										  " ORDER BY e.global_position",
										  4, argtypes),
							 values, nulls, true);
	PopActiveSnapshot();
	return portal;
}

/*
 * Read the events after position `after` and below `horizon` that pass the
 * filter, upcast, in position order, at most max_count of them (-1: no
 * limit), into the tuplestore.  Returns how many; *through is the position
 * up to which the log has been consumed: the last event returned when the
 * limit was reached, else horizon - 1.  Inside SPI, as the owner.
 *
 * Event types match the upcast type.  SQL keeps the rows whose stored type
 * is wanted or has an upcaster (the only rows upcasting may rename), and C
 * checks the upcast type: the same result as upcasting every row.
 */
static int64
log_read(int64 after, int64 horizon, int64 max_count, const LogFilter *f,
		 Tuplestorestate *store, TupleDesc desc, int64 *through)
{
	Portal		portal;
	EsEventCursor cursor;
	Datum		row[ES_EVENT_NATTS];
	bool		rownulls[ES_EVENT_NATTS];
	MemoryContext row_cxt;
	int64		count = 0;
	bool		done = false;

	*through = after;
	if (max_count == 0 || horizon <= after + 1)
		return 0;
	if (desc->natts != ES_EVENT_NATTS)
		elog(ERROR, "es.events has %d columns, expected %d",
			 desc->natts, ES_EVENT_NATTS);

	portal = es_log_open(after, horizon, f->types, f->categories);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "es log row",
									ALLOCSET_DEFAULT_SIZES);
	es_event_cursor_open(&cursor, portal, max_count > 0 ? Min(max_count, LOG_BATCH) : LOG_BATCH);
	while (!done && es_event_cursor_next(&cursor, row, rownulls))
	{
		MemoryContext old = MemoryContextSwitchTo(row_cxt);

		es_upcast_row(row, rownulls);
		if (type_wanted(f, row[ES_COL_EVENT_TYPE]))
		{
			tuplestore_putvalues(store, desc, row, rownulls);
			count++;
			if (count == max_count)
			{
				*through = DatumGetInt64(row[ES_COL_GLOBAL_POSITION]);
				done = true;
			}
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	if (!done)
		*through = horizon - 1;
	es_event_cursor_close(&cursor);
	MemoryContextDelete(row_cxt);
	return count;
}

PG_FUNCTION_INFO_V1(es_log_horizon);

/* es.log_horizon(): every event below it is committed or will never exist. */
Datum
es_log_horizon(PG_FUNCTION_ARGS pg_attribute_unused())
{
	EsUserSwitch save;
	volatile int64 horizon = 0;

	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		horizon = log_horizon();
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_INT64(horizon);
}

PG_FUNCTION_INFO_V1(es_read_all);

/*
 * es.read_all(after, max_count, event_types, categories): the committed
 * events after a position, in position order, gap-safe.
 */
Datum
es_read_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		after;
	int64		max_count;
	LogFilter	f;
	EsUserSwitch save;

	es_check_not_null(fcinfo, 0, "after", "Pass 0 to read from the beginning of the log.");
	after = PG_GETARG_INT64(0);
	if (after < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after must not be negative")));
	max_count = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT64(1);
	if (!PG_ARGISNULL(1) && max_count < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must not be negative")));
	f.types = es_check_filter(fcinfo, 2, "event_types", false,
							  "Pass NULL to read every event type.", &f.type_list, &f.ntypes);
	f.categories = es_check_filter(fcinfo, 3, "categories", true,
								   "Pass NULL to read every category.", NULL, NULL);

	InitMaterializedSRF(fcinfo, 0);

	es_become_owner(&save);
	PG_TRY();
	{
		int64		through;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		(void) log_read(after, log_horizon(), max_count, &f,
						rsinfo->setResult, rsinfo->setDesc, &through);
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(es_create_subscription);

/* es.create_subscription(name, event_types, categories) */
Datum
es_create_subscription(PG_FUNCTION_ARGS)
{
	static const Oid argtypes[] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, OIDOID};
	text	   *name = es_check_name(fcinfo, 0, "subscription");
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	Oid			caller = GetUserId();
	EsUserSwitch save;

	values[0] = PointerGetDatum(name);
	values[1] = es_check_filter(fcinfo, 1, "event_types", false,
								"Pass NULL to read every event type.", NULL, NULL);
	nulls[1] = values[1] == (Datum) 0 ? 'n' : ' ';
	values[2] = es_check_filter(fcinfo, 2, "categories", true,
								"Pass NULL to read every category.", NULL, NULL);
	nulls[2] = values[2] == (Datum) 0 ? 'n' : ' ';
	values[3] = ObjectIdGetDatum(caller);

	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (es_run_plan(es_keep_plan(&plan_sub_insert,
									 "INSERT INTO es.subscriptions_registry AS r"
									 " (name, event_types, categories, position, owner)"
									 " VALUES ($1, $2, $3, 0, $4::pg_catalog.regrole)"
									 " ON CONFLICT (name) DO NOTHING RETURNING r.name",
									 4, argtypes),
						values, nulls, false, 0, SPI_OK_INSERT_RETURNING) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("subscription \"%s\" already exists", text_to_cstring(name)),
					 errhint("Drop it first with es.drop_subscription(), or choose another name.")));
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/* A subscription's row, locked for the caller's transaction. */
typedef struct Subscription
{
	int64		position;
	Datum		types;			/* text[] copied out of SPI, or 0 */
	Datum		categories;		/* text[] copied out of SPI, or 0 */
} Subscription;

/*
 * Lock a subscription's row (FOR UPDATE: waits for a concurrent poller to
 * end) and check that the caller may use it: its owner, a member of the
 * owner, or a superuser.  Inside SPI, as the owner.
 */
static void
lock_subscription(text *name, Oid caller, Subscription *s)
{
	static const Oid argtypes[] = {TEXTOID};
	Datum		values[1];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	values[0] = PointerGetDatum(name);
	if (es_run_plan(es_keep_plan(&plan_sub_lock,
								 "SELECT r.position, r.event_types, r.categories,"
								 " r.owner::pg_catalog.oid"
								 " FROM es.subscriptions_registry r"
								 " WHERE r.name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
								 1, argtypes),
					values, NULL, false, 0, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subscription \"%s\" does not exist", text_to_cstring(name))));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	es_check_owner(DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull)), caller,
				   "subscription", text_to_cstring(name), "poll or drop");
	s->position = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 2, &isnull);
	s->types = isnull ? (Datum) 0 : SPI_datumTransfer(d, false, -1);
	d = SPI_getbinval(tup, desc, 3, &isnull);
	s->categories = isnull ? (Datum) 0 : SPI_datumTransfer(d, false, -1);
}

PG_FUNCTION_INFO_V1(es_drop_subscription);

/* es.drop_subscription(name) */
Datum
es_drop_subscription(PG_FUNCTION_ARGS)
{
	static const Oid argtypes[] = {TEXTOID};
	text	   *name = es_check_name(fcinfo, 0, "subscription");
	Oid			caller = GetUserId();
	Datum		values[1];
	EsUserSwitch save;

	values[0] = PointerGetDatum(name);
	es_become_owner(&save);
	PG_TRY();
	{
		Subscription s;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		lock_subscription(name, caller, &s);
		es_run_plan(es_keep_plan(&plan_sub_delete,
								 "DELETE FROM es.subscriptions_registry r"
								 " WHERE r.name OPERATOR(pg_catalog.=) $1",
								 1, argtypes),
					values, NULL, false, 0, SPI_OK_DELETE);
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(es_poll);

/*
 * es.poll(name, max_count): the subscription's next events; its position
 * moves past them in the caller's transaction.
 */
Datum
es_poll(PG_FUNCTION_ARGS)
{
	static const Oid argtypes[] = {TEXTOID, INT8OID};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *name = es_check_name(fcinfo, 0, "subscription");
	Oid			caller = GetUserId();
	int32		max_count;
	EsUserSwitch save;

	es_check_not_null(fcinfo, 1, "max_count", NULL);
	max_count = PG_GETARG_INT32(1);
	if (max_count < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must not be negative")));

	InitMaterializedSRF(fcinfo, 0);

	es_become_owner(&save);
	PG_TRY();
	{
		Subscription s;
		LogFilter	f;
		int64		through;
		Datum		values[2];

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* the row lock first: the horizon must be computed after it */
		lock_subscription(name, caller, &s);
		filter_from_arrays(&f, s.types, s.categories);
		(void) log_read(s.position, log_horizon(), max_count, &f,
						rsinfo->setResult, rsinfo->setDesc, &through);
		if (through > s.position)
		{
			values[0] = PointerGetDatum(name);
			values[1] = Int64GetDatum(through);
			es_run_plan(es_keep_plan(&plan_sub_advance,
									 "UPDATE es.subscriptions_registry r"
									 " SET position = $2, acked_at = pg_catalog.now()"
									 " WHERE r.name OPERATOR(pg_catalog.=) $1",
									 2, argtypes),
						values, NULL, false, 0, SPI_OK_UPDATE);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	return (Datum) 0;
}

/*
 * Does the log hold an event after the subscription's position that a poll
 * could return now?  Cheap first check: the sequence has moved past it.
 * Inside SPI, as the owner; unknown subscriptions and foreign ones raise.
 */
static bool
subscription_ready(text *name, Oid caller)
{
	static const Oid argtypes[] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	int64		position;
	Oid			owner;

	values[0] = PointerGetDatum(name);
	PushActiveSnapshot(GetLatestSnapshot());
	if (es_run_plan(es_keep_plan(&plan_sub_position,
								 "SELECT r.position, r.owner::pg_catalog.oid"
								 " FROM es.subscriptions_registry r"
								 " WHERE r.name OPERATOR(pg_catalog.=) $1",
								 1, argtypes),
					values, NULL, true, 0, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subscription \"%s\" does not exist", text_to_cstring(name))));
	position = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 2, &isnull));
	PopActiveSnapshot();
	es_check_owner(owner, caller, "subscription", text_to_cstring(name), "poll or drop");
	if (sequence_next() <= position + 1)
		return false;
	return log_horizon() > position + 1;
}

/* subscription_ready as the owner, in its own SPI connection. */
static bool
check_ready(text *name, Oid caller)
{
	EsUserSwitch save;
	volatile bool ready = false;

	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		ready = subscription_ready(name, caller);
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	return ready;
}

PG_FUNCTION_INFO_V1(es_wait);

/*
 * es.wait(name, timeout_ms): wait in the server until the subscription's
 * next poll would find committed events past its position (true), or the
 * timeout passes (false).  Looks at the log every WAIT_INTERVAL_MS; no
 * NOTIFY, so appenders pay nothing.
 */
Datum
es_wait(PG_FUNCTION_ARGS)
{
	text	   *name = es_check_name(fcinfo, 0, "subscription");
	Oid			caller = GetUserId();
	int32		timeout_ms;
	TimestampTz deadline;
	bool		ready = false;

	es_check_not_null(fcinfo, 1, "timeout_ms", NULL);
	timeout_ms = PG_GETARG_INT32(1);
	if (timeout_ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout_ms must not be negative")));
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);

	for (;;)
	{
		long		left;

		ready = check_ready(name, caller);
		if (ready)
			break;
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(left, WAIT_INTERVAL_MS), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_BOOL(ready);
}

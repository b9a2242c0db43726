/*
 * subscription.c
 *	  Subscriptions: durable consumers of the global log.
 *	  es.create_subscription, es.drop_subscription, es.poll and es.wait.
 *
 * Subscriptions are rows of es.subscriptions_registry.  es.poll locks the
 * row (FOR UPDATE: concurrent pollers of one subscription take turns),
 * reads after its position with the log's gap-safe read (es_log_read,
 * with the horizon computed after the lock), and moves the position in
 * the caller's transaction: commit acknowledges the events, rollback
 * delivers them again.
 *
 * Ownership checks cannot be raced: creation inserts with ON CONFLICT DO
 * NOTHING (a second creator of a name waits for the first, then fails or,
 * if the first rolled back, creates it), and drop and poll check the owner
 * of the row they hold locked; a row another transaction is still
 * inserting is not seen at all (specs/subscription_race.spec).
 *
 * Wake-ups: es.wait() waits in the server for a subscription to have
 * events, looking at the log's horizon every few milliseconds, without
 * NOTIFY, so appenders pay nothing for it.
 *
 * On a hot standby es.poll and es.wait refuse, as every read of the log
 * does (es_log_refuse_standby in log.c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "check.h"
#include "log.h"
#include "subscription.h"

/* How often es.wait looks at the log, in milliseconds. */
#define WAIT_INTERVAL_MS 10

static SPIPlanPtr plan_sub_insert = NULL;
static SPIPlanPtr plan_sub_lock = NULL;
static SPIPlanPtr plan_sub_delete = NULL;
static SPIPlanPtr plan_sub_advance = NULL;
static SPIPlanPtr plan_sub_position = NULL;

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
	es_log_refuse_standby("es.poll()");

	InitMaterializedSRF(fcinfo, 0);

	es_become_owner(&save);
	PG_TRY();
	{
		Subscription s;
		EsLogFilter f;
		int64		through;
		Datum		values[2];

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* the row lock first: the horizon must be computed after it */
		lock_subscription(name, caller, &s);
		es_log_filter_from_arrays(&f, s.types, s.categories);
		(void) es_log_read(s.position, es_log_horizon_internal(), max_count, &f,
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
	if (es_log_sequence_next() <= position + 1)
		return false;
	return es_log_horizon_internal() > position + 1;
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
	es_log_refuse_standby("es.wait()");
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

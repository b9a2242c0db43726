/*
 * projection_async.c
 *	  Async projections: es.run_projections.
 *
 * An async projection is caught up from the log by es.run_projections,
 * outside the appending transactions (the trigger never sees it).  Its
 * registry row holds its position: every event at or below it has been
 * applied.  A run locks the row (FOR UPDATE SKIP LOCKED: a concurrent run
 * skips the projection instead of waiting, and never applies the same
 * events), computes the log's horizon after the lock, reads the events
 * between the position and the horizon with a snapshot taken after it,
 * passes them to the handler and moves the position, all in the caller's
 * transaction: the position commits together with the handler's writes.
 *
 * Whoever runs it (a role for its own projections, a superuser or a
 * scheduler for everyone's), each handler runs as its projection's
 * registrant with the settings captured at its creation, switched once
 * per batch of events (EsHandlerBatch in projection.c): a superuser's run
 * never lends its rights to another role's handler.
 *
 * Each projection's batch runs in a subtransaction.  When the handler
 * fails, the batch is rolled back, replayed up to the event before the
 * failing one (so the projection stops exactly at it), and the error is
 * recorded in the registry row; the other projections go on, and the next
 * run retries the failing event.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/uuid.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "check.h"
#include "log.h"
#include "projection.h"
#include "projection_async.h"
#include "read.h"
#include "upcast.h"

/* Rows fetched from the log at a time. */
#define ASYNC_BATCH 1000

static SPIPlanPtr plan_async_lock = NULL;
static SPIPlanPtr plan_async_done = NULL;

/* Where an async batch got to. */
typedef struct AsyncProgress
{
	int64		applied;		/* events passed to the handler */
	int64		through;		/* the log is consumed up to here */
	bool		have_event;		/* an event was being read or handled */
	int64		event_position; /* ... at this position */
	pg_uuid_t	event_id;		/* ... with this id */
} AsyncProgress;

/* Note the event a handler is about to get (EsHandlerBatch.before_call). */
static void
note_event(void *arg, const Datum *values)
{
	AsyncProgress *progress = (AsyncProgress *) arg;

	progress->have_event = true;
	progress->event_position = DatumGetInt64(values[ES_COL_GLOBAL_POSITION]);
	memcpy(&progress->event_id, DatumGetUUIDP(values[ES_COL_EVENT_ID]),
		   sizeof(pg_uuid_t));
}

/*
 * Pass the events after `after` and below `bound` that the projection
 * wants, upcast, in position order, to its handler, at most max_count of
 * them, in batches run as the projection's registrant.  Inside SPI as the
 * owner, with bound computed before (the rows are read with a snapshot
 * taken now).  Fills *progress as it goes: on an error, it names the event
 * being upcast or handled.
 */
static void
apply_events(EsProjection *p, Datum types, int64 after, int64 bound,
			 int64 max_count, AsyncProgress *progress)
{
	Relation	events = table_open(es_relid("events", false), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(events);
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext,
												  "es async projection",
												  ALLOCSET_DEFAULT_SIZES);
	Portal		portal;
	EsEventCursor cursor;
	EsHandlerBatch batch;
	EsProgress	report;
	Datum		values[ES_EVENT_NATTS];
	bool		rownulls[ES_EVENT_NATTS];
	int64		collected = 0;
	int64		last = 0;
	bool		done = false;

	if (desc->natts != ES_EVENT_NATTS)
		elog(ERROR, "es.events has %d columns, expected %d",
			 desc->natts, ES_EVENT_NATTS);
	/* stored types that are wanted or may be upcast to one; C checks */
	portal = es_log_open(after, bound, types, (Datum) 0);

	es_batch_init(&batch, p, desc, (int) Min(max_count, ASYNC_BATCH), false);
	batch.before_call = note_event;
	batch.before_call_arg = progress;
	es_progress_begin(&report, "catch-up", p->name, after, bound - 1);
	batch.progress = &report;
	es_event_cursor_open(&cursor, portal, ASYNC_BATCH);
	while (!done && es_event_cursor_next(&cursor, values, rownulls))
	{
		MemoryContext old = MemoryContextSwitchTo(row_cxt);
		bool		full = false;
		text	   *final;
		bool		wanted;

		/* what an error in upcasting is recorded at */
		note_event(progress, values);
		/* upcast only what the projection may want (see upcast.h) */
		final = es_upcast_final_type(values, rownulls);
		wanted = final == NULL || es_projection_matches(p, final);
		if (wanted)
		{
			es_upcast_row(values, rownulls);
			wanted = es_projection_matches(p, DatumGetTextPP(values[ES_COL_EVENT_TYPE]));
		}
		if (wanted)
		{
			full = es_batch_add(&batch, values, rownulls);
			last = progress->event_position;
			if (++collected == max_count)
				done = true;
		}
		progress->have_event = false;
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
		if (full)
		{
			es_batch_flush(&batch);
			progress->have_event = false;
		}
	}
	es_batch_flush(&batch);
	progress->have_event = false;
	es_batch_free(&batch);
	es_progress_end(&report);
	progress->applied = collected;
	progress->through = done ? last : bound - 1;
	es_event_cursor_close(&cursor);
	MemoryContextDelete(row_cxt);
	table_close(events, NoLock);
}

/*
 * apply_events in a subtransaction.  Returns true when it committed; else
 * the batch is rolled back, *error holds the error and *progress tells the
 * event it happened at.  A cancel (or statement timeout) is not recorded:
 * it is raised again after the rollback.
 */
static bool
apply_in_subxact(EsProjection *p, Datum types, int64 after, int64 bound,
				 int64 max_count, AsyncProgress *progress, ErrorData **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	progress->applied = 0;
	progress->through = after;
	progress->have_event = false;
	*error = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		apply_events(p, types, after, bound, max_count, progress);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		/* also restores the identity the subtransaction started with */
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		*error = edata;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* One async projection as a run found it, its row locked. */
typedef struct AsyncProjection
{
	EsProjection p;
	Datum		types;			/* text[] or 0: every type */
	int64		position;
	bool		had_error;
} AsyncProjection;

/*
 * Store a run's outcome in the projection's row: its new position and the
 * error (NULL error: none).  Inside SPI as the owner.
 */
static void
record_outcome(const AsyncProjection *a, int64 position, const ErrorData *error,
			   const AsyncProgress *failed)
{
	static const Oid argtypes[] = {TEXTOID, INT8OID, INT8OID, UUIDOID,
	TEXTOID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', 'n', 'n', 'n', 'n'};

	values[0] = CStringGetTextDatum(a->p.name);
	values[1] = Int64GetDatum(position);
	if (error != NULL)
	{
		if (failed->have_event)
		{
			values[2] = Int64GetDatum(failed->event_position);
			values[3] = UUIDPGetDatum(&failed->event_id);
			nulls[2] = nulls[3] = ' ';
		}
		values[4] = CStringGetTextDatum(unpack_sql_state(error->sqlerrcode));
		values[5] = CStringGetTextDatum(error->message ? error->message : "");
		nulls[4] = nulls[5] = ' ';
	}
	es_run_plan(es_keep_plan(&plan_async_done,
							 "UPDATE es.projections_registry r"
							 " SET position = $2,"
							 " applied_at = CASE WHEN $2 OPERATOR(pg_catalog.>) r.position"
							 " THEN pg_catalog.now() ELSE r.applied_at END,"
							 " error_position = $3, error_event_id = $4,"
							 " error_sqlstate = $5, error_message = $6,"
							 " error_at = CASE WHEN $5 IS NULL THEN NULL"
							 " ELSE pg_catalog.now() END"
							 " WHERE r.name OPERATOR(pg_catalog.=) $1",
							 6, argtypes),
				values, nulls, false, 0, SPI_OK_UPDATE);
}

/*
 * Catch one async projection up (its row locked): returns the events
 * applied.  Inside SPI as the owner.
 */
static int64
catch_up(AsyncProjection *a, int64 max_count, const EsAsyncHooks *hooks)
{
	int64		horizon = es_log_horizon_internal();
	AsyncProgress progress;
	AsyncProgress failed;
	ErrorData  *error;
	int64		position;

	if (horizon <= a->position + 1)
		return 0;				/* nothing committed after the position */
	if (apply_in_subxact(&a->p, a->types, a->position, horizon, max_count,
						 &progress, &error))
	{
		if (progress.through > a->position || a->had_error)
			record_outcome(a, progress.through, NULL, NULL);
		if (hooks != NULL && hooks->done != NULL)
			hooks->done(a->p.name, progress.applied, NULL, hooks->arg);
		return progress.applied;
	}

	/* stop exactly at the failing event: apply the ones before it again */
	failed = progress;
	position = a->position;
	progress.applied = 0;
	if (failed.have_event && failed.event_position > a->position + 1)
	{
		ErrorData  *again;

		if (apply_in_subxact(&a->p, a->types, a->position,
							 failed.event_position, max_count, &progress, &again))
			position = progress.through;
		else
		{
			/* the handler is not deterministic: record what failed now */
			error = again;
			failed = progress;
			progress.applied = 0;
		}
	}
	record_outcome(a, position, error, &failed);
	ereport(WARNING,
			(errcode(error->sqlerrcode),
			 errmsg("projection \"%s\" stopped: %s", a->p.name, error->message),
			 failed.have_event ?
			 errdetail("The handler failed on the event at global position " INT64_FORMAT "; the next es.run_projections() retries it.",
					   failed.event_position) :
			 errdetail("The next es.run_projections() retries it.")));
	if (hooks != NULL && hooks->done != NULL)
		hooks->done(a->p.name, progress.applied, error, hooks->arg);
	return progress.applied;
}

/*
 * Catch every async projection that caller may run (its owner or a member
 * of it; a superuser: all) up with the log, at most max_count events each,
 * in name order, skipping those another run holds and those hooks->skip
 * refuses; returns the number of events applied.  hooks may be NULL.
 */
int64
es_async_run(Oid caller, int32 max_count, const EsAsyncHooks *hooks)
{
	static const Oid argtypes[] = {OIDOID};
	EsUserSwitch save;
	volatile int64 applied = 0;

	es_become_owner(&save);
	PG_TRY();
	{
		Datum		values[1];
		uint64		n;
		uint64		i;
		AsyncProjection *list;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		values[0] = ObjectIdGetDatum(caller);
		n = es_run_plan(es_keep_plan(&plan_async_lock,
									 "SELECT r.name, r.handler, r.event_types, r.tables,"
									 " r.position, r.error_sqlstate IS NOT NULL,"
									 " r.owner::pg_catalog.oid, r.settings"
									 " FROM es.projections_registry r"
									 " WHERE r.async AND pg_catalog.pg_has_role($1,"
									 " r.owner::pg_catalog.oid, 'USAGE')"
									 " ORDER BY r.name FOR UPDATE SKIP LOCKED",
									 1, argtypes),
						values, NULL, false, 0, SPI_OK_SELECT);
		list = palloc0(sizeof(AsyncProjection) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			bool		types_isnull;
			bool		settings_isnull;
			Datum		types = SPI_getbinval(tup, desc, 3, &types_isnull);
			Datum		settings = SPI_getbinval(tup, desc, 8, &settings_isnull);

			es_fill_projection(&list[i].p, SPI_getbinval(tup, desc, 1, &isnull),
							   SPI_getbinval(tup, desc, 2, &isnull),
							   types, types_isnull,
							   SPI_getbinval(tup, desc, 4, &isnull),
							   DatumGetObjectId(SPI_getbinval(tup, desc, 7, &isnull)),
							   settings, settings_isnull);
			list[i].types = types_isnull ? (Datum) 0 :
				PointerGetDatum(DatumGetArrayTypePCopy(types));
			list[i].position = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
			list[i].had_error = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		}
		for (i = 0; i < n; i++)
		{
			if (hooks != NULL && hooks->skip != NULL &&
				hooks->skip(list[i].p.name, hooks->arg))
				continue;
			applied += catch_up(&list[i], max_count, hooks);
		}
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	return applied;
}

PG_FUNCTION_INFO_V1(es_run_projections);

/*
 * es.run_projections(max_count): catch every async projection the caller
 * owns up with the log, at most max_count events each; returns the number
 * of events applied.
 */
Datum
es_run_projections(PG_FUNCTION_ARGS)
{
	int32		max_count;

	es_check_not_null(fcinfo, 0, "max_count", NULL);
	max_count = PG_GETARG_INT32(0);
	if (max_count <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must be positive")));
	PG_RETURN_INT64(es_async_run(GetUserId(), max_count, NULL));
}

/*
 * fold.c
 *	  The fold engine: a stream's events, in version order and upcast,
 *	  reduced into a state by a registered reducer.
 *
 * Events are read straight from the primary key of es.events (no SPI, no
 * copy of the rows); each event's scratch memory
 * is reset after it is applied, and the state is kept in one of two
 * contexts that swap when the reducer returns a new state, so memory does
 * not grow with the stream.  Function reducers are called through an
 * FmgrInfo set up once per fold.
 *
 * Identity.  A function reducer runs as its registrant (the reducer's
 * owner), with the settings captured when it was created and
 * SECURITY_RESTRICTED_OPERATION, the way a SECURITY DEFINER function with
 * SET clauses runs: its result does not depend on who folds, and it never
 * runs with the caller's rights.  es.fold switches once per fold, around
 * the loop over the events; the extension's own statements (reading and
 * storing snapshots) run before and after it, as the extension's owner.
 * es.fold_agg returns to the executor after every event, so it switches
 * around each call (cheaply: settings that are already current are not set
 * again).  Rules reducers run no user code and their output does not
 * depend on settings (rules.c): they need no switch.
 *
 * Snapshots.  A snapshot is the state after versions 1..v of a stream,
 * stored with the latest occurred_at among those events and the reducer's
 * fingerprint (see reducer.h).  A fold starts from the latest snapshot that
 * is valid for it: same fingerprint, v <= to_version, and -- for as_of --
 * every event up to v occurred at or before as_of, which is what the stored
 * latest occurred_at tells.  Back-dated events after v are then filtered
 * like any other, so a snapshot never changes a result.
 *
 * Snapshots are taken by folds, not by appends: a reducer is not bound to
 * streams, so only a fold knows which reducer applies to which stream.  A
 * fold that passes a multiple of snapshot_every, having applied every event
 * up to it (as_of may skip events; then it stops looking), stores the state
 * at the last such multiple -- at most one write per fold.  In a read-only
 * transaction or on a standby it writes nothing and still answers.
 * es.snapshot() stores one at the stream's current version on demand.
 *
 * Hidden events (visibility.c: deletion, truncation, tombstone, retention
 * by count or by age) are left out as if they did not exist: the fold
 * starts after the hidden prefix and skips events too old for a max_age
 * policy.  A snapshot covers versions 1..v, so it is used (and one is
 * stored) only when no event of the stream can be hidden at the read: a
 * fold's result never depends on whether a snapshot exists.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/expandedrecord.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "check.h"
#include "fold.h"
#include "read.h"
#include "reducer.h"
#include "rules.h"
#include "upcast.h"
#include "visibility.h"

/* One fold in progress. */
typedef struct Folder
{
	const char *stream;			/* for messages */
	EsReducer  *reducer;		/* pinned cache entry */
	FmgrInfo	flinfo;			/* function reducers */
	FunctionCallInfo fcinfo;
	TupleDesc	events_desc;	/* row type of es.events, for the composite */
	MemoryContext state_cxt;	/* holds state */
	MemoryContext spare_cxt;	/* receives the next state */
	MemoryContext row_cxt;		/* reset after every event */
	EsRuleState *ws;			/* rules reducers: the working state */
	Datum		state;			/* function reducers: the state */
	int64		version;		/* version of the event being applied */
} Folder;

static SPIPlanPtr plan_snapshot = NULL;
static SPIPlanPtr plan_store = NULL;
static SPIPlanPtr plan_prune = NULL;

/* Error context: which stream, reducer and event a failure happened at. */
static void
fold_error_callback(void *arg)
{
	Folder	   *f = (Folder *) arg;

	if (f->version > 0)
		errcontext("folding event " INT64_FORMAT " of stream \"%s\" with reducer \"%s\"",
				   f->version, f->stream, f->reducer->name);
}

/* Replace the state by a copy of new_state (detoasted) in a fresh context. */
static void
folder_set_state(Folder *f, Datum new_state)
{
	MemoryContext swap;
	MemoryContext old = MemoryContextSwitchTo(f->spare_cxt);

	new_state = PointerGetDatum(PG_DETOAST_DATUM_COPY(new_state));
	MemoryContextSwitchTo(old);
	MemoryContextReset(f->state_cxt);
	swap = f->state_cxt;
	f->state_cxt = f->spare_cxt;
	f->spare_cxt = swap;
	f->state = new_state;
}

/* Start from a given state (the initial state, or a snapshot's). */
static void
folder_load(Folder *f, Datum state)
{
	if (f->reducer->rules != NULL)
	{
		if (f->ws != NULL)
			MemoryContextReset(f->state_cxt);
		f->ws = es_rules_begin(f->reducer->rules, DatumGetJsonbP(state), f->state_cxt);
	}
	else
		folder_set_state(f, state);
}

/* The current state as a jsonb allocated in cxt. */
static Datum
folder_result(Folder *f, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Datum		result;

	if (f->ws != NULL)
		result = JsonbPGetDatum(es_rules_state(f->ws));
	else
	{
		result = PointerGetDatum(palloc(VARSIZE(DatumGetPointer(f->state))));
		memcpy(DatumGetPointer(result), DatumGetPointer(f->state),
			   VARSIZE(DatumGetPointer(f->state)));
	}
	MemoryContextSwitchTo(old);
	return result;
}

/*
 * Set up a fold of stream with reducer; contexts are children of parent.
 * The caller has computed the reducer's fingerprint, which checks that its
 * function still exists with the right signature.
 */
static void
folder_init(Folder *f, const char *stream, EsReducer *reducer, MemoryContext parent)
{
	memset(f, 0, sizeof(Folder));
	f->stream = stream;
	f->reducer = reducer;
	f->state_cxt = AllocSetContextCreate(parent, "es fold state", ALLOCSET_DEFAULT_SIZES);
	f->spare_cxt = AllocSetContextCreate(parent, "es fold state", ALLOCSET_DEFAULT_SIZES);
	f->row_cxt = AllocSetContextCreate(parent, "es fold event", ALLOCSET_DEFAULT_SIZES);
	if (reducer->apply_name != NULL)
	{
		MemoryContext old;

		/*
		 * The executor would check EXECUTE; calling through fmgr does not.
		 * The function runs as the registrant: it is the one who needs it.
		 */
		if (pg_proc_aclcheck(reducer->apply, reducer->owner, ACL_EXECUTE) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for function %s", reducer->apply_name),
					 errdetail("Reducer \"%s\" runs it as its owner, who may not execute it.",
							   reducer->name)));
		fmgr_info_cxt(reducer->apply, &f->flinfo, parent);
		f->fcinfo = MemoryContextAllocZero(parent, SizeForFunctionCallInfo(2));
		InitFunctionCallInfoData(*f->fcinfo, &f->flinfo, 2, InvalidOid, NULL, NULL);
		old = MemoryContextSwitchTo(parent);
		f->events_desc = lookup_rowtype_tupdesc_copy(es_events_type(), -1);
		MemoryContextSwitchTo(old);
	}
	folder_load(f, JsonbPGetDatum(reducer->initial_state));
}

/*
 * The event as the reducer function's argument: an expanded record, which
 * PL/pgSQL takes over without deconstructing a flat tuple (other languages
 * flatten it as they would any composite).  Lives in the event's context.
 */
static Datum
event_datum(Folder *f, Datum *row, bool *nulls)
{
	ExpandedRecordHeader *erh = make_expanded_record_from_tupdesc(f->events_desc,
																  f->row_cxt);

	expanded_record_set_fields(erh, row, nulls, false);
	return ExpandedRecordGetDatum(erh);
}

/* Apply one (not yet upcast) event row to the state. */
static void
folder_apply(Folder *f, Datum *row, bool *nulls)
{
	MemoryContext old = MemoryContextSwitchTo(f->row_cxt);
	Datum		result;

	f->version = DatumGetInt64(row[ES_COL_STREAM_VERSION]);
	es_upcast_row(row, nulls);
	if (f->fcinfo != NULL)
	{
		f->fcinfo->args[0].value = f->state;
		f->fcinfo->args[0].isnull = false;
		f->fcinfo->args[1].value = event_datum(f, row, nulls);
		f->fcinfo->args[1].isnull = false;
		f->fcinfo->isnull = false;
		/* user code (the reducer itself) may have dropped the function */
		if (f->reducer->stale &&
			!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(f->reducer->apply)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("the function of reducer \"%s\" was dropped during the fold",
							f->reducer->name)));
		result = FunctionCallInvoke(f->fcinfo);
		if (f->fcinfo->isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("reducer \"%s\" returned null", f->reducer->name),
					 errhint("A reducer returns the new state; return the old state to ignore an event.")));
	}
	else
	{
		es_rules_step(f->ws, row, nulls);
		result = f->state;
	}
	MemoryContextSwitchTo(old);
	if (result != f->state)
		folder_set_state(f, result);
	MemoryContextReset(f->row_cxt);
}

/* Is this transaction allowed to store snapshots? */
static bool
can_write(void)
{
	return !XactReadOnly && !RecoveryInProgress() && !IsInParallelMode();
}

/*
 * Fold a stream (SPI connected, acting as the owner, reducer cache pinned).
 * as_of: only events that occurred at or before it (has_as_of); to_version:
 * only events up to it.  force_snapshot: store the final state as a
 * snapshot (es.snapshot).  *final_version is the version of the last event
 * applied (or of the snapshot started from).
 */
static Datum
fold_stream(text *stream_id, EsReducer *reducer, bool has_as_of, TimestampTz as_of,
			int64 to_version, bool force_snapshot, MemoryContext result_cxt,
			int64 *final_version)
{
	static const Oid snap_types[] = {TEXTOID, TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID};
	static const Oid store_types[] = {TEXTOID, TEXTOID, INT8OID, JSONBOID,
	TIMESTAMPTZOID, INT8OID, INT8OID};
	Folder		f;
	EsIdentitySave identity;
	ErrorContextCallback errcb;
	int64		fingerprint = es_reducer_fingerprint(reducer);
	Datum		args[7];
	bool		isnull;
	int64		start = 0;
	int64		expected_next;
	bool		contiguous = true;
	TimestampTz last_occurred = DT_NOBEGIN;
	int64		every = reducer->snapshot_every;
	MemoryContext cand_cxt;
	Datum		cand_state = (Datum) 0;
	int64		cand_version = 0;
	TimestampTz cand_occurred = 0;
	EsStreamScan *scan;
	Datum	   *scan_values;
	bool	   *scan_nulls;
	Datum		result;
	EsVisibility vis;

	folder_init(&f, text_to_cstring(stream_id), reducer, result_cxt);
	cand_cxt = AllocSetContextCreate(result_cxt, "es fold snapshot", ALLOCSET_DEFAULT_SIZES);
	*final_version = 0;
	if (to_version == 0)
		goto done;

	/* what the stream's lifecycle hides, under the snapshot of the scan */
	es_stream_visibility(stream_id, &vis);
	if (vis.hidden_through >= to_version)
		goto done;
	if (vis.any_hidden)
	{
		/* a snapshot would cover hidden events: none is used or stored */
		start = vis.hidden_through;
		every = 0;
		force_snapshot = false;
		goto scan;
	}

	/* start from the latest valid snapshot */
	args[0] = CStringGetTextDatum(reducer->name);
	args[1] = PointerGetDatum(stream_id);
	args[2] = Int64GetDatum(fingerprint);
	args[3] = Int64GetDatum(to_version);
	args[4] = TimestampTzGetDatum(has_as_of ? as_of : DT_NOEND);
	if (es_run_plan(es_keep_plan(&plan_snapshot,
								 "SELECT s.stream_version, s.state, s.last_occurred_at"
								 " FROM es.snapshots s"
								 " WHERE s.reducer OPERATOR(pg_catalog.=) $1"
								 " AND s.stream_id OPERATOR(pg_catalog.=) $2"
								 " AND s.fingerprint OPERATOR(pg_catalog.=) $3"
								 " AND s.stream_version OPERATOR(pg_catalog.<=) $4"
								 " AND s.last_occurred_at OPERATOR(pg_catalog.<=) $5"
								 " ORDER BY s.stream_version DESC LIMIT 1",
								 5, snap_types),
					args, NULL, true, 1, SPI_OK_SELECT) == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		start = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		folder_load(&f, PointerGetDatum(PG_DETOAST_DATUM(SPI_getbinval(tup, desc, 2, &isnull))));
		last_occurred = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
		*final_version = start;
	}
	SPI_freetuptable(SPI_tuptable);

scan:
	expected_next = start + 1;

	/* then every later event, in version order, straight from the index */
	scan = es_stream_scan_begin(stream_id, start, to_version, false);
	errcb.callback = fold_error_callback;
	errcb.arg = &f;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	/* the events go to the reducer's function as its registrant, once */
	if (f.fcinfo != NULL)
		es_become_registrant_settings(reducer->owner, &reducer->settings, true,
									reducer->what, &identity);
	while (es_stream_scan_next(scan, &scan_values, &scan_nulls))
	{
		Datum		row[ES_EVENT_NATTS];
		bool		nulls[ES_EVENT_NATTS];
		int64		v;

		CHECK_FOR_INTERRUPTS();
		if (has_as_of && DatumGetTimestampTz(scan_values[ES_COL_OCCURRED_AT]) > as_of)
			continue;			/* a gap: later versions are not contiguous */
		if (vis.age_limited &&
			DatumGetTimestampTz(scan_values[ES_COL_RECORDED_AT]) < vis.cutoff)
			continue;			/* hidden by retention (no snapshot is taken) */
		/* upcasting replaces values: work on a copy of the scan's arrays */
		memcpy(row, scan_values, sizeof(row));
		memcpy(nulls, scan_nulls, sizeof(nulls));
		v = DatumGetInt64(row[ES_COL_STREAM_VERSION]);
		if (v != expected_next)
			contiguous = false; /* as_of skipped an event */
		expected_next = v + 1;
		if (contiguous)
			last_occurred = Max(last_occurred,
								DatumGetTimestampTz(row[ES_COL_OCCURRED_AT]));
		folder_apply(&f, row, nulls);
		*final_version = v;
		if (contiguous && every > 0 && v % every == 0)
		{
			MemoryContextReset(cand_cxt);
			cand_state = folder_result(&f, cand_cxt);
			cand_version = v;
			cand_occurred = last_occurred;
		}
	}
	if (f.fcinfo != NULL)
		es_restore_identity(&identity);
	error_context_stack = errcb.previous;
	es_stream_scan_end(scan);

	if (force_snapshot && contiguous && *final_version > start)
	{
		MemoryContextReset(cand_cxt);
		cand_state = folder_result(&f, cand_cxt);
		cand_version = *final_version;
		cand_occurred = last_occurred;
	}
	if (cand_version > start && can_write())
	{
		args[0] = CStringGetTextDatum(reducer->name);
		args[1] = PointerGetDatum(stream_id);
		args[2] = Int64GetDatum(cand_version);
		args[3] = cand_state;
		args[4] = TimestampTzGetDatum(cand_occurred);
		args[5] = Int64GetDatum(fingerprint);
		args[6] = Int64GetDatum(reducer->revision);

		/*
		 * Only while the definition folded with is the one in the registry
		 * (as this statement sees it): a reducer dropped or replaced
		 * concurrently gets no snapshot from a fold that started before,
		 * and its foreign key is never violated (KEY SHARE waits for a
		 * concurrent drop, which then leaves no row to insert).
		 */
		if (es_run_plan(es_keep_plan(&plan_store,
									 "INSERT INTO es.snapshots (reducer, stream_id, stream_version,"
									 " state, last_occurred_at, fingerprint, taken_at)"
									 " SELECT $1, $2, $3, $4, $5, $6, pg_catalog.now()"
									 " FROM es.reducers_registry r"
									 " WHERE r.name OPERATOR(pg_catalog.=) $1"
									 " AND r.revision OPERATOR(pg_catalog.=) $7"
									 " FOR KEY SHARE OF r"
									 " ON CONFLICT (reducer, stream_id, stream_version) DO UPDATE"
									 " SET state = excluded.state,"
									 " last_occurred_at = excluded.last_occurred_at,"
									 " fingerprint = excluded.fingerprint, taken_at = excluded.taken_at"
									 " WHERE es.snapshots.fingerprint OPERATOR(pg_catalog.<>) excluded.fingerprint",
									 7, store_types),
						args, NULL, false, 0, SPI_OK_INSERT) == 1)
		{
			/* a snapshot was written (or a retired one replaced): snapshots
			 * under another fingerprint can never be used again */
			args[2] = Int64GetDatum(fingerprint);
			es_run_plan(es_keep_plan(&plan_prune,
									 "DELETE FROM es.snapshots s"
									 " WHERE s.reducer OPERATOR(pg_catalog.=) $1"
									 " AND s.stream_id OPERATOR(pg_catalog.=) $2"
									 " AND s.fingerprint OPERATOR(pg_catalog.<>) $3",
									 3, store_types),
						args, NULL, false, 0, SPI_OK_DELETE);
		}
	}

done:
	result = folder_result(&f, result_cxt);
	MemoryContextDelete(f.state_cxt);
	MemoryContextDelete(f.spare_cxt);
	MemoryContextDelete(f.row_cxt);
	MemoryContextDelete(cand_cxt);
	return result;
}

/* Shared driver of es.fold and es.snapshot. */
static Datum
run_fold(FunctionCallInfo fcinfo, text *stream_id, bool has_as_of, TimestampTz as_of,
		 int64 to_version, bool force_snapshot, int64 *final_version)
{
	text	   *reducer_name;
	MemoryContext result_cxt = CurrentMemoryContext;
	EsUserSwitch save;
	EsReducer  *volatile reducer = NULL;
	volatile Datum result = (Datum) 0;

	es_check_not_null(fcinfo, 1, "reducer", NULL);
	reducer_name = PG_GETARG_TEXT_PP(1);

	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		reducer = es_reducer_acquire(reducer_name);
		result = fold_stream(stream_id, reducer, has_as_of, as_of,
							 to_version, force_snapshot, result_cxt, final_version);
		SPI_finish();
	}
	PG_FINALLY();
	{
		if (reducer != NULL)
			es_reducer_release(reducer);
		es_restore_user(&save);
	}
	PG_END_TRY();
	return result;
}

PG_FUNCTION_INFO_V1(es_fold);

/* es.fold(stream_id, reducer, as_of, to_version): the stream's state. */
Datum
es_fold(PG_FUNCTION_ARGS)
{
	text	   *stream_id = es_check_stream_id(fcinfo, 0);
	int64		to_version = PG_ARGISNULL(3) ? PG_INT64_MAX : PG_GETARG_INT64(3);
	int64		final_version;

	if (to_version < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("to_version must not be negative")));
	PG_RETURN_DATUM(run_fold(fcinfo, stream_id, !PG_ARGISNULL(2),
							 PG_ARGISNULL(2) ? 0 : PG_GETARG_TIMESTAMPTZ(2),
							 to_version, false, &final_version));
}

PG_FUNCTION_INFO_V1(es_snapshot);

/* es.snapshot(stream_id, reducer): store the current state now. */
Datum
es_snapshot(PG_FUNCTION_ARGS)
{
	text	   *stream_id = es_check_stream_id(fcinfo, 0);
	int64		final_version;

	if (!can_write())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot take a snapshot in a read-only transaction")));
	(void) run_fold(fcinfo, stream_id, false, 0, PG_INT64_MAX, true, &final_version);
	PG_RETURN_INT64(final_version);
}

/* State of es.fold_agg: the fold so far. */
typedef struct FoldAggState
{
	Folder		f;
	TupleDesc	events_desc;	/* to deform input rows */
	char	   *stream;			/* stream of the current row, for messages */
} FoldAggState;

/* Aggregate context reset: the fold no longer needs its reducer. */
static void
fold_agg_release(void *arg)
{
	es_reducer_release((EsReducer *) arg);
}

/* Look up the reducer for es.fold_agg and set up its fold in aggcxt. */
static FoldAggState *
fold_agg_start(text *reducer_name, MemoryContext aggcxt)
{
	FoldAggState *st = MemoryContextAllocZero(aggcxt, sizeof(FoldAggState));
	MemoryContextCallback *cb = MemoryContextAllocZero(aggcxt, sizeof(MemoryContextCallback));
	EsUserSwitch save;
	EsReducer  *volatile reducer = NULL;

	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		reducer = es_reducer_acquire(reducer_name);
		SPI_finish();
	}
	PG_CATCH();
	{
		if (reducer != NULL)
			es_reducer_release(reducer);
		es_restore_user(&save);
		PG_RE_THROW();
	}
	PG_END_TRY();
	es_restore_user(&save);

	/* keep the cache entry until the aggregate's memory goes away */
	cb->func = fold_agg_release;
	cb->arg = reducer;
	MemoryContextRegisterResetCallback(aggcxt, cb);

	st->stream = "";
	if (reducer->apply_name != NULL)
		(void) es_reducer_fingerprint(reducer); /* checks the function */
	folder_init(&st->f, st->stream, reducer, aggcxt);
	if (st->f.events_desc != NULL)
		st->events_desc = st->f.events_desc;
	else
	{
		MemoryContext old = MemoryContextSwitchTo(aggcxt);

		st->events_desc = lookup_rowtype_tupdesc_copy(es_events_type(), -1);
		MemoryContextSwitchTo(old);
	}
	return st;
}

PG_FUNCTION_INFO_V1(es_fold_agg_step);

/* es.fold_agg(event es.events, reducer text) transition function. */
Datum
es_fold_agg_step(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FoldAggState *st;
	HeapTupleHeader th;
	HeapTupleData tuple;
	Datum		row[ES_EVENT_NATTS];
	bool		nulls[ES_EVENT_NATTS];
	ErrorContextCallback errcb;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("es.fold_agg_step called in non-aggregate context")));
	es_check_not_null(fcinfo, 2, "reducer", NULL);
	st = PG_ARGISNULL(0) ? NULL : (FoldAggState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(st);	/* no event: nothing to apply */
	if (st == NULL)
		st = fold_agg_start(PG_GETARG_TEXT_PP(2), aggcxt);
	else if (strcmp(st->f.reducer->name, text_to_cstring(PG_GETARG_TEXT_PP(2))) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("es.fold_agg must use one reducer for the whole group")));

	th = PG_GETARG_HEAPTUPLEHEADER(1);
	if (HeapTupleHeaderGetTypeId(th) != es_events_type())
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("es.fold_agg folds es.events rows")));
	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	heap_deform_tuple(&tuple, st->events_desc, row, nulls);
	/* the row may be built by hand: every field the fold reads is checked */
	es_check_event_row(row, nulls, "es.fold_agg");
	st->f.stream = TextDatumGetCString(row[ES_COL_STREAM_ID]);

	errcb.callback = fold_error_callback;
	errcb.arg = &st->f;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	if (st->f.fcinfo != NULL)
	{
		/* back to the executor after each event: switch around each call */
		EsIdentitySave identity;

		es_become_registrant_settings(st->f.reducer->owner, &st->f.reducer->settings,
									true, st->f.reducer->what, &identity);
		folder_apply(&st->f, row, nulls);
		es_restore_identity(&identity);
	}
	else
		folder_apply(&st->f, row, nulls);
	error_context_stack = errcb.previous;
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(es_fold_agg_final);

/* es.fold_agg final function: the state (NULL for no events). */
Datum
es_fold_agg_final(PG_FUNCTION_ARGS)
{
	FoldAggState *st = PG_ARGISNULL(0) ? NULL : (FoldAggState *) PG_GETARG_POINTER(0);

	if (st == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(folder_result(&st->f, CurrentMemoryContext));
}

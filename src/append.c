/*
 * append.c
 *	  es.append(stream_id, expected_version, VARIADIC events): appends a
 *	  batch of events to one stream, atomically, with an optimistic version
 *	  check.
 *
 * The version check is a single statement on the stream's row in
 * es.streams, chosen by the kind of expectation:
 *
 *	 NULL (any)	  INSERT ... ON CONFLICT DO UPDATE SET version = version + n
 *	 0 (new)	  INSERT ... ON CONFLICT DO NOTHING
 *	 n (exact)	  UPDATE ... WHERE version = n
 *
 * Each takes the row lock that orders writers of one stream, and none
 * blocks writers of other streams.  When the statement changes no row the
 * expectation failed: either the batch was already stored right after the
 * expected version (an idempotent retry, which returns the same version and
 * writes nothing) or it is a conflict, reported as SQLSTATE 40001 with the
 * constraint name es_expected_version.  The events are then inserted
 * directly, without SPI (event_insert.c).  All plans are prepared once per
 * backend.
 *
 * Every statement here runs as a non-read-only SPI query, so that in READ
 * COMMITTED each one takes a fresh snapshot: after the version check has
 * waited for a concurrent writer of the stream, the retry check and the
 * conflict's detail see what that writer committed.
 *
 * With no expected version the retry check must happen after that wait
 * too, yet before the version moves (a retry writes nothing): the upsert's
 * DO UPDATE has WHERE NOT es.append_id_stored(first id), which runs on the
 * stream's row once it is locked, under a snapshot taken then.  A retry
 * sent while the first attempt is in progress waits for the row, then sees
 * the attempt's events if it committed (no update: the retry check returns
 * the version) or none if it rolled back (the append goes on).  A retry
 * thus holds the stream's row lock until its transaction ends, as an append
 * does.  This probe of the unique index on event_id is the only one an
 * append to an existing stream makes; a new stream's append makes it after
 * its insert.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "event_sourcing.h"
#include "append.h"
#include "catalog.h"
#include "check.h"
#include "dcb.h"
#include "event.h"
#include "event_insert.h"
#include "lifecycle.h"

static SPIPlanPtr plan_version = NULL;
static SPIPlanPtr plan_upsert_any = NULL;
static SPIPlanPtr plan_insert_new = NULL;
static SPIPlanPtr plan_update_exact = NULL;
static SPIPlanPtr plan_find_id = NULL;
static SPIPlanPtr plan_ids_after = NULL;

/* The category of a stream: its id up to the first '-', or all of it. */
static Datum
stream_category(text *stream_id)
{
	const char *s = VARDATA_ANY(stream_id);
	Size		len = VARSIZE_ANY_EXHDR(stream_id);
	const char *dash = memchr(s, '-', len);

	return PointerGetDatum(cstring_to_text_with_len(s, dash ? (int) (dash - s) : (int) len));
}

/* Raise the version-conflict error. */
static void
raise_conflict(text *stream_id, int64 expected, int64 actual)
{
	char	   *name = text_to_cstring(stream_id);

	es_lifecycle_check_tombstoned(stream_id);	/* 55000, not retried */
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("version conflict on stream \"%s\"", name),
			 expected == 0
			 ? errdetail("Expected the stream not to exist, but it is at version " INT64_FORMAT ".",
						 actual)
			 : errdetail("Expected version " INT64_FORMAT ", but the stream is at version " INT64_FORMAT ".",
						 expected, actual),
			 errhint("Read the stream again, decide again, and retry."),
			 err_generic_string(PG_DIAG_SCHEMA_NAME, "es"),
			 err_generic_string(PG_DIAG_TABLE_NAME, "streams"),
			 err_generic_string(PG_DIAG_CONSTRAINT_NAME, ES_EXPECTED_VERSION_CONSTRAINT)));
}

/*
 * Current version of a stream (0 when it has none), under a fresh snapshot
 * in READ COMMITTED: after the version check waited for a concurrent
 * writer, this sees what that writer committed.
 */
static int64
current_version(text *stream_id)
{
	static const Oid argtypes[] = {TEXTOID};
	Datum		arg = PointerGetDatum(stream_id);
	bool		isnull;

	if (es_run_plan(es_keep_plan(&plan_version,
								 "SELECT s.version FROM es.streams s"
								 " WHERE s.stream_id OPERATOR(pg_catalog.=) $1",
								 1, argtypes),
					&arg, NULL, false, 1, SPI_OK_SELECT) == 0)
		return 0;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/* Text of an event id, for messages. */
static char *
uuid_text(pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
}

/*
 * Are the n events stored right after version `after` of the stream exactly
 * the batch's ids, in order?
 */
static bool
stored_after(Datum stream_id, int64 after, EsNewEvent *events, int n)
{
	static const Oid argtypes[] = {TEXTOID, INT8OID, INT8OID};
	Datum		values[3];
	uint64		rows;
	uint64		i;

	values[0] = stream_id;
	values[1] = Int64GetDatum(after);
	values[2] = Int64GetDatum(n);
	rows = es_run_plan(es_keep_plan(&plan_ids_after,
									"SELECT e.event_id FROM es.events e"
									" WHERE e.stream_id OPERATOR(pg_catalog.=) $1"
									" AND e.stream_version OPERATOR(pg_catalog.>) $2"
									" ORDER BY e.stream_version LIMIT $3",
									3, argtypes),
					   values, NULL, false, 0, SPI_OK_SELECT);
	if (rows != (uint64) n)
		return false;
	for (i = 0; i < rows; i++)
	{
		bool		isnull;
		Datum		id = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
									   1, &isnull);

		if (memcmp(DatumGetUUIDP(id)->data, events[i].event_id.data, UUID_LEN) != 0)
			return false;
	}
	return true;
}

/*
 * Is an event with this id stored (or written earlier in this transaction)?
 * A direct probe of es.events' unique index on event_id, under the snapshot
 * an SPI query would take (in READ COMMITTED a fresh one): the common
 * answer, no, costs no SPI round trip.  Does not advance the command
 * counter: it also runs inside the upsert's executor.
 */
static bool
event_id_stored(pg_uuid_t *id)
{
	Relation	heap = table_open(es_relid("events", false), AccessShareLock);
	Relation	index = index_open(es_relid("events_event_id_key", false), AccessShareLock);
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	Snapshot	snapshot;
	IndexScanDesc scan;
	ScanKeyData key;
	bool		found;

	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   InvalidOid, F_UUID_EQ, UUIDPGetDatum(id));
	scan = index_beginscan(heap, index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return found;
}

PG_FUNCTION_INFO_V1(es_append_id_stored);

/*
 * es.append_id_stored(event_id): the probe above, for the WHERE of the
 * upsert of an append with no expected version (evaluated on the stream's
 * row once it is locked).
 */
Datum
es_append_id_stored(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(event_id_stored(PG_GETARG_UUID_P(0)));
}

/*
 * With no expected version: is this batch a retry of the stream's last
 * events?  Returns the stream's version if so, -1 if the first id is new;
 * an id stored anywhere else is a unique violation.
 */
static int64
retry_of_tail(text *stream_id, EsNewEvent *events, int n)
{
	static const Oid argtypes[] = {UUIDOID};
	Datum		values[1];
	bool		isnull;
	text	   *found_stream;
	int64		found_version;
	int64		current;

	if (!event_id_stored(&events[0].event_id))
		return -1;
	values[0] = UUIDPGetDatum(&events[0].event_id);
	if (es_run_plan(es_keep_plan(&plan_find_id,
								 "SELECT e.stream_id, e.stream_version FROM es.events e"
								 " WHERE e.event_id OPERATOR(pg_catalog.=) $1",
								 1, argtypes),
					values, NULL, false, 1, SPI_OK_SELECT) == 0)
		return -1;

	found_stream = DatumGetTextPP(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
	found_version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 2, &isnull));
	if (VARSIZE_ANY_EXHDR(found_stream) == VARSIZE_ANY_EXHDR(stream_id) &&
		memcmp(VARDATA_ANY(found_stream), VARDATA_ANY(stream_id),
			   VARSIZE_ANY_EXHDR(stream_id)) == 0)
	{
		current = current_version(stream_id);
		if (current == found_version + n - 1 &&
			stored_after(PointerGetDatum(stream_id), found_version - 1, events, n))
			return current;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("event id %s is already stored", uuid_text(&events[0].event_id)),
			 errdetail("It is event " INT64_FORMAT " of stream \"%s\", and the batch is not a retry of that stream's last events.",
					   found_version, text_to_cstring(found_stream)),
			 err_generic_string(PG_DIAG_SCHEMA_NAME, "es"),
			 err_generic_string(PG_DIAG_TABLE_NAME, "events"),
			 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "events_event_id_key")));
	return -1;					/* keep compiler quiet */
}

/*
 * Run the version check for an expected version (any_version: none, and
 * first_id the batch's first event id) and return the stream's new
 * version, or -1 when the expectation failed -- with no expected version:
 * when first_id was stored by the time the stream's row was locked.
 */
static int64
claim_versions(text *stream_id, bool any_version, int64 expected, int n,
			   pg_uuid_t *first_id)
{
	static const Oid any_types[] = {TEXTOID, TEXTOID, INT8OID, UUIDOID};
	static const Oid upsert_types[] = {TEXTOID, TEXTOID, INT8OID};
	static const Oid update_types[] = {TEXTOID, INT8OID, INT8OID};
	Datum		values[4];
	bool		isnull;
	uint64		rows;
	int64		target;

	values[0] = PointerGetDatum(stream_id);
	if (any_version)
	{
		values[1] = stream_category(stream_id);
		values[2] = Int64GetDatum(n);
		values[3] = UUIDPGetDatum(first_id);
		rows = es_run_plan(es_keep_plan(&plan_upsert_any,
										"INSERT INTO es.streams AS s"
										" (stream_id, category, version, created_at, updated_at)"
										" VALUES ($1, $2, $3, pg_catalog.now(), pg_catalog.now())"
										" ON CONFLICT (stream_id) DO UPDATE"
										" SET version = s.version OPERATOR(pg_catalog.+) $3,"
										" updated_at = pg_catalog.now()"
										" WHERE NOT es.append_id_stored($4)"
										" RETURNING s.version",
										4, any_types),
						   values, NULL, false, 0, SPI_OK_INSERT_RETURNING);
	}
	else if (expected == 0)
	{
		values[1] = stream_category(stream_id);
		values[2] = Int64GetDatum(n);
		rows = es_run_plan(es_keep_plan(&plan_insert_new,
										"INSERT INTO es.streams AS s"
										" (stream_id, category, version, created_at, updated_at)"
										" VALUES ($1, $2, $3, pg_catalog.now(), pg_catalog.now())"
										" ON CONFLICT (stream_id) DO NOTHING"
										" RETURNING s.version",
										3, upsert_types),
						   values, NULL, false, 0, SPI_OK_INSERT_RETURNING);
	}
	else
	{
		/* a version that cannot be reached cannot be the current one */
		if (pg_add_s64_overflow(expected, n, &target))
			return -1;
		values[1] = Int64GetDatum(expected);
		values[2] = Int64GetDatum(target);
		rows = es_run_plan(es_keep_plan(&plan_update_exact,
										"UPDATE es.streams AS s"
										" SET version = $3, updated_at = pg_catalog.now()"
										" WHERE s.stream_id OPERATOR(pg_catalog.=) $1"
										" AND s.version OPERATOR(pg_catalog.=) $2"
										" RETURNING s.version",
										3, update_types),
						   values, NULL, false, 0, SPI_OK_UPDATE_RETURNING);
	}
	if (rows == 0)
		return -1;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Insert the batch as versions first .. first + n - 1 of the stream: a
 * batch with tags through dcb.c, the others directly (event_insert.c).
 */
static void
insert_events(text *stream_id, int64 first, EsNewEvent *events, int n)
{
	if (es_dcb_insert_tagged(stream_id, first, events, n))
		return;
	es_insert_events(stream_id, first, events, n);
}

/*
 * Append the checked batch, under the condition cond (NULL: none); runs
 * inside SPI as the extension's owner.
 */
static int64
append_batch(text *stream_id, bool any_version, int64 expected,
			 EsNewEvent *events, int n, const EsDcbCondition *cond)
{
	int64		new_version;

	/* the lock buckets of the events' types and tags, the condition */
	es_dcb_append_begin(cond, events, n);

	if (any_version)
	{
		for (;;)
		{
			int64		retried;

			CHECK_FOR_INTERRUPTS();
			new_version = claim_versions(stream_id, true, 0, n, &events[0].event_id);
			/* an existing stream whose row's WHERE found the first id new */
			if (new_version > n)
				break;
			/*
			 * The first id is stored (the version did not move), or the
			 * stream is new (not probed yet): a retry returns the version,
			 * an id stored elsewhere raises.
			 */
			retried = retry_of_tail(stream_id, events, n);
			if (retried >= 0)
				return retried;
			if (new_version >= 0)
				break;
			/*
			 * The id was stored when the row was locked and is not now
			 * (purged in between): claim again.
			 */
		}
		insert_events(stream_id, new_version - n + 1, events, n);
		return new_version;
	}
	new_version = claim_versions(stream_id, false, expected, n, NULL);
	if (new_version < 0)
	{
		if (stored_after(PointerGetDatum(stream_id), expected, events, n))
			return expected + n;
		raise_conflict(stream_id, expected,
					   current_version(stream_id));
	}
	insert_events(stream_id, new_version - n + 1, events, n);
	return new_version;
}

/*
 * es.append's arguments (stream_id, expected_version, VARIADIC events),
 * from argument argoff on, appended under the condition cond (NULL: none).
 */
int64
es_append_call(FunctionCallInfo fcinfo, int argoff, const EsDcbCondition *cond)
{
	text	   *stream_id = es_check_stream_id(fcinfo, argoff);
	bool		any_version = PG_ARGISNULL(argoff + 1);
	int64		expected = any_version ? 0 : PG_GETARG_INT64(argoff + 1);
	EsNewEvent *events;
	int			n;
	EsUserSwitch save;
	volatile int64 new_version = 0;

	if (expected < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expected_version must not be negative"),
				 errhint("Pass NULL to append at any version, 0 for a new stream, or the version the stream was read at.")));
	es_check_not_null(fcinfo, argoff + 2, "events", NULL);
	n = es_unpack_events(PG_GETARG_ARRAYTYPE_P(argoff + 2), &events);
	es_lifecycle_check_append(stream_id, events, n);	/* "$" names: 42939 */

	es_become_owner(&save);
	save.appending = true;
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		new_version = append_batch(stream_id, any_version, expected, events, n, cond);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();

	return new_version;
}

PG_FUNCTION_INFO_V1(es_append);

/* es.append(stream_id, expected_version, VARIADIC events) */
Datum
es_append(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(es_append_call(fcinfo, 0, NULL));
}

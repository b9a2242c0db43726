/*
 * lifecycle.c
 *	  The stream lifecycle, write side: soft delete, tombstone and
 *	  truncation of a stream, retention policies by category, the
 *	  lifecycle events, and es.purge.
 *
 * A stream's visibility lives in its row of es.streams: hidden_through
 * (events at or below it are hidden from the stream's reads) and
 * tombstoned (every event hidden, every write refused, the id never used
 * again).  es.delete_stream, es.tombstone_stream and es.truncate_stream
 * lock that row FOR UPDATE, as an append's version check does, so they
 * serialize with the stream's appenders; they check an expected version
 * as an append does (40001, constraint es_expected_version), change the
 * row and write one lifecycle event ($deleted, $tombstoned, $truncated)
 * to the companion stream '$' || stream_id, through es.append itself (so
 * the event gets a position, wakes the log's readers and feeds
 * projections like any other).  An operation that would change nothing
 * (a second delete with no append in between, a truncation below the
 * current one, a second tombstone) writes nothing and succeeds.
 *
 * Names that begin with `$` are reserved for these events: es.append
 * refuses such a stream id or event type (42939) unless this module is
 * writing, which it says with a one-shot token naming the companion
 * stream, taken by the first es.append that checks it (no user code runs
 * between the token's setting and that check).
 *
 * A tombstoned stream refuses every append with 55000 (constraint
 * es_stream_tombstoned), never 40001, since retrying cannot help: the
 * trigger es.refuse_tombstoned refuses any UPDATE of a tombstoned row
 * (the version check of an append that would succeed), and es.append
 * calls es_lifecycle_check_tombstoned before reporting a failed version
 * check.  The retry of a batch stored before the tombstone still returns
 * its version (it writes nothing).
 *
 * Retention policies are rows of es.retention_registry, one per category,
 * created by anyone granted es.create_retention and dropped by their owner.
 *
 * es.purge deletes, batch by batch, each batch committed, the events that
 * are hidden now (the predicate of the lifecycle contract, with the batch
 * transaction's start as "now"), never an event of a `$` stream, and the
 * snapshots of the streams it purged at or above the first version purged
 * (they cover an event that is gone).  Why no long lock is needed: every
 * input of the predicate only ever hides more (hidden_through and version
 * grow, a tombstone stays), except retention policies, which a batch
 * locks FOR SHARE in the statement that deletes, so dropping or loosening
 * a policy waits for the batch.  Readers of the log never depended on a
 * hidden event being there: a position that vanishes is one they skip,
 * like a rolled-back one.
 *
 * The door: es.events' immutability trigger refuses every DELETE except
 * the one statement this module runs with a backend-local flag set just
 * before it and taken by the trigger's first firing.  No setting, role or
 * function a caller can reach opens it.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "check.h"
#include "event.h"
#include "lifecycle.h"

/* What es.purge does when no batch size or pause is given (SQL defaults). */
#define PURGE_DEFAULT_BATCH 10000
#define PURGE_DEFAULT_PAUSE_MS 250

static SPIPlanPtr plan_lock = NULL;
static SPIPlanPtr plan_reserve = NULL;
static SPIPlanPtr plan_tombstone = NULL;
static SPIPlanPtr plan_hide = NULL;
static SPIPlanPtr plan_write_event = NULL;
static SPIPlanPtr plan_is_tombstoned = NULL;
static SPIPlanPtr plan_retention_insert = NULL;
static SPIPlanPtr plan_retention_lock = NULL;
static SPIPlanPtr plan_retention_delete = NULL;
static SPIPlanPtr plan_purge = NULL;

/*
 * The companion stream this module is appending its lifecycle event to,
 * or NULL: the token es_lifecycle_check_append takes.
 */
static text *system_write_stream = NULL;

/* Is the purge's DELETE about to run? (the door of the immutability trigger) */
static bool purge_door_open = false;

/* Equal texts, byte for byte? */
static bool
text_equal(text *a, text *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/* Check a batch of es.append for reserved names. */
void
es_lifecycle_check_append(text *stream_id, EsNewEvent *events, int n)
{
	text	   *token = system_write_stream;
	int			i;

	system_write_stream = NULL;
	if (token != NULL && text_equal(token, stream_id))
		return;
	es_check_not_reserved(stream_id, "stream id", NULL);
	for (i = 0; i < n; i++)
	{
		char		label[48];

		snprintf(label, sizeof(label), "event %d of the batch", i + 1);
		es_check_not_reserved(DatumGetTextPP(events[i].event_type), "event type", label);
	}
}

/* Raise the error of a write to a tombstoned stream. */
static void
raise_tombstoned(const char *stream_id, int64 version)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("stream \"%s\" is tombstoned", stream_id),
			 errdetail("The stream was tombstoned at version " INT64_FORMAT "; nothing can be written to it again.",
					   version),
			 errhint("Do not retry: the stream id is closed for good. Use a new stream id."),
			 err_generic_string(PG_DIAG_SCHEMA_NAME, "es"),
			 err_generic_string(PG_DIAG_TABLE_NAME, "streams"),
			 err_generic_string(PG_DIAG_CONSTRAINT_NAME, ES_STREAM_TOMBSTONED_CONSTRAINT)));
}

/* Raise 55000 if the stream is tombstoned (inside SPI, as the owner). */
void
es_lifecycle_check_tombstoned(text *stream_id)
{
	static const Oid argtypes[] = {TEXTOID};
	Datum		arg = PointerGetDatum(stream_id);
	bool		isnull;

	if (es_run_plan(es_keep_plan(&plan_is_tombstoned,
								 "SELECT s.version FROM es.streams s"
								 " WHERE s.stream_id OPERATOR(pg_catalog.=) $1 AND s.tombstoned",
								 1, argtypes),
					&arg, NULL, false, 1, SPI_OK_SELECT) == 0)
		return;
	raise_tombstoned(text_to_cstring(stream_id),
					 DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1, &isnull)));
}

PG_FUNCTION_INFO_V1(es_refuse_tombstoned);

/*
 * Trigger function (BEFORE UPDATE ... FOR EACH ROW WHEN (OLD.tombstoned)
 * on es.streams): refuse any change of a tombstoned stream's row, such as
 * the version check of an append that expected its version.
 */
Datum
es_refuse_tombstoned(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	bool		isnull;
	Datum		id;
	Datum		version;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.refuse_tombstoned() was not called by trigger manager")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.refuse_tombstoned() must be fired BEFORE UPDATE, FOR EACH ROW")));
	desc = RelationGetDescr(trigdata->tg_relation);
	id = heap_getattr(trigdata->tg_trigtuple, SPI_fnumber(desc, "stream_id"), desc, &isnull);
	if (isnull)
		elog(ERROR, "es.streams row without stream_id");
	version = heap_getattr(trigdata->tg_trigtuple, SPI_fnumber(desc, "version"), desc, &isnull);
	raise_tombstoned(TextDatumGetCString(id), isnull ? 0 : DatumGetInt64(version));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

/* Raise the version-conflict error of a lifecycle operation. */
static void
raise_conflict(text *stream_id, int64 expected, int64 actual)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("version conflict on stream \"%s\"", text_to_cstring(stream_id)),
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

/* Refuse (42704) an operation on a stream that does not exist. */
static void
raise_unknown(text *stream_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("stream \"%s\" does not exist", text_to_cstring(stream_id)),
			 errdetail("No event was ever appended to it.")));
}

/* Check an expected_version argument: NULL (any) or not negative. */
static bool
expected_arg(FunctionCallInfo fcinfo, int argno, int64 *expected)
{
	if (PG_ARGISNULL(argno))
		return false;
	*expected = PG_GETARG_INT64(argno);
	if (*expected < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expected_version must not be negative"),
				 errhint("Pass NULL for any version, or the version the stream was read at.")));
	return true;
}

/* A stream's row, as locked by lock_stream. */
typedef struct StreamRow
{
	bool		found;
	int64		version;
	int64		hidden_through;
	bool		tombstoned;
} StreamRow;

/*
 * Lock the stream's row FOR UPDATE (waiting for its appenders, as they
 * wait for each other) and read it, under a snapshot taken after the wait
 * in READ COMMITTED.  Inside SPI, as the owner.
 */
static void
lock_stream(text *stream_id, StreamRow *row)
{
	static const Oid argtypes[] = {TEXTOID};
	Datum		arg = PointerGetDatum(stream_id);
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	row->found = es_run_plan(es_keep_plan(&plan_lock,
										  "SELECT s.version, s.hidden_through, s.tombstoned"
										  " FROM es.streams s"
										  " WHERE s.stream_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
										  1, argtypes),
							 &arg, NULL, false, 0, SPI_OK_SELECT) > 0;
	if (!row->found)
		return;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	row->version = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	row->hidden_through = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	row->tombstoned = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
}

/* Set the stream's hidden_through (its row locked). */
static void
set_hidden_through(text *stream_id, int64 hidden_through)
{
	static const Oid argtypes[] = {TEXTOID, INT8OID};
	Datum		values[2];

	values[0] = PointerGetDatum(stream_id);
	values[1] = Int64GetDatum(hidden_through);
	es_run_plan(es_keep_plan(&plan_hide,
							 "UPDATE es.streams AS s"
							 " SET hidden_through = $2, updated_at = pg_catalog.now()"
							 " WHERE s.stream_id OPERATOR(pg_catalog.=) $1",
							 2, argtypes),
				values, NULL, false, 0, SPI_OK_UPDATE);
}

/* Append a JSON string to buf. */
static void
json_string(StringInfo buf, const char *s)
{
	escape_json(buf, s);
}

/*
 * Write a lifecycle event to the companion stream '$' || stream_id through
 * es.append, as the owner, with data {"stream_id", "version", extra...}
 * and metadata {"role": the caller}.  Inside SPI.
 */
static void
write_event(text *stream_id, const char *type, int64 version,
			const char *extra_key, int64 extra_value, Oid caller)
{
	static const Oid argtypes[] = {TEXTOID, TEXTOID, JSONBOID, JSONBOID};
	Size		len = VARSIZE_ANY_EXHDR(stream_id);
	text	   *companion = palloc(VARHDRSZ + len + 1);
	StringInfoData data;
	StringInfoData meta;
	Datum		values[4];
	char	   *id = text_to_cstring(stream_id);

	SET_VARSIZE(companion, VARHDRSZ + len + 1);
	VARDATA(companion)[0] = '$';
	memcpy(VARDATA(companion) + 1, VARDATA_ANY(stream_id), len);

	initStringInfo(&data);
	appendStringInfoString(&data, "{\"stream_id\": ");
	json_string(&data, id);
	appendStringInfo(&data, ", \"version\": " INT64_FORMAT, version);
	if (extra_key)
		appendStringInfo(&data, ", \"%s\": " INT64_FORMAT, extra_key, extra_value);
	appendStringInfoChar(&data, '}');
	initStringInfo(&meta);
	appendStringInfoString(&meta, "{\"role\": ");
	json_string(&meta, GetUserNameFromId(caller, false));
	appendStringInfoChar(&meta, '}');

	values[0] = PointerGetDatum(companion);
	values[1] = CStringGetTextDatum(type);
	values[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(data.data));
	values[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(meta.data));

	/* taken by the es.append below, before any user code can run */
	system_write_stream = companion;
	PG_TRY();
	{
		es_run_plan(es_keep_plan(&plan_write_event,
								 "SELECT es.append($1, NULL,"
								 " ROW($2, $3, $4, NULL, NULL, 1, NULL)::es.new_event)",
								 4, argtypes),
					values, NULL, false, 0, SPI_OK_SELECT);
	}
	PG_FINALLY();
	{
		system_write_stream = NULL;
	}
	PG_END_TRY();
}

/* The lifecycle operations, after their arguments are checked. */
typedef enum LifecycleOp
{
	OP_DELETE,
	OP_TOMBSTONE,
	OP_TRUNCATE
} LifecycleOp;

/*
 * Reserve a never-written id as tombstoned (version 0).  False when a
 * concurrent appender created the stream first (lock it and look again).
 */
static bool
reserve_tombstoned(text *stream_id)
{
	static const Oid argtypes[] = {TEXTOID};
	Datum		arg = PointerGetDatum(stream_id);

	return es_run_plan(es_keep_plan(&plan_reserve,
									"INSERT INTO es.streams AS s"
									" (stream_id, category, version, created_at, updated_at,"
									" hidden_through, tombstoned)"
									" VALUES ($1, pg_catalog.split_part($1, '-', 1), 0,"
									" pg_catalog.now(), pg_catalog.now(), 0, true)"
									" ON CONFLICT (stream_id) DO NOTHING RETURNING s.version",
									1, argtypes),
					   &arg, NULL, false, 0, SPI_OK_INSERT_RETURNING) > 0;
}

/* Tombstone the stream (its row locked). */
static void
set_tombstoned(text *stream_id)
{
	static const Oid argtypes[] = {TEXTOID};
	Datum		arg = PointerGetDatum(stream_id);

	es_run_plan(es_keep_plan(&plan_tombstone,
							 "UPDATE es.streams AS s"
							 " SET tombstoned = true, updated_at = pg_catalog.now()"
							 " WHERE s.stream_id OPERATOR(pg_catalog.=) $1",
							 1, argtypes),
				&arg, NULL, false, 0, SPI_OK_UPDATE);
}

/*
 * Run a lifecycle operation inside SPI, as the owner; returns the stream's
 * version.  arg: the expected version (has_expected) or before_version.
 */
static int64
run_op(LifecycleOp op, text *stream_id, bool has_expected, int64 arg, Oid caller)
{
	StreamRow	row;

	for (;;)
	{
		lock_stream(stream_id, &row);
		if (row.found || op != OP_TOMBSTONE)
			break;
		/* tombstoning an id never written reserves it */
		if (has_expected && arg != 0)
			raise_conflict(stream_id, arg, 0);
		if (reserve_tombstoned(stream_id))
		{
			write_event(stream_id, "$tombstoned", 0, NULL, 0, caller);
			return 0;
		}
		CHECK_FOR_INTERRUPTS();
	}
	if (!row.found)
		raise_unknown(stream_id);
	if (row.tombstoned)
	{
		if (op == OP_TOMBSTONE)
			return row.version; /* already: nothing to do */
		raise_tombstoned(text_to_cstring(stream_id), row.version);
	}
	if (op != OP_TRUNCATE && has_expected && arg != row.version)
		raise_conflict(stream_id, arg, row.version);

	switch (op)
	{
		case OP_DELETE:
			if (row.hidden_through < row.version)
			{
				set_hidden_through(stream_id, row.version);
				write_event(stream_id, "$deleted", row.version, NULL, 0, caller);
			}
			break;
		case OP_TOMBSTONE:
			set_tombstoned(stream_id);
			write_event(stream_id, "$tombstoned", row.version, NULL, 0, caller);
			break;
		case OP_TRUNCATE:
			if (arg > row.version + 1)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("before_version " INT64_FORMAT " is beyond the end of stream \"%s\"",
								arg, text_to_cstring(stream_id)),
						 errdetail("The stream is at version " INT64_FORMAT "; before_version may be at most " INT64_FORMAT ".",
								   row.version, row.version + 1)));
			if (arg - 1 > row.hidden_through)
			{
				set_hidden_through(stream_id, arg - 1);
				write_event(stream_id, "$truncated", row.version, "before_version", arg, caller);
			}
			break;
	}
	return row.version;
}

/* Check the arguments' stream id, then run op as the owner. */
static int64
lifecycle_call(FunctionCallInfo fcinfo, LifecycleOp op, bool has_expected, int64 arg)
{
	text	   *stream_id = es_check_stream_id(fcinfo, 0);
	Oid			caller = GetUserId();
	EsUserSwitch save;
	volatile int64 version = 0;

	es_check_not_reserved(stream_id, "stream id", NULL);
	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		version = run_op(op, stream_id, has_expected, arg, caller);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	return version;
}

PG_FUNCTION_INFO_V1(es_delete_stream);

/* es.delete_stream(stream_id, expected_version) */
Datum
es_delete_stream(PG_FUNCTION_ARGS)
{
	int64		expected = 0;
	bool		has_expected = expected_arg(fcinfo, 1, &expected);

	PG_RETURN_INT64(lifecycle_call(fcinfo, OP_DELETE, has_expected, expected));
}

PG_FUNCTION_INFO_V1(es_tombstone_stream);

/* es.tombstone_stream(stream_id, expected_version) */
Datum
es_tombstone_stream(PG_FUNCTION_ARGS)
{
	int64		expected = 0;
	bool		has_expected = expected_arg(fcinfo, 1, &expected);

	PG_RETURN_INT64(lifecycle_call(fcinfo, OP_TOMBSTONE, has_expected, expected));
}

PG_FUNCTION_INFO_V1(es_truncate_stream);

/* es.truncate_stream(stream_id, before_version) */
Datum
es_truncate_stream(PG_FUNCTION_ARGS)
{
	int64		before;

	es_check_not_null(fcinfo, 1, "before_version",
					  "Pass the first version the stream's reads should keep.");
	before = PG_GETARG_INT64(1);
	if (before < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("before_version must be at least 1"),
				 errdetail("The before_version given is " INT64_FORMAT ".", before)));
	PG_RETURN_INT64(lifecycle_call(fcinfo, OP_TRUNCATE, false, before));
}

/* Check a category argument of the retention functions; returns it detoasted. */
static text *
check_category(FunctionCallInfo fcinfo, int argno)
{
	text	   *category;
	Size		len;

	es_check_not_null(fcinfo, argno, "category", NULL);
	category = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(category);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("category must not be empty")));
	if (len > ES_MAX_STREAM_ID_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("category is too long"),
				 errdetail("The category has %zu bytes; at most %d are allowed.",
						   len, ES_MAX_STREAM_ID_BYTES)));
	if (memchr(VARDATA_ANY(category), '-', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("category \"%s\" contains \"-\"", text_to_cstring(category)),
				 errdetail("A category is the part of a stream id before its first \"-\".")));
	es_check_not_reserved(category, "category", NULL);
	return category;
}

PG_FUNCTION_INFO_V1(es_create_retention);

/* es.create_retention(category, max_age, max_count) */
Datum
es_create_retention(PG_FUNCTION_ARGS)
{
	static const Oid argtypes[] = {TEXTOID, INTERVALOID, INT8OID, OIDOID};
	text	   *category = check_category(fcinfo, 0);
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	EsUserSwitch save;

	if (PG_ARGISNULL(1) && PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a retention policy needs max_age or max_count"),
				 errhint("Pass max_age (keep events recorded within it), max_count (keep each stream's last events), or both.")));
	if (!PG_ARGISNULL(1))
	{
		Interval   *zero = palloc0(sizeof(Interval));

		if (!DatumGetBool(DirectFunctionCall2(interval_gt, PG_GETARG_DATUM(1),
											  IntervalPGetDatum(zero))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_age must be positive"),
					 errdetail("The max_age given is %s.",
							   DatumGetCString(DirectFunctionCall1(interval_out,
																   PG_GETARG_DATUM(1))))));
	}
	if (!PG_ARGISNULL(2) && PG_GETARG_INT64(2) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must be at least 1"),
				 errdetail("The max_count given is " INT64_FORMAT ".", PG_GETARG_INT64(2))));

	values[0] = PointerGetDatum(category);
	values[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';
	values[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	values[3] = ObjectIdGetDatum(GetUserId());

	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (es_run_plan(es_keep_plan(&plan_retention_insert,
									 "INSERT INTO es.retention_registry AS r"
									 " (category, max_age, max_count, owner)"
									 " VALUES ($1, $2, $3, $4::pg_catalog.regrole)"
									 " ON CONFLICT (category) DO NOTHING RETURNING r.category",
									 4, argtypes),
						values, nulls, false, 0, SPI_OK_INSERT_RETURNING) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("a retention policy for category \"%s\" already exists",
							text_to_cstring(category)),
					 errhint("Drop it first with es.drop_retention().")));
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(es_drop_retention);

/* es.drop_retention(category) */
Datum
es_drop_retention(PG_FUNCTION_ARGS)
{
	static const Oid argtypes[] = {TEXTOID};
	text	   *category = check_category(fcinfo, 0);
	Oid			caller = GetUserId();
	Datum		arg = PointerGetDatum(category);
	EsUserSwitch save;

	es_become_owner(&save);
	PG_TRY();
	{
		bool		isnull;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* waits for a purge batch that applies the policy */
		if (es_run_plan(es_keep_plan(&plan_retention_lock,
									 "SELECT r.owner::pg_catalog.oid FROM es.retention_registry r"
									 " WHERE r.category OPERATOR(pg_catalog.=) $1 FOR UPDATE",
									 1, argtypes),
						&arg, NULL, false, 0, SPI_OK_SELECT) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no retention policy for category \"%s\"", text_to_cstring(category))));
		es_check_owner(DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 1, &isnull)),
					   caller, "retention policy", text_to_cstring(category), "drop");
		es_run_plan(es_keep_plan(&plan_retention_delete,
								 "DELETE FROM es.retention_registry r"
								 " WHERE r.category OPERATOR(pg_catalog.=) $1",
								 1, argtypes),
					&arg, NULL, false, 0, SPI_OK_DELETE);
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/* Is this DELETE es.purge's own?  Closes the door. */
bool
es_lifecycle_purge_door(Oid relid)
{
	bool		open = purge_door_open;

	purge_door_open = false;
	return open && relid == es_relid("events", false);
}

/*
 * One purge batch: delete up to batch hidden events of the streams from
 * *resume on (in stream id order), and the snapshots that cover them.
 * Returns whether the streams were scanned to the end; *resume moves to
 * the last stream purged.  Inside SPI, as the owner, in its own
 * transaction.
 */
static bool
purge_batch(int32 batch, text **resume, MemoryContext keep,
			int64 *events, int64 *snapshots)
{
	static const Oid argtypes[] = {TEXTOID, INT8OID};
	Datum		values[2];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		last;
	int64		seen;

	values[0] = PointerGetDatum(*resume);
	values[1] = Int64GetDatum(batch);
	/*
	 * The policies are locked FOR SHARE in the statement that deletes, so
	 * that dropping or loosening one waits for the batch to commit.  The
	 * streams are not locked: what hides their events only ever grows.
	 */
	(void) es_keep_plan(&plan_purge,
						"WITH r AS MATERIALIZED ("
						"  SELECT p.category, p.max_age, p.max_count"
						"  FROM es.retention_registry p FOR SHARE),"
						" v AS MATERIALIZED ("
						"  SELECT s.stream_id, h.stream_version"
						"  FROM es.streams s"
						"  LEFT JOIN r ON r.category OPERATOR(pg_catalog.=) s.category"
						"  CROSS JOIN LATERAL ("
						"   SELECT e.stream_version FROM es.events e"
						"   WHERE e.stream_id OPERATOR(pg_catalog.=) s.stream_id"
						"   AND (s.tombstoned"
						"    OR e.stream_version OPERATOR(pg_catalog.<=) s.hidden_through"
						"    OR e.stream_version OPERATOR(pg_catalog.<=)"
						"       (s.version OPERATOR(pg_catalog.-) r.max_count)"
						"    OR e.recorded_at OPERATOR(pg_catalog.<)"
						"       (pg_catalog.now() OPERATOR(pg_catalog.-) r.max_age))"
						"   ORDER BY e.stream_version LIMIT $2) h"
						"  WHERE s.stream_id OPERATOR(pg_catalog.>=) $1"
						"  AND (s.tombstoned OR s.hidden_through OPERATOR(pg_catalog.>) 0"
						"       OR r.category IS NOT NULL)"
						"  AND NOT pg_catalog.starts_with(s.stream_id, '$')"
						"  ORDER BY s.stream_id LIMIT $2),"
						" d AS ("
						"  DELETE FROM es.events e USING v"
						"  WHERE e.stream_id OPERATOR(pg_catalog.=) v.stream_id"
						"  AND e.stream_version OPERATOR(pg_catalog.=) v.stream_version"
						"  RETURNING e.stream_id, e.stream_version),"
						" m AS ("
						"  SELECT d.stream_id, pg_catalog.min(d.stream_version) AS first"
						"  FROM d GROUP BY d.stream_id),"
						" ds AS ("
						"  DELETE FROM es.snapshots sn USING m"
						"  WHERE sn.stream_id OPERATOR(pg_catalog.=) m.stream_id"
						"  AND sn.stream_version OPERATOR(pg_catalog.>=) m.first"
						"  RETURNING 1)"
						" SELECT (SELECT pg_catalog.count(*) FROM v),"
						" (SELECT pg_catalog.max(v.stream_id) FROM v),"
						" (SELECT pg_catalog.count(*) FROM d),"
						" (SELECT pg_catalog.count(*) FROM ds)",
						2, argtypes);

	purge_door_open = true;
	PG_TRY();
	{
		es_run_plan(plan_purge, values, NULL, false, 0, SPI_OK_SELECT);
	}
	PG_FINALLY();
	{
		purge_door_open = false;
	}
	PG_END_TRY();

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	seen = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	last = SPI_getbinval(tup, desc, 2, &isnull);
	if (!isnull)
	{
		MemoryContext old = MemoryContextSwitchTo(keep);

		*resume = DatumGetTextPCopy(last);
		MemoryContextSwitchTo(old);
	}
	*events += DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	*snapshots += DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	return seen < batch;
}

/* A purge batch as the owner; returns whether the purge is done. */
static bool
purge_batch_as_owner(int32 batch, text **resume, MemoryContext keep,
					 int64 *events, int64 *snapshots)
{
	EsUserSwitch save;
	volatile bool done = false;

	es_become_owner(&save);
	PG_TRY();
	{
		done = purge_batch(batch, resume, keep, events, snapshots);
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	return done;
}

PG_FUNCTION_INFO_V1(es_purge);

/*
 * CALL es.purge(batch_size, pause_ms): delete the hidden events,
 * batch_size at a time, committing after each batch and then pausing
 * pause_ms milliseconds (a purge's share of the machine).
 */
Datum
es_purge(PG_FUNCTION_ARGS)
{
	CallContext *call = (fcinfo->context && IsA(fcinfo->context, CallContext))
		? (CallContext *) fcinfo->context : NULL;
	int32		batch;
	int32		pause_ms;
	MemoryContext keep;
	text	   *resume;
	int64		events = 0;
	int64		snapshots = 0;
	bool		done = false;

	es_check_not_null(fcinfo, 0, "batch_size", NULL);
	batch = PG_GETARG_INT32(0);
	es_check_not_null(fcinfo, 1, "pause_ms",
					  psprintf("Pass 0 not to pause between batches; the default is %d.",
							   PURGE_DEFAULT_PAUSE_MS));
	pause_ms = PG_GETARG_INT32(1);
	if (pause_ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pause_ms must not be negative"),
				 errdetail("The pause_ms given is %d.", pause_ms)));
	if (batch < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1"),
				 errdetail("The batch_size given is %d.", batch),
				 errhint("The default is %d events per batch.", PURGE_DEFAULT_BATCH)));
	if (call == NULL || call->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("es.purge() cannot run inside a transaction block"),
				 errdetail("It commits after every batch, so that it holds no lock for long."),
				 errhint("CALL es.purge() on its own, outside BEGIN ... COMMIT and outside functions.")));

	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* in SPI's procedure context: survives the commits */
	keep = AllocSetContextCreate(CurrentMemoryContext, "es.purge",
								 ALLOCSET_SMALL_SIZES);
	resume = (text *) MemoryContextAllocZero(keep, VARHDRSZ);
	SET_VARSIZE(resume, VARHDRSZ);
	while (!done)
	{
		CHECK_FOR_INTERRUPTS();
		done = purge_batch_as_owner(batch, &resume, keep, &events, &snapshots);
		elog(DEBUG1, "es.purge: " INT64_FORMAT " events and " INT64_FORMAT " snapshots purged so far",
			 events, snapshots);
		SPI_commit();
		/* leave the machine to the appenders for a while */
		if (!done && pause_ms > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 pause_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
	MemoryContextDelete(keep);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_VOID();
}

/*
 * read.c
 *	  Reading streams: es.stream_version and es.read_stream.
 *
 * Rows are read through a cursor in batches and handed to a tuplestore,
 * which spills to disk past work_mem: a long stream never has to fit in the
 * backend's memory.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "event_sourcing.h"
#include "append.h"
#include "catalog.h"
#include "read.h"
#include "upcast.h"

/* Rows fetched from the cursor at a time. */
#define READ_BATCH 1000

static SPIPlanPtr plan_version = NULL;
static SPIPlanPtr plan_forward = NULL;
static SPIPlanPtr plan_backward = NULL;

/* Current version of a stream, 0 when it has no events. */
int64
es_stream_version_spi(Datum stream_id, bool fresh_snapshot)
{
	static const Oid argtypes[] = {TEXTOID};
	bool		isnull;

	if (es_run_plan(es_keep_plan(&plan_version,
								 "SELECT s.version FROM es.streams s"
								 " WHERE s.stream_id OPERATOR(pg_catalog.=) $1",
								 1, argtypes),
					&stream_id, NULL, !fresh_snapshot, 1, SPI_OK_SELECT) == 0)
		return 0;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Fetch every row of an open cursor over ES_EVENT_COLUMNS in batches,
 * upcast each, and put it into the tuplestore; closes the cursor.  Scratch
 * memory is reset per batch, so memory does not grow with the stream.
 */
void
es_read_into(Portal portal, Tuplestorestate *store, TupleDesc desc)
{
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"es_read_into batch",
													ALLOCSET_DEFAULT_SIZES);

	if (desc->natts != ES_EVENT_NATTS)
		elog(ERROR, "es.events has %d columns, expected %d",
			 desc->natts, ES_EVENT_NATTS);
	for (;;)
	{
		uint64		i;
		MemoryContext old;

		SPI_cursor_fetch(portal, true, READ_BATCH);
		if (SPI_processed == 0)
			break;
		if (SPI_tuptable->tupdesc->natts != ES_EVENT_NATTS)
			elog(ERROR, "cursor returned %d columns, expected %d",
				 SPI_tuptable->tupdesc->natts, ES_EVENT_NATTS);
		old = MemoryContextSwitchTo(batch_cxt);
		for (i = 0; i < SPI_processed; i++)
		{
			Datum		row[ES_EVENT_NATTS];
			bool		rownulls[ES_EVENT_NATTS];

			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
							  row, rownulls);
			es_upcast_row(row, rownulls);
			tuplestore_putvalues(store, desc, row, rownulls);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(batch_cxt);
}

PG_FUNCTION_INFO_V1(es_stream_version);

/* es.stream_version(stream_id): the stream's version, 0 when it is empty. */
Datum
es_stream_version(PG_FUNCTION_ARGS)
{
	text	   *stream_id = es_check_stream_id(fcinfo, 0);
	EsUserSwitch save;
	volatile int64 version = 0;

	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		version = es_stream_version_spi(PointerGetDatum(stream_id), false);
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_INT64(version);
}

/* Check a bigint argument that may be null but not negative. */
static void
check_not_negative(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (!PG_ARGISNULL(argno) && PG_GETARG_INT64(argno) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", name)));
}

PG_FUNCTION_INFO_V1(es_read_stream);

/*
 * es.read_stream(stream_id, from_version, max_count, backwards): a stream's
 * events in version order (or the reverse) from an inclusive bound.
 */
Datum
es_read_stream(PG_FUNCTION_ARGS)
{
	static const Oid argtypes[] = {TEXTOID, INT8OID, INT8OID};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *stream_id = es_check_stream_id(fcinfo, 0);
	bool		backwards;
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	SPIPlanPtr	plan;
	EsUserSwitch save;

	check_not_negative(fcinfo, 1, "from_version");
	check_not_negative(fcinfo, 2, "max_count");
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("backwards must not be null")));
	backwards = PG_GETARG_BOOL(3);

	InitMaterializedSRF(fcinfo, 0);

	values[0] = PointerGetDatum(stream_id);
	if (!PG_ARGISNULL(1))
		values[1] = PG_GETARG_DATUM(1);
	else
		values[1] = Int64GetDatum(backwards ? PG_INT64_MAX : 0);
	values[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';

	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (backwards)
			plan = es_keep_plan(&plan_backward,
								"SELECT " ES_EVENT_COLUMNS " FROM es.events e"
								" WHERE e.stream_id OPERATOR(pg_catalog.=) $1"
								" AND e.stream_version OPERATOR(pg_catalog.<=) $2"
								" ORDER BY e.stream_version DESC LIMIT $3",
								3, argtypes);
		else
			plan = es_keep_plan(&plan_forward,
								"SELECT " ES_EVENT_COLUMNS " FROM es.events e"
								" WHERE e.stream_id OPERATOR(pg_catalog.=) $1"
								" AND e.stream_version OPERATOR(pg_catalog.>=) $2"
								" ORDER BY e.stream_version LIMIT $3",
								3, argtypes);
		es_read_into(SPI_cursor_open(NULL, plan, values, nulls, true),
					 rsinfo->setResult, rsinfo->setDesc);
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	return (Datum) 0;
}

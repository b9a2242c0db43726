/*
 * read.c
 *	  Reading streams: es.stream_version and es.read_stream.
 *
 * Rows are read through a cursor in batches and handed to a tuplestore,
 * which spills to disk past work_mem: a long stream never has to fit in the
 * backend's memory.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "check.h"
#include "read.h"
#include "upcast.h"
#include "visibility.h"

/* Rows fetched from the cursor at a time. */
#define READ_BATCH 1000

static SPIPlanPtr plan_forward = NULL;
static SPIPlanPtr plan_backward = NULL;
static SPIPlanPtr plan_forward_age = NULL;
static SPIPlanPtr plan_backward_age = NULL;

/*
 * Start handing out the rows of an open cursor over ES_EVENT_COLUMNS.
 *
 * User code runs between rows (upcaster functions, projection handlers), and
 * may run CLOSE ALL or close the portal by its name: the portal is pinned,
 * as PL/pgSQL pins the portal of a FOR loop, so that such a CLOSE fails
 * (24000, invalid_cursor_state) instead of freeing it under us.  An abort
 * unpins and drops it.  User code may also FETCH from or MOVE the portal (it
 * is in pg_cursors, and the refusal of a CLOSE names it), which would make
 * a read skip events: es_event_cursor_next checks that the portal is where
 * our own fetches left it.
 */
void
es_event_cursor_open(EsEventCursor *c, Portal portal, long batch_size)
{
	PinPortal(portal);
	c->portal = portal;
	c->batch_size = batch_size;
	c->batch = NULL;
	c->n = 0;
	c->next = 0;
	c->fetched = 0;
}

/* The next row (deformed, not upcast), or false at the end. */
bool
es_event_cursor_next(EsEventCursor *c, Datum *values, bool *nulls)
{
	if (c->next == c->n)
	{
		if (c->batch != NULL)
			SPI_freetuptable(c->batch);
		c->batch = NULL;
		if (c->portal->portalPos != c->fetched)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_CURSOR_STATE),
					 errmsg("cursor \"%s\" was moved while the extension read events through it",
							c->portal->name),
					 errdetail("User code (an upcaster function or a projection handler) ran FETCH or MOVE on it.")));
		SPI_cursor_fetch(c->portal, true, c->batch_size);
		c->n = SPI_processed;
		c->fetched += SPI_processed;
		c->next = 0;
		if (c->n == 0)
			return false;
		c->batch = SPI_tuptable;
		if (c->batch->tupdesc->natts != ES_EVENT_NATTS)
			elog(ERROR, "cursor returned %d columns, expected %d",
				 c->batch->tupdesc->natts, ES_EVENT_NATTS);
	}
	heap_deform_tuple(c->batch->vals[c->next++], c->batch->tupdesc, values, nulls);
	return true;
}

/* Free the last batch and close the cursor. */
void
es_event_cursor_close(EsEventCursor *c)
{
	if (c->batch != NULL)
		SPI_freetuptable(c->batch);
	c->batch = NULL;
	UnpinPortal(c->portal);
	SPI_cursor_close(c->portal);
}

/*
 * Fetch every row of an open cursor over ES_EVENT_COLUMNS, upcast each, and
 * put it into the tuplestore; closes the cursor.  Scratch memory is reset
 * per row, so memory does not grow with the stream.
 */
static void
read_into(Portal portal, Tuplestorestate *store, TupleDesc desc)
{
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext,
												  "es read_stream row",
												  ALLOCSET_DEFAULT_SIZES);
	EsEventCursor cursor;
	Datum		row[ES_EVENT_NATTS];
	bool		rownulls[ES_EVENT_NATTS];

	if (desc->natts != ES_EVENT_NATTS)
		elog(ERROR, "es.events has %d columns, expected %d",
			 desc->natts, ES_EVENT_NATTS);
	es_event_cursor_open(&cursor, portal, READ_BATCH);
	while (es_event_cursor_next(&cursor, row, rownulls))
	{
		MemoryContext old = MemoryContextSwitchTo(row_cxt);

		es_upcast_row(row, rownulls);
		tuplestore_putvalues(store, desc, row, rownulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	es_event_cursor_close(&cursor);
	MemoryContextDelete(row_cxt);
}

struct EsStreamScan
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;		/* registered: user code runs between rows */
	ScanDirection direction;
};

/* Start a direct scan of a stream's versions in (after, upto]. */
EsStreamScan *
es_stream_scan_begin(text *stream_id, int64 after, int64 upto, bool backward)
{
	EsStreamScan *s = palloc0(sizeof(EsStreamScan));
	ScanKeyData keys[3];
	Oid			relid = es_relid("events", false);
	Oid			indexid;

	s->heap = table_open(relid, AccessShareLock);
	indexid = RelationGetPrimaryKeyIndex(s->heap);
	if (!OidIsValid(indexid))
		elog(ERROR, "es.events has no primary key");
	s->index = index_open(indexid, AccessShareLock);
	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   s->index->rd_indcollation[0], F_TEXTEQ,
						   PointerGetDatum(stream_id));
	ScanKeyEntryInitialize(&keys[1], 0, 2, BTGreaterStrategyNumber, InvalidOid,
						   InvalidOid, F_INT8GT, Int64GetDatum(after));
	ScanKeyEntryInitialize(&keys[2], 0, 2, BTLessEqualStrategyNumber, InvalidOid,
						   InvalidOid, F_INT8LE, Int64GetDatum(upto));
	s->slot = table_slot_create(s->heap, NULL);
	s->snapshot = RegisterSnapshot(GetActiveSnapshot());
	s->scan = index_beginscan(s->heap, s->index, s->snapshot, 3, 0);
	index_rescan(s->scan, keys, 3, NULL, 0);
	s->direction = backward ? BackwardScanDirection : ForwardScanDirection;
	return s;
}

/* The next row of the scan, or false at the end. */
bool
es_stream_scan_next(EsStreamScan *s, Datum **values, bool **nulls)
{
	if (!index_getnext_slot(s->scan, s->direction, s->slot))
		return false;
	slot_getallattrs(s->slot);
	if (s->slot->tts_tupleDescriptor->natts != ES_EVENT_NATTS)
		elog(ERROR, "es.events has %d columns, expected %d",
			 s->slot->tts_tupleDescriptor->natts, ES_EVENT_NATTS);
	*values = s->slot->tts_values;
	*nulls = s->slot->tts_isnull;
	return true;
}

/* End a direct scan. */
void
es_stream_scan_end(EsStreamScan *s)
{
	index_endscan(s->scan);
	UnregisterSnapshot(s->snapshot);
	ExecDropSingleTupleTableSlot(s->slot);
	index_close(s->index, AccessShareLock);
	table_close(s->heap, AccessShareLock);
	pfree(s);
}

/*
 * Current version of a stream, read straight from the primary key of
 * es.streams under the active snapshot (no SPI): the look-up every command
 * makes before it appends.
 */
static int64
stream_version_direct(text *stream_id)
{
	Relation	heap = table_open(es_relid("streams", false), AccessShareLock);
	Relation	index = index_open(RelationGetPrimaryKeyIndex(heap), AccessShareLock);
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	IndexScanDesc scan;
	ScanKeyData key;
	int64		version = 0;

	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], F_TEXTEQ,
						   PointerGetDatum(stream_id));
	scan = index_beginscan(heap, index, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, 3, &isnull); /* es.streams.version */

		if (!isnull)
			version = DatumGetInt64(d);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return version;
}

PG_FUNCTION_INFO_V1(es_stream_version);

/*
 * es.stream_version(stream_id): the stream's version, 0 when it is empty.
 * A direct index read checks no table privileges, so the caller needs none.
 */
Datum
es_stream_version(PG_FUNCTION_ARGS)
{
	text	   *stream_id = es_check_stream_id(fcinfo, 0);

	PG_RETURN_INT64(stream_version_direct(stream_id));
}

PG_FUNCTION_INFO_V1(es_read_stream);

/*
 * es.read_stream(stream_id, from_version, max_count, backwards): a stream's
 * events in version order (or the reverse) from an inclusive bound.  Events
 * hidden by the stream's lifecycle (visibility.c) are left out as if they
 * did not exist: the read starts after the hidden prefix, and filters by
 * recorded_at only when a max_age retention policy applies.
 */
Datum
es_read_stream(PG_FUNCTION_ARGS)
{
	static const Oid argtypes[] = {TEXTOID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *stream_id = es_check_stream_id(fcinfo, 0);
	bool		backwards;
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	SPIPlanPtr	plan;
	EsUserSwitch save;

	es_check_not_negative(fcinfo, 1, "from_version");
	es_check_not_negative(fcinfo, 2, "max_count");
	es_check_not_null(fcinfo, 3, "backwards", NULL);
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
		EsVisibility vis;

		es_stream_visibility(stream_id, &vis);
		/* versions after the hidden prefix; recorded at or after the cutoff */
		values[3] = Int64GetDatum(vis.hidden_through);
		values[4] = TimestampTzGetDatum(vis.cutoff);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (backwards && vis.age_limited)
			plan = es_keep_plan(&plan_backward_age,
								"SELECT " ES_EVENT_COLUMNS " FROM es.events e"
								" WHERE e.stream_id OPERATOR(pg_catalog.=) $1"
								" AND e.stream_version OPERATOR(pg_catalog.<=) $2"
								" AND e.stream_version OPERATOR(pg_catalog.>) $4"
								" AND e.recorded_at OPERATOR(pg_catalog.>=) $5"
								" ORDER BY e.stream_version DESC LIMIT $3",
								5, argtypes);
		else if (backwards)
			plan = es_keep_plan(&plan_backward,
								"SELECT " ES_EVENT_COLUMNS " FROM es.events e"
								" WHERE e.stream_id OPERATOR(pg_catalog.=) $1"
								" AND e.stream_version OPERATOR(pg_catalog.<=) $2"
								" AND e.stream_version OPERATOR(pg_catalog.>) $4"
								" ORDER BY e.stream_version DESC LIMIT $3",
								4, argtypes);
		else if (vis.age_limited)
			plan = es_keep_plan(&plan_forward_age,
								"SELECT " ES_EVENT_COLUMNS " FROM es.events e"
								" WHERE e.stream_id OPERATOR(pg_catalog.=) $1"
								" AND e.stream_version OPERATOR(pg_catalog.>=) $2"
								" AND e.stream_version OPERATOR(pg_catalog.>) $4"
								" AND e.recorded_at OPERATOR(pg_catalog.>=) $5"
								" ORDER BY e.stream_version LIMIT $3",
								5, argtypes);
		else
			plan = es_keep_plan(&plan_forward,
								"SELECT " ES_EVENT_COLUMNS " FROM es.events e"
								" WHERE e.stream_id OPERATOR(pg_catalog.=) $1"
								" AND e.stream_version OPERATOR(pg_catalog.>=) $2"
								" AND e.stream_version OPERATOR(pg_catalog.>) $4"
								" ORDER BY e.stream_version LIMIT $3",
								4, argtypes);
		read_into(SPI_cursor_open(NULL, plan, values, nulls, true),
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

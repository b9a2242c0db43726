/*
 * event.c
 *	  New events: es.event() builds an es.new_event value, and
 *	  es_unpack_events() checks a batch of them for es.append.
 *
 * Every rule about what a valid event is lives here, so that a value built
 * by hand (ROW(...)::es.new_event) is held to the same rules as one built
 * by es.event().
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "event_sourcing.h"
#include "check.h"
#include "event.h"
#include "upcast.h"
#include "uuid7.h"

/* Attribute numbers of es.new_event, in the order the SQL script declares. */
enum
{
	NE_EVENT_TYPE = 0,
	NE_DATA,
	NE_METADATA,
	NE_EVENT_ID,
	NE_OCCURRED_AT,
	NE_SCHEMA_VERSION,
	NE_TAGS,
	NE_NATTS
};

/* Check the optional fields: occurred_at finite, schema_version >= 1. */
static void
check_optional(bool has_occurred_at, TimestampTz occurred_at,
			   bool has_schema_version, int32 schema_version, const char *label)
{
	if (has_occurred_at && TIMESTAMP_NOT_FINITE(occurred_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("occurred_at must be a finite timestamp"),
				 errdetail("The occurred_at of %s is infinite.", label)));
	if (has_schema_version && schema_version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schema_version must be at least 1"),
				 errdetail("The schema_version of %s is %d.", label,
						   schema_version)));
}

PG_FUNCTION_INFO_V1(es_event);

/*
 * es.event(event_type, data, metadata, event_id, occurred_at, schema_version)
 * builds an es.new_event, giving it a UUIDv7 id when none is passed.
 */
Datum
es_event(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[NE_NATTS];
	bool		nulls[NE_NATTS];
	pg_uuid_t  *id;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "es.event must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	values[NE_EVENT_TYPE] = PointerGetDatum(es_check_event_type(PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0),
																PG_ARGISNULL(0), "the event"));
	es_check_not_reserved(DatumGetTextPP(values[NE_EVENT_TYPE]), "event type", "the event");
	nulls[NE_EVENT_TYPE] = false;
	es_check_not_null(fcinfo, 1, "data",
					  "Pass an empty object ('{}') for an event without data.");
	values[NE_DATA] = PointerGetDatum(es_check_document(PG_GETARG_DATUM(1), "data", "the event"));
	nulls[NE_DATA] = false;
	nulls[NE_METADATA] = PG_ARGISNULL(2);
	values[NE_METADATA] = nulls[NE_METADATA] ? (Datum) 0
		: PointerGetDatum(es_check_document(PG_GETARG_DATUM(2), "metadata", "the event"));
	if (PG_ARGISNULL(3))
	{
		id = palloc(sizeof(pg_uuid_t));
		es_uuid7_generate(id);
		values[NE_EVENT_ID] = UUIDPGetDatum(id);
	}
	else
		values[NE_EVENT_ID] = PG_GETARG_DATUM(3);
	nulls[NE_EVENT_ID] = false;
	check_optional(!PG_ARGISNULL(4), PG_ARGISNULL(4) ? 0 : PG_GETARG_TIMESTAMPTZ(4),
				   !PG_ARGISNULL(5), PG_ARGISNULL(5) ? 0 : PG_GETARG_INT32(5), "the event");
	values[NE_OCCURRED_AT] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	nulls[NE_OCCURRED_AT] = PG_ARGISNULL(4);
	values[NE_SCHEMA_VERSION] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	nulls[NE_SCHEMA_VERSION] = PG_ARGISNULL(5);
	/* no tags, or an empty array: NULL (es.event of 0.1 has no tags) */
	nulls[NE_TAGS] = true;
	values[NE_TAGS] = (Datum) 0;
	if (PG_NARGS() > 6 && !PG_ARGISNULL(6) &&
		es_check_tags(PG_GETARG_DATUM(6), "the event", NULL) > 0)
	{
		values[NE_TAGS] = PG_GETARG_DATUM(6);
		nulls[NE_TAGS] = false;
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* qsort comparator for EsNewEvent pointers, by event id. */
static int
cmp_event_id(const void *a, const void *b)
{
	const EsNewEvent *ea = *(EsNewEvent *const *) a;
	const EsNewEvent *eb = *(EsNewEvent *const *) b;

	return memcmp(ea->event_id.data, eb->event_id.data, UUID_LEN);
}

/* Refuse a batch that names the same event id twice. */
static void
check_unique_ids(EsNewEvent *events, int n)
{
	EsNewEvent **sorted;
	int			i;

	if (n < 2)
		return;
	sorted = palloc(sizeof(EsNewEvent *) * n);
	for (i = 0; i < n; i++)
		sorted[i] = &events[i];
	qsort(sorted, n, sizeof(EsNewEvent *), cmp_event_id);
	for (i = 1; i < n; i++)
		if (memcmp(sorted[i - 1]->event_id.data, sorted[i]->event_id.data, UUID_LEN) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event id %s appears more than once in the batch",
							DatumGetCString(DirectFunctionCall1(uuid_out,
																UUIDPGetDatum(&sorted[i]->event_id)))),
					 errdetail("Events %d and %d of the batch have the same id.",
							   (int) Min(sorted[i - 1] - events, sorted[i] - events) + 1,
							   (int) Max(sorted[i - 1] - events, sorted[i] - events) + 1)));
	pfree(sorted);
}

/* Check and unpack an es.new_event[] batch. */
int
es_unpack_events(ArrayType *events, EsNewEvent **out)
{
	Oid			elemtype = ARR_ELEMTYPE(events);
	TupleDesc	tupdesc;
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;
	int			i;
	EsNewEvent *result;

	if (ARR_NDIM(events) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("events must be a one-dimensional array")));
	deconstruct_array(events, elemtype, -1, false, TYPALIGN_DOUBLE,
					  &elems, &elemnulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("at least one event is required")));

	tupdesc = lookup_rowtype_tupdesc(elemtype, -1);
	if (tupdesc->natts != NE_NATTS)
		elog(ERROR, "type es.new_event has %d attributes, expected %d",
			 tupdesc->natts, NE_NATTS);

	result = palloc(sizeof(EsNewEvent) * n);
	for (i = 0; i < n; i++)
	{
		EsNewEvent *ev = &result[i];
		HeapTupleHeader th;
		HeapTupleData tuple;
		Datum		values[NE_NATTS];
		bool		nulls[NE_NATTS];
		int			pos = i + 1;
		char		label[48];

		snprintf(label, sizeof(label), "event %d of the batch", pos);
		if (elemnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("event %d of the batch is null", pos)));
		th = DatumGetHeapTupleHeader(elems[i]);
		tuple.t_len = HeapTupleHeaderGetDatumLength(th);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = InvalidOid;
		tuple.t_data = th;
		heap_deform_tuple(&tuple, tupdesc, values, nulls);

		ev->event_type = PointerGetDatum(es_check_event_type(values[NE_EVENT_TYPE],
															 nulls[NE_EVENT_TYPE], label));
		if (nulls[NE_DATA])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("data must not be null"),
					 errdetail("The data of event %d of the batch is null.", pos)));
		ev->data = PointerGetDatum(es_check_document(values[NE_DATA], "data", label));
		ev->metadata_isnull = nulls[NE_METADATA];
		ev->metadata = nulls[NE_METADATA] ? (Datum) 0
			: PointerGetDatum(es_check_document(values[NE_METADATA], "metadata", label));
		if (nulls[NE_EVENT_ID])
			es_uuid7_generate(&ev->event_id);
		else
			memcpy(&ev->event_id, DatumGetUUIDP(values[NE_EVENT_ID]), sizeof(pg_uuid_t));
		ev->occurred_at_isnull = nulls[NE_OCCURRED_AT];
		ev->occurred_at = nulls[NE_OCCURRED_AT] ? 0 : DatumGetTimestampTz(values[NE_OCCURRED_AT]);
		ev->schema_version = nulls[NE_SCHEMA_VERSION]
			? es_latest_schema_version(DatumGetTextPP(ev->event_type))
			: DatumGetInt32(values[NE_SCHEMA_VERSION]);
		check_optional(!nulls[NE_OCCURRED_AT], ev->occurred_at,
					   !nulls[NE_SCHEMA_VERSION], ev->schema_version, label);
		ev->ntags = 0;
		ev->tags = (Datum) 0;
		ev->tag_list = NULL;
		if (!nulls[NE_TAGS])
		{
			ev->tags = PointerGetDatum(PG_DETOAST_DATUM(values[NE_TAGS]));
			ev->ntags = es_check_tags(ev->tags, label, &ev->tag_list);
		}
	}
	ReleaseTupleDesc(tupdesc);
	check_unique_ids(result, n);
	*out = result;
	return n;
}

/*
 * check.c
 *	  Input checks shared by every entry point.
 *
 * Every rule about what a valid argument is lives here once: the SQL
 * functions call these checks first, before acting as the extension's
 * owner, so that bad input is a clear error (never a crash, never XX000)
 * and the caller's transaction stays usable.  es.events rows that reach C
 * from outside the table -- a composite built by hand, ROW(...)::es.events,
 * may hold NULL or absurd values in any column -- are checked field by
 * field with es_check_event_row before anything reads them.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "event_sourcing.h"
#include "check.h"

/* Refuse a NULL argument. */
void
es_check_not_null(FunctionCallInfo fcinfo, int argno, const char *name,
				  const char *hint)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name),
				 hint ? errhint("%s", hint) : 0));
}

/* Check the bytes of a stream id (not empty, not too long). */
static void
check_stream_id_value(text *stream_id, const char *label)
{
	Size		len = VARSIZE_ANY_EXHDR(stream_id);
	/* a lifecycle event's companion stream: "$" and a stream id */
	Size		max = ES_MAX_STREAM_ID_BYTES +
		(len > 0 && VARDATA_ANY(stream_id)[0] == '$' ? 1 : 0);

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream_id must not be empty"),
				 label ? errdetail("The stream_id of %s is an empty string.", label) : 0));
	if (len > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream_id is too long"),
				 label ?
				 errdetail("The stream_id of %s has %zu bytes; at most %d are allowed.",
						   label, len, ES_MAX_STREAM_ID_BYTES) :
				 errdetail("The stream_id has %zu bytes; at most %d are allowed.",
						   len, ES_MAX_STREAM_ID_BYTES)));
}

/* Check a stream id argument; returns it detoasted. */
text *
es_check_stream_id(FunctionCallInfo fcinfo, int argno)
{
	text	   *stream_id;

	es_check_not_null(fcinfo, argno, "stream_id", NULL);
	stream_id = PG_GETARG_TEXT_PP(argno);
	check_stream_id_value(stream_id, NULL);
	return stream_id;
}

/* Check an event type value; returns it detoasted. */
text *
es_check_event_type(Datum value, bool isnull, const char *label)
{
	text	   *t;
	Size		len;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event_type must not be null"),
				 label ? errdetail("The event_type of %s is null.", label) : 0));
	t = DatumGetTextPP(value);
	len = VARSIZE_ANY_EXHDR(t);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event_type must not be empty"),
				 label ? errdetail("The event_type of %s is an empty string.", label) : 0));
	if (len > ES_MAX_EVENT_TYPE_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event_type is too long"),
				 label ?
				 errdetail("The event_type of %s has %zu bytes; at most %d are allowed.",
						   label, len, ES_MAX_EVENT_TYPE_BYTES) :
				 errdetail("The event_type has %zu bytes; at most %d are allowed.",
						   len, ES_MAX_EVENT_TYPE_BYTES)));
	return t;
}

/* Refuse a name reserved for the extension's lifecycle events. */
void
es_check_not_reserved(text *name, const char *kind, const char *label)
{
	if (VARSIZE_ANY_EXHDR(name) > 0 && VARDATA_ANY(name)[0] == '$')
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("%s \"%s\" is reserved", kind, text_to_cstring(name)),
				 label ?
				 errdetail("The %s of %s begins with \"$\": such names are reserved for the lifecycle events the extension writes.",
						   kind, label) :
				 errdetail("Names that begin with \"$\" are reserved for the lifecycle events the extension writes.")));
}

/* Check an event type argument. */
text *
es_check_event_type_arg(FunctionCallInfo fcinfo, int argno)
{
	return es_check_event_type(PG_ARGISNULL(argno) ? (Datum) 0 : PG_GETARG_DATUM(argno),
							   PG_ARGISNULL(argno), NULL);
}

/* Check a registry name argument; returns it detoasted. */
text *
es_check_name(FunctionCallInfo fcinfo, int argno, const char *kind)
{
	text	   *name;
	Size		len;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s name must not be null", kind)));
	name = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(name);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s name must not be empty", kind)));
	if (len >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s name \"%s\" is too long", kind, text_to_cstring(name)),
				 errdetail("Registry names have at most %d bytes.", NAMEDATALEN - 1)));
	return name;
}

/* Check a schema version argument: not null, at least 1. */
int32
es_check_version_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	int32		v;

	es_check_not_null(fcinfo, argno, name, NULL);
	v = PG_GETARG_INT32(argno);
	if (v < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least 1", name),
				 errdetail("The %s given is %d.", name, v)));
	return v;
}

/* Check a bigint argument that may be null but not negative. */
void
es_check_not_negative(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (!PG_ARGISNULL(argno) && PG_GETARG_INT64(argno) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", name)));
}

/* Check a text[] filter argument. */
Datum
es_check_filter(FunctionCallInfo fcinfo, int argno, const char *name,
				bool category, const char *hint, text ***list, int *n)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			count;
	int			i;

	if (list)
		*list = NULL;
	if (n)
		*n = 0;
	if (PG_ARGISNULL(argno))
		return (Datum) 0;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elem_nulls, &count);
	if (count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name),
				 hint ? errhint("%s", hint) : 0));
	if (list)
		*list = palloc(sizeof(text *) * count);
	for (i = 0; i < count; i++)
	{
		text	   *t;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain nulls", name)));
		t = DatumGetTextPP(elems[i]);
		if (VARSIZE_ANY_EXHDR(t) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain an empty string", name)));
		if (category && memchr(VARDATA_ANY(t), '-', VARSIZE_ANY_EXHDR(t)) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("category \"%s\" contains \"-\"", text_to_cstring(t)),
					 errdetail("A category is the part of a stream id before its first \"-\".")));
		if (list)
			(*list)[i] = t;
	}
	if (n)
		*n = count;
	return PointerGetDatum(arr);
}

/* Check a data or metadata document; it must be a JSON object. */
Jsonb *
es_check_document(Datum value, const char *field, const char *label)
{
	Jsonb	   *jb = DatumGetJsonbP(value);

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", field),
				 label ?
				 errdetail("The %s of %s is a JSON %s.", field, label,
						   JB_ROOT_IS_SCALAR(jb) ? "scalar" : "array") :
				 errdetail("The %s is a JSON %s.", field,
						   JB_ROOT_IS_SCALAR(jb) ? "scalar" : "array")));
	return jb;
}

/* Names of the columns of es.events, in EsEventColumn order. */
static const char *const event_columns[ES_EVENT_NATTS] = {
	"global_position", "stream_id", "stream_version", "event_id",
	"event_type", "schema_version", "data", "metadata", "occurred_at",
	"recorded_at", "transaction_id", "tags"
};

/* Refuse an absurd value in a column of a hand-built row. */
static void
bad_field(const char *column, const char *func, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s of an es.events row must be %s", column, what),
			 errdetail("%s received a row that no es.append could have written.", func)));
}

/* Check every field of an es.events row that did not come from the table. */
void
es_check_event_row(const Datum *values, const bool *nulls, const char *func)
{
	int			i;

	for (i = 0; i < ES_EVENT_NATTS; i++)
		if (nulls[i] && i != ES_COL_METADATA && i != ES_COL_TAGS)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s of an es.events row must not be null", event_columns[i]),
					 errdetail("%s received a row whose %s is null.", func, event_columns[i])));

	check_stream_id_value(DatumGetTextPP(values[ES_COL_STREAM_ID]), "the es.events row");
	(void) es_check_event_type(values[ES_COL_EVENT_TYPE], false, "the es.events row");
	if (DatumGetInt64(values[ES_COL_GLOBAL_POSITION]) < 1)
		bad_field("global_position", func, "at least 1");
	if (DatumGetInt64(values[ES_COL_STREAM_VERSION]) < 1)
		bad_field("stream_version", func, "at least 1");
	if (DatumGetInt32(values[ES_COL_SCHEMA_VERSION]) < 1)
		bad_field("schema_version", func, "at least 1");
	(void) es_check_document(values[ES_COL_DATA], "data", "the es.events row");
	if (!nulls[ES_COL_METADATA])
		(void) es_check_document(values[ES_COL_METADATA], "metadata", "the es.events row");
	if (TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(values[ES_COL_OCCURRED_AT])))
		bad_field("occurred_at", func, "a finite timestamp");
	if (TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(values[ES_COL_RECORDED_AT])))
		bad_field("recorded_at", func, "a finite timestamp");
	if (!nulls[ES_COL_TAGS])
		(void) es_check_tags(values[ES_COL_TAGS], "the es.events row", NULL);
}

/* Check a tags array: see check.h. */
int
es_check_tags(Datum value, const char *label, text ***list)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	Datum	   *elems;
	bool	   *elem_nulls;
	int			count;
	int			i;
	int			j;

	if (list)
		*list = NULL;
	if (ARR_ELEMTYPE(arr) != TEXTOID)
		elog(ERROR, "tags must be a text array");
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tags must be a one-dimensional array"),
				 errdetail("The tags of %s have %d dimensions.", label, ARR_NDIM(arr))));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elem_nulls, &count);
	if (count > ES_MAX_TAGS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too many tags"),
				 errdetail("The tags of %s number %d; at most %d are allowed.", label, count, ES_MAX_TAGS)));
	for (i = 0; i < count; i++)
	{
		text	   *t;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a tag must not be null"),
					 errdetail("Tag %d of %s is null.", i + 1, label)));
		t = DatumGetTextPP(elems[i]);
		elems[i] = PointerGetDatum(t);
		if (VARSIZE_ANY_EXHDR(t) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a tag must not be empty"),
					 errdetail("Tag %d of %s is an empty string.", i + 1, label)));
		if (VARSIZE_ANY_EXHDR(t) > ES_MAX_TAG_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tag is too long"),
					 errdetail("Tag %d of %s is %d bytes long; at most %d are allowed.",
							   i + 1, label, (int) VARSIZE_ANY_EXHDR(t), ES_MAX_TAG_BYTES)));
		for (j = 0; j < i; j++)
		{
			text	   *u = DatumGetTextPP(elems[j]);

			if (VARSIZE_ANY_EXHDR(u) == VARSIZE_ANY_EXHDR(t) &&
				memcmp(VARDATA_ANY(u), VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("tag \"%s\" appears more than once", text_to_cstring(t)),
						 errdetail("Tags %d and %d of %s are the same.", j + 1, i + 1, label)));
		}
	}
	if (list)
	{
		*list = palloc(sizeof(text *) * Max(count, 1));
		for (i = 0; i < count; i++)
			(*list)[i] = DatumGetTextPP(elems[i]);
	}
	return count;
}

/* A JSON value's type for messages. */
const char *
es_jsonb_kind(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default:
			return "a value";
	}
}

/*
 * check.h
 *	  Input checks shared by every entry point: what a caller passes (NULL
 *	  arguments, stream ids, event types, registry names, versions, filters,
 *	  JSON documents) and the fields of es.events rows that reach C from
 *	  outside the table (ROW(...)::es.events built by hand).
 *
 * Each check raises a clear error with the SQLSTATE the README documents:
 * 22004 (null_value_not_allowed) for a NULL where a value is required,
 * 22023 (invalid_parameter_value) for an empty, negative or absurd value,
 * 42622 (name_too_long) for an over-long registry name, 42939
 * (reserved_name) for a user's name that begins with "$".
 */
#ifndef ES_CHECK_H
#define ES_CHECK_H

#include "fmgr.h"
#include "utils/jsonb.h"

/* Raise 22004 "<name> must not be null" when argument argno is NULL. */
extern void es_check_not_null(FunctionCallInfo fcinfo, int argno,
							  const char *name, const char *hint);

/* Check a stream id argument (not null, not empty, not too long). */
extern text *es_check_stream_id(FunctionCallInfo fcinfo, int argno);

/*
 * Check an event type value: not null, not empty, not too long.  label
 * names the event in details ("the event", "event 3 of the batch"); NULL
 * for a plain argument.  Returns the type detoasted.
 */
extern text *es_check_event_type(Datum value, bool isnull, const char *label);

/*
 * Refuse (42939, reserved_name) a stream id, event type or category
 * (kind) that begins with "$": those name the lifecycle events the
 * extension writes.  label as for es_check_event_type.
 */
extern void es_check_not_reserved(text *name, const char *kind, const char *label);

/* es_check_event_type for argument argno. */
extern text *es_check_event_type_arg(FunctionCallInfo fcinfo, int argno);

/*
 * Check a registry name argument (kind: "reducer", "projection", ...):
 * not null, not empty, shorter than NAMEDATALEN.  Returns it detoasted.
 */
extern text *es_check_name(FunctionCallInfo fcinfo, int argno, const char *kind);

/* Check an int4 version argument: not null, at least 1. */
extern int32 es_check_version_arg(FunctionCallInfo fcinfo, int argno,
								  const char *name);

/* Check an int8 argument that may be null but not negative. */
extern void es_check_not_negative(FunctionCallInfo fcinfo, int argno,
								  const char *name);

/*
 * Check a text[] filter argument: NULL (no filter; returns 0) or a
 * one-dimensional, non-empty array of non-null, non-empty strings
 * (categories: without "-").  hint is given when the array is empty.
 * Fills *list / *n with the detoasted elements when list is not NULL.
 */
extern Datum es_check_filter(FunctionCallInfo fcinfo, int argno, const char *name,
							 bool category, const char *hint, text ***list, int *n);

/*
 * Check a data or metadata document: it must be a JSON object.  label as
 * for es_check_event_type.
 */
extern Jsonb *es_check_document(Datum value, const char *field, const char *label);

/*
 * Check every field of an es.events row that did not come from the table
 * (values / nulls in EsEventColumn order): the NOT NULL columns are not
 * null, stream id and event type are valid, versions and the position are
 * positive, data (and metadata, if any) are JSON objects, timestamps are
 * finite.  func names the entry point in the error detail.
 */
extern void es_check_event_row(const Datum *values, const bool *nulls,
							   const char *func);

/*
 * Check a text[] of tags (an event's, or a stored row's): one-dimensional,
 * at most ES_MAX_TAGS, no nulls, none empty, longer than ES_MAX_TAG_BYTES
 * or given twice.  label names the event in details.  Returns the number
 * of tags (0 for an empty array); fills *list with them detoasted when
 * list is not NULL.
 */
extern int	es_check_tags(Datum value, const char *label, text ***list);

/* A JSON value's type for messages: "a string", "an object", ... */
extern const char *es_jsonb_kind(const JsonbValue *v);

#endif							/* ES_CHECK_H */

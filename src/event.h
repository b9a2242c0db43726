/*
 * event.h
 *	  New events: the es.new_event values that callers build with es.event()
 *	  and pass to es.append, checked and unpacked for writing.
 */
#ifndef ES_EVENT_H
#define ES_EVENT_H

#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/uuid.h"

/* One event of a batch, checked and with its defaults filled in. */
typedef struct EsNewEvent
{
	Datum		event_type;		/* text, detoasted */
	Datum		data;			/* jsonb object, detoasted */
	Datum		metadata;		/* jsonb object, unless metadata_isnull */
	bool		metadata_isnull;
	pg_uuid_t	event_id;		/* given, or a fresh UUIDv7 */
	bool		occurred_at_isnull; /* then the recording time applies */
	TimestampTz occurred_at;
	int32		schema_version; /* given, or the type's latest */
	int			ntags;			/* 0: no tags (stored as NULL) */
	Datum		tags;			/* text[] of ntags checked tags, if any */
	text	  **tag_list;		/* the tags, detoasted */
} EsNewEvent;

/*
 * Check and unpack an es.new_event[] batch (one-dimensional, at least one
 * event, no null elements or fields, no event id twice).  Returns the
 * number of events; *out is palloc'd in the current memory context.
 */
extern int	es_unpack_events(ArrayType *events, EsNewEvent **out);

#endif							/* ES_EVENT_H */

/*
 * visibility.h
 *	  Which events of a stream its own reads see (stream lifecycle, issue
 *	  17): the stream's hidden prefix (es.delete_stream, es.truncate_stream),
 *	  its tombstone, and its category's retention policy, read once per read.
 */
#ifndef ES_VISIBILITY_H
#define ES_VISIBILITY_H

#include "datatype/timestamp.h"

/*
 * What a read of one stream must leave out.  Every event with
 * stream_version <= hidden_through is hidden (a tombstone hides them all:
 * hidden_through = version); when age_limited, so is every event recorded
 * before cutoff.  any_hidden says whether a snapshot (which covers
 * versions 1..v) may be used: only when nothing can be hidden.
 */
typedef struct EsVisibility
{
	int64		version;		/* es.streams.version (0: no row) */
	int64		hidden_through; /* versions <= this are hidden */
	bool		age_limited;	/* a max_age policy applies */
	TimestampTz cutoff;			/* ... hiding events recorded before it */
	bool		any_hidden;		/* some event may be hidden */
} EsVisibility;

/* Register the invalidation callback; called from _PG_init. */
extern void es_visibility_init(void);

/*
 * Fill *v for stream_id under the active snapshot (the one the events are
 * read with), at transaction time T = now().  The caller acts as the owner.
 */
extern void es_stream_visibility(text *stream_id, EsVisibility *v);

/* Is this event type reserved for the extension's lifecycle events ("$")? */
static inline bool
es_type_is_reserved(const char *type, int len)
{
	return len > 0 && type[0] == '$';
}

#endif							/* ES_VISIBILITY_H */

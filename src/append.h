/*
 * append.h
 *	  es.append: atomic, optimistic-concurrency appends to one stream.
 *
 * es.append lives in append.c; es.append_if (dcb.c) calls in through
 * es_append_call.  (The checks of its arguments are in check.h, the
 * unpacking of its events in event.h.)
 */
#ifndef ES_APPEND_H
#define ES_APPEND_H

#include "fmgr.h"

struct EsDcbCondition;

/*
 * es.append's arguments (stream_id, expected_version, VARIADIC events),
 * from argument argoff of fcinfo on, appended under cond (NULL: none);
 * returns the stream's new version.
 */
extern int64 es_append_call(FunctionCallInfo fcinfo, int argoff,
							const struct EsDcbCondition *cond);

#endif							/* ES_APPEND_H */

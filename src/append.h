/*
 * append.h
 *	  es.append: atomic, optimistic-concurrency appends to one stream.
 *
 * Besides the SQL-callable es.append, it offers the check of a stream id
 * argument that every function taking one shares.
 */
#ifndef ES_APPEND_H
#define ES_APPEND_H

#include "fmgr.h"

/* Check a stream id passed by a caller (not null, not empty, not too long). */
extern text *es_check_stream_id(FunctionCallInfo fcinfo, int argno);

#endif							/* ES_APPEND_H */

/*
 * append.h
 *	  es.append: atomic, optimistic-concurrency appends to one stream.
 *
 * Only the SQL-callable es.append lives in append.c; nothing else calls in.
 * (The checks of its arguments are in check.h, the unpacking of its events
 * in event.h.)
 */
#ifndef ES_APPEND_H
#define ES_APPEND_H

#endif							/* ES_APPEND_H */

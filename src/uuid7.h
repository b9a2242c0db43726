/*
 * uuid7.h
 *	  Time-ordered UUIDs (RFC 9562 version 7) for event ids.
 */
#ifndef ES_UUID7_H
#define ES_UUID7_H

#include "utils/uuid.h"

/* Fill *out with a new version 7 UUID, monotonic within this backend. */
extern void es_uuid7_generate(pg_uuid_t *out);

#endif							/* ES_UUID7_H */

/*
 * upcast.c
 *	  Upcasting: stored events of an old schema version read as the latest
 *	  version of their type.
 *
 * No upcaster can be registered yet: every event reads as stored, and the
 * latest version of every type is 1.  The registry fills this in.
 */
#include "postgres.h"

#include "upcast.h"

/* Upcast one es.events row in place; nothing to do without a registry. */
bool
es_upcast_row(Datum *values pg_attribute_unused(), bool *nulls pg_attribute_unused())
{
	return false;
}

/* Latest schema version of an event type. */
int32
es_latest_schema_version(text *event_type pg_attribute_unused())
{
	return 1;
}

/* Generation of the upcasting definitions. */
uint64
es_upcast_generation(void)
{
	return 0;
}

/*
 * uuid7.c
 *	  Time-ordered UUIDs (RFC 9562 version 7) for event ids.
 *
 * Layout: 48 bits of Unix time in milliseconds, the version nibble, 12 bits
 * of sub-millisecond time (RFC 9562 section 6.2, method 3), the variant
 * bits, then 62 random bits.  Ids made by one backend are strictly
 * increasing even when the clock stands still or steps back: the 60-bit
 * time part is then advanced by one from the last id made.
 */
#include "postgres.h"

#include <time.h>

#include "fmgr.h"
#include "port.h"
#include "utils/uuid.h"

#include "uuid7.h"

/* 60-bit time of the last id made here: milliseconds << 12 | fraction. */
static uint64 last_time60 = 0;

/* Fill *out with a new version 7 UUID. */
void
es_uuid7_generate(pg_uuid_t *out)
{
	struct timespec ts;
	uint64		ms;
	uint64		frac;
	uint64		time60;
	unsigned char *b = out->data;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64) ts.tv_sec * 1000 + (uint64) ts.tv_nsec / 1000000;
	/* nanoseconds within the millisecond, scaled to 12 bits */
	frac = ((uint64) (ts.tv_nsec % 1000000) * 4096) / 1000000;
	time60 = (ms << 12) | frac;
	if (time60 <= last_time60)
		time60 = last_time60 + 1;
	last_time60 = time60;

	if (!pg_strong_random(b + 8, 8))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));

	ms = time60 >> 12;
	frac = time60 & 0xFFF;
	b[0] = (unsigned char) (ms >> 40);
	b[1] = (unsigned char) (ms >> 32);
	b[2] = (unsigned char) (ms >> 24);
	b[3] = (unsigned char) (ms >> 16);
	b[4] = (unsigned char) (ms >> 8);
	b[5] = (unsigned char) ms;
	b[6] = (unsigned char) (0x70 | (frac >> 8));
	b[7] = (unsigned char) (frac & 0xFF);
	b[8] = (unsigned char) (0x80 | (b[8] & 0x3F));
}

PG_FUNCTION_INFO_V1(es_uuid7);

/* es.uuid_v7(): a new time-ordered UUID. */
Datum
es_uuid7(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

	es_uuid7_generate(u);
	PG_RETURN_UUID_P(u);
}

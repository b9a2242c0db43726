/*
 * dcb.h
 *	  Dynamic consistency boundaries: queries over event types and tags
 *	  (es.read_events), appends conditioned on a query (es.append_if), and
 *	  the hashed lock buckets every append takes so that a condition sees
 *	  every event that could match it.  See dcb.c for the argument.
 */
#ifndef ES_DCB_H
#define ES_DCB_H

#include "event.h"

/*
 * Advisory lock keys, in the objsubid field of pg_locks like the log's
 * (log.h): a bucket lock has the bucket number in classid and 0 in objid;
 * the escalation lock has classid = objid = 0.
 */
#define ES_DCB_LOCK_BUCKET		0x4556	/* 17750: a (type or tag) lock bucket */
#define ES_DCB_LOCK_ESCALATION	0x4557	/* 17751: appends past the bucket cap */

/* Number of lock buckets: the most bucket locks the lock table can hold. */
#define ES_DCB_BUCKETS 4096

/*
 * Most distinct buckets one transaction's appends lock; past it they take
 * the escalation lock instead.  Also the most buckets one condition may
 * lock.
 */
#define ES_DCB_XACT_LOCKS 32

/*
 * Most distinct buckets the conditions of one transaction may lock (they
 * cannot escalate: appenders take no lock that a condition could share).
 */
#define ES_DCB_XACT_CONDITION_LOCKS 256

/* Limits on a query: items, and types or tags per item. */
#define ES_DCB_MAX_ITEMS 32
#define ES_DCB_MAX_ITEM_TYPES 32

/* Name of the constraint reported when a condition fails (SQLSTATE 40001). */
#define ES_APPEND_CONDITION_CONSTRAINT "es_append_condition"

/* One item of a query: the event types (any when none) and tags it wants. */
typedef struct EsDcbItem
{
	int			ntypes;
	Datum		types;			/* text[], when ntypes > 0 */
	text	  **type_list;
	int			ntags;
	Datum		tags;			/* text[], when ntags > 0 */
	text	  **tag_list;
} EsDcbItem;

/* A checked query: an event matches when it matches any item. */
typedef struct EsDcbQuery
{
	int			nitems;
	EsDcbItem  *items;
} EsDcbQuery;

/* The condition of es.append_if: no match after the position. */
typedef struct EsDcbCondition
{
	EsDcbQuery	query;
	int64		after;
} EsDcbCondition;

/*
 * Before an append's version check, inside SPI as the owner: lock the
 * buckets of the batch's types and tags (and of the condition's query,
 * exclusively), then check the condition (cond may be NULL).
 */
extern void es_dcb_append_begin(const EsDcbCondition *cond,
								const EsNewEvent *events, int n);

/*
 * Insert the batch as versions first .. first + n - 1 of the stream when
 * any of its events has tags (returns true); false: no tags, the caller
 * inserts.  Inside SPI as the owner.
 */
extern bool es_dcb_insert_tagged(text *stream_id, int64 first,
								 const EsNewEvent *events, int n);

#endif							/* ES_DCB_H */

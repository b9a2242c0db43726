/*
 * dcb.c
 *	  Dynamic consistency boundaries: es.read_events(query, after_position,
 *	  max_count) and es.append_if(query, after_position, stream_id,
 *	  expected_version, VARIADIC events), and the lock buckets that every
 *	  append takes.
 *
 * A query is a list of items, each with event types and/or tags; an event
 * matches an item when its type (as appended) is one of the item's types
 * (if it names any) and it carries all of the item's tags; it matches the
 * query when it matches any item.  A decision reads the matching events
 * with es.read_events, decides, and appends with es.append_if, passing the
 * position of the last event it read (or the after_position it read from,
 * when there was none): the append happens only if no event matching the
 * query was appended after that position.
 *
 * Lock buckets.  A key is a tag, or an event type; it hashes to one of
 * ES_DCB_BUCKETS advisory locks.  Every append (es.append, es.append_if)
 * takes, before its version check, a SHARE lock on the bucket of each of
 * its events' types and of each of their tags; a condition takes, first,
 * an EXCLUSIVE lock on the bucket of one tag (the first) of each item that
 * has tags, and on the bucket of each type of each item that has none.
 * SHARE does not conflict with SHARE: appenders never wait for each other
 * here.  An event that matches an item carries the item's first tag (or,
 * for an item without tags, has one of its types), so its appender holds a
 * SHARE lock on a bucket the condition locks EXCLUSIVE.  Buckets are
 * locked in bucket order within one call (no deadlock between two single
 * calls); all are held until the top-level transaction ends.
 *
 * The cap.  There are at most ES_DCB_BUCKETS bucket locks, so the lock
 * table cannot be flooded by tags, and a transaction holds at most
 * ES_DCB_XACT_LOCKS of them for its appends: an append that would lock
 * more takes the escalation lock in ROW EXCLUSIVE mode instead (and no
 * more buckets until its transaction ends); every condition takes the
 * escalation lock in SHARE mode, which conflicts with ROW EXCLUSIVE only.
 * So an escalated appender serializes with every condition, and with
 * nothing else.  Conditions cannot escalate (appenders take no lock a
 * condition could share): one condition locks at most ES_DCB_XACT_LOCKS
 * buckets, the conditions of one transaction at most
 * ES_DCB_XACT_CONDITION_LOCKS.  The horizon (log.c) reads the lock table:
 * it holds at most ES_DCB_XACT_LOCKS + 1 entries of ours per transaction
 * that appends without conditions.
 *
 * Why the condition sees every event that could match (the proof).
 *
 * es.read_events reads below the log's horizon H (log.c), with a snapshot
 * taken after H was computed: every event at a position below H is
 * committed and visible to that snapshot, or will never exist.  It returns
 * the matching events with after < position < H, in position order, up to
 * max_count; let P be the position of the last one returned, or after when
 * none was.  Every matching event it did not return lies after P: those
 * below H that it skipped lie after the last one returned (max_count was
 * reached), those at or above H lie after P since P < H, and no event can
 * appear later below H.  So "no matching event after P" is exactly "nothing
 * new since the read", including an event that was in flight at read time
 * (its position is at least H).
 *
 * es.append_if(query, P, ...) locks the query's buckets EXCLUSIVE, then
 * looks for matching events after P under a snapshot taken after the locks
 * were granted (in every isolation level: the condition works under
 * REPEATABLE READ too).  Take any other transaction T that appends an
 * event E matching the query, at position x > P.  T took the SHARE lock on
 * E's bucket (or the escalation lock) before it inserted E.  Either
 *  - T took it before our EXCLUSIVE lock was granted: then we waited for T
 *	  to end, and a transaction releases its locks after its commit became
 *	  visible to new snapshots, so our snapshot sees E if T committed: the
 *	  condition fails; or T rolled back and E never exists; or
 *  - T takes it after ours was granted: T waits until our transaction
 *	  ends, so E commits after ours.  Our decision is ordered before E; a
 *	  later condition over E's boundary will see our events.
 * Events of our own transaction (its earlier appends: one decision may
 * append to several streams) and the batch being appended (a retry of a
 * committed append_if is an idempotent retry, decided by the version
 * check) do not trip the condition.
 *
 * What is not covered: rows inserted into es.events other than by
 * es.append / es.append_if (a superuser's INSERT, a restore) take no
 * bucket locks; a bound after the horizon the caller read below (an
 * after_position made up rather than returned) promises nothing about the
 * events in between.  Two transactions that each take buckets in several
 * calls can deadlock (PostgreSQL detects it: 40P01, retryable).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "event_sourcing.h"
#include "append.h"
#include "catalog.h"
#include "check.h"
#include "dcb.h"
#include "log.h"
#include "read.h"
#include "upcast.h"

/* Rows fetched from a cursor at a time. */
#define DCB_BATCH 100

/* Bucket keys of the two kinds: hashed apart. */
#define KEY_TYPE 0x54595045		/* "TYPE" */
#define KEY_TAG  0x54414753		/* "TAGS" */

/* The buckets this transaction holds (reset when a new one starts). */
static LocalTransactionId held_lxid = InvalidLocalTransactionId;
static uint8 held_share[ES_DCB_BUCKETS / 8];
static uint8 held_excl[ES_DCB_BUCKETS / 8];
static int	nheld_share = 0;
static int	nheld_excl = 0;
static bool escalated = false;	/* ROW EXCLUSIVE on the escalation lock */
static bool escalation_share = false;	/* SHARE on it (a condition) */

static SPIPlanPtr plan_insert_tagged = NULL;

/*
 * Plans of query shapes (the SQL text says which items have tags, types or
 * both, and whether a read has a limit), parsed once per backend.  Reads
 * are planned for each call's values: a generic plan cannot tell a
 * position near the end of the log from one at its start, and would read
 * a tag's events in position order through the position index.  A
 * condition's check (no order) leaves the choice to the plan cache, which
 * keeps planning afresh while that is cheaper than its generic plan.
 */
#define DCB_KEPT_PLANS 64
typedef struct KeptPlan
{
	char	   *sql;
	SPIPlanPtr	plan;
} KeptPlan;
static KeptPlan kept_plans[DCB_KEPT_PLANS];
static int	nkept_plans = 0;

/* A bucket to lock, and how. */
typedef struct BucketLock
{
	uint32		bucket;
	LOCKMODE	mode;
} BucketLock;

/* Forget the previous transaction's locks (released when it ended). */
static void
held_reset_if_new(void)
{
	if (held_lxid == MyProc->lxid)
		return;
	held_lxid = MyProc->lxid;
	memset(held_share, 0, sizeof(held_share));
	memset(held_excl, 0, sizeof(held_excl));
	nheld_share = 0;
	nheld_excl = 0;
	escalated = false;
	escalation_share = false;
}

/* The bucket of a key of a kind. */
static uint32
bucket_of(uint32 kind, text *key)
{
	return (uint32) (hash_bytes_extended((const unsigned char *) VARDATA_ANY(key),
										 VARSIZE_ANY_EXHDR(key), kind)
					 % ES_DCB_BUCKETS);
}

/* Take a lock for the top-level transaction (a savepoint keeps it). */
static void
lock_for_transaction(uint32 field2, uint16 field4, LOCKMODE mode)
{
	LOCKTAG		tag;
	ResourceOwner saved_owner = CurrentResourceOwner;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, field2, 0, field4);
	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		(void) LockAcquire(&tag, mode, false, false);
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = saved_owner;
	}
	PG_END_TRY();
}

#define BIT_SET(map, b) ((map)[(b) / 8] & (1 << ((b) % 8)))
#define BIT_ON(map, b) ((map)[(b) / 8] |= (1 << ((b) % 8)))

/* qsort comparator: by bucket, EXCLUSIVE first. */
static int
cmp_bucket(const void *a, const void *b)
{
	const BucketLock *x = a;
	const BucketLock *y = b;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return (int) y->mode - (int) x->mode;
}

/* Add the buckets a query's condition locks. */
static int
query_buckets(const EsDcbQuery *q, BucketLock *out, int n)
{
	int			i;
	int			j;

	for (i = 0; i < q->nitems; i++)
	{
		const EsDcbItem *item = &q->items[i];

		if (item->ntags > 0)
		{
			out[n].bucket = bucket_of(KEY_TAG, item->tag_list[0]);
			out[n++].mode = ExclusiveLock;
		}
		else
			for (j = 0; j < item->ntypes; j++)
			{
				out[n].bucket = bucket_of(KEY_TYPE, item->type_list[j]);
				out[n++].mode = ExclusiveLock;
			}
	}
	return n;
}

/*
 * Sort and deduplicate bucket locks (an EXCLUSIVE and a SHARE lock of one
 * bucket both stay: the SHARE one costs nothing more).  Returns the count.
 */
static int
sort_buckets(BucketLock *locks, int n)
{
	int			i;
	int			m = 0;

	if (n == 0)
		return 0;
	qsort(locks, n, sizeof(BucketLock), cmp_bucket);
	for (i = 0; i < n; i++)
		if (m == 0 || locks[m - 1].bucket != locks[i].bucket ||
			locks[m - 1].mode != locks[i].mode)
			locks[m++] = locks[i];
	return m;
}

/* Is this event id one of the batch's? */
static bool
in_batch(pg_uuid_t *id, const EsNewEvent *events, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (memcmp(id->data, events[i].event_id.data, UUID_LEN) == 0)
			return true;
	return false;
}

/*
 * The WHERE clause of a query's items, over es.events aliased "e", with
 * parameters from $first on (each item's tags, then its types): only
 * parameter numbers go into the text.  Fills types/values for them.
 */
static void
query_clause(const EsDcbQuery *q, StringInfo sql, int first,
			 Oid *argtypes, Datum *values)
{
	int			p = first;
	int			i;

	appendStringInfoString(sql, "(");
	for (i = 0; i < q->nitems; i++)
	{
		const EsDcbItem *item = &q->items[i];

		if (i > 0)
			appendStringInfoString(sql, " OR ");
		appendStringInfoString(sql, "(");
		if (item->ntags > 0)
		{
			appendStringInfo(sql, "e.tags IS NOT NULL AND e.tags OPERATOR(pg_catalog.@>) $%d", p);
			argtypes[p - 1] = TEXTARRAYOID;
			values[p++ - 1] = item->tags;
		}
		if (item->ntypes > 0)
		{
			appendStringInfo(sql, "%se.event_type OPERATOR(pg_catalog.=) ANY ($%d)",
							 item->ntags > 0 ? " AND " : "", p);
			argtypes[p - 1] = TEXTARRAYOID;
			values[p++ - 1] = item->types;
		}
		appendStringInfoString(sql, ")");
	}
	appendStringInfoString(sql, ")");
}

/* Number of parameters query_clause uses. */
static int
query_nparams(const EsDcbQuery *q)
{
	int			n = 0;
	int			i;

	for (i = 0; i < q->nitems; i++)
		n += (q->items[i].ntags > 0) + (q->items[i].ntypes > 0);
	return n;
}

/*
 * Open a read-only cursor over sql with these arguments, under the active
 * snapshot, through a kept plan of its shape prepared with cursor_options
 * (parsed afresh past DCB_KEPT_PLANS shapes).  Inside SPI.
 */
static Portal
open_query(const char *sql, int nargs, Oid *argtypes, Datum *values,
		   int cursor_options)
{
	int			i;

	for (i = 0; i < nkept_plans; i++)
		if (strcmp(kept_plans[i].sql, sql) == 0)
			return SPI_cursor_open(NULL, kept_plans[i].plan, values, NULL, true);
	if (nkept_plans < DCB_KEPT_PLANS)
	{
		KeptPlan   *k = &kept_plans[nkept_plans];

		k->plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);
		if (k->plan == NULL)
			elog(ERROR, "SPI_prepare_cursor failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(k->plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		k->sql = MemoryContextStrdup(TopMemoryContext, sql);
		nkept_plans++;
		return SPI_cursor_open(NULL, k->plan, values, NULL, true);
	}
	return SPI_cursor_open_with_args(NULL, sql, nargs, argtypes, values, NULL, true,
									 cursor_options);
}

/* Raise the condition's conflict error for the event found. */
static void
raise_condition_failed(const EsDcbCondition *cond, int64 position,
					   text *stream_id, text *event_type)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("append condition failed: an event matching the query was appended after position " INT64_FORMAT,
					cond->after),
			 errdetail("Event " INT64_FORMAT " of the log (type \"%s\", stream \"%s\") matches the query.",
					   position, text_to_cstring(event_type), text_to_cstring(stream_id)),
			 errhint("Read the events again, decide again, and retry."),
			 err_generic_string(PG_DIAG_SCHEMA_NAME, "es"),
			 err_generic_string(PG_DIAG_TABLE_NAME, "events"),
			 err_generic_string(PG_DIAG_CONSTRAINT_NAME, ES_APPEND_CONDITION_CONSTRAINT)));
}

/*
 * Look for an event matching the condition's query after its position,
 * under a snapshot taken now, other than those of this transaction and of
 * the batch; raise the conflict if there is one.  Inside SPI.
 */
static void
check_condition(const EsDcbCondition *cond, const EsNewEvent *events, int n)
{
	const EsDcbQuery *q = &cond->query;
	int			nparams = 1 + query_nparams(q);
	Oid		   *argtypes = palloc(sizeof(Oid) * nparams);
	Datum	   *values = palloc(sizeof(Datum) * nparams);
	StringInfoData sql;
	Portal		portal;
	bool		done = false;

	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "SELECT e.global_position, e.xmin, e.event_id, e.stream_id, e.event_type"
						   " FROM es.events e"
						   " WHERE e.global_position OPERATOR(pg_catalog.>) $1 AND ");
	argtypes[0] = INT8OID;
	values[0] = Int64GetDatum(cond->after);
	query_clause(q, &sql, 2, argtypes, values);

	CommandCounterIncrement();
	PushActiveSnapshot(GetLatestSnapshot());
	portal = open_query(sql.data, nparams, argtypes, values, 0);
	PopActiveSnapshot();
	while (!done)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, DCB_BATCH);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	row = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			TransactionId xmin = DatumGetTransactionId(SPI_getbinval(row, desc, 2, &isnull));

			if (TransactionIdIsCurrentTransactionId(xmin) ||
				in_batch(DatumGetUUIDP(SPI_getbinval(row, desc, 3, &isnull)), events, n))
				continue;
			raise_condition_failed(cond,
								   DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull)),
								   DatumGetTextPP(SPI_getbinval(row, desc, 4, &isnull)),
								   DatumGetTextPP(SPI_getbinval(row, desc, 5, &isnull)));
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	pfree(sql.data);
}

/* Lock the buckets of the batch and of the condition, then check it. */
void
es_dcb_append_begin(const EsDcbCondition *cond, const EsNewEvent *events, int n)
{
	BucketLock	stack[16];
	BucketLock *locks;
	int			max = 0;
	int			nlocks = 0;
	int			new_share = 0;
	int			new_excl = 0;
	int			i;
	int			j;

	held_reset_if_new();
	for (i = 0; i < n; i++)
		max += 1 + events[i].ntags;
	if (cond != NULL)
		for (i = 0; i < cond->query.nitems; i++)
			max += Max(cond->query.items[i].ntypes, 1);
	locks = max <= (int) lengthof(stack) ? stack : palloc(sizeof(BucketLock) * max);

	for (i = 0; i < n; i++)
	{
		locks[nlocks].bucket = bucket_of(KEY_TYPE, DatumGetTextPP(events[i].event_type));
		locks[nlocks++].mode = ShareLock;
		for (j = 0; j < events[i].ntags; j++)
		{
			locks[nlocks].bucket = bucket_of(KEY_TAG, events[i].tag_list[j]);
			locks[nlocks++].mode = ShareLock;
		}
	}
	if (cond != NULL)
		nlocks = query_buckets(&cond->query, locks, nlocks);
	nlocks = sort_buckets(locks, nlocks);

	/* what is new to this transaction; past the cap, escalate or refuse */
	for (i = 0; i < nlocks; i++)
	{
		if (locks[i].mode == ShareLock && !BIT_SET(held_share, locks[i].bucket))
			new_share++;
		else if (locks[i].mode == ExclusiveLock && !BIT_SET(held_excl, locks[i].bucket))
			new_excl++;
	}
	if (nheld_excl + new_excl > ES_DCB_XACT_CONDITION_LOCKS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many append conditions in one transaction"),
				 errdetail("The conditions of this transaction would lock %d buckets; at most %d are allowed.",
						   nheld_excl + new_excl, ES_DCB_XACT_CONDITION_LOCKS),
				 errhint("Use fewer query items, or commit between decisions.")));
	if (cond != NULL && !escalation_share)
	{
		lock_for_transaction(0, ES_DCB_LOCK_ESCALATION, ShareLock);
		escalation_share = true;
	}
	if (!escalated && nheld_share + new_share > ES_DCB_XACT_LOCKS)
	{
		lock_for_transaction(0, ES_DCB_LOCK_ESCALATION, RowExclusiveLock);
		escalated = true;
	}

	for (i = 0; i < nlocks; i++)
	{
		uint32		b = locks[i].bucket;

		if (locks[i].mode == ShareLock)
		{
			if (escalated || BIT_SET(held_share, b))
				continue;
			lock_for_transaction(b, ES_DCB_LOCK_BUCKET, ShareLock);
			BIT_ON(held_share, b);
			nheld_share++;
		}
		else
		{
			if (BIT_SET(held_excl, b))
				continue;
			lock_for_transaction(b, ES_DCB_LOCK_BUCKET, ExclusiveLock);
			BIT_ON(held_excl, b);
			nheld_excl++;
		}
	}
	if (locks != stack)
		pfree(locks);

	if (cond != NULL)
		check_condition(cond, events, n);
}

/* Insert a batch with tags, one event at a time. */
bool
es_dcb_insert_tagged(text *stream_id, int64 first, const EsNewEvent *events, int n)
{
	static const Oid argtypes[] = {TEXTOID, INT8OID, UUIDOID, TEXTOID,
	INT4OID, JSONBOID, JSONBOID, TIMESTAMPTZOID, TEXTARRAYOID};
	Datum		values[9];
	char		nulls[9];
	SPIPlanPtr	plan = NULL;
	int			i;

	for (i = 0; i < n; i++)
		if (events[i].ntags > 0)
			break;
	if (i == n)
		return false;

	for (i = 0; i < n; i++)
	{
		const EsNewEvent *ev = &events[i];

		if (plan == NULL)
			plan = es_keep_plan(&plan_insert_tagged,
								"INSERT INTO es.events (stream_id, stream_version, event_id,"
								" event_type, schema_version, data, metadata, occurred_at, tags)"
								" VALUES ($1, $2, $3, $4, $5, $6, $7,"
								" COALESCE($8, pg_catalog.now()), $9)",
								9, argtypes);
		memset(nulls, ' ', sizeof(nulls));
		values[0] = PointerGetDatum(stream_id);
		values[1] = Int64GetDatum(first + i);
		values[2] = UUIDPGetDatum(&ev->event_id);
		values[3] = ev->event_type;
		values[4] = Int32GetDatum(ev->schema_version);
		values[5] = ev->data;
		values[6] = ev->metadata;
		nulls[6] = ev->metadata_isnull ? 'n' : ' ';
		values[7] = TimestampTzGetDatum(ev->occurred_at);
		nulls[7] = ev->occurred_at_isnull ? 'n' : ' ';
		values[8] = ev->tags;
		nulls[8] = ev->ntags > 0 ? ' ' : 'n';
		if (es_run_plan(plan, values, nulls, false, 0, SPI_OK_INSERT) != 1)
			elog(ERROR, "inserted no event");
	}
	return true;
}

/*
 * Check a JSON array of strings, the value of key `key` of item `item`
 * (1-based): not empty, at most max, no empty strings (event types: valid
 * types).  Returns the count; *arr and *list get the strings.
 */
static int
parse_strings(JsonbValue *v, const char *key, int item, int max,
			  Datum *arr, text ***list)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			count;
	int			i = 0;
	Datum	   *elems;
	bool		is_types = strcmp(key, "types") == 0;
	char		label[64];

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data) ||
		JsonContainerIsScalar(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of a query item must be an array of strings", key),
				 errdetail("Item %d of the query has %s \"%s\".", item,
						   es_jsonb_kind(v), key)));
	count = JsonContainerSize(v->val.binary.data);
	if (count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of a query item must not be empty", key),
				 errdetail("Item %d of the query has an empty \"%s\" array.", item, key),
				 errhint("Leave the key out to match any %s.", is_types ? "event type" : "tags")));
	if (count > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too many %s in a query item", key),
				 errdetail("Item %d of the query has %d %s; at most %d are allowed.",
						   item, count, key, max)));
	elems = palloc(sizeof(Datum) * count);
	*list = palloc(sizeof(text *) * count);
	snprintf(label, sizeof(label), "item %d of the query", item);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		text	   *t;

		if (tok != WJB_ELEM)
			continue;
		if (elem.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" of a query item must be an array of strings", key),
					 errdetail("Element %d of \"%s\" of item %d of the query is %s.",
							   i + 1, key, item, es_jsonb_kind(&elem))));
		t = cstring_to_text_with_len(elem.val.string.val, elem.val.string.len);
		if (is_types)
			(void) es_check_event_type(PointerGetDatum(t), false, label);
		else if (elem.val.string.len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a tag must not be empty"),
					 errdetail("Element %d of \"tags\" of item %d of the query is an empty string.",
							   i + 1, item)));
		else if (elem.val.string.len > ES_MAX_TAG_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tag is too long"),
					 errdetail("Element %d of \"tags\" of item %d of the query is %d bytes long; at most %d are allowed.",
							   i + 1, item, elem.val.string.len, ES_MAX_TAG_BYTES)));
		elems[i] = PointerGetDatum(t);
		(*list)[i] = t;
		i++;
	}
	*arr = PointerGetDatum(construct_array(elems, count, TEXTOID, -1, false, TYPALIGN_INT));
	return count;
}

/* Check and unpack the query argument argno. */
static void
parse_query(FunctionCallInfo fcinfo, int argno, EsDcbQuery *q)
{
	Jsonb	   *jb;
	int			i;
	BucketLock	locks[ES_DCB_MAX_ITEMS * ES_DCB_MAX_ITEM_TYPES];
	int			nlocks;

	es_check_not_null(fcinfo, argno, "query",
					  "Pass a JSON array of items such as [{\"types\": [\"Enrolled\"], \"tags\": [\"course:c1\"]}].");
	jb = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query must be a JSON array of items"),
				 errhint("Pass a JSON array of items such as [{\"types\": [\"Enrolled\"], \"tags\": [\"course:c1\"]}].")));
	q->nitems = JB_ROOT_COUNT(jb);
	if (q->nitems == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query must not be empty"),
				 errhint("A query needs at least one item with \"types\" or \"tags\".")));
	if (q->nitems > ES_DCB_MAX_ITEMS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too many items in the query"),
				 errdetail("The query has %d items; at most %d are allowed.",
						   q->nitems, ES_DCB_MAX_ITEMS)));
	q->items = palloc0(sizeof(EsDcbItem) * q->nitems);
	for (i = 0; i < q->nitems; i++)
	{
		EsDcbItem  *item = &q->items[i];
		JsonbValue *v = getIthJsonbValueFromContainer(&jb->root, i);
		JsonbIterator *it;
		JsonbValue	key;
		JsonbValue	val;
		JsonbIteratorToken tok;

		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a query item must be a JSON object"),
					 errdetail("Item %d of the query is %s.", i + 1, es_jsonb_kind(v))));
		it = JsonbIteratorInit(v->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
		{
			char	   *name;

			if (tok != WJB_KEY)
				continue;
			name = pnstrdup(key.val.string.val, key.val.string.len);
			tok = JsonbIteratorNext(&it, &val, true);
			Assert(tok == WJB_VALUE);
			if (strcmp(name, "types") == 0)
				item->ntypes = parse_strings(&val, "types", i + 1, ES_DCB_MAX_ITEM_TYPES,
											 &item->types, &item->type_list);
			else if (strcmp(name, "tags") == 0)
				item->ntags = parse_strings(&val, "tags", i + 1, ES_MAX_TAGS,
											&item->tags, &item->tag_list);
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown key \"%s\" in a query item", name),
						 errdetail("Item %d of the query has the key \"%s\".", i + 1, name),
						 errhint("A query item has \"types\", \"tags\" or both.")));
		}
		if (item->ntypes == 0 && item->ntags == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a query item must name event types or tags"),
					 errdetail("Item %d of the query has neither \"types\" nor \"tags\".", i + 1)));
	}

	/* a condition must not lock more buckets than a transaction may */
	nlocks = sort_buckets(locks, query_buckets(q, locks, 0));
	if (nlocks > ES_DCB_XACT_LOCKS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("query is too wide for a condition"),
				 errdetail("The query would lock %d buckets; at most %d are allowed.",
						   nlocks, ES_DCB_XACT_LOCKS),
				 errhint("Give items tags, or name fewer event types in items without tags.")));
}

/* Check a position argument: not null, not negative. */
static int64
position_arg(FunctionCallInfo fcinfo, int argno)
{
	int64		v;

	es_check_not_null(fcinfo, argno, "after_position",
					  "Pass the position of the last event es.read_events returned, or the after_position it read from.");
	v = PG_GETARG_INT64(argno);
	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after_position must not be negative")));
	return v;
}

PG_FUNCTION_INFO_V1(es_read_events);

/*
 * es.read_events(query, after_position, max_count): the events matching
 * the query after a position and below the log's horizon, in position
 * order, upcast.
 */
Datum
es_read_events(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EsDcbQuery	q;
	int64		after;
	volatile int64 max_count = -1;
	EsUserSwitch save;

	parse_query(fcinfo, 0, &q);
	after = position_arg(fcinfo, 1);
	if (!PG_ARGISNULL(2))
	{
		max_count = PG_GETARG_INT64(2);
		if (max_count < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_count must not be negative")));
	}
	es_log_refuse_standby("es.read_events()");

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != ES_EVENT_NATTS)
		elog(ERROR, "es.events has %d columns, expected %d",
			 rsinfo->setDesc->natts, ES_EVENT_NATTS);
	if (max_count == 0)
		return (Datum) 0;

	es_become_owner(&save);
	PG_TRY();
	{
		int64		horizon;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		horizon = es_log_horizon_internal();
		if (after < horizon - 1)
		{
			int			nparams = 2 + query_nparams(&q) + (max_count > 0);
			Oid		   *argtypes = palloc(sizeof(Oid) * nparams);
			Datum	   *values = palloc(sizeof(Datum) * nparams);
			StringInfoData sql;
			Portal		portal;
			EsEventCursor cursor;
			Datum		row[ES_EVENT_NATTS];
			bool		rownulls[ES_EVENT_NATTS];
			MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext,
														  "es read_events row",
														  ALLOCSET_DEFAULT_SIZES);

			initStringInfo(&sql);
			appendStringInfoString(&sql,
								   "SELECT " ES_EVENT_COLUMNS " FROM es.events e"
								   " WHERE e.global_position OPERATOR(pg_catalog.>) $1"
								   " AND e.global_position OPERATOR(pg_catalog.<) $2 AND ");
			argtypes[0] = INT8OID;
			values[0] = Int64GetDatum(after);
			argtypes[1] = INT8OID;
			values[1] = Int64GetDatum(horizon);
			query_clause(&q, &sql, 3, argtypes, values);
			appendStringInfoString(&sql, " ORDER BY e.global_position");
			if (max_count > 0)
			{
				appendStringInfo(&sql, " LIMIT $%d", nparams);
				argtypes[nparams - 1] = INT8OID;
				values[nparams - 1] = Int64GetDatum(max_count);
			}
			/* a snapshot taken after the horizon, in every isolation level */
			CommandCounterIncrement();
			PushActiveSnapshot(GetLatestSnapshot());
			portal = open_query(sql.data, nparams, argtypes, values,
								CURSOR_OPT_CUSTOM_PLAN);
			PopActiveSnapshot();
			es_event_cursor_open(&cursor, portal, DCB_BATCH);
			while (es_event_cursor_next(&cursor, row, rownulls))
			{
				MemoryContext old = MemoryContextSwitchTo(row_cxt);

				es_upcast_row(row, rownulls);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, rownulls);
				MemoryContextSwitchTo(old);
				MemoryContextReset(row_cxt);
			}
			es_event_cursor_close(&cursor);
			MemoryContextDelete(row_cxt);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(es_append_if);

/*
 * es.append_if(query, after_position, stream_id, expected_version,
 * VARIADIC events): es.append when no event matching the query was
 * appended after the position.
 */
Datum
es_append_if(PG_FUNCTION_ARGS)
{
	EsDcbCondition cond;

	parse_query(fcinfo, 0, &cond.query);
	cond.after = position_arg(fcinfo, 1);
	PG_RETURN_INT64(es_append_call(fcinfo, 2, &cond));
}

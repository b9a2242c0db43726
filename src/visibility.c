/*
 * visibility.c
 *	  Which events of a stream its own reads see (stream lifecycle).
 *
 * An event e of stream s, whose category has the retention policy r (if
 * any), is hidden from the stream's reads at transaction time T = now()
 * (the transaction's start: a transaction sees one answer) when
 *
 *	 s.tombstoned
 *	 OR e.stream_version <= s.hidden_through
 *	 OR e.stream_version <= s.version - r.max_count
 *	 OR e.recorded_at < T - r.max_age
 *
 * Events of the "$" companion streams (lifecycle events) are never hidden
 * by retention.  Hidden events stay in the global log until es.purge
 * removes them; only a stream's own reads (es.read_stream, es.fold and its
 * as-of form, es.snapshot) leave them out.
 *
 * A read looks at the stream's row once, straight from the primary key of
 * es.streams under the active snapshot -- the snapshot its events are read
 * with, so the row and the events agree -- and at the category's policy in
 * a per-backend cache of es.retention_registry.  All but the age condition
 * hide a prefix of the stream: the read starts after it.  The age
 * condition is a filter, applied only when a max_age policy applies.
 *
 * The cache holds every policy (there are few), filled from the latest
 * snapshot and dropped on any relcache invalidation of the registry, which
 * the statement trigger es.retention_changed sends on every change (DML
 * sends none by itself).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "visibility.h"

/* Columns of es.streams and es.retention_registry read here. */
#define STREAMS_CATEGORY		2
#define STREAMS_VERSION			3
#define STREAMS_HIDDEN_THROUGH	6
#define STREAMS_TOMBSTONED		7
#define RETENTION_CATEGORY		1
#define RETENTION_MAX_AGE		2
#define RETENTION_MAX_COUNT		3

/* One retention policy. */
typedef struct Policy
{
	char	   *category;
	bool		has_age;
	Interval	max_age;
	int64		max_count;		/* 0: none */
} Policy;

/* The cache: every policy, sorted by category. */
static MemoryContext policies_cxt = NULL;
static Policy *policies = NULL;
static int	npolicies = 0;
static bool policies_valid = false;
static Oid	policies_relid = InvalidOid;
static uint64 policies_inval = 0;	/* invalidations seen */

/* es.streams and its primary key, looked up once (see the callback) */
static Oid	streams_relid = InvalidOid;
static Oid	streams_pkey = InvalidOid;

/*
 * Drop the cache on an invalidation of the registry (or of everything),
 * and forget es.streams on one of es.streams (DROP EXTENSION included).
 */
static void
visibility_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == policies_relid)
	{
		policies_valid = false;
		policies_inval++;
	}
	if (relid == InvalidOid || relid == streams_relid)
		streams_relid = InvalidOid;
}

/* Register the invalidation callback once per backend. */
void
es_visibility_init(void)
{
	CacheRegisterRelcacheCallback(visibility_relcache_callback, (Datum) 0);
}

/* qsort / bsearch order of policies. */
static int
policy_cmp(const void *a, const void *b)
{
	return strcmp(((const Policy *) a)->category, ((const Policy *) b)->category);
}

/*
 * Load every policy from the latest snapshot.  Built in a context under
 * the current one and moved under CacheMemoryContext only when complete:
 * an error leaves the old (invalid) cache and frees the new one.
 */
static void
load_policies(void)
{
	Oid			relid = es_relid("retention_registry", false);
	Relation	rel;
	MemoryContext cxt;
	MemoryContext old;
	TableScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	Policy	   *list;
	int			n = 0;
	int			size = 8;
	uint64		inval_before;

	rel = table_open(relid, AccessShareLock);	/* takes pending invalidations */
	inval_before = policies_inval;
	policies_relid = relid;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "es retention policies",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	list = palloc(sizeof(Policy) * size);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d;
		Policy	   *p;

		if (n == size)
		{
			size *= 2;
			list = repalloc(list, sizeof(Policy) * size);
		}
		p = &list[n];
		d = slot_getattr(slot, RETENTION_CATEGORY, &isnull);
		if (isnull)
			continue;
		p->category = TextDatumGetCString(d);
		d = slot_getattr(slot, RETENTION_MAX_AGE, &isnull);
		p->has_age = !isnull;
		if (!isnull)
			memcpy(&p->max_age, DatumGetIntervalP(d), sizeof(Interval));
		d = slot_getattr(slot, RETENTION_MAX_COUNT, &isnull);
		p->max_count = isnull ? 0 : Max(DatumGetInt64(d), 1);
		if (p->has_age || p->max_count > 0)
			n++;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	qsort(list, n, sizeof(Policy), policy_cmp);
	MemoryContextSwitchTo(old);

	if (policies_cxt != NULL)
		MemoryContextDelete(policies_cxt);
	MemoryContextSetParent(cxt, CacheMemoryContext);
	policies_cxt = cxt;
	policies = list;
	npolicies = n;
	/* an invalidation during the load: use it once, load again next time */
	policies_valid = (inval_before == policies_inval);
}

/* The policy of a category, or NULL. */
static const Policy *
find_policy(const char *category)
{
	Policy		key;

	if (!policies_valid)
		load_policies();
	if (npolicies == 0)
		return NULL;
	key.category = (char *) category;
	return bsearch(&key, policies, npolicies, sizeof(Policy), policy_cmp);
}

/*
 * T - max_age, or false when that is before any timestamp (nothing is old
 * enough to hide).  An interval of at most 5,000 years (counting 30-day
 * months) cannot take now() out of the timestamp range.
 */
static bool
age_cutoff(const Interval *max_age, TimestampTz *cutoff)
{
	Interval	limit;

	limit.month = 5000 * MONTHS_PER_YEAR;
	limit.day = 0;
	limit.time = 0;
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp,
										  IntervalPGetDatum((Interval *) max_age),
										  IntervalPGetDatum(&limit))) > 0)
		return false;
	*cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													  TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
													  IntervalPGetDatum((Interval *) max_age)));
	return true;
}

/* What the reads of a stream leave out (see visibility.h). */
void
es_stream_visibility(text *stream_id, EsVisibility *v)
{
	Relation	heap;
	Relation	index;
	TupleTableSlot *slot;
	IndexScanDesc scan;
	ScanKeyData key;
	char	   *category = NULL;
	bool		tombstoned = false;

	if (!OidIsValid(streams_relid))
	{
		Oid			relid = es_relid("streams", false);

		heap = table_open(relid, AccessShareLock);
		streams_pkey = RelationGetPrimaryKeyIndex(heap);
		if (!OidIsValid(streams_pkey))
			elog(ERROR, "es.streams has no primary key");
		streams_relid = relid;
	}
	else
		heap = table_open(streams_relid, AccessShareLock);
	index = index_open(streams_pkey, AccessShareLock);
	slot = table_slot_create(heap, NULL);

	memset(v, 0, sizeof(EsVisibility));
	if (RelationGetDescr(heap)->natts < STREAMS_TOMBSTONED)
		elog(ERROR, "es.streams has %d columns, expected at least %d",
			 RelationGetDescr(heap)->natts, STREAMS_TOMBSTONED);
	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], F_TEXTEQ,
						   PointerGetDatum(stream_id));
	scan = index_beginscan(heap, index, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d;

		d = slot_getattr(slot, STREAMS_VERSION, &isnull);
		v->version = isnull ? 0 : DatumGetInt64(d);
		d = slot_getattr(slot, STREAMS_HIDDEN_THROUGH, &isnull);
		v->hidden_through = isnull ? 0 : DatumGetInt64(d);
		d = slot_getattr(slot, STREAMS_TOMBSTONED, &isnull);
		tombstoned = !isnull && DatumGetBool(d);
		d = slot_getattr(slot, STREAMS_CATEGORY, &isnull);
		if (!isnull)
			category = TextDatumGetCString(d);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);

	if (tombstoned)
		v->hidden_through = Max(v->hidden_through, v->version);
	/* retention never hides the lifecycle events of the "$" streams */
	if (category != NULL && VARSIZE_ANY_EXHDR(stream_id) > 0 &&
		*VARDATA_ANY(stream_id) != '$')
	{
		const Policy *p = find_policy(category);

		if (p != NULL && p->max_count > 0 && v->version > p->max_count)
			v->hidden_through = Max(v->hidden_through, v->version - p->max_count);
		if (p != NULL && p->has_age)
		{
			v->age_limited = age_cutoff(&p->max_age, &v->cutoff);
			v->any_hidden = true;
		}
	}
	if (v->hidden_through > 0 || tombstoned)
		v->any_hidden = true;
}

PG_FUNCTION_INFO_V1(es_retention_changed);

/*
 * Statement trigger on es.retention_registry: any change to the registry
 * (by es.create_retention / es.drop_retention, the owner's own DML, a
 * restore's COPY) reaches every backend's cache, this one's at once.
 */
Datum
es_retention_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.retention_changed() was not called by the trigger manager")));
	if (!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.retention_changed() must be fired AFTER ... FOR EACH STATEMENT")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	policies_valid = false;
	policies_inval++;
	return PointerGetDatum(NULL);
}

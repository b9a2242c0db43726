/*
 * event_insert.c
 *	  Writes es.append's checked events into es.events directly, without
 *	  SPI: what an INSERT statement would do, minus parsing, planning and
 *	  the executor's start-up for a one-row plan.
 *
 * Each row goes through ExecSimpleRelationInsert (the path logical
 * replication applies rows with): BEFORE ROW triggers, the table's NOT NULL
 * and CHECK constraints, the heap insert, every index (unique ones raise
 * 23505 as an INSERT would), and AFTER ROW triggers, queued between
 * AfterTriggerBeginQuery and AfterTriggerEndQuery and fired at the end of
 * the batch, as at the end of an INSERT statement: inline projections see
 * exactly what they saw before.  The command counter moves and a fresh
 * snapshot is pushed first, as a non-read-only SPI statement does.
 *
 * The columns es.append fills come from the batch.  Every other column
 * (global_position, whose default es.next_position() hands out the gap-safe
 * position; recorded_at; transaction_id; any column added later), and
 * occurred_at when the event leaves it NULL, gets its default expression
 * from the catalog, evaluated in column order as an INSERT evaluates it.
 *
 * What an INSERT re-derives from the catalog on every execution is kept
 * per backend instead: the column numbers and the executable states of
 * the default expressions, the CHECK constraints and the triggers' WHEN
 * clauses (so none is parsed from its stored text per append).
 * All of it is forgotten on a relcache invalidation of es.events (ALTER
 * TABLE, DROP EXTENSION, or a cache reset) and rebuilt on next use from the
 * relation as it is then.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "rewrite/rewriteManip.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "catalog.h"
#include "event.h"
#include "event_insert.h"

/* The columns es.append fills, by name. */
enum
{
	COL_STREAM_ID,
	COL_STREAM_VERSION,
	COL_EVENT_ID,
	COL_EVENT_TYPE,
	COL_SCHEMA_VERSION,
	COL_DATA,
	COL_METADATA,
	COL_OCCURRED_AT,
	NCOLS
};

static const char *const col_names[NCOLS] = {
	"stream_id", "stream_version", "event_id", "event_type",
	"schema_version", "data", "metadata", "occurred_at"
};

/* What an INSERT into es.events re-derives per execution, kept. */
typedef struct InsertCache
{
	MemoryContext cxt;
	Oid			relid;
	int			natts;
	int			att[NCOLS];		/* 0-based attribute index of each column */
	ExprState **defaults;		/* per attribute: its default, or NULL */
	int			ncheck;
	ExprState **checks;			/* in the order of rd_att->constr->check */
	int			ntriggers;
	Oid		   *tgoids;			/* in the order of rd_rel->trigdesc */
	ExprState **whens;			/* each trigger's WHEN, or NULL */
} InsertCache;

static InsertCache *cache = NULL;
static bool cache_valid = false;

/* Calls in progress (a projection handler may append again). */
static int	insert_depth = 0;

/* Forget the cache when es.events (or every relation) is invalidated. */
static void
insert_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (cache != NULL && (relid == InvalidOid || relid == cache->relid))
		cache_valid = false;
}

/* Register the invalidation callback; called from _PG_init. */
void
es_event_insert_init(void)
{
	CacheRegisterRelcacheCallback(insert_relcache_callback, (Datum) 0);
}

/*
 * Build the cache from the open relation.  The previous cache's memory is
 * freed only when no call is using it.
 */
static void
build_cache(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext cxt;
	MemoryContext old;
	InsertCache *c;
	int			i;

	/* under the current context until complete: an error frees it */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "event_sourcing insert cache",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	c = palloc0(sizeof(InsertCache));
	c->cxt = cxt;
	c->relid = RelationGetRelid(rel);
	c->natts = desc->natts;
	for (i = 0; i < NCOLS; i++)
		c->att[i] = -1;
	c->defaults = palloc0(sizeof(ExprState *) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			k;
		Node	   *def;

		if (att->attisdropped)
			continue;
		for (k = 0; k < NCOLS; k++)
			if (strcmp(NameStr(att->attname), col_names[k]) == 0)
				c->att[k] = i;
		if (att->attgenerated)
			continue;			/* computed by ExecSimpleRelationInsert */
		def = build_column_default(rel, i + 1);
		if (def != NULL)
			c->defaults[i] = ExecInitExpr(expression_planner((Expr *) def), NULL);
	}
	for (i = 0; i < NCOLS; i++)
		if (c->att[i] < 0)
			elog(ERROR, "column \"%s\" of es.events is missing", col_names[i]);
	c->ncheck = desc->constr ? desc->constr->num_check : 0;
	if (c->ncheck > 0)
	{
		c->checks = palloc(sizeof(ExprState *) * c->ncheck);
		for (i = 0; i < c->ncheck; i++)
			c->checks[i] = ExecInitExpr(expression_planner((Expr *) stringToNode(desc->constr->check[i].ccbin)),
										NULL);
	}
	/* the WHEN clauses, prepared as TriggerEnabled prepares them */
	c->ntriggers = rel->trigdesc ? rel->trigdesc->numtriggers : 0;
	if (c->ntriggers > 0)
	{
		c->tgoids = palloc(sizeof(Oid) * c->ntriggers);
		c->whens = palloc0(sizeof(ExprState *) * c->ntriggers);
		for (i = 0; i < c->ntriggers; i++)
		{
			Trigger    *trigger = &rel->trigdesc->triggers[i];
			Node	   *qual;

			c->tgoids[i] = trigger->tgoid;
			if (trigger->tgqual == NULL)
				continue;
			qual = stringToNode(trigger->tgqual);
			ChangeVarNodes(qual, PRS2_OLD_VARNO, INNER_VAR, 0);
			ChangeVarNodes(qual, PRS2_NEW_VARNO, OUTER_VAR, 0);
			qual = (Node *) make_ands_implicit((Expr *) qual);
			c->whens[i] = ExecInitQual((List *) expression_planner((Expr *) qual), NULL);
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextSetParent(cxt, CacheMemoryContext);

	if (cache != NULL && insert_depth == 0)
		MemoryContextDelete(cache->cxt);
	cache = c;
	cache_valid = true;
}

/* Open es.events for inserting, with the cache up to date. */
static Relation
open_events(void)
{
	Relation	rel = NULL;

	if (cache != NULL && cache_valid)
		rel = try_table_open(cache->relid, RowExclusiveLock);
	/* the lock may have brought invalidations */
	if (rel == NULL || !cache_valid)
	{
		if (rel != NULL)
			table_close(rel, RowExclusiveLock);
		rel = table_open(es_relid("events", false), RowExclusiveLock);
		build_cache(rel);
	}
	return rel;
}

/*
 * Insert the rows, queueing their AFTER triggers, and fire those: the
 * statement part of es_insert_events.
 */
static void
insert_rows_guarded(InsertCache *c, ExprState **defaults, EState *estate,
			ResultRelInfo *rri, text *stream_id, int64 first,
			EsNewEvent *events, int n)
{
	TupleTableSlot *slot;
	ExprContext *econtext = GetPerTupleExprContext(estate);
	int			i;

	ExecOpenIndices(rri, false);
	slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rri->ri_RelationDesc),
								  &TTSOpsVirtual);
	AfterTriggerBeginQuery();
	for (i = 0; i < n; i++)
	{
		EsNewEvent *ev = &events[i];
		Datum	   *values = slot->tts_values;
		bool	   *isnull = slot->tts_isnull;
		int			a;

		CHECK_FOR_INTERRUPTS();
		ResetPerTupleExprContext(estate);
		ExecClearTuple(slot);
		for (a = 0; a < c->natts; a++)
		{
			values[a] = (Datum) 0;
			isnull[a] = true;
		}
		values[c->att[COL_STREAM_ID]] = PointerGetDatum(stream_id);
		values[c->att[COL_STREAM_VERSION]] = Int64GetDatum(first + i);
		values[c->att[COL_EVENT_ID]] = UUIDPGetDatum(&ev->event_id);
		values[c->att[COL_EVENT_TYPE]] = ev->event_type;
		values[c->att[COL_SCHEMA_VERSION]] = Int32GetDatum(ev->schema_version);
		values[c->att[COL_DATA]] = ev->data;
		values[c->att[COL_METADATA]] = ev->metadata;
		values[c->att[COL_OCCURRED_AT]] = TimestampTzGetDatum(ev->occurred_at);
		isnull[c->att[COL_STREAM_ID]] = false;
		isnull[c->att[COL_STREAM_VERSION]] = false;
		isnull[c->att[COL_EVENT_ID]] = false;
		isnull[c->att[COL_EVENT_TYPE]] = false;
		isnull[c->att[COL_SCHEMA_VERSION]] = false;
		isnull[c->att[COL_DATA]] = false;
		isnull[c->att[COL_METADATA]] = ev->metadata_isnull;
		isnull[c->att[COL_OCCURRED_AT]] = ev->occurred_at_isnull;
		/* the other columns, and occurred_at left out, as in an INSERT */
		for (a = 0; a < c->natts; a++)
		{
			bool		given = (a == c->att[COL_OCCURRED_AT])
				? !ev->occurred_at_isnull : !isnull[a] || a == c->att[COL_METADATA];

			if (!given && defaults[a] != NULL)
				values[a] = ExecEvalExprSwitchContext(defaults[a], econtext, &isnull[a]);
		}
		ExecStoreVirtualTuple(slot);
		ExecSimpleRelationInsert(rri, estate, slot);
	}
	AfterTriggerEndQuery(estate);
	ExecCloseIndices(rri);
}

/* insert_rows_guarded, counted in insert_depth while it runs. */
static void
insert_rows(InsertCache *c, ExprState **defaults, EState *estate,
			ResultRelInfo *rri, text *stream_id, int64 first,
			EsNewEvent *events, int n)
{
	insert_depth++;
	PG_TRY();
	{
		insert_rows_guarded(c, defaults, estate, rri, stream_id, first, events, n);
	}
	PG_FINALLY();
	{
		insert_depth--;
	}
	PG_END_TRY();
}

/* Insert the batch as versions first .. first + n - 1 of the stream. */
void
es_insert_events(text *stream_id, int64 first, EsNewEvent *events, int n)
{
	Relation	rel = open_events();
	InsertCache *c = cache;
	EState	   *estate;
	RangeTblEntry *rte;
	ResultRelInfo *rri;
	ExprState **defaults = c->defaults;

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());

	estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = c->relid;
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(estate, list_make1(rte));
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	/* lets ExecGetTriggerResultRel find it (no reference of its own) */
	estate->es_opened_result_relations = list_make1(rri);
	estate->es_output_cid = GetCurrentCommandId(true);

	/*
	 * The cached states serve one call at a time: a nested call (an append
	 * from a projection handler fired below) builds its own, as an INSERT
	 * would.
	 */
	if (insert_depth > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
		int			a;

		defaults = palloc0(sizeof(ExprState *) * c->natts);
		for (a = 0; a < c->natts; a++)
			if (c->defaults[a] != NULL)
				defaults[a] = ExecPrepareExpr((Expr *) build_column_default(rel, a + 1),
											  estate);
		MemoryContextSwitchTo(old);
	}
	else
	{
		TriggerDesc *trigdesc = rri->ri_TrigDesc;
		int			t;

		if (c->ncheck > 0)
			rri->ri_ConstraintExprs = c->checks;
		/* the copy of the relation's triggers, in the same order */
		if (trigdesc != NULL && trigdesc->numtriggers == c->ntriggers)
			for (t = 0; t < c->ntriggers; t++)
				if (trigdesc->triggers[t].tgoid == c->tgoids[t])
					rri->ri_TrigWhenExprs[t] = c->whens[t];
	}

	insert_rows(c, defaults, estate, rri, stream_id, first, events, n);

	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	PopActiveSnapshot();
	table_close(rel, NoLock);
}

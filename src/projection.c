/*
 * projection.c
 *	  Projections: read models kept current by user handlers.  Inline
 *	  projections (the trigger), es.create_projection, es.drop_projection,
 *	  es.rebuild_projection, and what async projections (projection_async.c)
 *	  share with them: the registry's rows, handler calls, type filters.
 *
 * A projection is a row of es.projections_registry: a name, a handler
 * function (event es.events) RETURNS void, an optional event-type filter,
 * the read-model tables it maintains, its registrant (owner) and the
 * settings captured when it was created.  The machinery is part of the
 * install script, never created at run time (pg_dump would not keep it):
 *
 *	 events_projections   AFTER INSERT ON es.events FOR EACH ROW
 *						  WHEN (es.projections_wanted())
 *						  EXECUTE FUNCTION es.projections_trigger()
 *
 * The WHEN function is true only for rows that es.append writes (its owner
 * switch is current and says "appending") while an inline projection is
 * registered.  Rows that pg_restore's COPY, or anyone else, inserts queue
 * no trigger event at all, so a restore does not apply the history to the
 * read models a second time, and a store without projections pays one
 * cached check per event.
 *
 * Identity.  A handler runs as the projection's registrant, with the
 * settings captured at es.create_projection (es_become_registrant), never
 * as the appender nor as whoever runs a back-fill, a rebuild or
 * es.run_projections: an appender feeds read models it has no privileges
 * on, and its settings cannot change what the handler does.  The switch is
 * made once per trigger firing per projection, and once per batch of
 * events in the back-fill, a rebuild and async runs (EsHandlerBatch); the
 * events are read and upcast as the extension's owner in between.  A
 * projection's tables must be owned by its registrant (checked at
 * creation, when the trigger locks them, and by a rebuild, which empties
 * them as the registrant), and may not be system catalogs or another
 * extension's tables.
 *
 * The registry is cached per backend, with each handler resolved (and its
 * signature and the registrant's EXECUTE privilege checked) when it is
 * first called, in the entry's memory context: an event costs no SQL
 * parsing.  The cache discipline: it is filled with the latest snapshot
 * (not the transaction's: a REPEATABLE READ transaction sees a projection
 * created after it began), in a context of its own that becomes the cache
 * only once complete (a failed fill leaves nothing behind and is retried
 * by the next call); it is dropped on a relcache invalidation of the
 * registry (which create and drop send themselves: DML sends none) and on
 * any change to pg_proc (a handler replaced, dropped, its privileges
 * changed), and a handler resolved before an invalidation is resolved
 * again before its next call even by a firing that still holds the old
 * cache.  Filling never raises for what a restore or a manual edit may
 * leave in a row (a NULL in event_types matches nothing, a NULL table is
 * skipped, a handler that is missing or has another signature is found
 * when the projection runs): such errors name the projection and affect
 * only appends of the event types it handles.
 *
 * Concurrency.  es.create_projection and es.drop_projection of an inline
 * projection take a SHARE lock on es.events: they wait for appenders in
 * flight and hold new ones off until they commit, so every event is
 * applied by exactly the projections registered when it committed.  The
 * back-fill reads every committed event with the latest snapshot, taken
 * after the lock.  Before calling a handler the trigger takes ROW
 * EXCLUSIVE locks on the projection's tables; es.rebuild_projection empties
 * them with TRUNCATE (ACCESS EXCLUSIVE, as the registrant), so an append
 * that fires the projection either committed before the rebuild took its
 * lock (and is replayed: the replay reads with a snapshot taken after the
 * lock, in every isolation level) or waits for the rebuild to commit and
 * then applies its event on top.  Appends that do not fire the projection
 * never wait.  Ownership is checked where it cannot be raced: creation
 * inserts with ON CONFLICT DO NOTHING (a concurrent creator of the same
 * name waits for the first and then fails), drop and rebuild check the
 * owner of the row they hold locked FOR UPDATE.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "check.h"
#include "log.h"
#include "projection.h"
#include "read.h"
#include "upcast.h"
#include "visibility.h"

/* Rows fetched from the history cursor, and events per handler batch. */
#define REPLAY_BATCH 1000

/* Columns of es.projections_registry (1-based attribute numbers). */
enum
{
	REG_NAME = 1,
	REG_HANDLER,
	REG_EVENT_TYPES,
	REG_ASYNC,
	REG_TABLES,
	REG_OWNER,
	REG_SETTINGS,
	REG_CREATED_AT,
	REG_POSITION,
	REG_APPLIED_AT,
	REG_ERROR_POSITION,
	REG_ERROR_EVENT_ID,
	REG_ERROR_SQLSTATE,
	REG_ERROR_MESSAGE,
	REG_ERROR_AT,
	REG_NATTS = REG_ERROR_AT
};

/* The inline projections, in name order, in a context of their own. */
typedef struct EsProjectionCache
{
	MemoryContext cxt;
	int			refcount;		/* trigger calls using it right now */
	int			nprojections;
	EsProjection *projections;
} EsProjectionCache;

static EsProjectionCache *cache = NULL;
static bool cache_valid = false;

/*
 * Counts invalidations of the registry or of any function; a handler
 * resolved at an earlier count is resolved again before its next call.
 * Starts at 1: 0 means "never resolved".
 */
static uint64 inval_count = 1;
static Oid	registry_relid = InvalidOid;

/*
 * The owner switch under which a handler is running right now: rows that
 * the handler itself inserts into es.events (a superuser can) are not
 * es.append's, even though es.append's switch is still the current one.
 */
static EsUserSwitch *handler_switch = NULL;

static SPIPlanPtr plan_history = NULL;
static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_lookup = NULL;
static SPIPlanPtr plan_delete = NULL;
static SPIPlanPtr plan_restart = NULL;

/* Forget the registry when it (or every relation) is invalidated. */
static void
projection_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == registry_relid)
	{
		cache_valid = false;
		inval_count++;
	}
}

/* Forget the registry's handlers when any function changes. */
static void
projection_proc_callback(Datum arg pg_attribute_unused(),
						 int cacheid pg_attribute_unused(),
						 uint32 hashvalue pg_attribute_unused())
{
	cache_valid = false;
	inval_count++;
}

/* Register the invalidation callbacks once per backend. */
void
es_projection_init(void)
{
	CacheRegisterRelcacheCallback(projection_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, projection_proc_callback, (Datum) 0);
}

/*
 * Fill a projection from registry values; everything is allocated in the
 * current memory context.  Raises nothing for odd contents (see the
 * header comment): NULL elements of event_types match no type, NULL
 * tables are skipped, the handler is resolved when first called.
 */
void
es_fill_projection(EsProjection *p, Datum name, Datum handler,
				   Datum types, bool types_isnull, Datum tables,
				   Oid owner, Datum settings, bool settings_isnull)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	int			i;

	p->cxt = CurrentMemoryContext;
	p->name = TextDatumGetCString(name);
	p->what = psprintf("projection \"%s\"", p->name);
	p->handler_name = TextDatumGetCString(handler);
	p->owner = owner;
	p->settings = settings_isnull ? (Datum) 0 :
		PointerGetDatum(DatumGetArrayTypePCopy(settings));
	p->settings_parsed = false;
	p->resolved_at = 0;
	p->flinfo = NULL;

	p->ntypes = -1;
	p->types = NULL;
	p->type_lens = NULL;
	if (!types_isnull)
	{
		arr = DatumGetArrayTypeP(types);
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &elem_nulls, &n);
		p->ntypes = n;
		p->types = palloc(sizeof(char *) * Max(n, 1));
		p->type_lens = palloc(sizeof(int) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			text	   *t;

			if (elem_nulls[i])
			{
				p->types[i] = NULL; /* as in SQL: NULL equals no type */
				p->type_lens[i] = -1;
				continue;
			}
			t = DatumGetTextPP(elems[i]);
			p->type_lens[i] = VARSIZE_ANY_EXHDR(t);
			p->types[i] = palloc(p->type_lens[i] + 1);
			memcpy(p->types[i], VARDATA_ANY(t), p->type_lens[i]);
			p->types[i][p->type_lens[i]] = '\0';
		}
	}

	arr = DatumGetArrayTypeP(tables);
	deconstruct_array(arr, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &elem_nulls, &n);
	p->ntables = 0;
	p->tables = palloc(sizeof(Oid) * Max(n, 1));
	for (i = 0; i < n; i++)
		if (!elem_nulls[i] && OidIsValid(DatumGetObjectId(elems[i])))
			p->tables[p->ntables++] = DatumGetObjectId(elems[i]);
}

/* Order projections by name. */
static int
projection_cmp(const void *a, const void *b)
{
	return strcmp(((const EsProjection *) a)->name,
				  ((const EsProjection *) b)->name);
}

/*
 * Read the inline projections from the registry, with the latest snapshot,
 * into a new context that becomes a child of CacheMemoryContext only when
 * the fill is complete: a fill that fails leaves nothing behind.
 */
static EsProjectionCache *
load_cache(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "event_sourcing projections",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	EsProjectionCache *c = palloc0(sizeof(EsProjectionCache));
	Oid			relid = es_relid("projections_registry", true);

	c->cxt = cxt;
	registry_relid = relid;
	if (OidIsValid(relid))
	{
		Relation	rel = table_open(relid, AccessShareLock);
		Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
		TableScanDesc scan = table_beginscan(rel, snapshot, 0, NULL);
		TupleDesc	desc = RelationGetDescr(rel);
		HeapTuple	tup;
		int			allocated = 4;

		if (desc->natts != REG_NATTS)
			elog(ERROR, "es.projections_registry has %d columns, expected %d",
				 desc->natts, REG_NATTS);
		c->projections = palloc(sizeof(EsProjection) * allocated);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			Datum		values[REG_NATTS];
			bool		nulls[REG_NATTS];

			CHECK_FOR_INTERRUPTS();
			heap_deform_tuple(tup, desc, values, nulls);
			/* async ones are caught up elsewhere; NOT NULL columns checked */
			if (nulls[REG_ASYNC - 1] || DatumGetBool(values[REG_ASYNC - 1]) ||
				nulls[REG_NAME - 1] || nulls[REG_HANDLER - 1] ||
				nulls[REG_TABLES - 1] || nulls[REG_OWNER - 1])
				continue;
			if (c->nprojections == allocated)
			{
				allocated *= 2;
				c->projections = repalloc(c->projections,
										  sizeof(EsProjection) * allocated);
			}
			es_fill_projection(&c->projections[c->nprojections++],
							   values[REG_NAME - 1], values[REG_HANDLER - 1],
							   values[REG_EVENT_TYPES - 1], nulls[REG_EVENT_TYPES - 1],
							   values[REG_TABLES - 1],
							   DatumGetObjectId(values[REG_OWNER - 1]),
							   values[REG_SETTINGS - 1], nulls[REG_SETTINGS - 1]);
		}
		table_endscan(scan);
		UnregisterSnapshot(snapshot);
		table_close(rel, AccessShareLock);
		qsort(c->projections, c->nprojections, sizeof(EsProjection),
			  projection_cmp);
	}
	MemoryContextSwitchTo(old);
	MemoryContextSetParent(cxt, CacheMemoryContext);
	return c;
}

/*
 * The current cache, loaded if needed.  A replaced cache is freed here
 * unless a trigger call still uses it (then that call frees it).
 */
static EsProjectionCache *
current_cache(void)
{
	if (!cache_valid || cache == NULL)
	{
		uint64		start = inval_count;
		EsProjectionCache *fresh = load_cache();

		if (cache != NULL && cache->refcount == 0)
			MemoryContextDelete(cache->cxt);
		cache = fresh;
		/* an invalidation that arrived while loading forces another load */
		cache_valid = (inval_count == start);
	}
	return cache;
}

/* Is the row being inserted into es.events one es.append writes? */
static bool
row_is_appended(void)
{
	EsUserSwitch *sw = es_current_switch();

	return sw != NULL && sw->appending && sw != handler_switch;
}

/*
 * Does the projection handle this (upcast) event type?  Lifecycle events
 * ("$" types) only when its filter names them.
 */
bool
es_projection_matches(const EsProjection *p, text *event_type)
{
	const char *s = VARDATA_ANY(event_type);
	int			len = VARSIZE_ANY_EXHDR(event_type);
	int			i;

	if (p->ntypes < 0)
		return !es_type_is_reserved(s, len);
	for (i = 0; i < p->ntypes; i++)
		if (p->type_lens[i] == len && memcmp(p->types[i], s, len) == 0)
			return true;
	return false;
}

/*
 * Check that a function can be a handler run as role: a plain function
 * taking exactly one es.events and returning void, which role may
 * execute.  projection is NULL at creation (role is the creator); when a
 * registered handler is resolved again it names the projection.
 */
static void
check_handler(Oid handler, Oid role, const char *projection)
{
	Oid			events_type = es_events_type();
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(handler));
	Form_pg_proc proc;
	char	   *name;
	const char *hint;
	AclResult	aclresult;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function with OID %u does not exist", handler)));
	proc = (Form_pg_proc) GETSTRUCT(tup);
	name = projection == NULL ? format_procedure(handler) :
		psprintf("handler %s of projection \"%s\"", format_procedure(handler), projection);
	hint = projection == NULL ?
		"A handler is a function (event es.events) RETURNS void." :
		"Create the function again as (event es.events) RETURNS void, or drop the projection with es.drop_projection().";
	if (proc->prokind != PROKIND_FUNCTION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a function", name),
				 errdetail("It is %s.",
						   proc->prokind == PROKIND_PROCEDURE ? "a procedure" :
						   proc->prokind == PROKIND_AGGREGATE ? "an aggregate function" :
						   proc->prokind == PROKIND_WINDOW ? "a window function" :
						   "not a plain function"),
				 errhint("%s", hint)));
	if (proc->pronargs != 1 || proc->proargtypes.values[0] != events_type)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("%s%s must take exactly one argument, of type es.events",
						projection == NULL ? "function " : "", name),
				 errhint("%s", hint)));
	if (proc->prorettype != VOIDOID || proc->proretset)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("%s%s must return type void",
						projection == NULL ? "function " : "", name),
				 errhint("%s", hint)));
	ReleaseSysCache(tup);

	aclresult = pg_proc_aclcheck(handler, role, ACL_EXECUTE);
	if (aclresult != ACLCHECK_OK)
	{
		if (projection == NULL)
			aclcheck_error(aclresult, OBJECT_FUNCTION, get_func_name(handler));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for %s", name),
				 errdetail("The handler runs as role \"%s\", which may not execute it.",
						   GetUserNameFromId(role, true) ? GetUserNameFromId(role, true) : "?"),
				 errhint("Grant EXECUTE on the function to that role, or drop the projection with es.drop_projection().")));
	}
}

/*
 * Resolve a projection's stored handler signature, check it, and keep a
 * function handle in the projection's context.  Called before the first
 * call and again after any invalidation (a function dropped and created
 * again with another return type must not be called as a handler).
 */
static void
resolve_handler(EsProjection *p)
{
	uint64		start = inval_count;
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;
	Oid			handler;
	FmgrInfo   *flinfo;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = CStringGetTextDatum(p->handler_name);
	fcinfo->args[0].isnull = false;
	result = to_regprocedure(fcinfo);
	handler = fcinfo->isnull ? InvalidOid : DatumGetObjectId(result);
	if (!OidIsValid(handler))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("handler %s of projection \"%s\" does not exist",
						p->handler_name, p->name),
				 errhint("Create the function again, or drop the projection with es.drop_projection().")));
	check_handler(handler, p->owner, p->name);
	/* a new handle: an outer call of the same projection may use the old one */
	flinfo = MemoryContextAllocZero(p->cxt, sizeof(FmgrInfo));
	fmgr_info_cxt(handler, flinfo, p->cxt);
	p->flinfo = flinfo;
	p->resolved_at = start;
}

/* Error context: switching to a projection's registrant and settings. */
static void
switch_error_callback(void *arg)
{
	errcontext("switching to the owner and settings of projection \"%s\"",
			   ((const EsProjection *) arg)->name);
}

/*
 * Become the projection's registrant, with its captured settings (not
 * restricted: handlers write read models); errors name the projection.
 * Undo with es_restore_identity.
 */
static void
become_registrant(EsProjection *p, EsIdentitySave *save)
{
	ErrorContextCallback errcb;

	errcb.callback = switch_error_callback;
	errcb.arg = (void *) p;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	/* taken apart once per cache entry, not at every trigger firing */
	if (p->settings != (Datum) 0 && !p->settings_parsed)
	{
		MemoryContext old = MemoryContextSwitchTo(p->cxt);

		es_parse_settings(p->settings, p->what, &p->parsed_settings);
		MemoryContextSwitchTo(old);
		p->settings_parsed = true;
	}
	es_become_registrant_settings(p->owner,
								  p->settings != (Datum) 0 ? &p->parsed_settings : NULL,
								  false, p->what, save);
	error_context_stack = errcb.previous;
}

/* What an error context needs to name the projection and the event. */
typedef struct HandlerContext
{
	const EsProjection *projection;
	const Datum *values;		/* the event, EsEventColumn order */
	bool		replay;
} HandlerContext;

/* Error context: which projection was handling which event. */
static void
handler_error_callback(void *arg)
{
	HandlerContext *hc = (HandlerContext *) arg;

	errcontext("projection \"%s\" %s event " INT64_FORMAT " of stream \"%s\" (type \"%s\")",
			   hc->projection->name,
			   hc->replay ? "replaying" : "handling",
			   DatumGetInt64(hc->values[ES_COL_STREAM_VERSION]),
			   TextDatumGetCString(hc->values[ES_COL_STREAM_ID]),
			   TextDatumGetCString(hc->values[ES_COL_EVENT_TYPE]));
}

/*
 * Call a projection's handler with one event (values already upcast; event
 * the same row as a composite datum), resolving the handler first if
 * needed.  The caller has switched to the projection's registrant.  Errors
 * surface unchanged, with a context line naming the projection and the
 * event.
 */
static void
call_handler(EsProjection *p, Datum event, const Datum *values, bool replay)
{
	LOCAL_FCINFO(fcinfo, 1);
	ErrorContextCallback errcb;
	HandlerContext hc;
	EsUserSwitch *saved_handler_switch = handler_switch;

	hc.projection = p;
	hc.values = values;
	hc.replay = replay;
	errcb.callback = handler_error_callback;
	errcb.arg = &hc;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	if (p->resolved_at != inval_count)
		resolve_handler(p);

	InitFunctionCallInfoData(*fcinfo, p->flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = event;
	fcinfo->args[0].isnull = false;

	handler_switch = es_current_switch();
	PG_TRY();
	{
		(void) FunctionCallInvoke(fcinfo);
	}
	PG_FINALLY();
	{
		handler_switch = saved_handler_switch;
	}
	PG_END_TRY();

	error_context_stack = errcb.previous;
}

/*
 * Why a table cannot be one of a projection's tables run as role, or NULL
 * when it can: system catalogs and what initdb created, tables of an
 * extension (this one's included), and tables role does not own (as a
 * member of the owner or a superuser).  full: also look for an extension
 * (a pg_depend scan: at creation and rebuild, not per event).
 */
static const char *
table_refusal(Oid relid, Oid relowner, Oid relnamespace, Oid role, bool full)
{
	if (relid < FirstNormalObjectId || IsCatalogRelationOid(relid) ||
		relnamespace == PG_CATALOG_NAMESPACE || IsToastNamespace(relnamespace))
		return "It is a system table.";
	if (full)
	{
		Oid			ext = getExtensionOfObject(RelationRelationId, relid);

		if (OidIsValid(ext))
			return psprintf("It belongs to extension \"%s\".", get_extension_name(ext));
	}
	if (!has_privs_of_role(role, relowner))
		return psprintf("Its owner is role \"%s\"; a projection's tables must be owned by the role that creates it.",
						GetUserNameFromId(relowner, true) ? GetUserNameFromId(relowner, true) : "?");
	return NULL;
}

/*
 * Refuse (42501) a table that cannot be one of a projection's tables run
 * as role (table_refusal); projection: its name, or NULL at creation.
 * Returns false when the table no longer exists.
 */
static bool
check_table(Oid relid, Oid role, const char *projection, bool full)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class form;
	const char *refusal;

	if (!HeapTupleIsValid(tup))
		return false;
	form = (Form_pg_class) GETSTRUCT(tup);
	refusal = table_refusal(relid, form->relowner, form->relnamespace, role, full);
	if (refusal != NULL)
	{
		char	   *relname = pstrdup(NameStr(form->relname));

		ReleaseSysCache(tup);
		if (projection == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("table \"%s\" cannot be a projection's table", relname),
					 errdetail_internal("%s", refusal),
					 errhint("A projection's tables are the tables its handler maintains, owned by the role that creates it.")));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("table \"%s\" of projection \"%s\" cannot be written as role \"%s\"",
						relname, projection,
						GetUserNameFromId(role, true) ? GetUserNameFromId(role, true) : "?"),
				 errdetail_internal("%s", refusal),
				 errhint("Give the table back to the projection's owner, or drop the projection and create it again.")));
	}
	ReleaseSysCache(tup);
	return true;
}

/*
 * Lock a projection's tables ROW EXCLUSIVE before its handler runs (a
 * rebuild of it holds these off until it commits), as its registrant,
 * after checking the registrant still owns them.  Dropped tables are
 * skipped: there is nothing to lock.
 */
static void
lock_tables(const EsProjection *p)
{
	int			t;

	for (t = 0; t < p->ntables; t++)
		if (check_table(p->tables[t], p->owner, p->name, false))
			LockRelationOid(p->tables[t], RowExclusiveLock);
}

/* Start a batch of events for one projection's handler. */
void
es_batch_init(EsHandlerBatch *b, const EsProjection *p, TupleDesc desc, int max,
			  bool replay)
{
	b->projection = p;
	b->desc = desc;
	b->replay = replay;
	b->cxt = AllocSetContextCreate(CurrentMemoryContext, "es handler batch",
								   ALLOCSET_DEFAULT_SIZES);
	b->n = 0;
	b->max = max;
	b->tuples = MemoryContextAlloc(b->cxt, sizeof(HeapTuple) * max);
	b->before_call = NULL;
	b->before_call_arg = NULL;
	b->progress = NULL;
}

/* Add an (upcast) event to the batch; true when it is full. */
bool
es_batch_add(EsHandlerBatch *b, const Datum *values, const bool *nulls)
{
	MemoryContext old = MemoryContextSwitchTo(b->cxt);

	b->tuples[b->n++] = heap_form_tuple(b->desc, (Datum *) values, (bool *) nulls);
	MemoryContextSwitchTo(old);
	return b->n == b->max;
}

/*
 * Pass the batch's events to the handler, in order, under one switch to the
 * projection's registrant and its settings; then empty the batch.  An
 * error needs no cleanup here: (sub)transaction abort restores the
 * identity and the settings.
 */
void
es_batch_flush(EsHandlerBatch *b)
{
	EsProjection *p = (EsProjection *) b->projection;
	MemoryContext old;
	EsIdentitySave id;
	Datum		values[ES_EVENT_NATTS];
	bool		nulls[ES_EVENT_NATTS];
	int			i;

	if (b->n == 0)
		return;
	old = MemoryContextSwitchTo(b->cxt);
	become_registrant(p, &id);
	for (i = 0; i < b->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		heap_deform_tuple(b->tuples[i], b->desc, values, nulls);
		if (b->before_call != NULL)
			b->before_call(b->before_call_arg, values);
		call_handler(p, HeapTupleGetDatum(b->tuples[i]), values, b->replay);
		es_progress_event(b->progress, DatumGetInt64(values[ES_COL_GLOBAL_POSITION]));
	}
	es_restore_identity(&id);
	MemoryContextSwitchTo(old);
	MemoryContextReset(b->cxt);
	b->n = 0;
	b->tuples = MemoryContextAlloc(b->cxt, sizeof(HeapTuple) * b->max);
}

/* Free a batch's memory (flush it first). */
void
es_batch_free(EsHandlerBatch *b)
{
	MemoryContextDelete(b->cxt);
}

PG_FUNCTION_INFO_V1(es_projections_wanted);

/*
 * es.projections_wanted(): the WHEN clause of the projections trigger.
 * True for rows es.append writes while an inline projection exists.
 */
Datum
es_projections_wanted(PG_FUNCTION_ARGS)
{
	if (!row_is_appended())
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(current_cache()->nprojections > 0);
}

PG_FUNCTION_INFO_V1(es_projections_trigger);

/*
 * Trigger function: pass an event that es.append wrote to every inline
 * projection whose filter matches its (upcast) type, each as its
 * registrant.  Runs in the trigger machinery's per-event memory context.
 */
Datum
es_projections_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	EsProjectionCache *volatile c;
	Datum		values[ES_EVENT_NATTS];
	bool		nulls[ES_EVENT_NATTS];

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.projections_trigger() was not called by trigger manager")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.projections_trigger() must be fired AFTER INSERT, FOR EACH ROW")));

	if (!row_is_appended())
		return PointerGetDatum(NULL);
	c = current_cache();
	if (c->nprojections == 0)
		return PointerGetDatum(NULL);

	desc = RelationGetDescr(trigdata->tg_relation);
	if (desc->natts != ES_EVENT_NATTS)
		elog(ERROR, "es.events has %d columns, expected %d",
			 desc->natts, ES_EVENT_NATTS);
	heap_deform_tuple(trigdata->tg_trigtuple, desc, values, nulls);
	/* upcast only an event that some projection wants (see upcast.h) */
	{
		text	   *final = es_upcast_final_type(values, nulls);
		int			i;

		for (i = 0; final != NULL && i < c->nprojections; i++)
			if (es_projection_matches(&c->projections[i], final))
				break;
		if (final != NULL && i == c->nprojections)
			return PointerGetDatum(NULL);
	}
	es_upcast_row(values, nulls);

	c->refcount++;
	PG_TRY();
	{
		Datum		event = (Datum) 0;
		int			i;

		for (i = 0; i < c->nprojections; i++)
		{
			EsProjection *p = &c->projections[i];
			EsIdentitySave id;

			if (!es_projection_matches(p, DatumGetTextPP(values[ES_COL_EVENT_TYPE])))
				continue;
			if (event == (Datum) 0)
				event = HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
			/* one switch per firing per projection: its tables and handler */
			become_registrant(p, &id);
			lock_tables(p);
			call_handler(p, event, values, false);
			es_restore_identity(&id);
		}
	}
	PG_FINALLY();
	{
		c->refcount--;
		if (c->refcount == 0 && c != cache)
			MemoryContextDelete(c->cxt);
	}
	PG_END_TRY();

	return PointerGetDatum(NULL);
}

/*
 * Pass every committed event, in global order, through a projection's
 * handler, in batches run as its registrant.  Must run inside SPI as the
 * owner, after the lock that keeps concurrent appends of interest out: the
 * history is read with a snapshot taken now, in every isolation level, so
 * an append that committed while we waited for the lock is replayed.
 * Returns the number of events passed to the handler.
 */
static int64
replay_history(EsProjection *p, const char *phase)
{
	Relation	events = table_open(es_relid("events", false), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(events);
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext,
												  "es projection replay",
												  ALLOCSET_DEFAULT_SIZES);
	SPIPlanPtr	plan;
	Portal		portal;
	EsEventCursor cursor;
	EsHandlerBatch batch;
	EsProgress	progress;
	Datum		values[ES_EVENT_NATTS];
	bool		nulls[ES_EVENT_NATTS];
	int64		replayed = 0;

	if (desc->natts != ES_EVENT_NATTS)
		elog(ERROR, "es.events has %d columns, expected %d",
			 desc->natts, ES_EVENT_NATTS);
	plan = es_keep_plan(&plan_history,
						"SELECT " ES_EVENT_COLUMNS " FROM es.events e"
						" ORDER BY e.global_position",
						0, NULL);

	CommandCounterIncrement();
	PushActiveSnapshot(GetLatestSnapshot());
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	PopActiveSnapshot();

	es_batch_init(&batch, p, desc, REPLAY_BATCH, true);
	es_progress_begin(&progress, phase, p->name, 0, es_log_sequence_next() - 1);
	batch.progress = &progress;
	es_event_cursor_open(&cursor, portal, REPLAY_BATCH);
	while (es_event_cursor_next(&cursor, values, nulls))
	{
		MemoryContext old = MemoryContextSwitchTo(row_cxt);
		bool		full = false;
		text	   *final;
		bool		wanted;

		/* upcast only what the projection may want (see upcast.h) */
		final = es_upcast_final_type(values, nulls);
		wanted = final == NULL || es_projection_matches(p, final);
		if (wanted)
		{
			es_upcast_row(values, nulls);
			wanted = es_projection_matches(p, DatumGetTextPP(values[ES_COL_EVENT_TYPE]));
		}
		if (wanted)
		{
			full = es_batch_add(&batch, values, nulls);
			replayed++;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
		if (full)
			es_batch_flush(&batch);
	}
	es_batch_flush(&batch);
	es_batch_free(&batch);
	es_progress_end(&progress);
	es_event_cursor_close(&cursor);
	MemoryContextDelete(row_cxt);
	table_close(events, NoLock);
	return replayed;
}

/*
 * Check the tables argument and return it as a regclass[] (empty for
 * NULL): permanent or unlogged tables that the registrant owns, no
 * system or extension tables, each named once.
 */
static Datum
check_tables(FunctionCallInfo fcinfo, int argno, Oid registrant)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	int			i;
	int			j;

	if (PG_ARGISNULL(argno))
		return PointerGetDatum(construct_empty_array(REGCLASSOID));
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tables must be a one-dimensional array")));
	deconstruct_array(arr, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &elem_nulls, &n);
	for (i = 0; i < n; i++)
	{
		Oid			relid;
		char		relkind;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("tables must not contain nulls")));
		relid = DatumGetObjectId(elems[i]);
		relkind = get_rel_relkind(relid);
		if (relkind == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with OID %u does not exist", relid)));
		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is not a table", get_rel_name(relid)),
					 errdetail("A projection's tables are the ordinary tables its handler maintains.")));
		if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is a temporary table", get_rel_name(relid)),
					 errdetail("A projection outlives the session that creates it; its tables must too.")));
		(void) check_table(relid, registrant, NULL, true);
		for (j = 0; j < i; j++)
			if (DatumGetObjectId(elems[j]) == relid)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("table \"%s\" is listed twice", get_rel_name(relid))));
	}
	return PointerGetDatum(construct_array(elems, n, REGCLASSOID, sizeof(Oid),
										   true, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(es_create_projection);

/*
 * es.create_projection(name, handler, event_types, async, tables):
 * register a projection, run as the caller (its registrant) with the
 * caller's settings, captured now; an inline one is back-filled from the
 * history now, an async one starts at the beginning of the log
 * (es.run_projections).
 */
Datum
es_create_projection(PG_FUNCTION_ARGS)
{
	static const Oid argtypes[] = {TEXTOID, TEXTOID, TEXTARRAYOID,
	REGCLASSARRAYOID, OIDOID, BOOLOID, TEXTARRAYOID};
	text	   *name = es_check_name(fcinfo, 0, "projection");
	Oid			handler;
	Datum		tables;
	bool		async;
	Oid			caller = GetUserId();
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	EsUserSwitch save;

	es_check_not_null(fcinfo, 1, "handler", NULL);
	handler = PG_GETARG_OID(1);
	check_handler(handler, caller, NULL);
	(void) es_check_filter(fcinfo, 2, "event_types", false,
						   "Pass NULL to handle every event type.", NULL, NULL);
	es_check_not_null(fcinfo, 3, "async", NULL);
	async = PG_GETARG_BOOL(3);
	tables = check_tables(fcinfo, 4, caller);

	values[0] = PointerGetDatum(name);
	values[1] = CStringGetTextDatum(format_procedure_qualified(handler));
	values[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	values[3] = tables;
	values[4] = ObjectIdGetDatum(caller);
	values[5] = BoolGetDatum(async);
	values[6] = es_capture_settings();

	es_become_owner(&save);
	PG_TRY();
	{
		EsProjection p;

		/*
		 * Wait for appends in flight and hold new ones off until commit:
		 * every event is then either in the back-fill or fires the
		 * projection (appenders re-read the registry after the lock).  An
		 * async projection starts at the beginning of the log and is
		 * back-filled by the following es.run_projections calls: appenders
		 * never wait for it.
		 */
		if (!async)
			LockRelationOid(es_relid("events", false), ShareLock);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* a concurrent creator of the name waits for us, then finds it */
		if (es_run_plan(es_keep_plan(&plan_insert,
									 "INSERT INTO es.projections_registry AS r"
									 " (name, handler, event_types, async, tables, owner, settings)"
									 " VALUES ($1, $2, $3, $6, $4, $5::pg_catalog.regrole, $7)"
									 " ON CONFLICT (name) DO NOTHING RETURNING r.name",
									 7, argtypes),
						values, nulls, false, 0, SPI_OK_INSERT_RETURNING) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("projection \"%s\" already exists", text_to_cstring(name)),
					 errhint("Drop it first with es.drop_projection(), or choose another name.")));
		registry_relid = es_relid("projections_registry", false);
		CacheInvalidateRelcacheByRelid(registry_relid);

		if (!async)
		{
			es_fill_projection(&p, values[0], values[1], values[2], nulls[2] == 'n',
							   values[3], caller, values[6], false);
			(void) replay_history(&p, "back-fill");
		}
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/*
 * Look up a projection by name for a change by the caller: raise if it
 * does not exist or the caller is not its owner (or a member of it, or a
 * superuser).  The owner is checked on the row locked FOR UPDATE, so a
 * concurrent drop and re-create by another role cannot slip in between.
 * Inside SPI, as the owner.
 */
static void
lookup_for_change(text *name, Oid caller, EsProjection *p, bool *async)
{
	static const Oid argtypes[] = {TEXTOID};
	Datum		values[1];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	bool		types_isnull;
	bool		settings_isnull;
	Oid			owner;
	Datum		types;
	Datum		settings;

	values[0] = PointerGetDatum(name);
	if (es_run_plan(es_keep_plan(&plan_lookup,
								 "SELECT r.name, r.handler, r.event_types, r.tables,"
								 " r.owner::pg_catalog.oid, r.async, r.settings"
								 " FROM es.projections_registry r"
								 " WHERE r.name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
								 1, argtypes),
					values, NULL, false, 0, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("projection \"%s\" does not exist", text_to_cstring(name))));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	owner = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
	es_check_owner(owner, caller, "projection", text_to_cstring(name), "drop or rebuild");
	if (async)
		*async = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
	types = SPI_getbinval(tup, desc, 3, &types_isnull);
	settings = SPI_getbinval(tup, desc, 7, &settings_isnull);
	es_fill_projection(p, SPI_getbinval(tup, desc, 1, &isnull),
					   SPI_getbinval(tup, desc, 2, &isnull),
					   types, types_isnull,
					   SPI_getbinval(tup, desc, 4, &isnull),
					   owner, settings, settings_isnull);
}

PG_FUNCTION_INFO_V1(es_drop_projection);

/* es.drop_projection(name): stop a projection; its tables stay. */
Datum
es_drop_projection(PG_FUNCTION_ARGS)
{
	static const Oid argtypes[] = {TEXTOID};
	text	   *name = es_check_name(fcinfo, 0, "projection");
	Oid			caller = GetUserId();
	EsUserSwitch save;

	es_become_owner(&save);
	PG_TRY();
	{
		EsProjection p;
		Datum		values[1];
		bool		async;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		lookup_for_change(name, caller, &p, &async);

		/*
		 * As creation does: appends in flight still apply the projection
		 * (they committed before the drop), later ones never do.
		 */
		if (!async)
			LockRelationOid(es_relid("events", false), ShareLock);
		values[0] = PointerGetDatum(name);
		es_run_plan(es_keep_plan(&plan_delete,
								 "DELETE FROM es.projections_registry r"
								 " WHERE r.name OPERATOR(pg_catalog.=) $1",
								 1, argtypes),
					values, NULL, false, 0, SPI_OK_DELETE);
		registry_relid = es_relid("projections_registry", false);
		CacheInvalidateRelcacheByRelid(registry_relid);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/*
 * TRUNCATE the projection's tables as its registrant, after checking that
 * it still owns them: whoever runs the rebuild, only tables the registrant
 * could empty are emptied.
 */
static void
empty_tables(EsProjection *p)
{
	StringInfoData sql;
	EsIdentitySave id;
	int			i;
	int			rc;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "TRUNCATE TABLE ");
	for (i = 0; i < p->ntables; i++)
	{
		char	   *relname = get_rel_name(p->tables[i]);

		if (relname == NULL || !check_table(p->tables[i], p->owner, p->name, true))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table with OID %u of projection \"%s\" does not exist",
							p->tables[i], p->name),
					 errhint("Drop the projection and create it again with its current tables.")));
		appendStringInfo(&sql, "%s%s", i > 0 ? ", " : "",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(p->tables[i])),
													relname));
	}
	become_registrant(p, &id);
	rc = SPI_execute(sql.data, false, 0);
	es_restore_identity(&id);
	if (rc != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute returned %s for \"%s\"",
			 SPI_result_code_string(rc), sql.data);
	pfree(sql.data);
}

PG_FUNCTION_INFO_V1(es_rebuild_projection);

/*
 * es.rebuild_projection(name): empty the projection's tables and replay
 * the whole history through its handler, as its registrant; returns the
 * events replayed.
 */
Datum
es_rebuild_projection(PG_FUNCTION_ARGS)
{
	text	   *name = es_check_name(fcinfo, 0, "projection");
	Oid			caller = GetUserId();
	EsUserSwitch save;
	volatile int64 replayed = 0;

	es_become_owner(&save);
	PG_TRY();
	{
		EsProjection p;
		bool		async;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		lookup_for_change(name, caller, &p, &async);
		if (p.ntables == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("projection \"%s\" has no tables to empty", p.name),
					 errdetail("A rebuild empties the projection's tables and replays the history into them."),
					 errhint("Drop the projection and create it again with tables => ARRAY[...]::regclass[].")));
		/* a missing or changed handler fails before anything is emptied */
		resolve_handler(&p);

		/*
		 * TRUNCATE takes ACCESS EXCLUSIVE locks on the tables: it waits for
		 * appenders whose handlers already ran, and the trigger holds new
		 * ones off until we commit.
		 */
		empty_tables(&p);
		if (async)
		{
			/*
			 * The registry row is locked (a run applying this projection
			 * holds it, and later runs skip it) until we commit; then the
			 * next runs replay the log from its beginning.
			 */
			static const Oid argtypes[] = {TEXTOID};
			Datum		values[1];

			values[0] = PointerGetDatum(name);
			es_run_plan(es_keep_plan(&plan_restart,
									 "UPDATE es.projections_registry r"
									 " SET position = 0, applied_at = NULL,"
									 " error_position = NULL, error_event_id = NULL,"
									 " error_sqlstate = NULL, error_message = NULL,"
									 " error_at = NULL"
									 " WHERE r.name OPERATOR(pg_catalog.=) $1",
									 1, argtypes),
						values, NULL, false, 0, SPI_OK_UPDATE);
		}
		else
			replayed = replay_history(&p, "rebuild");
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_INT64(replayed);
}

/*
 * reducer.c
 *	  The reducer registry (es.reducers_registry): es.create_reducer, es.drop_reducer,
 *	  and the per-backend cache that folds read it through.
 *
 * A reducer is an initial state plus either a function
 * (state jsonb, event es.events) RETURNS jsonb or declarative rules.  The
 * registry is a table, so changing it sends no cache invalidation by
 * itself: create and drop call CacheInvalidateRelcacheByRelid on it, and a
 * relcache callback marks this backend's cache stale.  A stale cache is
 * replaced at the next look-up; its memory is freed only when no fold is
 * running (folds pin the cache), so a fold never sees an entry vanish.
 *
 * Who may change a reducer: the role that created it (or a member of that
 * role).  Otherwise anyone allowed to call es.create_reducer could swap the
 * function that other roles' folds run as themselves.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "check.h"
#include "reducer.h"
#include "rules.h"
#include "upcast.h"

typedef struct ReducerEntry
{
	char		key[NAMEDATALEN];
	EsReducer	reducer;
} ReducerEntry;

static MemoryContext cache_cxt = NULL;
static HTAB *cache = NULL;
static bool cache_valid = false;
static Oid	reducers_relid = InvalidOid;
static int	pin_depth = 0;
static List *retired_cxts = NIL;	/* in TopMemoryContext */

static SPIPlanPtr plan_lookup = NULL;
static SPIPlanPtr plan_owner = NULL;
static SPIPlanPtr plan_upsert = NULL;
static SPIPlanPtr plan_retire = NULL;
static SPIPlanPtr plan_drop = NULL;

/* Mark the cache stale when es.reducers_registry (or everything) is invalidated. */
static void
reducer_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == reducers_relid)
		cache_valid = false;
}

/* Mark the cache stale when a function changes (its OID may be reused). */
static void
reducer_proc_callback(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
					  uint32 hashvalue pg_attribute_unused())
{
	cache_valid = false;
}

/* Register the invalidation callbacks once per backend. */
void
es_reducer_init(void)
{
	CacheRegisterRelcacheCallback(reducer_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, reducer_proc_callback, (Datum) 0);
}

/* Replace a stale cache by an empty one; free the old one when unpinned. */
static void
reset_cache(void)
{
	HASHCTL		ctl;

	if (cache_cxt != NULL)
	{
		if (pin_depth == 0)
			MemoryContextDelete(cache_cxt);
		else
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			retired_cxts = lappend(retired_cxts, cache_cxt);
			MemoryContextSwitchTo(old);
		}
	}
	cache_cxt = AllocSetContextCreate(CacheMemoryContext, "event_sourcing reducers",
									  ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(ReducerEntry);
	ctl.hcxt = cache_cxt;
	cache = hash_create("event_sourcing reducers", 16, &ctl,
						HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	reducers_relid = es_relid("reducers_registry", false);
	cache_valid = true;
}

/* A fold starts: cache entries must outlive it. */
void
es_reducer_pin(void)
{
	pin_depth++;
}

/* A fold ends: free retired caches once no fold is running. */
void
es_reducer_unpin(void)
{
	ListCell   *lc;

	Assert(pin_depth > 0);
	if (--pin_depth > 0)
		return;
	foreach(lc, retired_cxts)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(retired_cxts);
	retired_cxts = NIL;
}

/* Check a reducer name argument and return it as a C string. */
static char *
reducer_name_arg(FunctionCallInfo fcinfo, int argno)
{
	return text_to_cstring(es_check_name(fcinfo, argno, "reducer"));
}

/* Raise the error for an unknown reducer. */
static void
unknown_reducer(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("reducer \"%s\" does not exist", name),
			 errhint("Create it with es.create_reducer().")));
}

/* Look a reducer up; SPI connected, acting as the owner. */
EsReducer *
es_reducer_lookup(text *name_text)
{
	static const Oid argtypes[] = {TEXTOID};
	char	   *name = text_to_cstring(name_text);
	ReducerEntry *entry;
	bool		found;
	Datum		arg;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		value;
	MemoryContext old;

	if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		unknown_reducer(name);
	if (!cache_valid)
		reset_cache();
	entry = hash_search(cache, name, HASH_FIND, NULL);
	if (entry != NULL)
		return &entry->reducer;

	arg = PointerGetDatum(name_text);
	if (es_run_plan(es_keep_plan(&plan_lookup,
								 "SELECT r.initial_state,"
								 " pg_catalog.to_regprocedure(r.apply)::pg_catalog.oid, r.rules,"
								 " r.snapshot_every, r.revision, r.owner::pg_catalog.oid, r.apply"
								 " FROM es.reducers_registry r WHERE r.name OPERATOR(pg_catalog.=) $1",
								 1, argtypes),
					&arg, NULL, true, 1, SPI_OK_SELECT) == 0)
		unknown_reducer(name);
	/* the query may have processed invalidations: insert into a valid cache */
	if (!cache_valid)
		reset_cache();
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	entry = hash_search(cache, name, HASH_ENTER, &found);
	old = MemoryContextSwitchTo(cache_cxt);
	entry->reducer.name = pstrdup(name);
	entry->reducer.initial_state = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 1, &isnull));
	value = SPI_getbinval(tup, desc, 2, &isnull);
	entry->reducer.apply = isnull ? InvalidOid : DatumGetObjectId(value);
	value = SPI_getbinval(tup, desc, 7, &isnull);
	entry->reducer.apply_name = isnull ? NULL : TextDatumGetCString(value);
	value = SPI_getbinval(tup, desc, 3, &isnull);
	entry->reducer.rules = isnull ? NULL
		: es_rules_compile(name, DatumGetJsonbP(value));
	value = SPI_getbinval(tup, desc, 4, &isnull);
	entry->reducer.snapshot_every = isnull ? 0 : DatumGetInt32(value);
	entry->reducer.revision = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	entry->reducer.owner = DatumGetObjectId(SPI_getbinval(tup, desc, 6, &isnull));
	MemoryContextSwitchTo(old);
	return &entry->reducer;
}

/* Fingerprint of what a fold's result depends on besides the events. */
int64
es_reducer_fingerprint(const EsReducer *reducer)
{
	uint64		h = hash_combine64((uint64) reducer->revision, es_upcast_generation());

	if (reducer->apply_name != NULL)
	{
		HeapTuple	tup = OidIsValid(reducer->apply)
			? SearchSysCache1(PROCOID, ObjectIdGetDatum(reducer->apply)) : NULL;

		if (!HeapTupleIsValid(tup))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("function %s of reducer \"%s\" does not exist",
							reducer->apply_name, reducer->name),
					 errhint("Create the function again, or the reducer with es.create_reducer().")));
		h = hash_combine64(h, (uint64) reducer->apply);
		h = hash_combine64(h, (uint64) HeapTupleHeaderGetRawXmin(tup->t_data));
		ReleaseSysCache(tup);
	}
	return (int64) h;
}

/* Check that fn is a function (state jsonb, event es.events) RETURNS jsonb. */
static void
check_apply_function(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	Oid			events_type = es_events_type();

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function with OID %u does not exist", fn)));
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prokind != PROKIND_FUNCTION || proc->proretset ||
		proc->prorettype != JSONBOID || proc->pronargs != 2 ||
		proc->proargtypes.values[0] != JSONBOID ||
		proc->proargtypes.values[1] != events_type)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("%s cannot be a reducer", format_procedure(fn)),
				 errdetail("A reducer function takes (state jsonb, event es.events) and returns jsonb (not a set)."),
				 errhint("Declare it as CREATE FUNCTION f(state jsonb, event es.events) RETURNS jsonb.")));
	ReleaseSysCache(tup);
	if (pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_FUNCTION, get_func_name(fn));
}

/*
 * Lock the reducer's row, if it exists, and check that the caller may
 * change it.  Returns whether it exists.  SPI connected, as the owner.
 */
static bool
lock_and_check_owner(Datum name, const char *cname, Oid caller)
{
	static const Oid argtypes[] = {TEXTOID};
	bool		isnull;
	Oid			owner;

	if (es_run_plan(es_keep_plan(&plan_owner,
								 "SELECT r.owner::pg_catalog.oid FROM es.reducers_registry r"
								 " WHERE r.name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
								 1, argtypes),
					&name, NULL, false, 1, SPI_OK_SELECT) == 0)
		return false;
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
	es_check_owner(owner, caller, "reducer", cname, "replace or drop");
	return true;
}

/* Tell every backend (this one at the next command) that reducers changed. */
static void
invalidate_reducers(void)
{
	CacheInvalidateRelcacheByRelid(es_relid("reducers_registry", false));
}

PG_FUNCTION_INFO_V1(es_create_reducer);

/*
 * es.create_reducer(name, initial_state, apply, rules, snapshot_every):
 * create or replace a reducer; replacing retires its snapshots.
 */
Datum
es_create_reducer(PG_FUNCTION_ARGS)
{
	static const Oid upsert_types[] = {TEXTOID, JSONBOID, TEXTOID, JSONBOID,
	INT4OID, OIDOID};
	static const Oid name_type[] = {TEXTOID};
	char	   *name = reducer_name_arg(fcinfo, 0);
	Oid			caller = GetUserId();
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	EsUserSwitch save;

	es_check_not_null(fcinfo, 1, "initial_state", "Pass '{}' for an empty state.");
	if (PG_ARGISNULL(2) == PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a reducer needs exactly one of apply and rules"),
				 errdetail(PG_ARGISNULL(2) ? "Neither apply nor rules was given."
						   : "Both apply and rules were given.")));
	if (!PG_ARGISNULL(4) && PG_GETARG_INT32(4) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("snapshot_every must be at least 1"),
				 errhint("Pass NULL for a reducer without snapshots.")));
	if (!PG_ARGISNULL(2))
		check_apply_function(PG_GETARG_OID(2));
	else
	{
		es_rules_check_initial(name, PG_GETARG_JSONB_P(1));
		(void) es_rules_compile(name, PG_GETARG_JSONB_P(3));	/* validate only */
	}

	values[0] = CStringGetTextDatum(name);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PG_ARGISNULL(2) ? (Datum) 0
		: CStringGetTextDatum(format_procedure_qualified(PG_GETARG_OID(2)));
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	values[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[3] = PG_ARGISNULL(3) ? 'n' : ' ';
	values[4] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	nulls[4] = PG_ARGISNULL(4) ? 'n' : ' ';
	values[5] = ObjectIdGetDatum(caller);

	es_become_owner(&save);
	PG_TRY();
	{
		bool		existed;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		existed = lock_and_check_owner(values[0], name, caller);
		es_run_plan(es_keep_plan(&plan_upsert,
								 "INSERT INTO es.reducers_registry AS r (name, initial_state, apply,"
								 " rules, snapshot_every, owner, revision, created_at, updated_at)"
								 " VALUES ($1, $2, $3, $4, $5, $6::pg_catalog.regrole, 1,"
								 " pg_catalog.now(), pg_catalog.now())"
								 " ON CONFLICT (name) DO UPDATE SET"
								 " initial_state = excluded.initial_state, apply = excluded.apply,"
								 " rules = excluded.rules, snapshot_every = excluded.snapshot_every,"
								 " revision = r.revision OPERATOR(pg_catalog.+) 1,"
								 " updated_at = pg_catalog.now()",
								 6, upsert_types),
					values, nulls, false, 0, SPI_OK_INSERT);
		if (existed)
			es_run_plan(es_keep_plan(&plan_retire,
									 "DELETE FROM es.snapshots s"
									 " WHERE s.reducer OPERATOR(pg_catalog.=) $1",
									 1, name_type),
						values, NULL, false, 0, SPI_OK_DELETE);
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	invalidate_reducers();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(es_drop_reducer);

/* es.drop_reducer(name): remove a reducer and its snapshots. */
Datum
es_drop_reducer(PG_FUNCTION_ARGS)
{
	static const Oid argtypes[] = {TEXTOID};
	char	   *name = reducer_name_arg(fcinfo, 0);
	Oid			caller = GetUserId();
	Datum		arg = CStringGetTextDatum(name);
	EsUserSwitch save;

	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (!lock_and_check_owner(arg, name, caller))
			unknown_reducer(name);
		es_run_plan(es_keep_plan(&plan_drop,
								 "DELETE FROM es.reducers_registry r WHERE r.name OPERATOR(pg_catalog.=) $1",
								 1, argtypes),
					&arg, NULL, false, 0, SPI_OK_DELETE);
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	invalidate_reducers();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(es_reducer_fingerprint_sql);

/* es.reducer_fingerprint(name): what current snapshots of it must carry. */
Datum
es_reducer_fingerprint_sql(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	EsUserSwitch save;
	volatile int64 fp = 0;

	es_become_owner(&save);
	es_reducer_pin();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		fp = es_reducer_fingerprint(es_reducer_lookup(name));
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_reducer_unpin();
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_INT64(fp);
}

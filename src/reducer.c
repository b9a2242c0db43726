/*
 * reducer.c
 *	  The reducer registry (es.reducers_registry): es.create_reducer,
 *	  es.drop_reducer, and the per-backend cache that folds read it through.
 *
 * A reducer is an initial state plus either a function
 * (state jsonb, event es.events) RETURNS jsonb or declarative rules.  A
 * function reducer runs as its registrant (the owner of the registry row)
 * with the settings captured by es.create_reducer (see fold.c).
 *
 * The cache.  One entry per reducer name, each complete and immutable in a
 * memory context of its own:
 *	- filled from the latest committed registry row (GetLatestSnapshot, not
 *	  the transaction's snapshot, so a REPEATABLE READ transaction never
 *	  caches a definition older than what is committed);
 *	- published only when complete: it is built in a context that an error
 *	  frees, and enters the hash table only after everything (rules
 *	  compiled, settings taken apart, function checked) succeeded, so a
 *	  failed fill leaves nothing behind and the next look-up tries again;
 *	- invalidated by callbacks: a statement trigger on the registry sends a
 *	  relcache invalidation for any change to it (es.create_reducer, a
 *	  superuser's own DML, a restore), and a change to the function an
 *	  entry calls arrives as a pg_proc syscache invalidation.  Every
 *	  look-up first accepts pending invalidations, so a fold always starts
 *	  from the latest committed definition;
 *	- an entry filled while an invalidation arrived serves the fold that
 *	  filled it but is not published; one replaced while folds use it is
 *	  freed by the last of them (pins).
 *
 * Who may change a reducer: the role that created it (or a member of that
 * role, or a superuser).  The check is part of the statement that writes
 * (ON CONFLICT ... DO UPDATE ... WHERE, DELETE ... WHERE), which sees the
 * latest row version even when it had to wait for a concurrent creator:
 * a SELECT ... FOR UPDATE before it would see no row that another
 * transaction is still inserting.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
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
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "check.h"
#include "reducer.h"
#include "rules.h"
#include "upcast.h"

typedef struct ReducerSlot
{
	char		key[NAMEDATALEN];
	EsReducer  *reducer;
} ReducerSlot;

static HTAB *cache = NULL;		/* name -> published entry */
static bool flush_all = false;	/* the registry changed: every entry is stale */
static uint64 inval_count = 0;	/* bumped by every invalidation callback */
static Oid	reducers_relid = InvalidOid;

static SPIPlanPtr plan_lookup = NULL;
static SPIPlanPtr plan_owner = NULL;
static SPIPlanPtr plan_upsert = NULL;
static SPIPlanPtr plan_retire = NULL;
static SPIPlanPtr plan_drop = NULL;

/* The registry changed (or every relation was invalidated). */
static void
reducer_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == reducers_relid)
	{
		flush_all = true;
		inval_count++;
		reducers_relid = InvalidOid;	/* DROP EXTENSION: look it up again */
	}
}

/* A function changed: entries calling it are stale. */
static void
reducer_proc_callback(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
					  uint32 hashvalue)
{
	HASH_SEQ_STATUS seq;
	ReducerSlot *slot;

	inval_count++;
	if (hashvalue == 0)
	{
		flush_all = true;
		return;
	}
	if (cache == NULL)
		return;
	hash_seq_init(&seq, cache);
	while ((slot = hash_seq_search(&seq)) != NULL)
		if (slot->reducer->apply_name != NULL && slot->reducer->fn_hash == hashvalue)
			slot->reducer->stale = true;
}

/* Register the invalidation callbacks once per backend. */
void
es_reducer_init(void)
{
	CacheRegisterRelcacheCallback(reducer_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, reducer_proc_callback, (Datum) 0);
}

/* Take an entry out of the cache; it is freed now or by its last release. */
static void
retire(EsReducer *r)
{
	r->published = false;
	if (r->pins == 0)
		MemoryContextDelete(r->cxt);
}

/* Retire every entry. */
static void
flush_cache(void)
{
	HASH_SEQ_STATUS seq;
	ReducerSlot *slot;

	hash_seq_init(&seq, cache);
	while ((slot = hash_seq_search(&seq)) != NULL)
	{
		retire(slot->reducer);
		hash_search(cache, slot->key, HASH_REMOVE, NULL);
	}
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

/* Raise the error for a registry row that cannot be used (a hand edit). */
static void
corrupt_row(const char *name, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("reducer \"%s\" cannot be used: %s", name, what),
			 errhint("Create it again with es.create_reducer().")));
}

/*
 * Why a pg_proc row cannot be a reducer function, or NULL when it can:
 * (state jsonb, event es.events) RETURNS jsonb, a plain function, no set.
 */
static const char *
signature_problem(Form_pg_proc proc)
{
	if (proc->prokind != PROKIND_FUNCTION)
		return "It is not a plain function.";
	if (proc->pronargs != 2 || proc->proargtypes.values[0] != JSONBOID ||
		proc->proargtypes.values[1] != es_events_type())
		return "It does not take (state jsonb, event es.events).";
	if (proc->proretset)
		return "It returns a set.";
	if (proc->prorettype != JSONBOID)
		return psprintf("It returns %s, not jsonb.", format_type_be(proc->prorettype));
	return NULL;
}

/*
 * Check the function of a reducer each time it is resolved again: it may
 * have been dropped and created anew under the same signature with another
 * result type, which a call would misread.  Returns its pg_proc row
 * (release it).
 */
static HeapTuple
resolve_function(const EsReducer *r)
{
	HeapTuple	tup = OidIsValid(r->apply)
		? SearchSysCache1(PROCOID, ObjectIdGetDatum(r->apply)) : NULL;
	const char *problem;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function %s of reducer \"%s\" does not exist",
						r->apply_name, r->name),
				 errhint("Create the function again, or the reducer with es.create_reducer().")));
	problem = signature_problem((Form_pg_proc) GETSTRUCT(tup));
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("function %s of reducer \"%s\" is no longer a reducer function",
						r->apply_name, r->name),
				 errdetail("%s A reducer function takes (state jsonb, event es.events) and returns jsonb.",
						   problem),
				 errhint("Create the function again with that signature, or the reducer with es.create_reducer().")));
	return tup;
}

/* Mix a value's bytes into a hash. */
static uint64
mix(uint64 h, const void *data, Size len)
{
	return hash_combine64(h, hash_bytes_extended((const unsigned char *) data, (int) len, 0));
}

/*
 * Build the entry of a reducer from its latest committed registry row, in
 * a new memory context below the current one (an error frees it).  Sets
 * *publishable to false for an entry the next look-up must not reuse.
 */
static EsReducer *
fill_entry(const char *name, text *name_text, bool *publishable)
{
	static const Oid argtypes[] = {TEXTOID};
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "es reducer",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old;
	EsReducer  *r;
	Datum		arg = PointerGetDatum(name_text);
	Snapshot	snap;
	int			rc;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		values[8];
	bool		nulls[8];
	uint64		h = 0;
	int			i;

	es_keep_plan(&plan_lookup,
				 "SELECT r.initial_state, r.apply,"
				 " pg_catalog.to_regprocedure(r.apply)::pg_catalog.oid, r.rules,"
				 " r.snapshot_every, r.revision, r.owner::pg_catalog.oid, r.settings"
				 " FROM es.reducers_registry r WHERE r.name OPERATOR(pg_catalog.=) $1",
				 1, argtypes);
	snap = RegisterSnapshot(GetLatestSnapshot());
	rc = SPI_execute_snapshot(plan_lookup, &arg, NULL, snap, InvalidSnapshot,
							  true, false, 1);
	UnregisterSnapshot(snap);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_snapshot returned %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		unknown_reducer(name);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	for (i = 0; i < 8; i++)
		values[i] = SPI_getbinval(tup, desc, i + 1, &nulls[i]);

	/* a hand-edited row can hold anything the table's constraints allow */
	if (nulls[0] || nulls[5] || nulls[6] || nulls[7])
		corrupt_row(name, "its initial state, revision, owner or settings are null");
	if (nulls[1] == nulls[3])
		corrupt_row(name, "it needs exactly one of apply and rules");

	old = MemoryContextSwitchTo(cxt);
	r = palloc0(sizeof(EsReducer));
	r->cxt = cxt;
	r->name = pstrdup(name);
	r->what = psprintf("reducer \"%s\"", name);
	MemoryContextSetIdentifier(cxt, r->name);
	r->initial_state = DatumGetJsonbPCopy(values[0]);
	r->revision = DatumGetInt64(values[5]);
	r->owner = DatumGetObjectId(values[6]);
	r->snapshot_every = nulls[4] ? 0 : DatumGetInt32(values[4]);
	if (r->snapshot_every < 0)
		corrupt_row(name, "its snapshot_every is negative");
	es_parse_settings(values[7], r->what, &r->settings);
	if (!nulls[1])
	{
		r->apply_name = TextDatumGetCString(values[1]);
		r->apply = nulls[2] ? InvalidOid : DatumGetObjectId(values[2]);
		if (OidIsValid(r->apply))
		{
			ReleaseSysCache(resolve_function(r));
			r->fn_hash = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(r->apply));
		}
		h = mix(h, r->apply_name, strlen(r->apply_name));
	}
	else
	{
		Jsonb	   *rules = DatumGetJsonbP(values[3]);

		es_rules_check_initial(name, r->initial_state);
		r->rules = es_rules_compile(name, rules);
		h = mix(h, VARDATA(rules), VARSIZE(rules) - VARHDRSZ);
	}

	/* what the fold's result depends on, in the row: all of it */
	h = mix(h, VARDATA(r->initial_state), VARSIZE(r->initial_state) - VARHDRSZ);
	h = mix(h, &r->revision, sizeof(r->revision));
	h = mix(h, &r->owner, sizeof(r->owner));
	for (i = 0; i < r->settings.count; i++)
	{
		h = mix(h, r->settings.names[i], strlen(r->settings.names[i]) + 1);
		h = mix(h, r->settings.values[i], strlen(r->settings.values[i]) + 1);
	}
	r->definition = h;
	MemoryContextSwitchTo(old);

	/* a missing function may come back under a new OID: look again then */
	*publishable = (r->apply_name == NULL || OidIsValid(r->apply));
	return r;
}

/* The latest committed definition of a reducer, pinned. */
EsReducer *
es_reducer_acquire(text *name_text)
{
	char	   *name = text_to_cstring(name_text);
	ReducerSlot *slot;
	EsReducer  *r;
	uint64		before;
	bool		publishable;

	if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		unknown_reducer(name);

	/* what other sessions committed since this one last looked */
	AcceptInvalidationMessages();
	if (cache == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(ReducerSlot);
		ctl.hcxt = CacheMemoryContext;
		cache = hash_create("event_sourcing reducers", 16, &ctl,
							HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	if (flush_all)
	{
		flush_all = false;
		flush_cache();
	}
	slot = hash_search(cache, name, HASH_FIND, NULL);
	if (slot != NULL)
	{
		r = slot->reducer;
		if (!r->stale)
		{
			r->pins++;
			return r;
		}
		hash_search(cache, name, HASH_REMOVE, NULL);
		retire(r);
	}

	if (!OidIsValid(reducers_relid))
		reducers_relid = es_relid("reducers_registry", false);
	before = inval_count;
	r = fill_entry(name, name_text, &publishable);

	/*
	 * Publish it unless an invalidation arrived while it was filled (it may
	 * predate what that invalidation announced: it serves this fold only).
	 * Nothing after the HASH_ENTER can fail, and until the context moves to
	 * CacheMemoryContext an error frees it.
	 */
	if (publishable && inval_count == before && !flush_all)
	{
		slot = hash_search(cache, name, HASH_ENTER, NULL);
		slot->reducer = r;
		r->published = true;
	}
	r->pins = 1;
	MemoryContextSetParent(r->cxt, CacheMemoryContext);
	return r;
}

/* A fold is done with an entry. */
void
es_reducer_release(EsReducer *r)
{
	Assert(r->pins > 0);
	if (--r->pins == 0 && !r->published)
		MemoryContextDelete(r->cxt);
}

/* Fingerprint of what a fold's result depends on besides the events. */
int64
es_reducer_fingerprint(const EsReducer *reducer)
{
	uint64		h = hash_combine64(reducer->definition, es_upcast_generation());

	if (reducer->apply_name != NULL)
	{
		HeapTuple	tup = resolve_function(reducer);

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

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function with OID %u does not exist", fn)));
	if (signature_problem((Form_pg_proc) GETSTRUCT(tup)) != NULL)
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
 * The statement that wrote nothing because the caller may not change the
 * reducer (or found none): raise the fitting error.  SPI connected, as the
 * owner; the row, if any, is locked by that statement.
 */
static void
refuse_change(Datum name, const char *cname, Oid caller)
{
	static const Oid argtypes[] = {TEXTOID};
	bool		isnull;

	if (es_run_plan(es_keep_plan(&plan_owner,
								 "SELECT r.owner::pg_catalog.oid FROM es.reducers_registry r"
								 " WHERE r.name OPERATOR(pg_catalog.=) $1",
								 1, argtypes),
					&name, NULL, false, 1, SPI_OK_SELECT) == 0)
		unknown_reducer(cname);
	es_check_owner(DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull)),
				   caller, "reducer", cname, "replace or drop");
	/* the owner changed between the two statements */
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("reducer \"%s\" was changed concurrently", cname),
			 errhint("Try again.")));
}

PG_FUNCTION_INFO_V1(es_create_reducer);

/*
 * es.create_reducer(name, initial_state, apply, rules, snapshot_every):
 * create or replace a reducer; replacing retires its snapshots.  The
 * caller's settings are captured; the owner stays on a replace.
 */
Datum
es_create_reducer(PG_FUNCTION_ARGS)
{
	static const Oid upsert_types[] = {TEXTOID, JSONBOID, TEXTOID, JSONBOID,
	INT4OID, OIDOID, TEXTARRAYOID};
	static const Oid name_type[] = {TEXTOID};
	char	   *name = reducer_name_arg(fcinfo, 0);
	Oid			caller = GetUserId();
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
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
	values[6] = es_capture_settings();

	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");

		/*
		 * One statement inserts, or updates what the caller may change: the
		 * WHERE of DO UPDATE sees the row as committed by a concurrent
		 * creator this statement waited for.  The revision comes from a
		 * sequence, so it never repeats, not even after drop and re-create.
		 */
		if (es_run_plan(es_keep_plan(&plan_upsert,
									 "INSERT INTO es.reducers_registry AS r (name, initial_state, apply,"
									 " rules, snapshot_every, owner, settings, revision, created_at, updated_at)"
									 " VALUES ($1, $2, $3, $4, $5, $6::pg_catalog.regrole, $7,"
									 " pg_catalog.nextval('es.reducer_revisions'::pg_catalog.regclass),"
									 " pg_catalog.now(), pg_catalog.now())"
									 " ON CONFLICT (name) DO UPDATE SET"
									 " initial_state = excluded.initial_state, apply = excluded.apply,"
									 " rules = excluded.rules, snapshot_every = excluded.snapshot_every,"
									 " settings = excluded.settings, revision = excluded.revision,"
									 " updated_at = pg_catalog.now()"
									 " WHERE pg_catalog.pg_has_role($6, r.owner::pg_catalog.oid, 'USAGE')"
									 " RETURNING r.revision",
									 7, upsert_types),
						values, nulls, false, 0, SPI_OK_INSERT_RETURNING) == 0)
			refuse_change(values[0], name, caller);
		/* the snapshots of what it replaced can never be used again */
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
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(es_drop_reducer);

/* es.drop_reducer(name): remove a reducer and its snapshots. */
Datum
es_drop_reducer(PG_FUNCTION_ARGS)
{
	static const Oid argtypes[] = {TEXTOID, OIDOID};
	char	   *name = reducer_name_arg(fcinfo, 0);
	Datum		args[2];
	EsUserSwitch save;

	args[0] = CStringGetTextDatum(name);
	args[1] = ObjectIdGetDatum(GetUserId());
	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (es_run_plan(es_keep_plan(&plan_drop,
									 "DELETE FROM es.reducers_registry r"
									 " WHERE r.name OPERATOR(pg_catalog.=) $1"
									 " AND pg_catalog.pg_has_role($2, r.owner::pg_catalog.oid, 'USAGE')",
									 2, argtypes),
						args, NULL, false, 0, SPI_OK_DELETE) == 0)
			refuse_change(args[0], name, DatumGetObjectId(args[1]));
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(es_reducers_changed);

/*
 * Statement trigger on es.reducers_registry: any change to the registry
 * (by the functions above, by the owner's own DML, by a restore's COPY)
 * reaches every backend's cache, this one's at its next look-up.
 */
Datum
es_reducers_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.reducers_changed() was not called by the trigger manager")));
	if (!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.reducers_changed() must be fired AFTER ... FOR EACH STATEMENT")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	flush_all = true;
	inval_count++;
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(es_reducer_fingerprint_sql);

/* es.reducer_fingerprint(name): what current snapshots of it must carry. */
Datum
es_reducer_fingerprint_sql(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	EsUserSwitch save;
	EsReducer  *volatile reducer = NULL;
	volatile int64 fp = 0;

	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		reducer = es_reducer_acquire(name);
		fp = es_reducer_fingerprint(reducer);
		SPI_finish();
	}
	PG_FINALLY();
	{
		if (reducer != NULL)
			es_reducer_release(reducer);
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_INT64(fp);
}

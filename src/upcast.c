/*
 * upcast.c
 *	  Upcasting: stored events of an old schema version read as the latest
 *	  version of their type.  The registry (es.upcasters_registry), its per-backend
 *	  compiled cache, and the SQL functions es.create_upcaster,
 *	  es.drop_upcaster and es.upcast.
 *
 * A step turns version n of an event type into n + 1, by rules (see
 * upcast_rules.c) or by a function (data jsonb) RETURNS jsonb, which runs
 * as the calling user with the caller's search_path.  A step's rules may
 * rename the event type: the event then continues with the new type's
 * steps from the version it has reached.  Every step raises the version by
 * one, so a chain visits each (type, version) at most once and always ends:
 * renames cannot make cycles.
 *
 * Each backend compiles the whole registry once into a hash table keyed by
 * event type, in its own memory context under CacheMemoryContext.  It is
 * rebuilt on first use after an invalidation: registration sends a relcache
 * invalidation of es.upcasters_registry (DML alone sends none), and a syscache
 * callback on pg_proc catches a replaced, renamed or dropped upcaster
 * function.  Reading the registry uses the latest snapshot, as catalog
 * look-ups do, so a cache built inside an old REPEATABLE READ snapshot
 * cannot outlive the invalidation that should have replaced it.  A user
 * function may itself cause a rebuild while a chain is running: the chain
 * pins the cache it started with, which is freed when the last pin goes.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "check.h"
#include "upcast.h"
#include "upcast_rules.h"

/* One step: version from_version of a type to from_version + 1. */
typedef struct UpcastStep
{
	int32		from_version;
	EsUpcastRules    *rules;			/* a rules step, or NULL */
	char	   *fn_name;		/* a function step: its qualified name */
	Oid			fn;				/* InvalidOid when it no longer exists */
	bool		flinfo_ready;
	FmgrInfo	flinfo;
	Oid			exec_checked_for;	/* role whose EXECUTE was checked */
	const char *new_type;		/* set by rename_type, or NULL */
	int			new_type_len;
} UpcastStep;

/* Hash key: an event type's bytes (not NUL-terminated). */
typedef struct TypeKey
{
	const char *data;
	int			len;
} TypeKey;

/*
 * An event type's steps.  A chain has no gaps when the functions above
 * write it, but the registry is data (a restore, a manual edit): steps far
 * apart (versions 1 and 2147483646) are kept in a sorted array, not in one
 * the size of their distance.
 */
typedef struct UpcastType
{
	TypeKey		key;			/* must be first; data lives in the cache */
	int32		first_version;	/* of the first step */
	int32		latest_version; /* after the last step */
	bool		dense;			/* steps[v - first_version], NULL for a gap */
	int			nsteps;			/* else steps sorted by from_version */
	UpcastStep **steps;
} UpcastType;

/* The compiled registry. */
typedef struct UpcastCache
{
	MemoryContext cxt;			/* holds everything below */
	HTAB	   *types;
	long		ntypes;
	uint64		generation;
	int			nfuncs;
	uint32	   *fn_hashes;		/* pg_proc syscache hashes of the functions */
	bool		fn_missing;		/* some function is missing: watch all */
	bool		valid;
	int			pins;			/* chains running on this cache */
} UpcastCache;

static UpcastCache *cache = NULL;

/*
 * Scratch memory for one chain, reset after each row: rebuilding a jsonb
 * allocates several times its size, and a context that grows and shrinks
 * by megabytes per batch of rows costs more than the work itself.  A chain
 * that runs inside another (a user function reading events) uses its
 * caller's context instead.
 */
static MemoryContext scratch_cxt = NULL;
static int	chain_depth = 0;
static uint64 inval_count = 0;
static Oid	upcasters_relid = InvalidOid;
static SPIPlanPtr plan_load = NULL;
static SPIPlanPtr plan_steps = NULL;
static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_owners = NULL;
static SPIPlanPtr plan_delete_one = NULL;
static SPIPlanPtr plan_delete_all = NULL;

/* ---------------------------------------------------------------------
 * Invalidation
 * ---------------------------------------------------------------------
 */

/* Mark the cache stale; it is rebuilt (never freed) at the next use. */
static void
invalidate_cache(void)
{
	inval_count++;
	if (cache != NULL)
		cache->valid = false;
}

/* Relcache callback: es.upcasters_registry changed (or every relation did). */
static void
upcast_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == upcasters_relid)
	{
		upcasters_relid = InvalidOid;
		invalidate_cache();
	}
}

/* Syscache callback on pg_proc: an upcaster function may have changed. */
static void
upcast_proc_callback(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
					 uint32 hashvalue)
{
	int			i;

	if (cache == NULL || !cache->valid || cache->nfuncs == 0)
		return;
	if (hashvalue == 0 || cache->fn_missing)
	{
		invalidate_cache();
		return;
	}
	for (i = 0; i < cache->nfuncs; i++)
		if (cache->fn_hashes[i] == hashvalue)
		{
			invalidate_cache();
			return;
		}
}

/* Register the invalidation callbacks; called from _PG_init. */
void
es_upcast_init(void)
{
	CacheRegisterRelcacheCallback(upcast_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, upcast_proc_callback, (Datum) 0);
}

/* OID of es.upcasters_registry, looked up once. */
static Oid
upcasters_oid(void)
{
	if (!OidIsValid(upcasters_relid))
		upcasters_relid = es_relid("upcasters_registry", false);
	return upcasters_relid;
}

/* ---------------------------------------------------------------------
 * Building the cache
 * ---------------------------------------------------------------------
 */

/* Hash of a TypeKey. */
static uint32
typekey_hash(const void *key, Size keysize pg_attribute_unused())
{
	const TypeKey *k = key;

	return hash_bytes((const unsigned char *) k->data, k->len);
}

/* Compare two TypeKeys: 0 when equal. */
static int
typekey_match(const void *a, const void *b, Size keysize pg_attribute_unused())
{
	const TypeKey *ka = a;
	const TypeKey *kb = b;

	if (ka->len != kb->len)
		return 1;
	return memcmp(ka->data, kb->data, ka->len);
}

/* Mix a value into the generation hash. */
static uint64
mix(uint64 h, const void *data, Size len)
{
	return hash_combine64(h, hash_bytes_extended(data, len, UINT64CONST(0x6576656e74)));
}

/* Add an event type's collected steps to the cache. */
static void
add_type(UpcastCache *c, const char *name, int namelen, List *steps)
{
	TypeKey		key;
	UpcastType *t;
	bool		found;
	ListCell   *lc;
	int32		first = ((UpcastStep *) linitial(steps))->from_version;
	int32		last = ((UpcastStep *) llast(steps))->from_version;
	int64		span = (int64) last - first + 1;
	int			i = 0;

	key.data = name;
	key.len = namelen;
	t = hash_search(c->types, &key, HASH_ENTER, &found);
	Assert(!found);
	t->key.data = name;			/* already copied into the cache */
	t->key.len = namelen;
	t->first_version = first;
	t->latest_version = last + 1;
	t->nsteps = list_length(steps);
	t->dense = span <= 2 * (int64) t->nsteps;
	t->steps = MemoryContextAllocZero(c->cxt, sizeof(UpcastStep *) *
									  (t->dense ? span : t->nsteps));
	foreach(lc, steps)
	{
		UpcastStep *s = lfirst(lc);

		/* steps come in from_version order */
		t->steps[t->dense ? s->from_version - first : i++] = s;
	}
	c->ntypes++;
}

/* Read the registry, with the latest snapshot, into a new cache. */
static UpcastCache *
build_cache(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "es upcaster cache",
											  ALLOCSET_SMALL_SIZES);
	UpcastCache *c = MemoryContextAllocZero(cxt, sizeof(UpcastCache));
	HASHCTL		ctl;
	EsUserSwitch save;

	c->cxt = cxt;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(TypeKey);
	ctl.entrysize = sizeof(UpcastType);
	ctl.hash = typekey_hash;
	ctl.match = typekey_match;
	ctl.hcxt = cxt;
	c->types = hash_create("es upcasters by event type", 16, &ctl,
						   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);

	es_become_owner(&save);
	PG_TRY();
	{
		Snapshot	snap;
		int			rc;
		uint64		i;
		uint64		h = 0;
		List	   *steps = NIL;
		char	   *cur_name = NULL;
		int			cur_len = 0;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		(void) upcasters_oid();
		es_keep_plan(&plan_load,
					 "SELECT u.event_type, u.from_version, u.rules, u.fn,"
					 " pg_catalog.to_regprocedure(u.fn OPERATOR(pg_catalog.||) '(pg_catalog.jsonb)')"
					 "::pg_catalog.oid"
					 " FROM es.upcasters_registry u"
					 " ORDER BY u.event_type COLLATE pg_catalog.\"C\", u.from_version",
					 0, NULL);
		snap = RegisterSnapshot(GetLatestSnapshot());
		rc = SPI_execute_snapshot(plan_load, NULL, NULL, snap, InvalidSnapshot,
								  true, false, 0);
		UnregisterSnapshot(snap);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_snapshot returned %s", SPI_result_code_string(rc));

		c->fn_hashes = MemoryContextAlloc(cxt, sizeof(uint32) * Max(SPI_processed, 1));
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	row = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			text	   *type = DatumGetTextPP(SPI_getbinval(row, desc, 1, &isnull));
			int32		from = DatumGetInt32(SPI_getbinval(row, desc, 2, &isnull));
			Datum		rules = SPI_getbinval(row, desc, 3, &isnull);
			bool		rules_null = isnull;
			Datum		fn_name = SPI_getbinval(row, desc, 4, &isnull);
			bool		fn_null = isnull;
			Datum		fn = SPI_getbinval(row, desc, 5, &isnull);
			bool		fn_unresolved = isnull;
			int			len = VARSIZE_ANY_EXHDR(type);
			UpcastStep *s;
			MemoryContext old;

			CHECK_FOR_INTERRUPTS();
			/* a new event type: finish the previous one */
			if (cur_name == NULL || cur_len != len ||
				memcmp(cur_name, VARDATA_ANY(type), len) != 0)
			{
				if (cur_name != NULL)
					add_type(c, cur_name, cur_len, steps);
				steps = NIL;
				cur_name = MemoryContextAlloc(cxt, len + 1);
				memcpy(cur_name, VARDATA_ANY(type), len);
				cur_name[len] = '\0';
				cur_len = len;
			}

			old = MemoryContextSwitchTo(cxt);
			s = palloc0(sizeof(UpcastStep));
			s->from_version = from;
			h = mix(h, VARDATA_ANY(type), len);
			h = mix(h, &from, sizeof(from));
			if (!rules_null)
			{
				Jsonb	   *jb = DatumGetJsonbP(rules);

				s->rules = es_upcast_rules_compile(jb, cxt);
				s->new_type = es_upcast_rules_new_type(s->rules, &s->new_type_len);
				h = mix(h, VARDATA(jb), VARSIZE(jb) - VARHDRSZ);
			}
			else if (!fn_null)
			{
				s->fn_name = TextDatumGetCString(fn_name);
				h = mix(h, s->fn_name, strlen(s->fn_name));
				if (!fn_unresolved)
				{
					HeapTuple	proc;

					s->fn = DatumGetObjectId(fn);
					proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(s->fn));
					if (HeapTupleIsValid(proc))
					{
						TransactionId xmin = HeapTupleHeaderGetRawXmin(proc->t_data);

						/* a replaced function has a new row version */
						h = mix(h, &xmin, sizeof(xmin));
						ReleaseSysCache(proc);
					}
					else
						s->fn = InvalidOid;
				}
				if (!OidIsValid(s->fn))
					c->fn_missing = true;
				c->fn_hashes[c->nfuncs++] =
					GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(s->fn));
			}
			steps = lappend(steps, s);
			MemoryContextSwitchTo(old);
		}
		if (cur_name != NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			add_type(c, cur_name, cur_len, steps);
			MemoryContextSwitchTo(old);
		}
		c->generation = h;
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();

	MemoryContextSetParent(cxt, CacheMemoryContext);
	return c;
}

/* Free a cache that is neither current nor in use. */
static void
release_if_unused(UpcastCache *c)
{
	if (c != cache && c->pins == 0)
		MemoryContextDelete(c->cxt);
}

/* The current compiled registry, rebuilt if it is stale. */
static inline UpcastCache *
get_cache(void)
{
	if (likely(cache != NULL && cache->valid))
		return cache;
	{
		uint64		before = inval_count;
		UpcastCache *fresh = build_cache();
		UpcastCache *old = cache;

		/* an invalidation that arrived while building makes it stale */
		fresh->valid = (inval_count == before);
		cache = fresh;
		if (old != NULL)
			release_if_unused(old);
		return fresh;
	}
}

/* The step from a version of a type, or NULL. */
static inline UpcastStep *
step_at(const UpcastType *t, int32 version)
{
	int			lo;
	int			hi;

	if (version < t->first_version || version >= t->latest_version)
		return NULL;
	if (likely(t->dense))
		return t->steps[version - t->first_version];
	lo = 0;
	hi = t->nsteps - 1;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int32		v = t->steps[mid]->from_version;

		if (v == version)
			return t->steps[mid];
		if (v < version)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* Look up an event type's steps. */
static inline UpcastType *
find_type(UpcastCache *c, const char *name, int len)
{
	TypeKey		key;

	key.data = name;
	key.len = len;
	return hash_search(c->types, &key, HASH_FIND, NULL);
}

/* ---------------------------------------------------------------------
 * Applying a chain
 * ---------------------------------------------------------------------
 */

/* What the error context line names. */
typedef struct UpcastErrorInfo
{
	bool		has_stream;
	text	   *stream_id;
	int64		stream_version;
	const char *type;
	int			typelen;
	int32		version;
} UpcastErrorInfo;

/* Error context: which event was being upcast, at which step. */
static void
upcast_error_context(void *arg)
{
	UpcastErrorInfo *info = arg;
	char	   *type = pnstrdup(info->type, info->typelen);

	if (info->has_stream)
		errcontext("upcasting event " INT64_FORMAT " of stream \"%s\": event type \"%s\" from schema version %d",
				   info->stream_version, text_to_cstring(info->stream_id),
				   type, info->version);
	else
		errcontext("upcasting event type \"%s\" from schema version %d",
				   type, info->version);
}

/* Call a function step as the caller; returns its jsonb object. */
static Jsonb *
call_function(UpcastCache *c, UpcastStep *s, Datum data, const UpcastErrorInfo *info)
{
	LOCAL_FCINFO(fcinfo, 1);
	Oid			saved_userid;
	int			saved_sec_context;
	Datum		result;
	Jsonb	   *jb;

	if (!OidIsValid(s->fn))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("upcaster function %s(jsonb) does not exist", s->fn_name),
				 errdetail("It is the step of event type \"%s\" from version %d.",
						   pnstrdup(info->type, info->typelen), info->version),
				 errhint("Drop the step and create it again with an existing function.")));

	es_become_caller(&saved_userid, &saved_sec_context);
	if (s->exec_checked_for != GetUserId())
	{
		AclResult	aclresult = pg_proc_aclcheck(s->fn, GetUserId(), ACL_EXECUTE);

		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult, OBJECT_FUNCTION, s->fn_name);
		s->exec_checked_for = GetUserId();
	}
	if (!s->flinfo_ready)
	{
		fmgr_info_cxt(s->fn, &s->flinfo, c->cxt);
		s->flinfo_ready = true;
	}
	InitFunctionCallInfoData(*fcinfo, &s->flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = data;
	fcinfo->args[0].isnull = false;
	result = FunctionCallInvoke(fcinfo);
	es_restore_caller(saved_userid, saved_sec_context);

	if (fcinfo->isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("upcaster function %s returned null", s->fn_name),
				 errdetail("An upcaster function must return the event data as a JSON object.")));
	jb = DatumGetJsonbP(result);
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_SQL_JSON_OBJECT_NOT_FOUND),
				 errmsg("upcaster function %s returned a JSON %s", s->fn_name,
						JB_ROOT_IS_SCALAR(jb) ? "scalar" : "array"),
				 errdetail("An upcaster function must return the event data as a JSON object.")));
	return jb;
}

/*
 * The steps of a chain, from the step of type t at *version; see run_chain.
 */
static void
run_steps(UpcastCache *c, UpcastType *t, UpcastErrorInfo *info,
		  text **type_out, int32 *version, Datum *data)
{
	UpcastStep *s = step_at(t, *version);
	EsDoc	   *doc = NULL;
	Jsonb	   *cur = DatumGetJsonbP(*data);
	bool		renamed = false;

	while (s != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		info->version = *version;
		if (s->rules != NULL)
		{
			/* consecutive rule steps edit one tree */
			if (doc == NULL)
				doc = es_doc_open(cur, info->type, info->typelen, *version);
			es_upcast_rules_apply(s->rules, doc, info->type, info->typelen, *version);
		}
		else
		{
			if (doc != NULL)
			{
				cur = es_doc_close(doc);
				doc = NULL;
			}
			cur = call_function(c, s, JsonbPGetDatum(cur), info);
		}
		(*version)++;
		if (s->new_type != NULL)
		{
			/* continue with the new type's steps from this version */
			info->type = s->new_type;
			info->typelen = s->new_type_len;
			renamed = true;
			t = find_type(c, s->new_type, s->new_type_len);
			if (t == NULL)
				break;
		}
		s = step_at(t, *version);
	}
	if (doc != NULL)
		cur = es_doc_close(doc);
	*data = JsonbPGetDatum(cur);
	*type_out = renamed ? cstring_to_text_with_len(info->type, info->typelen) : NULL;
}

/*
 * Run the chain from the step of type t at *version.  On return *type_out
 * (NULL: the type did not change), *version and *data hold the result,
 * allocated in the current memory context.  The cache stays pinned while
 * user functions run, and an error context line names the event.
 */
static void
run_chain(UpcastCache *c, UpcastType *t, UpcastErrorInfo *info,
		  text **type_out, int32 *version, Datum *data)
{
	ErrorContextCallback errcb;
	MemoryContext result_cxt = CurrentMemoryContext;
	bool		use_scratch = (chain_depth == 0);
	Jsonb	   *result;

	if (scratch_cxt == NULL)
		scratch_cxt = AllocSetContextCreate(TopMemoryContext,
											"es upcast scratch",
											ALLOCSET_DEFAULT_SIZES);
	info->type = t->key.data;
	info->typelen = t->key.len;
	info->version = *version;
	errcb.callback = upcast_error_context;
	errcb.arg = info;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	c->pins++;
	chain_depth++;
	PG_TRY();
	{
		if (use_scratch)
			MemoryContextSwitchTo(scratch_cxt);
		run_steps(c, t, info, type_out, version, data);
		MemoryContextSwitchTo(result_cxt);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(result_cxt);
		chain_depth--;
		c->pins--;
		release_if_unused(c);
		if (use_scratch)
			MemoryContextReset(scratch_cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/* the results into the caller's context, then forget the scratch */
	if (use_scratch)
	{
		result = DatumGetJsonbP(*data);
		*data = PointerGetDatum(memcpy(palloc(VARSIZE(result)), result, VARSIZE(result)));
		if (*type_out != NULL)
			*type_out = (text *) memcpy(palloc(VARSIZE(*type_out)), *type_out,
										VARSIZE(*type_out));
		MemoryContextReset(scratch_cxt);
	}
	chain_depth--;
	c->pins--;
	release_if_unused(c);

	error_context_stack = errcb.previous;
}

/* Upcast one es.events row in place. */
bool
es_upcast_row(Datum *values, bool *nulls)
{
	UpcastCache *c = get_cache();
	text	   *type;
	UpcastType *t;
	int32		version;
	text	   *new_type;
	UpcastErrorInfo info;

	if (c->ntypes == 0)
		return false;
	if (nulls[ES_COL_EVENT_TYPE] || nulls[ES_COL_SCHEMA_VERSION] || nulls[ES_COL_DATA])
		return false;
	type = DatumGetTextPP(values[ES_COL_EVENT_TYPE]);
	t = find_type(c, VARDATA_ANY(type), VARSIZE_ANY_EXHDR(type));
	if (t == NULL)
		return false;
	version = DatumGetInt32(values[ES_COL_SCHEMA_VERSION]);
	if (step_at(t, version) == NULL)
		return false;

	info.has_stream = !nulls[ES_COL_STREAM_ID] && !nulls[ES_COL_STREAM_VERSION];
	info.stream_id = info.has_stream ? DatumGetTextPP(values[ES_COL_STREAM_ID]) : NULL;
	info.stream_version = info.has_stream ? DatumGetInt64(values[ES_COL_STREAM_VERSION]) : 0;
	run_chain(c, t, &info, &new_type, &version, &values[ES_COL_DATA]);
	if (new_type != NULL)
		values[ES_COL_EVENT_TYPE] = PointerGetDatum(new_type);
	values[ES_COL_SCHEMA_VERSION] = Int32GetDatum(version);
	return true;
}

/* Latest schema version of an event type: after its last step, or 1. */
int32
es_latest_schema_version(text *event_type)
{
	UpcastCache *c = get_cache();
	UpcastType *t;

	if (c->ntypes == 0)
		return 1;
	t = find_type(c, VARDATA_ANY(event_type), VARSIZE_ANY_EXHDR(event_type));
	return t ? t->latest_version : 1;
}

/* Generation of the upcasting definitions (0 with an empty registry). */
uint64
es_upcast_generation(void)
{
	return get_cache()->generation;
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */

/*
 * Check an upcaster function as the caller: a plain function taking one
 * jsonb and returning jsonb, that the caller may execute.  Returns its
 * qualified name.
 */
static char *
check_upcaster_function(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	char	   *display;
	char	   *qualified;
	AclResult	aclresult;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function with OID %u does not exist", fn)));
	proc = (Form_pg_proc) GETSTRUCT(tup);
	display = format_procedure(fn);
	if (proc->prokind != PROKIND_FUNCTION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("%s is not a plain function", display),
				 errdetail("An upcaster is a function (data jsonb) RETURNS jsonb, not a procedure, aggregate or window function.")));
	if (proc->pronargs != 1 || proc->proargtypes.values[0] != JSONBOID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("upcaster function %s must take one argument of type jsonb", display)));
	if (proc->proretset || proc->prorettype != JSONBOID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("upcaster function %s must return type jsonb", display),
				 proc->proretset ? errdetail("It returns a set.") : 0));
	if (isAnyTempNamespace(proc->pronamespace))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("upcaster function %s must not be a temporary function",
						NameStr(proc->proname)),
				 errdetail("Other sessions read the same events and could not call it.")));
	qualified = quote_qualified_identifier(get_namespace_name(proc->pronamespace),
										   NameStr(proc->proname));
	ReleaseSysCache(tup);

	aclresult = pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FUNCTION, display);
	return qualified;
}

/* Registration changed the registry: tell every backend, this one now. */
static void
registry_changed(void)
{
	CacheInvalidateRelcacheByRelid(upcasters_oid());
	invalidate_cache();
}

/*
 * The steps of an event type, inside SPI as the owner: how many, the
 * highest from_version, and whether one starts at version v.
 */
static void
existing_steps(text *event_type, int32 v, int64 *count, int32 *first,
			   int32 *last, bool *exists)
{
	static const Oid argtypes[] = {TEXTOID, INT4OID};
	Datum		values[2];
	bool		isnull;

	values[0] = PointerGetDatum(event_type);
	values[1] = Int32GetDatum(v);
	es_run_plan(es_keep_plan(&plan_steps,
							 "SELECT pg_catalog.count(*), pg_catalog.min(u.from_version),"
							 " pg_catalog.max(u.from_version),"
							 " pg_catalog.bool_or(u.from_version OPERATOR(pg_catalog.=) $2)"
							 " FROM es.upcasters_registry u"
							 " WHERE u.event_type OPERATOR(pg_catalog.=) $1",
							 2, argtypes),
				values, NULL, false, 1, SPI_OK_SELECT);
	*count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*first = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	*last = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	*exists = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull))
		&& !isnull;
}

/*
 * Refuse a caller that may not drop the steps of event_type from version
 * from (0: every step): each step's owner, a member of it or a superuser.
 * A step inserted without an owner (by hand) belongs to the extension's
 * owner.  Inside SPI as the owner, the registry locked.
 */
static void
check_step_owners(text *event_type, int32 from, Oid caller)
{
	static const Oid argtypes[] = {TEXTOID, INT4OID};
	Datum		values[2];
	uint64		n;
	uint64		i;
	char	   *type_name = text_to_cstring(event_type);

	values[0] = PointerGetDatum(event_type);
	values[1] = Int32GetDatum(from);
	n = es_run_plan(es_keep_plan(&plan_owners,
								 "SELECT u.from_version, u.owner::pg_catalog.oid"
								 " FROM es.upcasters_registry u"
								 " WHERE u.event_type OPERATOR(pg_catalog.=) $1"
								 " AND ($2 OPERATOR(pg_catalog.=) 0"
								 " OR u.from_version OPERATOR(pg_catalog.=) $2)"
								 " ORDER BY u.from_version",
								 2, argtypes),
					values, NULL, false, 0, SPI_OK_SELECT);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int32		v = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		Datum		owner = SPI_getbinval(tup, desc, 2, &isnull);

		es_check_owner(isnull ? es_owner() : DatumGetObjectId(owner), caller,
					   "upcaster", psprintf("%s from version %d", type_name, v), "drop");
	}
}

PG_FUNCTION_INFO_V1(es_create_upcaster);

/*
 * es.create_upcaster(event_type, from_version, rules, fn): a step from
 * from_version to from_version + 1, by rules or by a function.
 */
Datum
es_create_upcaster(PG_FUNCTION_ARGS)
{
	text	   *event_type = es_check_event_type_arg(fcinfo, 0);
	int32		from = es_check_version_arg(fcinfo, 1, "from_version");
	bool		has_rules = !PG_ARGISNULL(2);
	bool		has_fn = !PG_ARGISNULL(3);
	Jsonb	   *rules = has_rules ? PG_GETARG_JSONB_P(2) : NULL;
	char	   *fn_name = NULL;
	Oid			caller = GetUserId();
	EsUserSwitch save;

	if (from == PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_version must be less than %d", PG_INT32_MAX)));
	if (has_rules == has_fn)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("exactly one of rules and fn must be given"),
				 errdetail("%s", has_rules ? "Both were given." : "Neither was given."),
				 errhint("Pass rules for a declarative step, or fn for a function (data jsonb) RETURNS jsonb.")));
	if (has_rules)
		(void) es_upcast_rules_compile(rules, CurrentMemoryContext);
	else
		fn_name = check_upcaster_function(PG_GETARG_OID(3));

	es_become_owner(&save);
	PG_TRY();
	{
		static const Oid argtypes[] = {TEXTOID, INT4OID, JSONBOID, TEXTOID, OIDOID};
		Datum		values[5];
		char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
		int64		count;
		int32		first;
		int32		last;
		bool		exists;
		char	   *type_name = text_to_cstring(event_type);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* registrations queue here; readers are not blocked */
		LockRelationOid(upcasters_oid(), ShareRowExclusiveLock);
		existing_steps(event_type, from, &count, &first, &last, &exists);
		if (exists)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("event type \"%s\" already has an upcaster from version %d",
							type_name, from),
					 errhint("Drop it first with es.drop_upcaster() to replace it; both can be done in one transaction.")));
		if (count > 0 && from != last + 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("from_version must be %d", last + 1),
					 errdetail("The upcasters of event type \"%s\" run from version %d to version %d; a new step continues from there.",
							   type_name, first, last + 1)));

		values[0] = PointerGetDatum(event_type);
		values[1] = Int32GetDatum(from);
		values[2] = has_rules ? JsonbPGetDatum(rules) : (Datum) 0;
		nulls[2] = has_rules ? ' ' : 'n';
		values[3] = has_fn ? CStringGetTextDatum(fn_name) : (Datum) 0;
		nulls[3] = has_fn ? ' ' : 'n';
		values[4] = ObjectIdGetDatum(caller);
		es_run_plan(es_keep_plan(&plan_insert,
								 "INSERT INTO es.upcasters_registry"
								 " (event_type, from_version, rules, fn, owner, created_at)"
								 " VALUES ($1, $2, $3, $4, $5::pg_catalog.regrole, pg_catalog.now())",
								 5, argtypes),
					values, nulls, false, 0, SPI_OK_INSERT);
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	registry_changed();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(es_drop_upcaster);

/*
 * es.drop_upcaster(event_type, from_version): remove the last step of
 * a type's chain, or (from_version NULL) the whole chain.
 */
Datum
es_drop_upcaster(PG_FUNCTION_ARGS)
{
	text	   *event_type = es_check_event_type_arg(fcinfo, 0);
	bool		all = PG_ARGISNULL(1);
	int32		from = all ? 0 : es_check_version_arg(fcinfo, 1, "from_version");
	Oid			caller = GetUserId();
	EsUserSwitch save;

	es_become_owner(&save);
	PG_TRY();
	{
		static const Oid one_types[] = {TEXTOID, INT4OID};
		static const Oid all_types[] = {TEXTOID};
		Datum		values[2];
		int64		count;
		int32		first;
		int32		last;
		bool		exists;
		char	   *type_name = text_to_cstring(event_type);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		LockRelationOid(upcasters_oid(), ShareRowExclusiveLock);
		existing_steps(event_type, from, &count, &first, &last, &exists);
		if (count == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("event type \"%s\" has no upcasters", type_name)));
		if (!all && !exists)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("event type \"%s\" has no upcaster from version %d",
							type_name, from),
					 errdetail("Its upcasters run from version %d to version %d.",
							   first, last + 1)));
		if (!all && from != last)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot drop the upcaster of event type \"%s\" from version %d",
							type_name, from),
					 errdetail("The step from version %d follows it; a chain has no gaps.", from + 1),
					 errhint("Drop the later steps first, or pass from_version => NULL to drop the whole chain.")));

		values[0] = PointerGetDatum(event_type);
		values[1] = Int32GetDatum(from);
		check_step_owners(event_type, from, caller);
		if (all)
			es_run_plan(es_keep_plan(&plan_delete_all,
									 "DELETE FROM es.upcasters_registry u"
									 " WHERE u.event_type OPERATOR(pg_catalog.=) $1",
									 1, all_types),
						values, NULL, false, 0, SPI_OK_DELETE);
		else
			es_run_plan(es_keep_plan(&plan_delete_one,
									 "DELETE FROM es.upcasters_registry u"
									 " WHERE u.event_type OPERATOR(pg_catalog.=) $1"
									 " AND u.from_version OPERATOR(pg_catalog.=) $2",
									 2, one_types),
						values, NULL, false, 0, SPI_OK_DELETE);
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	registry_changed();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(es_upcast);

/*
 * es.upcast(INOUT event_type, INOUT schema_version, INOUT data): what an
 * event stored with these values reads as.
 */
Datum
es_upcast(PG_FUNCTION_ARGS)
{
	text	   *event_type = es_check_event_type_arg(fcinfo, 0);
	int32		version = es_check_version_arg(fcinfo, 1, "schema_version");
	Datum		data;
	Jsonb	   *jb;
	TupleDesc	tupdesc;
	Datum		result[3];
	bool		result_nulls[3] = {false, false, false};
	UpcastCache *c;
	UpcastType *t;

	es_check_not_null(fcinfo, 2, "data", NULL);
	jb = es_check_document(PG_GETARG_DATUM(2), "data", NULL);
	data = JsonbPGetDatum(jb);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "es.upcast must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	result[0] = PointerGetDatum(event_type);
	c = get_cache();
	t = c->ntypes > 0 ? find_type(c, VARDATA_ANY(event_type), VARSIZE_ANY_EXHDR(event_type)) : NULL;
	if (t != NULL && step_at(t, version) != NULL)
	{
		UpcastErrorInfo info;
		text	   *new_type;

		info.has_stream = false;
		run_chain(c, t, &info, &new_type, &version, &data);
		if (new_type != NULL)
			result[0] = PointerGetDatum(new_type);
	}
	result[1] = Int32GetDatum(version);
	result[2] = data;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, result, result_nulls)));
}

PG_FUNCTION_INFO_V1(es_upcasters_changed);

/*
 * Statement trigger on es.upcasters_registry: any change to the registry (by the
 * functions above, by the owner's own DML, by a restore's COPY) reaches
 * every backend's cache.
 */
Datum
es_upcasters_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.upcasters_changed() was not called by the trigger manager")));
	if (!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.upcasters_changed() must be fired AFTER ... FOR EACH STATEMENT")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	invalidate_cache();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(es_upcast_generation_sql);

/* es.upcast_generation(): the generation of the upcasting definitions. */
Datum
es_upcast_generation_sql(PG_FUNCTION_ARGS pg_attribute_unused())
{
	PG_RETURN_INT64((int64) es_upcast_generation());
}

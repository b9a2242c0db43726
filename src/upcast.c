/*
 * upcast.c
 *	  Upcasting: stored events of an old schema version read as the latest
 *	  version of their type.  The registry (es.upcasters_registry), its
 *	  per-backend compiled cache, and the SQL functions es.create_upcaster,
 *	  es.drop_upcaster and es.upcast.
 *
 * A step turns version n of an event type into n + 1, by rules (see
 * upcast_rules.c) or by a function (data jsonb) RETURNS jsonb.  A step's
 * rules may rename the event type: the event then continues with the new
 * type's steps from the version it has reached.  Every step raises the
 * version by one, so a chain visits each (type, version) at most once and
 * always ends: renames cannot make cycles.  Only rules rename, so what a
 * stored (type, version) reads as is known without running anything
 * (es_upcast_final_type): filters use it to run a type's upcasters only
 * where that type is wanted.
 *
 * Identity.  A function step runs as the role that created it (the
 * extension's owner for a row written by hand), with the settings captured
 * when it was created, as a restricted operation (no side effects beyond
 * the transaction), never as the reader: the result of a read does not
 * depend on who reads, and the function never runs with a reader's rights.
 * Rules run in C and need no switch.
 *
 * The cache.  Each backend loads the registry into a hash table keyed by
 * event type, in its own memory context under CacheMemoryContext, from the
 * latest committed state (never the transaction's snapshot), and publishes
 * it only once complete.  Loading cannot fail because of a row's contents:
 * a step whose rules do not compile, whose function is missing or was
 * replaced by one of another signature, whose role or settings are invalid,
 * fails only when an event that needs it is read, so a broken row affects
 * its own event type and nothing else.  Rules are compiled at a step's first
 * use and published only when the compilation succeeded.  The cache is
 * rebuilt on first use after an invalidation: a relcache invalidation of
 * es.upcasters_registry (sent by registration and by a statement trigger on
 * any DML), syscache callbacks on pg_proc (a function replaced, renamed or
 * dropped), pg_namespace, pg_authid and pg_auth_members (the roles the
 * functions run as), and at most once per statement pending invalidations
 * are taken in, so each statement reads with the registry as last
 * committed.  A user function may itself cause a rebuild while a chain is
 * running: the chain pins the cache it started with, which is freed when
 * the last pin goes.
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
#include "pgtime.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "check.h"
#include "upcast.h"
#include "upcast_rules.h"

/* One step: version from_version of a type to from_version + 1. */
typedef struct UpcastStep
{
	int32		from_version;
	const char *broken;			/* why the row cannot run at all, or NULL */

	/* a rules step */
	Jsonb	   *rules_src;		/* the stored rules, or NULL */
	EsUpcastRules *rules;		/* compiled at first use, or NULL */
	const char *new_type;		/* set by rename_type, or NULL */
	int			new_type_len;
	bool		rename_unknown; /* the stored rules rename ambiguously */

	/* a function step */
	char	   *fn_name;		/* its qualified name, as stored */
	Oid			fn;				/* InvalidOid when it does not resolve */
	const char *fn_wrong;		/* how the resolved function does not fit */
	Oid			owner;			/* the registrant; InvalidOid: the ext. owner */
	bool		owner_missing;	/* the registrant's role was dropped */
	Datum		settings;		/* its captured settings (text[]) */
	bool		settings_parsed;	/* parsed_settings is filled in */
	EsSettings	parsed_settings;	/* taken apart at the first call */
	char	   *what;			/* "the upcaster of ...", once parsed */
	bool		exec_checked;	/* the registrant's EXECUTE was checked */
	bool		flinfo_ready;
	FmgrInfo	flinfo;
} UpcastStep;

/* Hash key: an event type's bytes (not NUL-terminated). */
typedef struct TypeKey
{
	const char *data;
	int			len;
} TypeKey;

/* An event type's steps. */
typedef struct UpcastType
{
	TypeKey		key;			/* must be first; data lives in the cache */
	int32		first_version;	/* of the first step */
	int32		latest_version; /* after the last step */
	int			nsteps;
	bool		contiguous;		/* no gap: steps[v - first_version] */
	UpcastStep **steps;			/* by from_version */
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
static bool building = false;	/* build_cache is running */
static TimestampTz inval_checked_at = 0;
static Oid	upcasters_relid = InvalidOid;
static SPIPlanPtr plan_load = NULL;
static SPIPlanPtr plan_steps = NULL;
static SPIPlanPtr plan_insert = NULL;
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

	if (building)
	{
		invalidate_cache();		/* what is being read may be stale */
		return;
	}
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

/*
 * Syscache callback on pg_namespace, pg_authid, pg_auth_members: the
 * schema a function is named in, or the role it runs as (its existence,
 * its privileges through memberships) may have changed.
 */
static void
upcast_role_callback(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
					 uint32 hashvalue pg_attribute_unused())
{
	if (building || (cache != NULL && cache->valid && cache->nfuncs > 0))
		invalidate_cache();
}

/* Register the invalidation callbacks; called from _PG_init. */
void
es_upcast_init(void)
{
	CacheRegisterRelcacheCallback(upcast_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, upcast_proc_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, upcast_role_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, upcast_role_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, upcast_role_callback, (Datum) 0);
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
	int			i;
	int32		first = ((UpcastStep *) linitial(steps))->from_version;
	int32		last = ((UpcastStep *) llast(steps))->from_version;

	key.data = name;
	key.len = namelen;
	t = hash_search(c->types, &key, HASH_ENTER, &found);
	Assert(!found);
	t->key.data = name;			/* already copied into the cache */
	t->key.len = namelen;
	t->first_version = first;
	t->latest_version = last + 1;
	t->nsteps = list_length(steps);
	/* rows written by hand may leave gaps, even huge ones */
	t->contiguous = ((int64) last - first + 1 == t->nsteps);
	t->steps = MemoryContextAlloc(c->cxt, sizeof(UpcastStep *) * t->nsteps);
	i = 0;
	foreach(lc, steps)
		t->steps[i++] = lfirst(lc);
	c->ntypes++;
}

/*
 * The event type stored rules rename to, read without compiling them (they
 * may not compile): the "value" of the rename_type rules, when they agree on
 * one string; none when no rule is a rename_type; rename_unknown otherwise.
 */
static void
scan_rename(UpcastStep *s)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;

	if (JB_ROOT_IS_SCALAR(s->rules_src) || !JB_ROOT_IS_ARRAY(s->rules_src))
		return;					/* no rules: nothing renames */
	it = JsonbIteratorInit(&s->rules_src->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue *op;
		JsonbValue *to;

		if (tok != WJB_ELEM || v.type != jbvBinary ||
			!JsonContainerIsObject(v.val.binary.data))
			continue;
		op = getKeyJsonValueFromContainer(v.val.binary.data, "op", 2, NULL);
		if (op == NULL || op->type != jbvString || op->val.string.len != 11 ||
			memcmp(op->val.string.val, "rename_type", 11) != 0)
			continue;
		to = getKeyJsonValueFromContainer(v.val.binary.data, "value", 5, NULL);
		if (to == NULL || to->type != jbvString || to->val.string.len == 0 ||
			(n > 0 && (to->val.string.len != s->new_type_len ||
					   memcmp(to->val.string.val, s->new_type, s->new_type_len) != 0)))
		{
			s->rename_unknown = true;
			s->new_type = NULL;
			return;
		}
		s->new_type = to->val.string.val;	/* points into rules_src */
		s->new_type_len = to->val.string.len;
		n++;
	}
}

/*
 * Resolve a function step's stored name, "schema.name", to a function
 * taking one jsonb, and check (again: it may have been replaced since it
 * was created) that it is a plain function returning jsonb.  Nothing here
 * raises: what is wrong is kept for the step's first use.
 */
static void
resolve_function(UpcastStep *s)
{
	char	   *raw = pstrdup(s->fn_name);
	List	   *names;
	Oid			nsp;
	Oid			argtype = JSONBOID;
	oidvector  *args;
	HeapTuple	tup;
	Form_pg_proc proc;

	s->fn = InvalidOid;
	if (!SplitIdentifierString(raw, '.', &names) || list_length(names) != 2)
		return;
	nsp = get_namespace_oid(linitial(names), true);
	if (!OidIsValid(nsp))
		return;
	args = buildoidvector(&argtype, 1);
	tup = SearchSysCache3(PROCNAMEARGSNSP, CStringGetDatum((char *) lsecond(names)),
						  PointerGetDatum(args), ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tup))
		return;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	s->fn = proc->oid;
	if (proc->prokind != PROKIND_FUNCTION)
		s->fn_wrong = "is not a plain function";
	else if (proc->proretset)
		s->fn_wrong = "returns a set";
	else if (proc->prorettype != JSONBOID)
		s->fn_wrong = psprintf("returns type %s", format_type_be(proc->prorettype));
	ReleaseSysCache(tup);
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
					 " u.owner::pg_catalog.oid, u.settings"
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
			Datum		owner = SPI_getbinval(row, desc, 5, &isnull);
			bool		owner_null = isnull;
			Datum		settings = SPI_getbinval(row, desc, 6, &isnull);
			bool		settings_null = isnull;
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
			if (rules_null == fn_null)
				s->broken = rules_null ? "It has neither rules nor a function."
					: "It has both rules and a function.";
			else if (!rules_null)
			{
				Jsonb	   *jb = DatumGetJsonbPCopy(rules);

				s->rules_src = jb;
				scan_rename(s);
				h = mix(h, VARDATA(jb), VARSIZE(jb) - VARHDRSZ);
			}
			else
			{
				s->fn_name = TextDatumGetCString(fn_name);
				h = mix(h, s->fn_name, strlen(s->fn_name));
				resolve_function(s);
				if (OidIsValid(s->fn))
				{
					HeapTuple	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(s->fn));

					if (HeapTupleIsValid(proc))
					{
						TransactionId xmin = HeapTupleHeaderGetRawXmin(proc->t_data);

						/* a replaced function has a new row version */
						h = mix(h, &xmin, sizeof(xmin));
						ReleaseSysCache(proc);
					}
				}
				else
					c->fn_missing = true;
				c->fn_hashes[c->nfuncs++] =
					GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(s->fn));

				/* whom it runs as, with which settings */
				s->owner = owner_null ? InvalidOid : DatumGetObjectId(owner);
				h = mix(h, &s->owner, sizeof(s->owner));
				if (OidIsValid(s->owner) &&
					!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(s->owner)))
					s->owner_missing = true;
				if (settings_null)
					s->broken = "It has no captured settings.";
				else
				{
					ArrayType  *arr = DatumGetArrayTypeP(settings);

					h = mix(h, ARR_DATA_PTR(arr), ARR_SIZE(arr) - ARR_DATA_OFFSET(arr));
					/* taken apart at the first call: a bad one fails only that */
					s->settings = PointerGetDatum(DatumGetArrayTypePCopy(arr));
				}
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

/*
 * The current compiled registry, rebuilt if it is stale.  Once per
 * statement, invalidations that other sessions' commits sent are taken in
 * first, so that a statement never upcasts with definitions older than
 * those committed when it started.
 */
static inline UpcastCache *
get_cache(void)
{
	TimestampTz stmt = GetCurrentStatementStartTimestamp();

	if (unlikely(stmt != inval_checked_at))
	{
		inval_checked_at = stmt;
		AcceptInvalidationMessages();
	}
	if (likely(cache != NULL && cache->valid))
		return cache;
	{
		uint64		before = inval_count;
		UpcastCache *fresh;
		UpcastCache *old = cache;

		building = true;
		PG_TRY();
		{
			fresh = build_cache();
		}
		PG_FINALLY();
		{
			building = false;
		}
		PG_END_TRY();

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
	if (likely(t->contiguous))
		return t->steps[version - t->first_version];
	/* a chain with gaps (rows written by hand): stops at each gap */
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

/*
 * What an event stored as (type, version) reads as, without running the
 * chain: false when a step's rules rename ambiguously.
 */
static bool
final_type_of(UpcastCache *c, const char **type, int *len, int32 version)
{
	UpcastType *t = find_type(c, *type, *len);
	UpcastStep *s;

	while (t != NULL && (s = step_at(t, version)) != NULL)
	{
		if (s->rename_unknown)
			return false;
		version++;
		if (s->new_type != NULL)
		{
			*type = s->new_type;
			*len = s->new_type_len;
			t = find_type(c, *type, *len);
		}
	}
	return true;
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

/* Refuse a step whose stored row cannot run. */
static void
check_step(const UpcastStep *s, const UpcastErrorInfo *info)
{
	if (s->broken != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("the upcaster of event type \"%s\" from version %d is invalid",
						pnstrdup(info->type, info->typelen), info->version),
				 errdetail("%s", s->broken),
				 errhint("Drop the step and create it again with es.create_upcaster().")));
}

/*
 * Compile a rules step at its first use; the result is published only when
 * the rules compiled, so a step whose rules fail fails again next time.
 */
static void
compile_step(UpcastCache *c, UpcastType *t, UpcastStep *s)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "es upcaster rules",
											  ALLOCSET_SMALL_SIZES);
	EsUpcastRules *rules = es_upcast_rules_compile(s->rules_src, cxt, t->key.data,
													 t->key.len, s->from_version);

	MemoryContextSetParent(cxt, c->cxt);
	s->rules = rules;
}

/*
 * Call a function step as its registrant, with the settings captured when
 * it was created, as a restricted operation; returns its jsonb object.
 */
static Jsonb *
call_function(UpcastCache *c, UpcastStep *s, Datum data, const UpcastErrorInfo *info)
{
	LOCAL_FCINFO(fcinfo, 1);
	EsIdentitySave save;
	Oid			owner;
	Datum		result;
	Jsonb	   *jb;

	if (!OidIsValid(s->fn))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("upcaster function %s(jsonb) does not exist", s->fn_name),
				 errdetail("It is the step of event type \"%s\" from version %d.",
						   pnstrdup(info->type, info->typelen), info->version),
				 errhint("Drop the step and create it again with an existing function.")));
	if (s->fn_wrong != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("upcaster function %s(jsonb) %s", s->fn_name, s->fn_wrong),
				 errdetail("It is the step of event type \"%s\" from version %d; it was replaced after the step was created, and an upcaster function must return jsonb.",
						   pnstrdup(info->type, info->typelen), info->version),
				 errhint("Create the function again as (data jsonb) RETURNS jsonb.")));
	if (s->owner_missing)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the role that created the upcaster of event type \"%s\" from version %d no longer exists",
						pnstrdup(info->type, info->typelen), info->version),
				 errhint("Drop the step and create it again as an existing role.")));
	if (!s->settings_parsed)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(c->cxt);

		s->what = psprintf("the upcaster of event type \"%s\" from version %d",
						   pnstrdup(info->type, info->typelen), info->version);
		es_parse_settings(s->settings, s->what, &s->parsed_settings);
		MemoryContextSwitchTo(oldcxt);
		s->settings_parsed = true;
	}

	owner = OidIsValid(s->owner) ? s->owner : es_owner();
	if (!s->exec_checked)
	{
		AclResult	aclresult = pg_proc_aclcheck(s->fn, owner, ACL_EXECUTE);

		if (aclresult != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for function %s", s->fn_name),
					 errdetail("The upcaster of event type \"%s\" from version %d runs as role \"%s\", which may not execute it.",
							   pnstrdup(info->type, info->typelen), info->version,
							   GetUserNameFromId(owner, false))));
		s->exec_checked = true;
	}
	if (!s->flinfo_ready)
	{
		fmgr_info_cxt(s->fn, &s->flinfo, c->cxt);
		s->flinfo_ready = true;
	}
	InitFunctionCallInfoData(*fcinfo, &s->flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = data;
	fcinfo->args[0].isnull = false;

	/* an error needs no cleanup: aborting restores identity and settings */
	es_become_registrant_settings(owner, &s->parsed_settings, true, s->what, &save);
	result = FunctionCallInvoke(fcinfo);
	es_restore_identity(&save);

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
		check_step(s, info);
		if (s->rules_src != NULL)
		{
			if (s->rules == NULL)
				compile_step(c, t, s);
			/* consecutive rule steps edit one tree */
			if (doc == NULL)
				doc = es_doc_open(cur, info->type, info->typelen, *version);
			es_upcast_rules_apply(s->rules, doc);
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

/* What a stored event reads as, without upcasting it. */
text *
es_upcast_final_type(const Datum *values, const bool *nulls)
{
	UpcastCache *c = get_cache();
	text	   *stored;
	const char *type;
	int			len;

	if (nulls[ES_COL_EVENT_TYPE])
		return NULL;
	stored = DatumGetTextPP(values[ES_COL_EVENT_TYPE]);
	if (c->ntypes == 0 || nulls[ES_COL_SCHEMA_VERSION])
		return stored;
	type = VARDATA_ANY(stored);
	len = VARSIZE_ANY_EXHDR(stored);
	if (!final_type_of(c, &type, &len, DatumGetInt32(values[ES_COL_SCHEMA_VERSION])))
		return NULL;
	if (type == VARDATA_ANY(stored))
		return stored;
	return cstring_to_text_with_len(type, len);
}

/* Is a type one of n types? */
static bool
type_in(const char *type, int len, text *const *types, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (types[i] != NULL && VARSIZE_ANY_EXHDR(types[i]) == (Size) len &&
			memcmp(VARDATA_ANY(types[i]), type, len) == 0)
			return true;
	return false;
}

/* The stored event types whose events may read as one of types. */
Datum
es_upcast_stored_types(Datum types)
{
	UpcastCache *c = get_cache();
	ArrayType  *arr = DatumGetArrayTypeP(types);
	Datum	   *elems;
	bool	   *elem_nulls;
	text	  **wanted;
	int			n;
	int			nout;
	int			i;
	HASH_SEQ_STATUS seq;
	UpcastType *t;

	if (c->ntypes == 0)
		return types;
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &n);
	wanted = palloc(sizeof(text *) * Max(n, 1));
	for (i = 0; i < n; i++)
		wanted[i] = elem_nulls[i] ? NULL : DatumGetTextPP(elems[i]);
	elems = repalloc(elems, sizeof(Datum) * (n + c->ntypes));
	elem_nulls = repalloc(elem_nulls, sizeof(bool) * (n + c->ntypes));
	nout = n;

	hash_seq_init(&seq, c->types);
	while ((t = hash_seq_search(&seq)) != NULL)
	{
		int			k;

		if (type_in(t->key.data, t->key.len, wanted, n))
			continue;
		/* from a version without a step, an event stays of type t */
		for (k = 0; k < t->nsteps; k++)
		{
			const char *type = t->key.data;
			int			len = t->key.len;

			CHECK_FOR_INTERRUPTS();
			if (!final_type_of(c, &type, &len, t->steps[k]->from_version) ||
				type_in(type, len, wanted, n))
			{
				elems[nout] = PointerGetDatum(cstring_to_text_with_len(t->key.data, t->key.len));
				elem_nulls[nout] = false;
				nout++;
				break;
			}
		}
	}
	if (nout == n)
		return types;
	{
		int			dims[1] = {nout};
		int			lbs[1] = {1};

		return PointerGetDatum(construct_md_array(elems, elem_nulls, 1, dims, lbs,
												  TEXTOID, -1, false, TYPALIGN_INT));
	}
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
 * Run a kept registry plan inside SPI as the owner, with a snapshot taken
 * now: registrations hold the registry's lock, and what they check and
 * write must be what is committed after it was granted, not what the
 * transaction's snapshot (REPEATABLE READ) shows.  A row that the
 * transaction's snapshot cannot see is not deleted: under REPEATABLE READ
 * that is a serialization failure, as for a foreign key check.
 */
static uint64
run_latest(SPIPlanPtr plan, const Datum *values, const char *nulls, int expected_code)
{
	Snapshot	snap;
	int			rc;

	CommandCounterIncrement();
	snap = RegisterSnapshot(GetLatestSnapshot());
	rc = SPI_execute_snapshot(plan, (Datum *) values, nulls, snap,
							  IsolationUsesXactSnapshot() ? GetTransactionSnapshot() : InvalidSnapshot,
							  false, true, 0);
	UnregisterSnapshot(snap);
	if (rc != expected_code)
		elog(ERROR, "SPI_execute_snapshot returned %s, expected %s",
			 SPI_result_code_string(rc), SPI_result_code_string(expected_code));
	return SPI_processed;
}

/*
 * The steps of an event type, inside SPI as the owner, the registry
 * locked: how many, the highest from_version, and whether one starts at
 * version v.
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
	run_latest(es_keep_plan(&plan_steps,
							"SELECT pg_catalog.count(*), pg_catalog.min(u.from_version),"
							" pg_catalog.max(u.from_version),"
							" pg_catalog.bool_or(u.from_version OPERATOR(pg_catalog.=) $2)"
							" FROM es.upcasters_registry u"
							" WHERE u.event_type OPERATOR(pg_catalog.=) $1",
							2, argtypes),
			   values, NULL, SPI_OK_SELECT);
	*count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*first = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	*last = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	*exists = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull))
		&& !isnull;
}

/*
 * Refuse a caller that may not drop the steps just deleted (the DELETE's
 * RETURNING rows: from_version, owner): each step's owner, a member of it
 * or a superuser.  A step inserted without an owner (by hand) belongs to
 * the extension's owner.  Checked on the rows the statement deleted, so no
 * concurrent change can slip between the check and the write; the error
 * undoes the delete.
 */
static void
check_deleted_owners(text *event_type, Oid caller)
{
	uint64		i;
	char	   *type_name = text_to_cstring(event_type);

	for (i = 0; i < SPI_processed; i++)
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
 * from_version to from_version + 1, by rules or by a function.  The step
 * records its creator and the creator's settings: a function step runs as
 * that role, with those settings.
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
	Datum		settings;
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
	/* a step may neither read nor make a lifecycle ("$") event */
	es_check_not_reserved(event_type, "event type", "the upcaster");
	if (has_rules)
	{
		EsUpcastRules *compiled = es_upcast_rules_compile(rules, CurrentMemoryContext,
														  VARDATA_ANY(event_type),
														  VARSIZE_ANY_EXHDR(event_type), from);
		int			len;
		const char *new_type = es_upcast_rules_new_type(compiled, &len);

		if (new_type != NULL)
			es_check_not_reserved(cstring_to_text_with_len(new_type, len),
								  "event type", "the upcaster's rename_type");
	}
	else
		fn_name = check_upcaster_function(PG_GETARG_OID(3));
	/* the caller's settings, before acting as the owner */
	settings = es_capture_settings();

	es_become_owner(&save);
	PG_TRY();
	{
		static const Oid argtypes[] = {TEXTOID, INT4OID, JSONBOID, TEXTOID, OIDOID, TEXTARRAYOID};
		Datum		values[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
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
		values[5] = settings;
		run_latest(es_keep_plan(&plan_insert,
								"INSERT INTO es.upcasters_registry"
								" (event_type, from_version, rules, fn, owner, settings, created_at)"
								" VALUES ($1, $2, $3, $4, $5::pg_catalog.regrole, $6, pg_catalog.now())",
								6, argtypes),
				   values, nulls, SPI_OK_INSERT);
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
		if (all)
			run_latest(es_keep_plan(&plan_delete_all,
									"DELETE FROM es.upcasters_registry u"
									" WHERE u.event_type OPERATOR(pg_catalog.=) $1"
									" RETURNING u.from_version, u.owner::pg_catalog.oid",
									1, all_types),
					   values, NULL, SPI_OK_DELETE_RETURNING);
		else
			run_latest(es_keep_plan(&plan_delete_one,
									"DELETE FROM es.upcasters_registry u"
									" WHERE u.event_type OPERATOR(pg_catalog.=) $1"
									" AND u.from_version OPERATOR(pg_catalog.=) $2"
									" RETURNING u.from_version, u.owner::pg_catalog.oid",
									2, one_types),
					   values, NULL, SPI_OK_DELETE_RETURNING);
		check_deleted_owners(event_type, caller);
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

PG_FUNCTION_INFO_V1(es_capture_settings_sql);

/*
 * es.capture_settings(): the settings a registration captures now, as
 * "name=value" items; the default of es.upcasters_registry.settings, so
 * that a row written by hand captures its writer's settings too.
 */
Datum
es_capture_settings_sql(PG_FUNCTION_ARGS pg_attribute_unused())
{
	PG_RETURN_DATUM(es_capture_settings());
}

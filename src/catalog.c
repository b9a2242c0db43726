/*
 * catalog.c
 *	  Per-backend knowledge of the extension's own objects.
 *
 * Callers of the es functions need only EXECUTE: the tables are not
 * writable (nor readable) by ordinary roles.  The C code therefore runs its
 * own, fully qualified SQL as the owner of es.events, and switches back to
 * the caller before any user code (reducers, upcasters, handlers) runs.
 * The owner's OID is cached per backend and forgotten on any relcache
 * invalidation of es.events (ALTER ... OWNER, DROP EXTENSION).
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "catalog.h"

static Oid	cached_events_relid = InvalidOid;
static Oid	cached_owner = InvalidOid;
static Oid	cached_events_type = InvalidOid;

/* Innermost active owner switch (on the C stack of its entry point). */
static EsUserSwitch *current_switch = NULL;

/* Forget the cached owner when es.events (or every relation) is invalidated. */
static void
es_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == cached_events_relid)
	{
		cached_events_relid = InvalidOid;
		cached_owner = InvalidOid;
		cached_events_type = InvalidOid;
	}
}

/* Register the invalidation callback once per backend. */
void
es_catalog_init(void)
{
	CacheRegisterRelcacheCallback(es_relcache_callback, (Datum) 0);
}

/* OID of es.<name>. */
Oid
es_relid(const char *name, bool missing_ok)
{
	Oid			nsp = get_namespace_oid("es", missing_ok);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;

	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"es.%s\" does not exist", name),
				 errhint("Run CREATE EXTENSION event_sourcing.")));
	return relid;
}

/* Refuse a caller that may not change a registry entry. */
void
es_check_owner(Oid owner, Oid caller, const char *kind, const char *name,
			   const char *action)
{
	if (!has_privs_of_role(caller, owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of %s \"%s\"", kind, name),
				 errdetail("Only the role that created the %s, its members and superusers may %s it.",
						   kind, action)));
}

/* Look up (once) the owner of es.events. */
Oid
es_owner(void)
{
	if (!OidIsValid(cached_owner))
	{
		Oid			relid = es_relid("events", false);
		HeapTuple	tup;

		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for relation %u", relid);
		cached_owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		cached_events_type = ((Form_pg_class) GETSTRUCT(tup))->reltype;
		cached_events_relid = relid;
		ReleaseSysCache(tup);
	}
	return cached_owner;
}

/* The row type of es.events. */
Oid
es_events_type(void)
{
	if (!OidIsValid(cached_events_type))
		(void) es_owner();
	return cached_events_type;
}

/* Act as the extension's owner until es_restore_user. */
void
es_become_owner(EsUserSwitch *save)
{
	Oid			owner = es_owner();

	GetUserIdAndSecContext(&save->saved_userid, &save->saved_sec_context);
	save->appending = false;
	save->outer = current_switch;
	current_switch = save;
	SetUserIdAndSecContext(owner,
						   save->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

/* Switch back to the identity saved by es_become_owner. */
void
es_restore_user(const EsUserSwitch *save)
{
	current_switch = save->outer;
	SetUserIdAndSecContext(save->saved_userid, save->saved_sec_context);
}

/* Become the caller saved by the current switch, around user code. */
void
es_become_caller(Oid *saved_userid, int *saved_sec_context)
{
	GetUserIdAndSecContext(saved_userid, saved_sec_context);
	if (current_switch != NULL)
		SetUserIdAndSecContext(current_switch->saved_userid,
							   current_switch->saved_sec_context);
}

/* Undo es_become_caller. */
void
es_restore_caller(Oid saved_userid, int saved_sec_context)
{
	SetUserIdAndSecContext(saved_userid, saved_sec_context);
}

/* The innermost active switch. */
EsUserSwitch *
es_current_switch(void)
{
	return current_switch;
}

const char *const es_captured_settings[ES_CAPTURED_SETTINGS_COUNT] = {
	"search_path", "TimeZone", "DateStyle", "IntervalStyle", "extra_float_digits"
};

/* The current search_path with pg_temp (explicit or implicit) last. */
static char *
search_path_temp_last(void)
{
	const char *current = GetConfigOption("search_path", false, false);
	char	   *raw = pstrdup(current ? current : "");
	List	   *names;
	ListCell   *lc;
	StringInfoData buf;

	if (!SplitIdentifierString(raw, ',', &names))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid search_path \"%s\"", current)));
	initStringInfo(&buf);
	foreach(lc, names)
	{
		const char *name = lfirst(lc);

		if (strncmp(name, "pg_temp", 7) == 0)
			continue;			/* moved to the end */
		appendStringInfo(&buf, "%s, ", quote_identifier(name));
	}
	appendStringInfoString(&buf, "pg_temp");
	list_free(names);
	return buf.data;
}

/* Capture the settings user code will run with. */
Datum
es_capture_settings(void)
{
	Datum		elems[ES_CAPTURED_SETTINGS_COUNT];
	int			i;

	for (i = 0; i < ES_CAPTURED_SETTINGS_COUNT; i++)
	{
		const char *name = es_captured_settings[i];
		const char *value;

		if (i == 0)
			value = search_path_temp_last();
		else
			value = GetConfigOption(name, false, false);
		elems[i] = CStringGetTextDatum(psprintf("%s=%s", name, value ? value : ""));
	}
	return PointerGetDatum(construct_array(elems, ES_CAPTURED_SETTINGS_COUNT, TEXTOID,
										   -1, false, TYPALIGN_INT));
}

/* Run as a registrant, with its captured settings, until es_restore_identity. */
void
es_become_registrant(Oid role, Datum settings, bool restricted, const char *what,
					 EsIdentitySave *save)
{
	const char **names = NULL;
	const char **values = NULL;
	int			n = 0;

	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the role that created %s no longer exists", what),
				 errhint("Create it again as an existing role.")));
	if (settings != (Datum) 0)
	{
		ArrayType  *arr = DatumGetArrayTypeP(settings);
		Datum	   *elems;
		bool	   *nulls;
		int			count;
		int			i;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count);
		names = palloc(sizeof(char *) * Max(count, 1));
		values = palloc(sizeof(char *) * Max(count, 1));
		for (i = 0; i < count; i++)
		{
			char	   *item;
			char	   *eq;

			if (nulls[i])
				continue;
			item = TextDatumGetCString(elems[i]);
			eq = strchr(item, '=');
			if (eq == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid captured setting \"%s\" of %s", item, what),
						 errhint("Create it again to capture its settings anew.")));
			*eq = '\0';
			names[n] = item;
			values[n] = eq + 1;
			n++;
		}
	}
	es_become_registrant_parsed(role, n, names, values, restricted, save);
}

/* es_become_registrant with settings parsed beforehand. */
void
es_become_registrant_parsed(Oid role, int nsettings, const char *const *names,
							const char *const *values, bool restricted,
							EsIdentitySave *save)
{
	int			sec;
	int			i;

	GetUserIdAndSecContext(&save->saved_userid, &save->saved_sec_context);
	save->guc_nestlevel = -1;
	sec = save->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE;
	if (restricted)
		sec |= SECURITY_RESTRICTED_OPERATION;
	SetUserIdAndSecContext(role, sec);

	/* as fmgr_security_definer applies a function's SET clauses */
	for (i = 0; i < nsettings; i++)
	{
		const char *current = GetConfigOption(names[i], true, false);

		if (current != NULL && strcmp(current, values[i]) == 0)
			continue;
		if (save->guc_nestlevel < 0)
			save->guc_nestlevel = NewGUCNestLevel();
		(void) set_config_option(names[i], values[i],
								 superuser() ? PGC_SUSET : PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
}

/* Switch back from es_become_registrant. */
void
es_restore_identity(const EsIdentitySave *save)
{
	if (save->guc_nestlevel >= 0)
		AtEOXact_GUC(true, save->guc_nestlevel);
	SetUserIdAndSecContext(save->saved_userid, save->saved_sec_context);
}

/* Prepare once per backend, keep the plan. */
SPIPlanPtr
es_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, (Oid *) argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/* Execute a kept plan; any code but the expected one is a can't-happen. */
uint64
es_run_plan(SPIPlanPtr plan, const Datum *values, const char *nulls,
			bool read_only, long count, int expected_code)
{
	int			rc = SPI_execute_plan(plan, (Datum *) values, nulls,
									  read_only, count);

	if (rc != expected_code)
		elog(ERROR, "SPI_execute_plan returned %s, expected %s",
			 SPI_result_code_string(rc),
			 SPI_result_code_string(expected_code));
	return SPI_processed;
}

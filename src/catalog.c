/*
 * catalog.c
 *	  Per-backend knowledge of the extension's own objects.
 *
 * Callers of the es functions need only EXECUTE: the tables are not
 * writable (nor readable) by ordinary roles.  The C code therefore runs its
 * own, fully qualified SQL as the owner of es.events.  User code
 * (reducers, upcasters, handlers) never runs as the caller nor as the owner:
 * it runs as the role that registered it, with the settings captured then
 * (es_become_registrant, the identity rule).
 * The owner's OID is cached per backend and forgotten on any relcache
 * invalidation of es.events (ALTER ... OWNER, DROP EXTENSION).
 *
 * The library serves only the schema of its own version: before the owner
 * is first cached, the installed extension's version is compared with the
 * library's (ES_LIBRARY_VERSION, from event_sourcing.control), so that
 * between installing a new library and ALTER EXTENSION event_sourcing
 * UPDATE every entry point that touches the tables refuses clearly instead
 * of running statements against tables of another shape.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/float.h"
#include "pgtime.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "catalog.h"

static Oid	cached_events_relid = InvalidOid;
static Oid	cached_owner = InvalidOid;
static Oid	cached_events_type = InvalidOid;
static bool schema_version_checked = false;

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
		schema_version_checked = false;
	}
}

/* Register the invalidation callback once per backend. */
void
es_catalog_init(void)
{
	CacheRegisterRelcacheCallback(es_relcache_callback, (Datum) 0);
}

/*
 * Refuse to serve a store whose installed version is not the library's
 * (55000): the tables may lack what this library's statements use.
 */
static void
es_check_schema_version(void)
{
	Oid			extoid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *installed = NULL;

	if (schema_version_checked)
		return;
	extoid = get_extension_oid("event_sourcing", true);
	if (!OidIsValid(extoid))
		return;					/* es_relid reports the missing extension */

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			installed = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (installed == NULL || strcmp(installed, ES_LIBRARY_VERSION) == 0)
	{
		schema_version_checked = true;
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("extension \"event_sourcing\" is at version %s, but its library is version %s",
					installed, ES_LIBRARY_VERSION),
			 errhint("Run ALTER EXTENSION event_sourcing UPDATE.")));
}

/* OID of es.<name> (of a store at the library's version). */
Oid
es_relid(const char *name, bool missing_ok)
{
	Oid			nsp;
	Oid			relid;

	es_check_schema_version();
	nsp = get_namespace_oid("es", missing_ok);
	relid = OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;

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

		es_check_schema_version();

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

/*
 * How a captured setting is compared with the current one.  A fold_agg
 * switches for every event, and five GetConfigOption look-ups cost more
 * than the rest of the switch: the settings whose variables PostgreSQL
 * exports are compared with them directly, when the captured text is the
 * canonical form GetConfigOption would give for that value.
 */
typedef enum SettingCompare
{
	COMPARE_GUC,				/* GetConfigOption */
	COMPARE_SEARCH_PATH,		/* namespace_search_path */
	COMPARE_DATESTYLE,			/* DateStyle, DateOrder */
	COMPARE_INTERVALSTYLE,		/* IntervalStyle */
	COMPARE_FLOAT_DIGITS,		/* extra_float_digits */
	COMPARE_TIMEZONE			/* session_timezone */
} SettingCompare;

static const char *const datestyle_names[] = {"Postgres", "ISO", "SQL", "German"};
static const char *const dateorder_names[] = {"YMD", "DMY", "MDY"};
static const char *const intervalstyle_names[] = {
	"postgres", "postgres_verbose", "sql_standard", "iso_8601"
};

/* the arrays above are indexed by PostgreSQL's codes for these styles */
StaticAssertDecl(USE_POSTGRES_DATES == 0 && USE_ISO_DATES == 1 &&
				 USE_SQL_DATES == 2 && USE_GERMAN_DATES == 3, "DateStyle codes");
StaticAssertDecl(DATEORDER_YMD == 0 && DATEORDER_DMY == 1 && DATEORDER_MDY == 2,
				 "DateOrder codes");
StaticAssertDecl(INTSTYLE_POSTGRES == 0 && INTSTYLE_POSTGRES_VERBOSE == 1 &&
				 INTSTYLE_SQL_STANDARD == 2 && INTSTYLE_ISO_8601 == 3, "IntervalStyle codes");

/* Decide how setting i of out is compared (see SettingCompare). */
static void
prepare_compare(EsSettings *out, int i)
{
	const char *name = out->names[i];
	const char *value = out->values[i];
	int			a;
	int			b;

	out->compare[i] = COMPARE_GUC;
	if (strcmp(name, "search_path") == 0)
		out->compare[i] = COMPARE_SEARCH_PATH;
	else if (strcmp(name, "DateStyle") == 0)
	{
		for (a = 0; a < (int) lengthof(datestyle_names); a++)
			for (b = 0; b < (int) lengthof(dateorder_names); b++)
				if (strcmp(value, psprintf("%s, %s", datestyle_names[a],
										   dateorder_names[b])) == 0)
				{
					out->compare[i] = COMPARE_DATESTYLE;
					out->ints[i][0] = a;
					out->ints[i][1] = b;
				}
	}
	else if (strcmp(name, "IntervalStyle") == 0)
	{
		for (a = 0; a < (int) lengthof(intervalstyle_names); a++)
			if (strcmp(value, intervalstyle_names[a]) == 0)
			{
				out->compare[i] = COMPARE_INTERVALSTYLE;
				out->ints[i][0] = a;
			}
	}
	else if (strcmp(name, "TimeZone") == 0)
	{
		/* a zone name loads once per backend: equal pointers, equal zones */
		pg_tz	   *tz = pg_tzset(value);

		if (tz != NULL)
		{
			out->compare[i] = COMPARE_TIMEZONE;
			out->tz[i] = tz;
		}
	}
	else if (strcmp(name, "extra_float_digits") == 0)
	{
		a = (int) strtol(value, NULL, 10);
		if (strcmp(value, psprintf("%d", a)) == 0)
		{
			out->compare[i] = COMPARE_FLOAT_DIGITS;
			out->ints[i][0] = a;
		}
	}
}

/* Take captured settings apart, refusing anything es_capture_settings cannot make. */
void
es_parse_settings(Datum settings, const char *what, EsSettings *out)
{
	ArrayType  *arr = DatumGetArrayTypeP(settings);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	out->count = 0;
	if (ARR_NDIM(arr) > 1 || ARR_ELEMTYPE(arr) != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid captured settings of %s", what),
				 errdetail("Captured settings are a one-dimensional text array."),
				 errhint("Create it again to capture its settings anew.")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *item = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
		char	   *eq = item ? strchr(item, '=') : NULL;
		int			k = ES_CAPTURED_SETTINGS_COUNT;
		int			j;

		if (eq != NULL)
		{
			*eq = '\0';
			for (k = 0; k < ES_CAPTURED_SETTINGS_COUNT; k++)
				if (pg_strcasecmp(item, es_captured_settings[k]) == 0)
					break;
			for (j = 0; j < out->count && k < ES_CAPTURED_SETTINGS_COUNT; j++)
				if (out->names[j] == es_captured_settings[k])
					k = ES_CAPTURED_SETTINGS_COUNT; /* given twice */
			*eq = '=';
		}
		if (k == ES_CAPTURED_SETTINGS_COUNT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid captured setting \"%s\" of %s",
							item ? item : "NULL", what),
					 errdetail("Captured settings are \"name=value\" items, each of search_path, TimeZone, DateStyle, IntervalStyle and extra_float_digits at most once."),
					 errhint("Create it again to capture its settings anew.")));
		out->names[out->count] = es_captured_settings[k];
		out->values[out->count] = pstrdup(eq + 1);
		prepare_compare(out, out->count);
		out->count++;
	}
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
	/* always a level of its own: what the code SETs is undone on the way out */
	save->guc_nestlevel = NewGUCNestLevel();
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
		(void) set_config_option(names[i], values[i],
								 superuser() ? PGC_SUSET : PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
}

/*
 * Is the current value of setting i the captured one?  search_path is
 * captured with pg_temp last; a caller's path that is the captured one
 * without that pg_temp finds the same objects when the session has no
 * temporary schema and cannot get one while the code runs (restricted:
 * a security-restricted operation), so setting it would only cost time
 * (PostgreSQL 15 recomputes the search path, and re-checks cached plans
 * against it, at every change).
 */
static bool
setting_is_current(const EsSettings *settings, int i, bool restricted)
{
	const char *value = settings->values[i];
	const char *current;
	size_t		len;
	Oid			temp_nsp;
	Oid			temp_toast_nsp;

	switch ((SettingCompare) settings->compare[i])
	{
		case COMPARE_DATESTYLE:
			return DateStyle == settings->ints[i][0] && DateOrder == settings->ints[i][1];
		case COMPARE_INTERVALSTYLE:
			return IntervalStyle == settings->ints[i][0];
		case COMPARE_FLOAT_DIGITS:
			return extra_float_digits == settings->ints[i][0];
		case COMPARE_TIMEZONE:
			if (session_timezone == settings->tz[i])
				return true;
			current = GetConfigOption(settings->names[i], true, false);
			break;
		case COMPARE_SEARCH_PATH:
			current = namespace_search_path;
			break;
		default:
			current = GetConfigOption(settings->names[i], true, false);
			break;
	}
	if (current == NULL)
		return false;
	if (strcmp(current, value) == 0)
		return true;
	if (!restricted || settings->compare[i] != COMPARE_SEARCH_PATH)
		return false;
	len = strlen(current);
	if (strncmp(current, value, len) != 0 ||
		strcmp(value + len, len > 0 ? ", pg_temp" : "pg_temp") != 0)
		return false;
	GetTempNamespaceState(&temp_nsp, &temp_toast_nsp);
	return !OidIsValid(temp_nsp);
}

/* es_become_registrant with settings taken apart by es_parse_settings. */
void
es_become_registrant_settings(Oid role, const EsSettings *settings, bool restricted,
							  const char *what, EsIdentitySave *save)
{
	const char *names[ES_CAPTURED_SETTINGS_COUNT];
	const char *values[ES_CAPTURED_SETTINGS_COUNT];
	int			n = 0;
	int			i;

	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the role that created %s no longer exists", what),
				 errhint("Create it again as an existing role.")));
	/* only what differs reaches the GUC machinery */
	for (i = 0; settings != NULL && i < settings->count; i++)
		if (!setting_is_current(settings, i, restricted))
		{
			names[n] = settings->names[i];
			values[n] = settings->values[i];
			n++;
		}
	es_become_registrant_parsed(role, n, names, values, restricted, save);
}

/* Switch back from es_become_registrant. */
void
es_restore_identity(const EsIdentitySave *save)
{
	/*
	 * Roll back every setting changed at this level, the captured ones and
	 * whatever the user code SET (even without LOCAL, which would outlive a
	 * SECURITY DEFINER function): user code must not change the caller's
	 * session, as index builds undo what index functions set.  Cheap when
	 * nothing in the transaction changed a setting.
	 */
	AtEOXact_GUC(false, save->guc_nestlevel);
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

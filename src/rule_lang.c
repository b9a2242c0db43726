/*
 * rule_lang.c
 *	  The rule language of reducers and upcasters: the compiler of one rule,
 *	  path evaluation and conditions.  docs/rules.md is the reference.
 *
 * Every rule is an object {"op": OP, ...} with the operands
 *	 "target"	  where the result goes: a plain key chain ($.balance,
 *				  $.address.city) into the state (reducers) or the event
 *				  data being rewritten (upcasters)
 *	 "from"		  a PostgreSQL jsonpath over the event ($.data.amount)
 *	 "value"	  a literal
 *	 "when"		  a condition or an array of conditions
 *	 "default"	  the operand when "from" finds nothing
 *	 "if_missing" "skip": skip the rule when "from" finds nothing
 *	 "if_exists"  "keep": set only when the target is absent (op "set")
 *
 * Ops: set, remove, replace for both uses; add, subtract, min, max, count,
 * append, merge for reducers; move and rename_type for upcasters.
 *
 * Paths mean what PostgreSQL's jsonb_path_query_first means on the event
 * document, lax or strict as the path says.  Plain key chains are walked
 * here with getKeyJsonValueFromContainer; where a lax chain meets an array
 * (which lax mode unwraps) the walk hands over to jsonb_path_query_first.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/jsonpath.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "event_sourcing.h"
#include "check.h"
#include "rule_lang.h"

/*
 * The longest path a rule may have, in bytes of its text.  Real paths are
 * a few dozen bytes; this refuses absurd ones (54000) before PostgreSQL's
 * jsonpath parser and our compiler spend memory on them.
 */
#define MAX_PATH_BYTES (1024 * 1024)

static const char *const op_names[] = {
	"set", "add", "subtract", "min", "max", "count", "append", "remove",
	"merge", "replace", "move", "rename_type"
};

static const struct
{
	const char *name;
	EsPathRoot	root;
	int			column;
}			path_roots[] = {
	{"data", ES_ROOT_DATA, ES_COL_DATA},
	{"metadata", ES_ROOT_METADATA, ES_COL_METADATA},
	{"stream_id", ES_ROOT_STREAM_ID, ES_COL_STREAM_ID},
	{"stream_version", ES_ROOT_STREAM_VERSION, ES_COL_STREAM_VERSION},
	{"event_type", ES_ROOT_EVENT_TYPE, ES_COL_EVENT_TYPE},
	{"event_id", ES_ROOT_EVENT_ID, ES_COL_EVENT_ID},
	{"occurred_at", ES_ROOT_OCCURRED_AT, ES_COL_OCCURRED_AT},
	{"recorded_at", ES_ROOT_RECORDED_AT, ES_COL_RECORDED_AT},
	{"global_position", ES_ROOT_GLOBAL_POSITION, ES_COL_GLOBAL_POSITION},
	{"schema_version", ES_ROOT_SCHEMA_VERSION, ES_COL_SCHEMA_VERSION},
};

const char *
es_rule_op_name(EsRuleOp op)
{
	return op_names[op];
}

/* ---------------------------------------------------------------------
 * Compiling
 * ---------------------------------------------------------------------
 */

#define rule_error(name, ...) \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
			 errmsg("invalid %s", (name)), \
			 errdetail(__VA_ARGS__)))

void
es_rule_check_count(Size n, Size size, const char *what, const char *owner)
{
	if (n > MaxAllocSize / size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s has too many %s", owner, what),
				 errdetail("It has %zu; at most %zu are allowed.", n, MaxAllocSize / size)));
}

static char *
jbv_cstring(const JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* Parse a path string: its jsonpath, checked for size. */
static JsonPath *
parse_jsonpath(const char *name, const JsonbValue *v, const char *what, char **text,
			   Datum *datum)
{
	if (v->type != jbvString)
		rule_error(name, "\"%s\" must be a jsonpath string, not %s.", what, es_jsonb_kind(v));
	if (v->val.string.len > MAX_PATH_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("invalid %s", name),
				 errdetail("The path of \"%s\" has %d bytes; at most %d are allowed.",
						   what, v->val.string.len, MAX_PATH_BYTES)));
	*text = jbv_cstring(v);
	/* jsonpath_in reports a malformed path itself (42601) */
	*datum = DirectFunctionCall1(jsonpath_in, CStringGetDatum(*text));
	return DatumGetJsonPathP(*datum);
}

/* Compile a path over the event ("from", a condition's "path"). */
static void
compile_path(EsRuleUse use, const char *name, const JsonbValue *v, const char *what,
			 EsRulePath *path)
{
	JsonPath   *jp;
	JsonPathItem item;
	JsonPathItem next;
	int			i;
	bool		plain = true;
	char	   *rootname;

	memset(path, 0, sizeof(EsRulePath));
	jp = parse_jsonpath(name, v, what, &path->text, &path->jsonpath);
	path->lax = (jp->header & JSONPATH_LAX) != 0;

	jspInit(&item, jp);
	if (item.type != jpiRoot || !jspGetNext(&item, &next) || next.type != jpiKey)
		rule_error(name, "Path %s must start with $ and a field of the event, such as $.data.",
				   path->text);
	rootname = jspGetString(&next, NULL);
	path->root = ES_ROOT_GENERAL;
	for (i = 0; i < (int) lengthof(path_roots); i++)
		if (strcmp(rootname, path_roots[i].name) == 0)
		{
			path->root = path_roots[i].root;
			path->column = path_roots[i].column;
		}
	if (path->root == ES_ROOT_GENERAL)
		rule_error(name, "Path %s starts at \"%s\", which is not a field of the event.",
				   path->text, rootname);
	if (use == ES_RULES_UPCASTER && path->root != ES_ROOT_DATA)
		rule_error(name, "Path %s starts at \"%s\"; upcaster rules read the event's data ($.data...).",
				   path->text, rootname);
	path->column_root = path->root;

	/* a plain chain of keys below data or metadata is walked here */
	item = next;
	while (jspGetNext(&item, &next))
	{
		CHECK_FOR_INTERRUPTS();
		if (next.type != jpiKey ||
			(path->root != ES_ROOT_DATA && path->root != ES_ROOT_METADATA))
		{
			plain = false;
			break;
		}
		path->nkeys++;
		item = next;
	}
	if (!plain)
	{
		path->root = ES_ROOT_GENERAL;
		path->nkeys = 0;
		return;
	}
	path->keys = palloc(sizeof(char *) * Max(path->nkeys, 1));
	path->keylens = palloc(sizeof(int) * Max(path->nkeys, 1));
	path->nkeys = 0;
	jspInit(&item, jp);
	(void) jspGetNext(&item, &next);	/* the root column */
	item = next;
	while (jspGetNext(&item, &next))
	{
		int32		len;

		path->keys[path->nkeys] = jspGetString(&next, &len);
		path->keylens[path->nkeys] = len;
		path->nkeys++;
		item = next;
	}
}

/* Compile a target: a plain key chain, "$" only where allowed. */
static void
compile_target(const char *name, const JsonbValue *v, EsRule *rule, bool root_ok)
{
	JsonPath   *jp;
	JsonPathItem item;
	JsonPathItem next;
	Datum		datum;
	int			n = 0;

	if (v->type == jbvString && v->val.string.len == 0)
		rule_error(name, "The target is empty; it is a plain key chain such as $.balance.");
	jp = parse_jsonpath(name, v, "target", &rule->target_text, &datum);
	jspInit(&item, jp);
	if (item.type != jpiRoot || (jp->header & JSONPATH_LAX) == 0)
		rule_error(name, "The target %s is not a plain key chain such as $.balance or $.address.city.",
				   rule->target_text);
	{
		JsonPathItem cur = item;

		while (jspGetNext(&cur, &next))
		{
			CHECK_FOR_INTERRUPTS();
			if (next.type != jpiKey)
				rule_error(name, "The target %s is not a plain key chain such as $.balance or $.address.city.",
						   rule->target_text);
			n++;
			cur = next;
		}
	}
	if (n == 0 && !root_ok)
		rule_error(name, "The target of \"%s\" must name a field, such as $.balance.",
				   op_names[rule->op]);
	rule->ntarget = n;
	rule->target_keys = palloc(sizeof(char *) * Max(n, 1));
	rule->target_lens = palloc(sizeof(int) * Max(n, 1));
	n = 0;
	while (jspGetNext(&item, &next))
	{
		int32		len;

		rule->target_keys[n] = jspGetString(&next, &len);
		rule->target_lens[n] = len;
		n++;
		item = next;
	}
}

/* Compile one condition object. */
static void
compile_condition(EsRuleUse use, const char *name, const JsonbValue *v, EsRuleCond *cond)
{
	JsonbValue *pathv;
	JsonbValue *equals;
	JsonbValue *exists;
	JsonbValue *sid;
	JsonbIterator *it;
	JsonbValue	k;
	JsonbIteratorToken tok;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		rule_error(name, "A condition must be an object, not %s.", es_jsonb_kind(v));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		if (tok == WJB_KEY)
		{
			char	   *key = jbv_cstring(&k);

			CHECK_FOR_INTERRUPTS();
			if (strcmp(key, "path") != 0 && strcmp(key, "equals") != 0 &&
				strcmp(key, "equals_stream_id") != 0 && strcmp(key, "exists") != 0)
				rule_error(name, "Unknown key \"%s\" in a condition; a condition has \"path\" and one of \"equals\", \"equals_stream_id\" or \"exists\".", key);
		}

	pathv = getKeyJsonValueFromContainer(v->val.binary.data, "path", 4, NULL);
	if (pathv == NULL)
		rule_error(name, "A condition needs a \"path\".");
	compile_path(use, name, pathv, "path", &cond->path);

	equals = getKeyJsonValueFromContainer(v->val.binary.data, "equals", 6, NULL);
	exists = getKeyJsonValueFromContainer(v->val.binary.data, "exists", 6, NULL);
	sid = getKeyJsonValueFromContainer(v->val.binary.data, "equals_stream_id", 16, NULL);
	if (sid != NULL)
	{
		if (use == ES_RULES_UPCASTER)
			rule_error(name, "\"equals_stream_id\" is for reducers; an upcaster sees no stream.");
		if (sid->type != jbvBool || !sid->val.boolean || equals || exists)
			rule_error(name, "\"equals_stream_id\" must be true and stand alone with \"path\".");
		cond->kind = ES_COND_EQUALS_STREAM_ID;
	}
	else if (equals != NULL && exists == NULL)
	{
		cond->kind = ES_COND_EQUALS;
		cond->value = JsonbValueToJsonb(equals);
	}
	else if (exists != NULL && equals == NULL)
	{
		if (exists->type != jbvBool)
			rule_error(name, "\"exists\" must be true or false, not %s.", es_jsonb_kind(exists));
		cond->kind = ES_COND_EXISTS;
		cond->exists = exists->val.boolean;
	}
	else
		rule_error(name, "A condition needs exactly one of \"equals\", \"equals_stream_id\" and \"exists\".");
}

static JsonbValue *
copy_jbv(const JsonbValue *v)
{
	JsonbValue *copy = palloc_object(JsonbValue);

	*copy = *v;
	return copy;
}

static bool
op_is_numeric(EsRuleOp op)
{
	return op == ES_OP_ADD || op == ES_OP_SUBTRACT || op == ES_OP_MIN || op == ES_OP_MAX;
}

static bool
is_object(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/* Check and compile one rule object. */
void
es_rule_compile(EsRuleUse use, const char *name, const JsonbValue *v, EsRule *rule)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	val;
	JsonbIteratorToken tok;
	JsonbValue *op = NULL;
	JsonbValue *target = NULL;
	JsonbValue *from = NULL;
	JsonbValue *value = NULL;
	JsonbValue *when = NULL;
	JsonbValue *dflt = NULL;
	JsonbValue *if_missing = NULL;
	JsonbValue *if_exists = NULL;
	bool		found = false;
	int			i;
	EsRuleOp	o;

	memset(rule, 0, sizeof(EsRule));
	rule->name = pstrdup(name);
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		rule_error(name, "A rule must be an object such as {\"op\": \"set\", \"target\": \"$.name\", \"from\": \"$.data.name\"}, not %s.",
				   es_jsonb_kind(v));

	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		CHECK_FOR_INTERRUPTS();
		key = jbv_cstring(&k);
		tok = JsonbIteratorNext(&it, &val, true);
		Assert(tok == WJB_VALUE);
		if (strcmp(key, "op") == 0)
			op = copy_jbv(&val);
		else if (strcmp(key, "target") == 0)
			target = copy_jbv(&val);
		else if (strcmp(key, "from") == 0)
			from = copy_jbv(&val);
		else if (strcmp(key, "value") == 0)
			value = copy_jbv(&val);
		else if (strcmp(key, "when") == 0)
			when = copy_jbv(&val);
		else if (strcmp(key, "default") == 0)
			dflt = copy_jbv(&val);
		else if (strcmp(key, "if_missing") == 0)
			if_missing = copy_jbv(&val);
		else if (strcmp(key, "if_exists") == 0)
			if_exists = copy_jbv(&val);
		else
			rule_error(name, "Unknown key \"%s\"; a rule has \"op\" and may have \"target\", \"from\", \"value\", \"when\", \"default\", \"if_missing\" and \"if_exists\".", key);
	}

	/* the operation, and whether this use has it */
	if (op == NULL)
		rule_error(name, "A rule needs an \"op\".");
	if (op->type != jbvString)
		rule_error(name, "\"op\" must be a string, not %s.", es_jsonb_kind(op));
	for (i = 0; i < (int) lengthof(op_names); i++)
		if (strlen(op_names[i]) == (size_t) op->val.string.len &&
			memcmp(op_names[i], op->val.string.val, op->val.string.len) == 0)
		{
			rule->op = (EsRuleOp) i;
			found = true;
		}
	if (!found)
		rule_error(name, "Unknown op \"%s\"; %s.", jbv_cstring(op),
				   use == ES_RULES_REDUCER
				   ? "reducers have set, add, subtract, min, max, count, append, remove, merge and replace"
				   : "upcasters have set, remove, replace, move and rename_type");
	o = rule->op;
	if (use == ES_RULES_REDUCER && (o == ES_OP_MOVE || o == ES_OP_RENAME_TYPE))
		rule_error(name, "\"%s\" is an upcaster op; reducers have set, add, subtract, min, max, count, append, remove, merge and replace.",
				   op_names[o]);
	if (use == ES_RULES_UPCASTER &&
		(op_is_numeric(o) || o == ES_OP_COUNT || o == ES_OP_APPEND || o == ES_OP_MERGE))
		rule_error(name, "\"%s\" is a reducer op; upcasters have set, remove, replace, move and rename_type.",
				   op_names[o]);

	/* the target */
	if (o == ES_OP_REPLACE || o == ES_OP_RENAME_TYPE)
	{
		if (target != NULL)
			rule_error(name, "\"%s\" takes no \"target\"%s.", op_names[o],
					   o == ES_OP_REPLACE ? ": it replaces the whole document" : "");
	}
	else if (target == NULL && o == ES_OP_MERGE)
		rule->ntarget = 0;		/* into the state itself */
	else if (target == NULL)
		rule_error(name, "\"%s\" needs a \"target\", such as \"$.balance\".", op_names[o]);
	else
		compile_target(name, target, rule, o == ES_OP_MERGE);

	/* operands */
	if (o == ES_OP_COUNT || o == ES_OP_REMOVE)
	{
		if (from || value || dflt || if_missing)
			rule_error(name, "\"%s\" takes no \"from\", \"value\", \"default\" or \"if_missing\".",
					   op_names[o]);
	}
	else if (o == ES_OP_RENAME_TYPE)
	{
		if (from || dflt || if_missing || value == NULL)
			rule_error(name, "\"rename_type\" takes the new event type as \"value\".");
		if (value->type != jbvString || value->val.string.len == 0)
			rule_error(name, "The new event type must be a non-empty string, not %s.",
					   value->type == jbvString ? "an empty string" : es_jsonb_kind(value));
		if (value->val.string.len > ES_MAX_EVENT_TYPE_BYTES)
			rule_error(name, "The new event type has %d bytes; at most %d are allowed.",
					   value->val.string.len, ES_MAX_EVENT_TYPE_BYTES);
		rule->value = JsonbValueToJsonb(value);
	}
	else
	{
		if ((from != NULL) == (value != NULL))
			rule_error(name, "\"%s\" needs exactly one of \"from\" (a path) and \"value\" (a literal).",
					   op_names[o]);
		if ((o == ES_OP_MERGE || o == ES_OP_REPLACE || o == ES_OP_MOVE) && value != NULL)
			rule_error(name, "\"%s\" takes \"from\", a path.", op_names[o]);
		if (value != NULL && (dflt || if_missing))
			rule_error(name, "\"default\" and \"if_missing\" go with \"from\", not with \"value\".");
		if (from != NULL)
		{
			rule->has_from = true;
			compile_path(use, name, from, "from", &rule->from);
			if (o == ES_OP_MOVE &&
				(rule->from.root != ES_ROOT_DATA || rule->from.nkeys == 0))
				rule_error(name, "\"move\" takes from a field of the data: a plain key chain such as $.data.amount, not %s.",
						   rule->from.text);
		}
		else
		{
			if (op_is_numeric(o) && value->type != jbvNumeric)
				rule_error(name, "\"%s\" needs a number, not %s.", op_names[o], es_jsonb_kind(value));
			rule->value = JsonbValueToJsonb(value);
		}
		if (dflt != NULL && if_missing != NULL)
			rule_error(name, "A rule has \"default\" or \"if_missing\", not both.");
		if (dflt != NULL)
		{
			if (o == ES_OP_MOVE)
				rule_error(name, "\"move\" takes no \"default\"; use \"set\".");
			if (op_is_numeric(o) && dflt->type != jbvNumeric)
				rule_error(name, "The default of \"%s\" must be a number, not %s.",
						   op_names[o], es_jsonb_kind(dflt));
			if ((o == ES_OP_MERGE || o == ES_OP_REPLACE) && !is_object(dflt))
				rule_error(name, "The default of \"%s\" must be an object.", op_names[o]);
			rule->dflt = JsonbValueToJsonb(dflt);
		}
		if (if_missing != NULL)
		{
			if (if_missing->type != jbvString || strcmp(jbv_cstring(if_missing), "skip") != 0)
				rule_error(name, "\"if_missing\" can only be \"skip\".");
			rule->skip_missing = true;
		}
	}
	if (if_exists != NULL)
	{
		if (o != ES_OP_SET)
			rule_error(name, "\"if_exists\" goes with \"set\".");
		if (if_exists->type != jbvString || strcmp(jbv_cstring(if_exists), "keep") != 0)
			rule_error(name, "\"if_exists\" can only be \"keep\".");
		rule->keep_existing = true;
	}

	/* conditions */
	if (when != NULL)
	{
		JsonbIteratorToken wtok;

		if (when->type == jbvBinary && JsonContainerIsArray(when->val.binary.data))
		{
			JsonbIterator *wit = JsonbIteratorInit(when->val.binary.data);
			JsonbValue	elem;
			int			n = JsonContainerSize(when->val.binary.data);

			es_rule_check_count(n, sizeof(EsRuleCond), "conditions", name);
			rule->conds = palloc0(sizeof(EsRuleCond) * Max(n, 1));
			while ((wtok = JsonbIteratorNext(&wit, &elem, true)) != WJB_DONE)
			{
				CHECK_FOR_INTERRUPTS();
				if (wtok == WJB_ELEM)
					compile_condition(use, name, &elem, &rule->conds[rule->ncond++]);
			}
			if (rule->ncond == 0)
				rule_error(name, "\"when\" must not be an empty array.");
		}
		else
		{
			rule->conds = palloc0(sizeof(EsRuleCond));
			compile_condition(use, name, when, &rule->conds[0]);
			rule->ncond = 1;
		}
	}
}

/* ---------------------------------------------------------------------
 * Evaluating
 * ---------------------------------------------------------------------
 */

/* '{}' as jsonb: the vars argument of jsonb_path_query_first. */
static Jsonb *empty_vars = NULL;

void
es_jsonb_as_value(Jsonb *jb, JsonbValue *out)
{
	if (!JsonbExtractScalar(&jb->root, out))
	{
		out->type = jbvBinary;
		out->val.binary.data = &jb->root;
		out->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
}

void
es_push_jsonb(JsonbParseState **ps, JsonbIteratorToken tok, Jsonb *jb)
{
	JsonbValue	v;

	es_jsonb_as_value(jb, &v);
	pushJsonbValue(ps, tok, &v);
}

/*
 * A scalar column of the event as a JSON value.  Nothing here depends on
 * settings: timestamps are written in UTC, numbers are numeric.
 */
static void
column_value(EsPathRoot root, Datum value, JsonbValue *out)
{
	static const int utc = 0;

	switch (root)
	{
		case ES_ROOT_STREAM_ID:
		case ES_ROOT_EVENT_TYPE:
			{
				text	   *t = DatumGetTextPP(value);

				out->type = jbvString;
				out->val.string.val = VARDATA_ANY(t);
				out->val.string.len = VARSIZE_ANY_EXHDR(t);
				break;
			}
		case ES_ROOT_EVENT_ID:
			out->type = jbvString;
			out->val.string.val = DatumGetCString(DirectFunctionCall1(uuid_out, value));
			out->val.string.len = strlen(out->val.string.val);
			break;
		case ES_ROOT_OCCURRED_AT:
		case ES_ROOT_RECORDED_AT:

			/*
			 * In UTC, whatever the session's TimeZone: a fold's result (and
			 * the snapshot it may store) must not depend on who folds.
			 */
			out->type = jbvString;
			out->val.string.val = JsonEncodeDateTime(NULL, value, TIMESTAMPTZOID, &utc);
			out->val.string.len = strlen(out->val.string.val);
			break;
		case ES_ROOT_STREAM_VERSION:
		case ES_ROOT_GLOBAL_POSITION:
			out->type = jbvNumeric;
			out->val.numeric = int64_to_numeric(DatumGetInt64(value));
			break;
		case ES_ROOT_SCHEMA_VERSION:
			out->type = jbvNumeric;
			out->val.numeric = int64_to_numeric(DatumGetInt32(value));
			break;
		default:
			elog(ERROR, "not a scalar event column: %d", (int) root);
	}
}

/* The event as one jsonb document, for general jsonpaths (once per event). */
static Jsonb *
event_document(EsRuleEvent *ev)
{
	if (ev->doc == NULL)
	{
		JsonbParseState *ps = NULL;
		int			i;

		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		for (i = 0; i < (int) lengthof(path_roots); i++)
		{
			JsonbValue	key;
			JsonbValue	v;
			Datum		value = ev->row[path_roots[i].column];

			if (ev->nulls[path_roots[i].column])
				continue;
			key.type = jbvString;
			key.val.string.val = (char *) path_roots[i].name;
			key.val.string.len = strlen(path_roots[i].name);
			pushJsonbValue(&ps, WJB_KEY, &key);
			if (path_roots[i].root == ES_ROOT_DATA || path_roots[i].root == ES_ROOT_METADATA)
				es_push_jsonb(&ps, WJB_VALUE, DatumGetJsonbP(value));
			else
			{
				column_value(path_roots[i].root, value, &v);
				pushJsonbValue(&ps, WJB_VALUE, &v);
			}
		}
		ev->doc = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
	}
	return ev->doc;
}

bool
es_rule_query(const EsRulePath *path, Jsonb *doc, JsonbValue *out)
{
	LOCAL_FCINFO(fcinfo, 4);
	Datum		result;

	if (empty_vars == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		empty_vars = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
		MemoryContextSwitchTo(old);
	}
	InitFunctionCallInfoData(*fcinfo, NULL, 4, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(doc);
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = path->jsonpath;
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = JsonbPGetDatum(empty_vars);
	fcinfo->args[2].isnull = false;
	fcinfo->args[3].value = BoolGetDatum(true); /* silent */
	fcinfo->args[3].isnull = false;
	result = jsonb_path_query_first(fcinfo);
	if (fcinfo->isnull)
		return false;
	es_jsonb_as_value(DatumGetJsonbP(result), out);
	return out->type != jbvNull;
}

/*
 * The paths es_rule_eval does not walk: general jsonpaths, other columns,
 * $.data itself, and lax chains that met an array.
 */
bool
es_rule_eval_general(const EsRulePath *path, EsRuleEvent *ev, JsonbValue *out)
{
	if (path->root == ES_ROOT_GENERAL)
		return es_rule_query(path, event_document(ev), out);
	if (ev->nulls[path->column])
		return false;
	if (path->root == ES_ROOT_DATA || path->root == ES_ROOT_METADATA)
	{
		Jsonb	   *doc = DatumGetJsonbP(ev->row[path->column]);

		if (path->nkeys == 0)
		{
			es_jsonb_as_value(doc, out);
			return out->type != jbvNull;
		}
		/* a lax chain that met an array (es_rule_eval walked it) */
		return es_rule_query(path, event_document(ev), out);
	}
	column_value(path->root, ev->row[path->column], out);
	return true;
}

/*
 * Does a string hold a number in the syntax numeric_in accepts, less NaN
 * and Infinity: optional spaces, a sign, digits with at most one decimal
 * point (at least one digit), an optional exponent, optional spaces?
 */
static bool
is_number_syntax(const char *s, int len)
{
	int			i = 0;
	bool		digits = false;

	while (i < len && s[i] == ' ')
		i++;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		digits = true;
	if (i < len && s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			digits = true;
	if (!digits)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		bool		exp_digits = false;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			exp_digits = true;
		if (!exp_digits)
			return false;
	}
	while (i < len && s[i] == ' ')
		i++;
	return i == len;
}

bool
es_rule_numeric(const JsonbValue *v, Numeric *out)
{
	const char *s;

	if (v->type == jbvNumeric)
	{
		*out = v->val.numeric;
		return true;
	}
	if (v->type != jbvString || v->val.string.len == 0 || v->val.string.len > 1000)
		return false;
	s = v->val.string.val;
	if (!is_number_syntax(s, v->val.string.len))
		return false;
	*out = DatumGetNumeric(DirectFunctionCall3(numeric_in,
											   CStringGetDatum(pnstrdup(s, v->val.string.len)),
											   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	return true;
}

bool
es_rule_conditions_hold(const EsRule *r, EsRuleEvalFn eval, void *arg,
						const JsonbValue *stream_id)
{
	int			i;

	for (i = 0; i < r->ncond; i++)
	{
		const EsRuleCond *c = &r->conds[i];
		JsonbValue	v;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		found = eval(&c->path, arg, &v);
		switch (c->kind)
		{
			case ES_COND_EXISTS:
				if (found != c->exists)
					return false;
				break;
			case ES_COND_EQUALS_STREAM_ID:
				/* a hand-built row may have no stream id */
				if (stream_id == NULL || !found || v.type != jbvString ||
					v.val.string.len != stream_id->val.string.len ||
					memcmp(v.val.string.val, stream_id->val.string.val, v.val.string.len) != 0)
					return false;
				break;
			case ES_COND_EQUALS:
				{
					Jsonb	   *jb;

					if (!found)
					{
						/* only a null constant equals nothing */
						JsonbValue	cv;

						if (!(JB_ROOT_IS_SCALAR(c->value) &&
							  JsonbExtractScalar(&c->value->root, &cv) && cv.type == jbvNull))
							return false;
						break;
					}
					jb = JsonbValueToJsonb(&v);
					if (compareJsonbContainers(&jb->root, &c->value->root) != 0)
						return false;
					break;
				}
		}
	}
	return true;
}

/*
 * rules.c
 *	  Declarative reducers: rules compiled from jsonb and evaluated in C.
 *
 * The language (the README has the full reference):
 *
 *	 { "EventType": [ rule, ... ], "*": [ rule, ... ] }
 *
 * Each key is an event type (matched after upcasting) or "*" for every
 * event; the rules of the event's type run first, then those of "*".  A
 * rule is an object with exactly one operation, naming a top-level field of
 * the state, and its operands:
 *
 *	 {"set": F, "from": P} | {"set": F, "value": V}
 *	 {"add" | "subtract" | "min" | "max": F, "from": P | "value": N}
 *	 {"count": F}				   F + 1
 *	 {"append": F, "from": P | "value": V}	   push onto an array
 *	 {"remove": F}				   drop the field
 *	 {"merge": F | null, "from": P}  merge an object into F (null: the state)
 *
 * with optional "when" (a condition or an array of conditions, all of
 * which must hold), "default" (the value when P finds nothing) and
 * "if_missing": "skip" (skip the rule when P finds nothing).  A condition is
 * {"path": P, "equals": V}, {"path": P, "equals_stream_id": true} or
 * {"path": P, "exists": true | false}.
 *
 * Paths are PostgreSQL jsonpath expressions over the event:
 * $.data..., $.metadata..., $.stream_id, $.stream_version, $.event_type,
 * $.event_id, $.occurred_at, $.recorded_at, $.global_position,
 * $.schema_version.  Plain key chains ($.data.a.b), by far the common case,
 * are evaluated here with findJsonbValueFromContainer on the stored
 * document; any other jsonpath (filters, subscripts, methods) is handed to
 * PostgreSQL's jsonb_path_query_first over a document built once per event
 * that needs it.  Arithmetic is numeric, never floating point.
 * $.occurred_at and $.recorded_at read as ISO 8601 strings in UTC: a rules
 * fold depends on no setting, so it needs no identity switch and its
 * snapshots are the same whoever folds (see fold.c).
 *
 * Runtime policy: a path that finds nothing (or JSON null) is an error
 * (22035, no SQL/JSON item) unless the rule has "default" or
 * "if_missing": "skip"; a value that is not a number where one is needed
 * -- a JSON number or a string holding one -- is an error (22036); a merge
 * of something other than an object is an error (2203C).  Errors name the
 * rule; the fold adds the stream and version.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
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
#include "keyindex.h"
#include "rules.h"

/*
 * The longest path a rule may have, in bytes of its text.  Real paths are
 * a few dozen bytes; this refuses absurd ones (54000) before PostgreSQL's
 * jsonpath parser and our compiler spend memory on them.
 */
#define MAX_PATH_BYTES (1024 * 1024)

typedef enum RuleOp
{
	OP_SET,
	OP_ADD,
	OP_SUBTRACT,
	OP_MIN,
	OP_MAX,
	OP_COUNT,
	OP_APPEND,
	OP_REMOVE,
	OP_MERGE
} RuleOp;

static const char *const op_names[] = {
	"set", "add", "subtract", "min", "max", "count", "append", "remove", "merge"
};

#define NUM_OPS lengthof(op_names)

/* Where a path starts: a column of the event, or a general jsonpath. */
typedef enum PathRoot
{
	ROOT_DATA,
	ROOT_METADATA,
	ROOT_STREAM_ID,
	ROOT_STREAM_VERSION,
	ROOT_EVENT_TYPE,
	ROOT_EVENT_ID,
	ROOT_OCCURRED_AT,
	ROOT_RECORDED_AT,
	ROOT_GLOBAL_POSITION,
	ROOT_SCHEMA_VERSION,
	ROOT_GENERAL
} PathRoot;

static const struct
{
	const char *name;
	PathRoot	root;
	int			column;
}			path_roots[] = {
	{"data", ROOT_DATA, ES_COL_DATA},
	{"metadata", ROOT_METADATA, ES_COL_METADATA},
	{"stream_id", ROOT_STREAM_ID, ES_COL_STREAM_ID},
	{"stream_version", ROOT_STREAM_VERSION, ES_COL_STREAM_VERSION},
	{"event_type", ROOT_EVENT_TYPE, ES_COL_EVENT_TYPE},
	{"event_id", ROOT_EVENT_ID, ES_COL_EVENT_ID},
	{"occurred_at", ROOT_OCCURRED_AT, ES_COL_OCCURRED_AT},
	{"recorded_at", ROOT_RECORDED_AT, ES_COL_RECORDED_AT},
	{"global_position", ROOT_GLOBAL_POSITION, ES_COL_GLOBAL_POSITION},
	{"schema_version", ROOT_SCHEMA_VERSION, ES_COL_SCHEMA_VERSION},
};

typedef struct Path
{
	char	   *text;			/* as written, for messages */
	PathRoot	root;
	int			column;			/* event column of the root */
	int			nkeys;			/* key chain below data / metadata */
	char	  **keys;
	int		   *keylens;
	Datum		jsonpath;		/* ROOT_GENERAL: the compiled jsonpath */
} Path;

typedef enum CondKind
{
	COND_EQUALS,
	COND_EQUALS_STREAM_ID,
	COND_EXISTS
} CondKind;

typedef struct Cond
{
	Path		path;
	CondKind	kind;
	Jsonb	   *value;			/* COND_EQUALS */
	bool		exists;			/* COND_EXISTS */
} Cond;

typedef struct Rule
{
	RuleOp		op;
	char	   *target;			/* NULL: merge into the state itself */
	int			slot;			/* working-state slot of target */
	bool		has_from;
	Path		from;
	Jsonb	   *value;			/* constant operand, or NULL */
	Numeric		numeric_value;	/* the constant as a number (arithmetic) */
	Jsonb	   *dflt;			/* "default", or NULL */
	bool		skip_missing;
	int			ncond;
	Cond	   *conds;
	const char *event_type;		/* its key, for messages */
	int			position;		/* 1-based within its key */
} Rule;

typedef struct TypeRules
{
	char	   *event_type;
	int			len;
	int			nrules;
	Rule	   *rules;
} TypeRules;

struct EsRules
{
	char	   *reducer;
	int			ntypes;
	TypeRules  *types;			/* sorted by type_cmp, "*" included */
	TypeRules  *any;			/* the "*" key, or NULL */
	int			nslots;			/* distinct rule targets */
	int			maxslots;
	char	  **slot_keys;
	EsKeyIndex *slot_index;		/* slot_keys by name, while compiling */
};

/* The working state: one slot per top-level field. */
typedef enum SlotKind
{
	SLOT_ABSENT,
	SLOT_JSONB,					/* any jsonb value (scalars as raw scalars) */
	SLOT_NUMERIC,				/* a number being accumulated */
	SLOT_ARRAY					/* an array being appended to */
} SlotKind;

typedef struct Slot
{
	char	   *key;
	int			keylen;
	SlotKind	kind;
	Jsonb	   *jb;
	Numeric		num;
	Jsonb	  **elems;
	int			nelems;
	int			maxelems;
} Slot;

/* '{}' as jsonb: the vars argument of jsonb_path_query_first. */
static Jsonb *empty_vars = NULL;

struct EsRuleState
{
	const EsRules *rules;
	MemoryContext cxt;
	int			nslots;
	int			maxslots;
	Slot	   *slots;
	int			lookups;		/* of fields by name, answered by scanning */
	EsKeyIndex *index;			/* slots by name, once there are many */
	/* the event being applied, for messages and paths */
	const Datum *row;
	const bool *nulls;
	Jsonb	   *doc;			/* built on demand for general paths */
	const Rule *rule;
};

/* ---------------------------------------------------------------------
 * Compiling
 * ---------------------------------------------------------------------
 */

/* What compile errors name. */
typedef struct CompileContext
{
	const char *reducer;
	const char *event_type;
	int			position;
} CompileContext;

static void
compile_error_callback(void *arg)
{
	CompileContext *cc = (CompileContext *) arg;

	if (cc->event_type != NULL && cc->position == 0)
		errcontext("rules for \"%s\" of reducer \"%s\"", cc->event_type, cc->reducer);
	else if (cc->event_type != NULL)
		errcontext("rule %d for \"%s\" of reducer \"%s\"",
				   cc->position, cc->event_type, cc->reducer);
}

#define rule_error(cc, ...) \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
			 errmsg("invalid rule %d for \"%s\" of reducer \"%s\"", \
					(cc)->position, (cc)->event_type, (cc)->reducer), \
			 errdetail(__VA_ARGS__)))

/* A NUL-terminated copy of a jsonb string value. */
static char *
jbv_cstring(const JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* Compile a path written as a jsonpath string. */
static void
compile_path(CompileContext *cc, const JsonbValue *v, const char *what, Path *path)
{
	JsonPath   *jp;
	JsonPathItem item;
	JsonPathItem next;
	int			i;
	bool		plain = true;
	char	   *rootname = NULL;

	if (v->type != jbvString)
		rule_error(cc, "\"%s\" must be a jsonpath string, not %s.", what, es_jsonb_kind(v));
	if (v->val.string.len > MAX_PATH_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("invalid rule %d for \"%s\" of reducer \"%s\"",
						cc->position, cc->event_type, cc->reducer),
				 errdetail("The path of \"%s\" has %d bytes; at most %d are allowed.",
						   what, v->val.string.len, MAX_PATH_BYTES)));
	memset(path, 0, sizeof(Path));
	path->text = jbv_cstring(v);
	/* jsonpath_in reports a malformed path itself (42601) */
	path->jsonpath = DirectFunctionCall1(jsonpath_in, CStringGetDatum(path->text));
	jp = DatumGetJsonPathP(path->jsonpath);

	jspInit(&item, jp);
	if (item.type != jpiRoot || !jspGetNext(&item, &next) || next.type != jpiKey)
		rule_error(cc, "Path %s must start with $ and a field of the event, such as $.data.", path->text);
	rootname = jspGetString(&next, NULL);
	path->root = ROOT_GENERAL;
	for (i = 0; i < (int) lengthof(path_roots); i++)
		if (strcmp(rootname, path_roots[i].name) == 0)
		{
			path->root = path_roots[i].root;
			path->column = path_roots[i].column;
		}
	if (path->root == ROOT_GENERAL)
		rule_error(cc, "Path %s starts at \"%s\", which is not a field of the event.",
				   path->text, rootname);

	/*
	 * A plain chain of keys below data or metadata is evaluated here: count
	 * its keys, then collect them.
	 */
	item = next;
	while (jspGetNext(&item, &next))
	{
		CHECK_FOR_INTERRUPTS();
		if (next.type != jpiKey || (path->root != ROOT_DATA && path->root != ROOT_METADATA))
		{
			plain = false;
			break;
		}
		path->nkeys++;
		item = next;
	}
	if (!plain)
	{
		path->root = ROOT_GENERAL;
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

/* Compile the operand of "value" / "default": any JSON value. */
static Jsonb *
compile_constant(const JsonbValue *v)
{
	return JsonbValueToJsonb((JsonbValue *) v);
}

/* Compile one condition object. */
static void
compile_condition(CompileContext *cc, const JsonbValue *v, Cond *cond)
{
	JsonbValue *pathv;
	JsonbValue *equals;
	JsonbValue *exists;
	JsonbIterator *it;
	JsonbValue	k;
	JsonbIteratorToken tok;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		rule_error(cc, "A condition must be an object, not %s.", es_jsonb_kind(v));
	/* only known keys */
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		if (tok == WJB_KEY)
		{
			char	   *key = jbv_cstring(&k);

			if (strcmp(key, "path") != 0 && strcmp(key, "equals") != 0 &&
				strcmp(key, "equals_stream_id") != 0 && strcmp(key, "exists") != 0)
				rule_error(cc, "Unknown key \"%s\" in a condition; a condition has \"path\" and one of \"equals\", \"equals_stream_id\" or \"exists\".", key);
		}

	pathv = getKeyJsonValueFromContainer(v->val.binary.data, "path", 4, NULL);
	if (pathv == NULL)
		rule_error(cc, "A condition needs a \"path\".");
	compile_path(cc, pathv, "path", &cond->path);

	equals = getKeyJsonValueFromContainer(v->val.binary.data, "equals", 6, NULL);
	exists = getKeyJsonValueFromContainer(v->val.binary.data, "exists", 6, NULL);
	if (getKeyJsonValueFromContainer(v->val.binary.data, "equals_stream_id", 16, NULL) != NULL)
	{
		JsonbValue *flag = getKeyJsonValueFromContainer(v->val.binary.data,
														"equals_stream_id", 16, NULL);

		if (flag->type != jbvBool || !flag->val.boolean || equals || exists)
			rule_error(cc, "\"equals_stream_id\" must be true and stand alone with \"path\".");
		cond->kind = COND_EQUALS_STREAM_ID;
	}
	else if (equals != NULL && exists == NULL)
	{
		cond->kind = COND_EQUALS;
		cond->value = compile_constant(equals);
	}
	else if (exists != NULL && equals == NULL)
	{
		if (exists->type != jbvBool)
			rule_error(cc, "\"exists\" must be true or false, not %s.", es_jsonb_kind(exists));
		cond->kind = COND_EXISTS;
		cond->exists = exists->val.boolean;
	}
	else
		rule_error(cc, "A condition needs exactly one of \"equals\", \"equals_stream_id\" and \"exists\".");
}

/* The slot of a target field, adding it to the reducer's list. */
static int
target_slot(EsRules *rules, const char *target)
{
	int			len = strlen(target);
	int			i = es_key_index_get(rules->slot_index, target, len);

	if (i >= 0)
		return i;
	if (rules->nslots == rules->maxslots)
	{
		rules->maxslots = Max(rules->maxslots * 2, 8);
		rules->slot_keys = repalloc(rules->slot_keys, sizeof(char *) * rules->maxslots);
	}
	rules->slot_keys[rules->nslots] = pstrdup(target);
	es_key_index_put(rules->slot_index, rules->slot_keys[rules->nslots], len, rules->nslots);
	return rules->nslots++;
}

/*
 * Check that n elements of a given size can be allocated at once (they
 * are counted in user input: rules, conditions, fields); 54000 if not.
 */
static void
check_count(Size n, Size size, const char *what, const char *reducer)
{
	if (n > MaxAllocSize / size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("reducer \"%s\" has too many %s", reducer, what),
				 errdetail("It has %zu; at most %zu are allowed.", n, MaxAllocSize / size)));
}

/* Is op one that needs a number? */
static bool
op_is_numeric(RuleOp op)
{
	return op == OP_ADD || op == OP_SUBTRACT || op == OP_MIN || op == OP_MAX;
}

/* A palloc'd copy of a JsonbValue. */
static JsonbValue *
copy_jbv(const JsonbValue *v)
{
	JsonbValue *copy = palloc_object(JsonbValue);

	*copy = *v;
	return copy;
}

/* Compile one rule object. */
static void
compile_rule(CompileContext *cc, EsRules *rules, const JsonbValue *v, Rule *rule)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	val;
	JsonbIteratorToken tok;
	int			nops = 0;
	JsonbValue *from = NULL;
	JsonbValue *value = NULL;
	JsonbValue *when = NULL;
	JsonbValue *dflt = NULL;
	JsonbValue *if_missing = NULL;
	JsonbValue	target;

	memset(rule, 0, sizeof(Rule));
	rule->event_type = cc->event_type;
	rule->position = cc->position;
	rule->slot = -1;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		rule_error(cc, "A rule must be an object, not %s.", es_jsonb_kind(v));

	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *key;
		int			i;
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		key = jbv_cstring(&k);
		tok = JsonbIteratorNext(&it, &val, true);
		Assert(tok == WJB_VALUE);
		for (i = 0; i < (int) NUM_OPS; i++)
			if (strcmp(key, op_names[i]) == 0)
			{
				rule->op = (RuleOp) i;
				target = val;
				nops++;
				known = true;
			}
		if (known)
			continue;
		if (strcmp(key, "from") == 0)
			from = copy_jbv(&val);
		else if (strcmp(key, "value") == 0)
			value = copy_jbv(&val);
		else if (strcmp(key, "when") == 0)
			when = copy_jbv(&val);
		else if (strcmp(key, "default") == 0)
			dflt = copy_jbv(&val);
		else if (strcmp(key, "if_missing") == 0)
			if_missing = copy_jbv(&val);
		else
			rule_error(cc, "Unknown key \"%s\"; the operations are set, add, subtract, min, max, count, append, remove and merge, and a rule may have from, value, when, default and if_missing.", key);
	}
	if (nops != 1)
		rule_error(cc, nops == 0 ? "A rule needs an operation: set, add, subtract, min, max, count, append, remove or merge."
				   : "A rule has exactly one operation.");

	/* the target field */
	if (rule->op == OP_MERGE && target.type == jbvNull)
		rule->target = NULL;
	else if (target.type != jbvString || target.val.string.len == 0)
		rule_error(cc, "The target of \"%s\" must be a non-empty field name%s, not %s.",
				   op_names[rule->op], rule->op == OP_MERGE ? " or null (the state itself)" : "",
				   target.type == jbvString ? "an empty string" : es_jsonb_kind(&target));
	else
	{
		rule->target = jbv_cstring(&target);
		rule->slot = target_slot(rules, rule->target);
	}

	/* operands */
	if (rule->op == OP_COUNT || rule->op == OP_REMOVE)
	{
		if (from || value || dflt || if_missing)
			rule_error(cc, "\"%s\" takes no operand.", op_names[rule->op]);
	}
	else
	{
		if ((from != NULL) == (value != NULL))
			rule_error(cc, "\"%s\" needs exactly one of \"from\" (a path) and \"value\" (a constant).",
					   op_names[rule->op]);
		if (rule->op == OP_MERGE && value != NULL)
			rule_error(cc, "\"merge\" takes \"from\", a path to an object.");
		if (value != NULL && (dflt || if_missing))
			rule_error(cc, "\"default\" and \"if_missing\" go with \"from\", not with \"value\".");
		if (from != NULL)
		{
			rule->has_from = true;
			compile_path(cc, from, "from", &rule->from);
		}
		else
		{
			rule->value = compile_constant(value);
			if (op_is_numeric(rule->op))
			{
				if (value->type != jbvNumeric)
					rule_error(cc, "\"%s\" needs a number, not %s.", op_names[rule->op],
							   es_jsonb_kind(value));
				rule->numeric_value = value->val.numeric;
			}
		}
		if (dflt != NULL && if_missing != NULL)
			rule_error(cc, "A rule has \"default\" or \"if_missing\", not both.");
		if (dflt != NULL)
		{
			if (op_is_numeric(rule->op) && dflt->type != jbvNumeric)
				rule_error(cc, "The default of \"%s\" must be a number, not %s.",
						   op_names[rule->op], es_jsonb_kind(dflt));
			if (rule->op == OP_MERGE && (dflt->type != jbvBinary ||
										 !JsonContainerIsObject(dflt->val.binary.data)))
				rule_error(cc, "The default of \"merge\" must be an object.");
			rule->dflt = compile_constant(dflt);
		}
		if (if_missing != NULL)
		{
			if (if_missing->type != jbvString ||
				strcmp(jbv_cstring(if_missing), "skip") != 0)
				rule_error(cc, "\"if_missing\" can only be \"skip\".");
			rule->skip_missing = true;
		}
	}

	/* conditions */
	if (when != NULL)
	{
		if (when->type == jbvBinary && JsonContainerIsArray(when->val.binary.data))
		{
			JsonbIterator *wit = JsonbIteratorInit(when->val.binary.data);
			JsonbValue	elem;
			int			n = JsonContainerSize(when->val.binary.data);

			check_count(n, sizeof(Cond), "conditions in a rule", cc->reducer);
			rule->conds = palloc0(sizeof(Cond) * Max(n, 1));
			while ((tok = JsonbIteratorNext(&wit, &elem, true)) != WJB_DONE)
			{
				CHECK_FOR_INTERRUPTS();
				if (tok == WJB_ELEM)
					compile_condition(cc, &elem, &rule->conds[rule->ncond++]);
			}
			if (rule->ncond == 0)
				rule_error(cc, "\"when\" must not be an empty array.");
		}
		else
		{
			rule->conds = palloc0(sizeof(Cond));
			compile_condition(cc, when, &rule->conds[0]);
			rule->ncond = 1;
		}
	}
}

/* Order of event types: by length, then bytes ("*" is one of them). */
static int
type_cmp(const void *a, const void *b)
{
	const TypeRules *ta = a;
	const TypeRules *tb = b;

	if (ta->len != tb->len)
		return ta->len < tb->len ? -1 : 1;
	return memcmp(ta->event_type, tb->event_type, ta->len);
}

/* Check and compile a reducer's rules. */
EsRules *
es_rules_compile(const char *reducer, Jsonb *rules_jb)
{
	EsRules    *rules = palloc0(sizeof(EsRules));
	CompileContext cc = {reducer, NULL, 0};
	ErrorContextCallback errcb;
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n;
	int			i;

	rules->reducer = pstrdup(reducer);
	if (!JB_ROOT_IS_OBJECT(rules_jb) || JB_ROOT_IS_SCALAR(rules_jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rules of reducer \"%s\" must be a JSON object", reducer),
				 errdetail("Rules map event types (or \"*\" for every event) to arrays of rules.")));
	n = JB_ROOT_COUNT(rules_jb);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rules of reducer \"%s\" must not be empty", reducer)));
	check_count(n, sizeof(TypeRules), "event types", reducer);
	rules->types = palloc0(sizeof(TypeRules) * n);
	rules->maxslots = 8;
	rules->slot_keys = palloc(sizeof(char *) * rules->maxslots);
	rules->slot_index = es_key_index_create(CurrentMemoryContext, 16);

	errcb.callback = compile_error_callback;
	errcb.arg = &cc;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	it = JsonbIteratorInit(&rules_jb->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		TypeRules  *tr;
		JsonbIterator *rit;
		JsonbValue	elem;
		JsonbIteratorToken rtok;
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = jbv_cstring(&k);
		tok = JsonbIteratorNext(&it, &v, true);
		if (key[0] == '\0' || (strchr(key, '*') != NULL && strcmp(key, "*") != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid event-type key \"%s\" in the rules of reducer \"%s\"", key, reducer),
					 errdetail("A key is an event type, or \"*\" for every event; patterns are not supported.")));
		if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the rules for \"%s\" of reducer \"%s\" must be an array", key, reducer),
					 errdetail("They are %s.", es_jsonb_kind(&v))));
		tr = &rules->types[rules->ntypes++];
		tr->event_type = key;
		tr->len = strlen(key);
		cc.event_type = key;
		cc.position = 0;
		CHECK_FOR_INTERRUPTS();
		check_count(JsonContainerSize(v.val.binary.data), sizeof(Rule), "rules", reducer);
		tr->rules = palloc0(sizeof(Rule) * Max(JsonContainerSize(v.val.binary.data), 1));
		rit = JsonbIteratorInit(v.val.binary.data);
		while ((rtok = JsonbIteratorNext(&rit, &elem, true)) != WJB_DONE)
		{
			if (rtok != WJB_ELEM)
				continue;
			CHECK_FOR_INTERRUPTS();
			cc.position = tr->nrules + 1;
			compile_rule(&cc, rules, &elem, &tr->rules[tr->nrules++]);
		}
		cc.event_type = NULL;
	}
	error_context_stack = errcb.previous;

	/* keys of a jsonb object are unique: found by binary search */
	qsort(rules->types, rules->ntypes, sizeof(TypeRules), type_cmp);
	for (i = 0; i < rules->ntypes; i++)
		if (strcmp(rules->types[i].event_type, "*") == 0)
			rules->any = &rules->types[i];
	return rules;
}

/* Check that an initial state suits a rules reducer. */
void
es_rules_check_initial(const char *reducer, Jsonb *initial_state)
{
	if (!JB_ROOT_IS_OBJECT(initial_state) || JB_ROOT_IS_SCALAR(initial_state))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the initial state of rules reducer \"%s\" must be a JSON object", reducer)));
}

/* ---------------------------------------------------------------------
 * The working state
 * ---------------------------------------------------------------------
 */

/*
 * Double an array of n elements of a given size that is full; its length
 * comes from user input (fields of the state, elements appended), so it is
 * bounded with a clear error (54000) naming what grew.
 */
static void *
grow_array(void *array, int *n, Size size, const char *what, const char *reducer)
{
	if ((Size) *n > MaxAllocSize / size / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the state of reducer \"%s\" has too many %s", reducer, what),
				 errdetail("It has %d.", *n)));
	*n *= 2;
	return repalloc(array, size * *n);
}

/*
 * Find (or add) the slot of a field by name.  A state can have as many
 * fields as a jsonb object: past a few lookups, they are found by hashing.
 */
static Slot *
find_slot(EsRuleState *ws, const char *key, int keylen)
{
	int			i;
	Slot	   *s;

	if (ws->index == NULL && ws->nslots >= ES_KEY_INDEX_MIN_KEYS &&
		++ws->lookups > ES_KEY_INDEX_SCANS)
	{
		ws->index = es_key_index_create(ws->cxt, ws->nslots * 2);
		for (i = 0; i < ws->nslots; i++)
		{
			CHECK_FOR_INTERRUPTS();
			es_key_index_put(ws->index, ws->slots[i].key, ws->slots[i].keylen, i);
		}
	}
	if (ws->index != NULL)
	{
		i = es_key_index_get(ws->index, key, keylen);
		if (i >= 0)
			return &ws->slots[i];
	}
	else
		for (i = 0; i < ws->nslots; i++)
			if (ws->slots[i].keylen == keylen && memcmp(ws->slots[i].key, key, keylen) == 0)
				return &ws->slots[i];
	if (ws->nslots == ws->maxslots)
		ws->slots = grow_array(ws->slots, &ws->maxslots, sizeof(Slot), "fields",
							   ws->rules->reducer);
	s = &ws->slots[ws->nslots];
	memset(s, 0, sizeof(Slot));
	s->key = MemoryContextAlloc(ws->cxt, keylen + 1);
	memcpy(s->key, key, keylen);
	s->key[keylen] = '\0';
	s->keylen = keylen;
	s->kind = SLOT_ABSENT;
	if (ws->index != NULL)
		es_key_index_put(ws->index, s->key, keylen, ws->nslots);
	ws->nslots++;
	return s;
}

/* Empty a slot, freeing what it holds. */
static void
clear_slot(Slot *s)
{
	int			i;

	if (s->jb)
		pfree(s->jb);
	if (s->num)
		pfree(s->num);
	for (i = 0; i < s->nelems; i++)
	{
		CHECK_FOR_INTERRUPTS();
		pfree(s->elems[i]);
	}
	if (s->elems)
		pfree(s->elems);
	s->jb = NULL;
	s->num = NULL;
	s->elems = NULL;
	s->nelems = s->maxelems = 0;
	s->kind = SLOT_ABSENT;
}

/* Store a copy of a jsonb value (scalars too) in a slot. */
static void
set_slot_value(EsRuleState *ws, Slot *s, JsonbValue *v)
{
	MemoryContext old = MemoryContextSwitchTo(ws->cxt);
	Jsonb	   *jb = JsonbValueToJsonb(v);

	MemoryContextSwitchTo(old);
	clear_slot(s);
	s->jb = jb;
	s->kind = SLOT_JSONB;
}

/* Store a number in a slot (the slot takes a copy). */
static void
set_slot_numeric(EsRuleState *ws, Slot *s, Numeric n)
{
	Numeric		copy = MemoryContextAlloc(ws->cxt, VARSIZE(n));

	memcpy(copy, n, VARSIZE(n));
	clear_slot(s);
	s->num = copy;
	s->kind = SLOT_NUMERIC;
}

/* Start a working state from a jsonb object. */
EsRuleState *
es_rules_begin(const EsRules *rules, Jsonb *state, MemoryContext cxt)
{
	EsRuleState *ws = MemoryContextAllocZero(cxt, sizeof(EsRuleState));
	MemoryContext old;
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			i;

	ws->rules = rules;
	ws->cxt = AllocSetContextCreate(cxt, "es rules state", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ws->cxt);
	ws->maxslots = Max(rules->nslots, 4) * 2;
	ws->slots = palloc0(sizeof(Slot) * ws->maxslots);
	/* rule targets first, so that rule->slot indexes them */
	for (i = 0; i < rules->nslots; i++)
		(void) find_slot(ws, rules->slot_keys[i], strlen(rules->slot_keys[i]));
	MemoryContextSwitchTo(old);

	if (!JB_ROOT_IS_OBJECT(state) || JB_ROOT_IS_SCALAR(state))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the state of rules reducer \"%s\" must be a JSON object", rules->reducer)));
	it = JsonbIteratorInit(&state->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		CHECK_FOR_INTERRUPTS();
		(void) JsonbIteratorNext(&it, &v, true);
		set_slot_value(ws, find_slot(ws, k.val.string.val, k.val.string.len), &v);
	}
	return ws;
}

/* Push a slot's value as a JsonbValue (WJB_VALUE or WJB_ELEM). */
static void
push_jsonb(JsonbParseState **ps, JsonbIteratorToken tok, Jsonb *jb)
{
	JsonbValue	v;

	if (JB_ROOT_IS_SCALAR(jb))
		JsonbExtractScalar(&jb->root, &v);
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &jb->root;
		v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
	pushJsonbValue(ps, tok, &v);
}

/* The working state as jsonb. */
Jsonb *
es_rules_state(EsRuleState *ws)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	int			i;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < ws->nslots; i++)
	{
		Slot	   *s = &ws->slots[i];
		JsonbValue	key;

		CHECK_FOR_INTERRUPTS();
		if (s->kind == SLOT_ABSENT)
			continue;
		key.type = jbvString;
		key.val.string.val = s->key;
		key.val.string.len = s->keylen;
		pushJsonbValue(&ps, WJB_KEY, &key);
		if (s->kind == SLOT_NUMERIC)
		{
			JsonbValue	num;

			num.type = jbvNumeric;
			num.val.numeric = s->num;
			pushJsonbValue(&ps, WJB_VALUE, &num);
		}
		else if (s->kind == SLOT_JSONB)
			push_jsonb(&ps, WJB_VALUE, s->jb);
		else
		{
			int			j;

			pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
			for (j = 0; j < s->nelems; j++)
			{
				CHECK_FOR_INTERRUPTS();
				push_jsonb(&ps, WJB_ELEM, s->elems[j]);
			}
			pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
		}
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* ---------------------------------------------------------------------
 * Evaluating
 * ---------------------------------------------------------------------
 */

/*
 * Raise a runtime error about the current rule (the error context names
 * it, see rule_error_callback).
 */
static void
pg_attribute_noreturn()
runtime_error(EsRuleState *ws pg_attribute_unused(), int sqlstate, const char *msg,
			  const char *detail)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s", msg),
			 detail ? errdetail("%s", detail) : 0));
}

/*
 * Error context while a rule runs: every error (ours, or PostgreSQL's, such
 * as a numeric overflow) names the rule.
 */
static void
rule_error_callback(void *arg)
{
	EsRuleState *ws = (EsRuleState *) arg;
	const Rule *r = ws->rule;

	if (r != NULL)
		errcontext("rule %d for \"%s\" of reducer \"%s\"",
				   r->position, r->event_type, ws->rules->reducer);
}

/*
 * A scalar column of the event as a JSON value.  Nothing here depends on
 * settings: timestamps are written in UTC, numbers are numeric.
 */
static void
column_value(PathRoot root, Datum value, JsonbValue *out)
{
	static const int utc = 0;

	switch (root)
	{
		case ROOT_STREAM_ID:
		case ROOT_EVENT_TYPE:
			{
				text	   *t = DatumGetTextPP(value);

				out->type = jbvString;
				out->val.string.val = VARDATA_ANY(t);
				out->val.string.len = VARSIZE_ANY_EXHDR(t);
				break;
			}
		case ROOT_EVENT_ID:
			out->type = jbvString;
			out->val.string.val = DatumGetCString(DirectFunctionCall1(uuid_out, value));
			out->val.string.len = strlen(out->val.string.val);
			break;
		case ROOT_OCCURRED_AT:
		case ROOT_RECORDED_AT:
			/*
			 * In UTC, whatever the session's TimeZone: a fold's result (and
			 * the snapshot it may store) must not depend on who folds.
			 */
			out->type = jbvString;
			out->val.string.val = JsonEncodeDateTime(NULL, value, TIMESTAMPTZOID, &utc);
			out->val.string.len = strlen(out->val.string.val);
			break;
		case ROOT_STREAM_VERSION:
		case ROOT_GLOBAL_POSITION:
			out->type = jbvNumeric;
			out->val.numeric = int64_to_numeric(DatumGetInt64(value));
			break;
		case ROOT_SCHEMA_VERSION:
			out->type = jbvNumeric;
			out->val.numeric = int64_to_numeric(DatumGetInt32(value));
			break;
		default:
			elog(ERROR, "not a scalar event column: %d", (int) root);
	}
}

/* The event as one jsonb document, for general jsonpaths (once per event). */
static Jsonb *
event_document(EsRuleState *ws)
{
	if (ws->doc == NULL)
	{
		JsonbParseState *ps = NULL;
		int			i;

		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		for (i = 0; i < (int) lengthof(path_roots); i++)
		{
			JsonbValue	key;
			JsonbValue	v;
			Datum		value = ws->row[path_roots[i].column];

			if (ws->nulls[path_roots[i].column])
				continue;
			key.type = jbvString;
			key.val.string.val = (char *) path_roots[i].name;
			key.val.string.len = strlen(path_roots[i].name);
			pushJsonbValue(&ps, WJB_KEY, &key);
			if (path_roots[i].root == ROOT_DATA || path_roots[i].root == ROOT_METADATA)
				push_jsonb(&ps, WJB_VALUE, DatumGetJsonbP(value));
			else
			{
				column_value(path_roots[i].root, value, &v);
				pushJsonbValue(&ps, WJB_VALUE, &v);
			}
		}
		ws->doc = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
	}
	return ws->doc;
}

/* A whole jsonb as a JsonbValue (scalars unwrapped). */
static void
jsonb_as_value(Jsonb *jb, JsonbValue *out)
{
	if (!JsonbExtractScalar(&jb->root, out))
	{
		out->type = jbvBinary;
		out->val.binary.data = &jb->root;
		out->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
}

/*
 * Evaluate a path against the current event into *out; returns false when
 * it finds nothing (JSON null counts as nothing).
 */
static bool
eval_path(EsRuleState *ws, const Path *path, JsonbValue *out)
{
	Datum		value;

	if (path->root == ROOT_GENERAL)
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
		fcinfo->args[0].value = JsonbPGetDatum(event_document(ws));
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
		jsonb_as_value(DatumGetJsonbP(result), out);
		return out->type != jbvNull;
	}
	if (ws->nulls[path->column])
		return false;
	value = ws->row[path->column];
	if (path->root == ROOT_DATA || path->root == ROOT_METADATA)
	{
		Jsonb	   *doc = DatumGetJsonbP(value);
		JsonbContainer *c = &doc->root;
		JsonbValue *v = NULL;
		int			i;

		if (path->nkeys == 0)
		{
			jsonb_as_value(doc, out);
			return true;
		}
		for (i = 0; i < path->nkeys; i++)
		{
			if (!JsonContainerIsObject(c))
				return false;
			v = getKeyJsonValueFromContainer(c, path->keys[i], path->keylens[i], NULL);
			if (v == NULL)
				return false;
			if (i < path->nkeys - 1)
			{
				if (v->type != jbvBinary)
					return false;
				c = v->val.binary.data;
			}
		}
		*out = *v;
		return v->type != jbvNull;
	}
	column_value(path->root, value, out);
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

/*
 * A JSON value as a number: a JSON number, or a string that holds one.
 * Anything else ("2024-01-01", "12abc") is not a number: the caller raises
 * 22036 naming the rule.  A number too large for numeric is 22003.
 */
static bool
jbv_numeric(const JsonbValue *v, Numeric *out)
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

/* The current number in a slot: 0 when absent (*absent set). */
static Numeric
slot_numeric(EsRuleState *ws, Slot *s, bool *absent)
{
	JsonbValue	v;
	Numeric		n;

	*absent = false;
	switch (s->kind)
	{
		case SLOT_NUMERIC:
			return s->num;
		case SLOT_ABSENT:
			*absent = true;
			return int64_to_numeric(0);
		case SLOT_JSONB:
			if (JB_ROOT_IS_SCALAR(s->jb))
			{
				JsonbExtractScalar(&s->jb->root, &v);
				if (v.type == jbvNull)
				{
					*absent = true;
					return int64_to_numeric(0);
				}
				if (jbv_numeric(&v, &n))
					return n;
			}
			break;
		case SLOT_ARRAY:
			break;
	}
	runtime_error(ws, ERRCODE_NON_NUMERIC_SQL_JSON_ITEM,
				  psprintf("state field \"%s\" is not a number", s->key), NULL);
	return NULL;				/* keep compiler quiet */
}

/* Do all of the rule's conditions hold for the current event? */
static bool
conditions_hold(EsRuleState *ws, const Rule *r)
{
	int			i;

	for (i = 0; i < r->ncond; i++)
	{
		const Cond *c = &r->conds[i];
		JsonbValue	v;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		found = eval_path(ws, &c->path, &v);

		switch (c->kind)
		{
			case COND_EXISTS:
				if (found != c->exists)
					return false;
				break;
			case COND_EQUALS_STREAM_ID:
				{
					text	   *sid;

					/* a hand-built row may have no stream id */
					if (ws->nulls[ES_COL_STREAM_ID])
						return false;
					sid = DatumGetTextPP(ws->row[ES_COL_STREAM_ID]);
					if (!found || v.type != jbvString ||
						v.val.string.len != (int) VARSIZE_ANY_EXHDR(sid) ||
						memcmp(v.val.string.val, VARDATA_ANY(sid), v.val.string.len) != 0)
						return false;
					break;
				}
			case COND_EQUALS:
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

/* Apply one rule to the working state. */
static void
apply_rule(EsRuleState *ws, const Rule *r)
{
	JsonbValue	v;
	Slot	   *s = r->slot >= 0 ? &ws->slots[r->slot] : NULL;

	ws->rule = r;
	if (r->ncond > 0 && !conditions_hold(ws, r))
		return;

	/* the operand */
	if (r->has_from)
	{
		if (!eval_path(ws, &r->from, &v))
		{
			if (r->skip_missing)
				return;
			if (r->dflt == NULL)
				runtime_error(ws, ERRCODE_NO_SQL_JSON_ITEM,
							  psprintf("path %s found nothing in the event", r->from.text),
							  "Give the rule a \"default\", or \"if_missing\": \"skip\".");
			jsonb_as_value(r->dflt, &v);
		}
	}
	else if (r->value != NULL)
		jsonb_as_value(r->value, &v);

	switch (r->op)
	{
		case OP_SET:
			set_slot_value(ws, s, &v);
			break;
		case OP_ADD:
		case OP_SUBTRACT:
		case OP_MIN:
		case OP_MAX:
			{
				Numeric		operand;
				Numeric		current;
				Numeric		result;
				bool		absent;

				if (!jbv_numeric(&v, &operand))
					runtime_error(ws, ERRCODE_NON_NUMERIC_SQL_JSON_ITEM,
								  psprintf("%s of \"%s\" needs a number, but %s is %s",
										   op_names[r->op], r->target,
										   r->has_from ? r->from.text : "the value",
										   es_jsonb_kind(&v)),
								  NULL);
				current = slot_numeric(ws, s, &absent);
				if (r->op == OP_ADD)
					result = numeric_add_opt_error(current, operand, NULL);
				else if (r->op == OP_SUBTRACT)
					result = numeric_sub_opt_error(current, operand, NULL);
				else if (absent)
					result = operand;
				else
				{
					int			cmp = DatumGetInt32(DirectFunctionCall2(numeric_cmp,
																		NumericGetDatum(current),
																		NumericGetDatum(operand)));

					result = (r->op == OP_MIN) == (cmp <= 0) ? current : operand;
				}
				if (result != s->num)
					set_slot_numeric(ws, s, result);
				break;
			}
		case OP_COUNT:
			{
				bool		absent;
				Numeric		current = slot_numeric(ws, s, &absent);

				set_slot_numeric(ws, s, numeric_add_opt_error(current, int64_to_numeric(1), NULL));
				break;
			}
		case OP_APPEND:
			{
				MemoryContext old;

				if (s->kind == SLOT_ABSENT ||
					(s->kind == SLOT_JSONB && JB_ROOT_IS_ARRAY(s->jb) && !JB_ROOT_IS_SCALAR(s->jb)))
				{
					/* switch to the appendable form */
					Jsonb	   *was = s->jb;
					JsonbIterator *it;
					JsonbValue	elem;
					JsonbIteratorToken tok;

					s->jb = NULL;
					clear_slot(s);
					s->kind = SLOT_ARRAY;
					s->maxelems = 8;
					s->elems = MemoryContextAlloc(ws->cxt, sizeof(Jsonb *) * s->maxelems);
					if (was != NULL)
					{
						it = JsonbIteratorInit(&was->root);
						while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
							if (tok == WJB_ELEM)
							{
								CHECK_FOR_INTERRUPTS();
								if (s->nelems == s->maxelems)
									s->elems = grow_array(s->elems, &s->maxelems, sizeof(Jsonb *),
														  "array elements", ws->rules->reducer);
								old = MemoryContextSwitchTo(ws->cxt);
								s->elems[s->nelems++] = JsonbValueToJsonb(&elem);
								MemoryContextSwitchTo(old);
							}
						pfree(was);
					}
				}
				else if (s->kind != SLOT_ARRAY)
					runtime_error(ws, ERRCODE_SQL_JSON_ARRAY_NOT_FOUND,
								  psprintf("state field \"%s\" is not an array", s->key), NULL);
				if (s->nelems == s->maxelems)
					s->elems = grow_array(s->elems, &s->maxelems, sizeof(Jsonb *),
										  "array elements", ws->rules->reducer);
				old = MemoryContextSwitchTo(ws->cxt);
				s->elems[s->nelems++] = JsonbValueToJsonb(&v);
				MemoryContextSwitchTo(old);
				break;
			}
		case OP_REMOVE:
			clear_slot(s);
			break;
		case OP_MERGE:
			{
				JsonbIterator *it;
				JsonbValue	k;
				JsonbValue	val;
				JsonbIteratorToken tok;

				if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
					runtime_error(ws, ERRCODE_SQL_JSON_OBJECT_NOT_FOUND,
								  psprintf("merge needs an object, but %s is %s",
										   r->from.text, es_jsonb_kind(&v)), NULL);
				if (s == NULL)
				{
					/* into the state itself: each key replaces a field */
					it = JsonbIteratorInit(v.val.binary.data);
					while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
					{
						if (tok != WJB_KEY)
							continue;
						CHECK_FOR_INTERRUPTS();
						(void) JsonbIteratorNext(&it, &val, true);
						set_slot_value(ws, find_slot(ws, k.val.string.val, k.val.string.len), &val);
					}
				}
				else
				{
					Jsonb	   *merged;
					JsonbValue	mv;

					if (s->kind == SLOT_ABSENT)
						merged = JsonbValueToJsonb(&v);
					else if (s->kind == SLOT_JSONB && JB_ROOT_IS_OBJECT(s->jb))
						merged = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
																	JsonbPGetDatum(s->jb),
																	JsonbPGetDatum(JsonbValueToJsonb(&v))));
					else
						runtime_error(ws, ERRCODE_SQL_JSON_OBJECT_NOT_FOUND,
									  psprintf("state field \"%s\" is not an object", s->key), NULL);
					mv.type = jbvBinary;
					mv.val.binary.data = &merged->root;
					mv.val.binary.len = VARSIZE(merged) - VARHDRSZ;
					set_slot_value(ws, s, &mv);
				}
				break;
			}
	}
}

/*
 * Apply the rules to the working state for one event: those of its type
 * (found by binary search), then those of "*".  A hand-built row may have
 * no event type: then only the rules of "*" apply.
 */
void
es_rules_step(EsRuleState *ws, const Datum *row, const bool *nulls)
{
	const EsRules *rules = ws->rules;
	const TypeRules *tr = NULL;
	ErrorContextCallback errcb;
	int			i;

	ws->row = row;
	ws->nulls = nulls;
	ws->doc = NULL;
	ws->rule = NULL;
	errcb.callback = rule_error_callback;
	errcb.arg = ws;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	if (!nulls[ES_COL_EVENT_TYPE])
	{
		text	   *type = DatumGetTextPP(row[ES_COL_EVENT_TYPE]);
		TypeRules	key;

		key.event_type = VARDATA_ANY(type);
		key.len = VARSIZE_ANY_EXHDR(type);
		tr = bsearch(&key, rules->types, rules->ntypes, sizeof(TypeRules), type_cmp);
		if (tr == rules->any)
			tr = NULL;
	}
	if (tr != NULL)
		for (i = 0; i < tr->nrules; i++)
		{
			CHECK_FOR_INTERRUPTS();
			apply_rule(ws, &tr->rules[i]);
		}
	if (rules->any != NULL)
		for (i = 0; i < rules->any->nrules; i++)
		{
			CHECK_FOR_INTERRUPTS();
			apply_rule(ws, &rules->any->rules[i]);
		}

	error_context_stack = errcb.previous;
	ws->rule = NULL;
	ws->row = NULL;
	ws->nulls = NULL;
}

/*
 * upcast_rules.c
 *	  The declarative upcaster language, checked and applied in C.
 *
 * Rules are a JSON array of objects, applied in order; each names its
 * operation with "op":
 *
 *	 {"op": "rename", "field": F, "to": "name"}	  rename a field in place
 *	 {"op": "move", "field": F, "to": F}		  move a field (in or out of objects)
 *	 {"op": "add", "field": F, "value": V}		  add a field unless it exists
 *	 {"op": "set", "field": F, "value": V}		  set a field, whatever it was
 *	 {"op": "remove", "field": F}				  remove a field if it exists
 *	 {"op": "rename_type", "to": "Type"}		  the step's result has this type
 *
 * A field F is a key ("amount") or a path of keys (["address", "city"]).
 * rename and move also take "optional": true.
 *
 * Policy when a rule cannot apply (enforced here, documented in the README):
 * a rule never discards or overwrites data it was not told to.
 *	 - rename / move of a missing field: error 2203A (sql_json_member_not_found),
 *	   unless the rule is "optional", when it does nothing;
 *	 - rename / move onto a field that exists: error 22030
 *	   (duplicate_json_object_key_value);
 *	 - a path through something that is not an object: error 2203C
 *	   (sql_json_object_not_found);
 *	 - remove of a missing field, add of an existing one: nothing to do.
 * Missing objects on the way to a destination (move, add, set) are created.
 *
 * The data is edited as a tree of objects that are expanded only where a
 * rule reaches into them; every other value stays a JsonbValue (a scalar,
 * or a jbvBinary container pointing into the stored document).  The result
 * is handed to JsonbValueToJsonb as a JsonbValue object tree with its keys
 * sorted; containers no rule touched are unpacked with pushJsonbValue.
 * Numbers stay numeric (the stored numeric datums) throughout.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "event_sourcing.h"
#include "check.h"
#include "upcast_rules.h"

typedef enum RuleOp
{
	RULE_RENAME,
	RULE_MOVE,
	RULE_ADD,
	RULE_SET,
	RULE_REMOVE,
	RULE_RENAME_TYPE
} RuleOp;

/* A field: a path of one or more keys. */
typedef struct EsPath
{
	int			depth;
	char	  **keys;
	int		   *lens;
	char	   *display;		/* as written in the rule, for messages */
} EsPath;

typedef struct Rule
{
	RuleOp		op;
	const char *opname;
	EsPath		field;			/* all but rename_type */
	EsPath		to;				/* rename (resolved to a path), move */
	bool		optional;		/* rename, move */
	JsonbValue	value;			/* add, set: scalar or jbvBinary */
	char	   *type;			/* rename_type */
	int			typelen;
} Rule;

struct EsUpcastRules
{
	int			nrules;
	Rule	   *rules;
	const char *new_type;
	int			new_type_len;
};

/* Operations, with the keys each one requires and allows. */
typedef struct OpSpec
{
	const char *name;
	RuleOp		op;
	const char *required[3];
	const char *allowed;		/* an extra optional key, or NULL */
} OpSpec;

static const OpSpec op_specs[] = {
	{"rename", RULE_RENAME, {"field", "to", NULL}, "optional"},
	{"move", RULE_MOVE, {"field", "to", NULL}, "optional"},
	{"add", RULE_ADD, {"field", "value", NULL}, NULL},
	{"set", RULE_SET, {"field", "value", NULL}, NULL},
	{"remove", RULE_REMOVE, {"field", NULL, NULL}, NULL},
	{"rename_type", RULE_RENAME_TYPE, {"to", NULL, NULL}, NULL},
};

/* ---------------------------------------------------------------------
 * Compiling
 * ---------------------------------------------------------------------
 */

/* Raise the error for an invalid rule. */
static void
pg_attribute_noreturn()
bad_rule(int ruleno, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid upcaster rule %d", ruleno),
			 errdetail_internal("%s", detail),
			 errhint("Rules are objects such as {\"op\": \"rename\", \"field\": \"amount\", \"to\": \"value\"}; see the README for the operations.")));
}


/* Look up a key of a rule object. */
static JsonbValue *
rule_key(JsonbContainer *rule, const char *key)
{
	return getKeyJsonValueFromContainer(rule, key, strlen(key), NULL);
}

/* Append a JSON string literal to buf. */
static void
append_json_string(StringInfo buf, const char *s, int len)
{
	char	   *z = pnstrdup(s, len);

	escape_json(buf, z);
	pfree(z);
}

/* Parse a field: a string, or a non-empty array of strings. */
static void
parse_path(JsonbValue *v, EsPath *path, int ruleno, const char *key)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (v->type == jbvString)
	{
		path->depth = 1;
		path->keys = palloc(sizeof(char *));
		path->lens = palloc(sizeof(int));
		path->keys[0] = v->val.string.val;
		path->lens[0] = v->val.string.len;
		append_json_string(&buf, v->val.string.val, v->val.string.len);
	}
	else if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
			 JsonContainerSize(v->val.binary.data) > 0)
	{
		JsonbContainer *arr = v->val.binary.data;
		int			n = JsonContainerSize(arr);
		int			i;

		path->depth = n;
		path->keys = palloc(sizeof(char *) * n);
		path->lens = palloc(sizeof(int) * n);
		appendStringInfoChar(&buf, '[');
		for (i = 0; i < n; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(arr, i);

			if (e->type != jbvString)
				bad_rule(ruleno, psprintf("Element %d of \"%s\" is %s; a path is made of strings.",
										  i + 1, key, es_jsonb_kind(e)));
			path->keys[i] = e->val.string.val;
			path->lens[i] = e->val.string.len;
			if (i > 0)
				appendStringInfoString(&buf, ", ");
			append_json_string(&buf, e->val.string.val, e->val.string.len);
		}
		appendStringInfoChar(&buf, ']');
	}
	else
		bad_rule(ruleno, psprintf("\"%s\" is %s; it must be a key (a string) or a path (a non-empty array of strings).",
								  key, v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data)
								  ? "an empty array" : es_jsonb_kind(v)));
	path->display = buf.data;
}

/* Is path a a prefix of path b (or equal to it)? */
static bool
path_is_prefix(const EsPath *a, const EsPath *b)
{
	int			i;

	if (a->depth > b->depth)
		return false;
	for (i = 0; i < a->depth; i++)
		if (a->lens[i] != b->lens[i] || memcmp(a->keys[i], b->keys[i], a->lens[i]) != 0)
			return false;
	return true;
}

/* Check that a rule object has the keys its operation needs, and no others. */
static void
check_rule_keys(JsonbContainer *obj, const OpSpec *spec, int ruleno)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			i;

	for (i = 0; i < (int) lengthof(spec->required) && spec->required[i] != NULL; i++)
		if (rule_key(obj, spec->required[i]) == NULL)
			bad_rule(ruleno, psprintf("Operation \"%s\" needs the key \"%s\".",
									  spec->name, spec->required[i]));

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		if (v.val.string.len == 2 && memcmp(v.val.string.val, "op", 2) == 0)
			continue;
		for (i = 0; i < (int) lengthof(spec->required) && spec->required[i] != NULL; i++)
			if (strlen(spec->required[i]) == (size_t) v.val.string.len &&
				memcmp(spec->required[i], v.val.string.val, v.val.string.len) == 0)
				known = true;
		if (spec->allowed != NULL && strlen(spec->allowed) == (size_t) v.val.string.len &&
			memcmp(spec->allowed, v.val.string.val, v.val.string.len) == 0)
			known = true;
		if (!known)
			bad_rule(ruleno, psprintf("Operation \"%s\" does not take the key \"%s\".",
									  spec->name, pnstrdup(v.val.string.val, v.val.string.len)));
	}
}

/* Compile one rule object. */
static void
compile_rule(JsonbValue *elem, Rule *rule, int ruleno)
{
	JsonbContainer *obj;
	JsonbValue *op;
	JsonbValue *v;
	const OpSpec *spec = NULL;
	int			i;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		bad_rule(ruleno, psprintf("The rule is %s; each rule is a JSON object.", es_jsonb_kind(elem)));
	obj = elem->val.binary.data;
	op = rule_key(obj, "op");
	if (op == NULL)
		bad_rule(ruleno, "The rule has no \"op\" key.");
	if (op->type != jbvString)
		bad_rule(ruleno, psprintf("\"op\" is %s; it must be a string.", es_jsonb_kind(op)));
	for (i = 0; i < (int) lengthof(op_specs); i++)
		if (strlen(op_specs[i].name) == (size_t) op->val.string.len &&
			memcmp(op_specs[i].name, op->val.string.val, op->val.string.len) == 0)
			spec = &op_specs[i];
	if (spec == NULL)
		bad_rule(ruleno, psprintf("Unknown operation \"%s\"; the operations are rename, move, add, set, remove and rename_type.",
								  pnstrdup(op->val.string.val, op->val.string.len)));
	check_rule_keys(obj, spec, ruleno);

	memset(rule, 0, sizeof(Rule));
	rule->op = spec->op;
	rule->opname = spec->name;
	if (spec->op != RULE_RENAME_TYPE)
		parse_path(rule_key(obj, "field"), &rule->field, ruleno, "field");

	if (spec->allowed != NULL && (v = rule_key(obj, "optional")) != NULL)
	{
		if (v->type != jbvBool)
			bad_rule(ruleno, psprintf("\"optional\" is %s; it must be true or false.", es_jsonb_kind(v)));
		rule->optional = v->val.boolean;
	}

	switch (spec->op)
	{
		case RULE_RENAME:
			{
				EsPath	   *to = &rule->to;
				int			d = rule->field.depth;

				v = rule_key(obj, "to");
				if (v->type != jbvString)
					bad_rule(ruleno, psprintf("\"to\" is %s; rename takes the new key as a string (use move to change objects).",
											  es_jsonb_kind(v)));
				/* the new name, in the same object as the field */
				to->depth = d;
				to->keys = palloc(sizeof(char *) * d);
				to->lens = palloc(sizeof(int) * d);
				memcpy(to->keys, rule->field.keys, sizeof(char *) * (d - 1));
				memcpy(to->lens, rule->field.lens, sizeof(int) * (d - 1));
				to->keys[d - 1] = v->val.string.val;
				to->lens[d - 1] = v->val.string.len;
				{
					StringInfoData buf;

					initStringInfo(&buf);
					append_json_string(&buf, v->val.string.val, v->val.string.len);
					to->display = buf.data;
				}
				if (path_is_prefix(&rule->field, to))
					bad_rule(ruleno, "The rule renames the field to its own name.");
				break;
			}
		case RULE_MOVE:
			parse_path(rule_key(obj, "to"), &rule->to, ruleno, "to");
			if (path_is_prefix(&rule->field, &rule->to) ||
				path_is_prefix(&rule->to, &rule->field))
				bad_rule(ruleno, "The rule moves a field to itself, into itself or onto the object that holds it.");
			break;
		case RULE_ADD:
		case RULE_SET:
			rule->value = *rule_key(obj, "value");
			/* a scalar comes back as itself; containers stay binary */
			break;
		case RULE_REMOVE:
			break;
		case RULE_RENAME_TYPE:
			v = rule_key(obj, "to");
			if (v->type != jbvString)
				bad_rule(ruleno, psprintf("\"to\" is %s; rename_type takes the new event type as a string.",
										  es_jsonb_kind(v)));
			if (v->val.string.len == 0)
				bad_rule(ruleno, "The new event type is empty.");
			if (v->val.string.len > ES_MAX_EVENT_TYPE_BYTES)
				bad_rule(ruleno, psprintf("The new event type has %d bytes; at most %d are allowed.",
										  v->val.string.len, ES_MAX_EVENT_TYPE_BYTES));
			rule->type = v->val.string.val;
			rule->typelen = v->val.string.len;
			break;
	}
}

/* Check and compile a rules document into cxt. */
EsUpcastRules *
es_upcast_rules_compile(Jsonb *rules, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Jsonb	   *copy;
	EsUpcastRules    *result;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n;
	int			i = 0;

	if (!JB_ROOT_IS_ARRAY(rules) || JB_ROOT_IS_SCALAR(rules))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("upcaster rules must be a JSON array"),
				 errdetail("The rules are a JSON %s.",
						   JB_ROOT_IS_SCALAR(rules) ? "scalar" : "object"),
				 errhint("Pass an array of rules, e.g. [{\"op\": \"rename\", \"field\": \"amount\", \"to\": \"value\"}].")));

	/* compiled rules point into the document: keep a copy with them */
	copy = palloc(VARSIZE(rules));
	memcpy(copy, rules, VARSIZE(rules));
	n = JsonContainerSize(&copy->root);

	result = palloc0(sizeof(EsUpcastRules));
	result->nrules = n;
	result->rules = palloc0(sizeof(Rule) * Max(n, 1));
	it = JsonbIteratorInit(&copy->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		Rule	   *rule;

		if (tok != WJB_ELEM)
			continue;
		rule = &result->rules[i];
		compile_rule(&v, rule, i + 1);
		if (rule->op == RULE_RENAME_TYPE)
		{
			if (result->new_type != NULL)
				bad_rule(i + 1, "The rules rename the event type more than once.");
			result->new_type = rule->type;
			result->new_type_len = rule->typelen;
		}
		i++;
	}
	MemoryContextSwitchTo(old);
	return result;
}

/* The event type a rename_type rule sets, or NULL. */
const char *
es_upcast_rules_new_type(const EsUpcastRules *rules, int *len)
{
	*len = rules->new_type_len;
	return rules->new_type;
}

/* ---------------------------------------------------------------------
 * Editing
 * ---------------------------------------------------------------------
 */

typedef struct EditObject EditObject;

/* A value in the tree: an expanded object, or any other JsonbValue. */
typedef struct EditValue
{
	EditObject *obj;			/* expanded object, or NULL */
	JsonbValue	val;			/* scalar or jbvBinary when obj is NULL */
} EditValue;

typedef struct EditPair
{
	const char *key;
	int			keylen;
	EditValue	value;
} EditPair;

/* An object's pairs, in no particular order (pushJsonbValue sorts them). */
struct EditObject
{
	int			npairs;
	int			cap;
	EditPair   *pairs;
};

struct EsDoc
{
	EditObject *root;
};

/* Expand an object container one level (nested values stay binary). */
static EditObject *
expand_object(JsonbContainer *jc)
{
	EditObject *o = palloc(sizeof(EditObject));
	JsonbIterator *it = JsonbIteratorInit(jc);
	JsonbValue	v;
	JsonbIteratorToken tok;

	o->npairs = 0;
	o->cap = JsonContainerSize(jc) + 4;
	o->pairs = palloc(sizeof(EditPair) * o->cap);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			o->pairs[o->npairs].key = v.val.string.val;
			o->pairs[o->npairs].keylen = v.val.string.len;
		}
		else if (tok == WJB_VALUE)
		{
			o->pairs[o->npairs].value.obj = NULL;
			o->pairs[o->npairs].value.val = v;
			o->npairs++;
		}
	}
	return o;
}

/* Index of a key in an object, or -1. */
static int
find_key(const EditObject *o, const char *key, int len)
{
	int			i;

	for (i = 0; i < o->npairs; i++)
		if (o->pairs[i].keylen == len && memcmp(o->pairs[i].key, key, len) == 0)
			return i;
	return -1;
}

/* Add a pair (the key must not exist yet). */
static void
add_pair(EditObject *o, const char *key, int len, const EditValue *value)
{
	if (o->npairs == o->cap)
	{
		o->cap *= 2;
		o->pairs = repalloc(o->pairs, sizeof(EditPair) * o->cap);
	}
	o->pairs[o->npairs].key = key;
	o->pairs[o->npairs].keylen = len;
	o->pairs[o->npairs].value = *value;
	o->npairs++;
}

/* Remove the pair at index i, returning its value. */
static EditValue
take_pair(EditObject *o, int i)
{
	EditValue	v = o->pairs[i].value;

	o->pairs[i] = o->pairs[o->npairs - 1];
	o->npairs--;
	return v;
}

/* The object a value holds, expanding it; NULL when it is not an object. */
static EditObject *
value_object(EditValue *v)
{
	if (v->obj == NULL && v->val.type == jbvBinary &&
		JsonContainerIsObject(v->val.val.binary.data))
		v->obj = expand_object(v->val.val.binary.data);
	return v->obj;
}

/* The step whose rules run, for messages. */
typedef struct StepName
{
	const char *type;			/* not NUL-terminated */
	int			typelen;
	int32		from_version;
} StepName;

/* Why resolve_parent found no object. */
typedef enum
{
	PARENT_FOUND,
	PARENT_MISSING,
	PARENT_NOT_OBJECT
} ParentStatus;

/*
 * The object holding the last key of path.  create: make missing objects
 * on the way.  *bad_depth: how many keys lead to the non-object, if any.
 */
static EditObject *
resolve_parent(EsDoc *doc, const EsPath *path, bool create,
			   ParentStatus *status, int *bad_depth)
{
	EditObject *o = doc->root;
	int			d;

	for (d = 0; d < path->depth - 1; d++)
	{
		int			i = find_key(o, path->keys[d], path->lens[d]);
		EditObject *next;

		if (i < 0)
		{
			EditValue	nv;

			if (!create)
			{
				*status = PARENT_MISSING;
				return NULL;
			}
			nv.obj = palloc(sizeof(EditObject));
			nv.obj->npairs = 0;
			nv.obj->cap = 4;
			nv.obj->pairs = palloc(sizeof(EditPair) * 4);
			add_pair(o, path->keys[d], path->lens[d], &nv);
			o = nv.obj;
			continue;
		}
		next = value_object(&o->pairs[i].value);
		if (next == NULL)
		{
			*status = PARENT_NOT_OBJECT;
			*bad_depth = d + 1;
			return NULL;
		}
		o = next;
	}
	*status = PARENT_FOUND;
	return o;
}

/* The first keys of a path, as a JSON path for messages. */
static char *
path_prefix_display(const EsPath *path, int depth)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	if (depth == 1)
		append_json_string(&buf, path->keys[0], path->lens[0]);
	else
	{
		appendStringInfoChar(&buf, '[');
		for (i = 0; i < depth; i++)
		{
			if (i > 0)
				appendStringInfoString(&buf, ", ");
			append_json_string(&buf, path->keys[i], path->lens[i]);
		}
		appendStringInfoChar(&buf, ']');
	}
	return buf.data;
}

/* Raise the error for a path that runs through a non-object. */
static void
pg_attribute_noreturn()
not_an_object(const EsPath *path, int depth, const StepName *step,
			  int ruleno, const Rule *rule)
{
	ereport(ERROR,
			(errcode(ERRCODE_SQL_JSON_OBJECT_NOT_FOUND),
			 errmsg("field %s of the event data is not an object",
					path_prefix_display(path, depth)),
			 errdetail("Rule %d (%s) of the upcaster of event type \"%s\" from version %d reaches into it.",
					   ruleno, rule->opname, pnstrdup(step->type, step->typelen),
					   step->from_version)));
}

/* rename and move. */
static void
apply_move(const Rule *rule, EsDoc *doc, const StepName *step, int ruleno)
{
	ParentStatus status;
	int			bad_depth = 0;
	EditObject *src;
	EditObject *dst;
	int			i;
	EditValue	value;
	const EsPath *from = &rule->field;
	const EsPath *to = &rule->to;

	src = resolve_parent(doc, from, false, &status, &bad_depth);
	if (status == PARENT_NOT_OBJECT)
		not_an_object(from, bad_depth, step, ruleno, rule);
	i = src ? find_key(src, from->keys[from->depth - 1], from->lens[from->depth - 1]) : -1;
	if (i < 0)
	{
		if (rule->optional)
			return;
		ereport(ERROR,
				(errcode(ERRCODE_SQL_JSON_MEMBER_NOT_FOUND),
				 errmsg("field %s is missing from the event data", from->display),
				 errdetail("Rule %d (%s) of the upcaster of event type \"%s\" from version %d needs it.",
						   ruleno, rule->opname, pnstrdup(step->type, step->typelen),
					   step->from_version),
				 errhint("Add \"optional\": true to the rule if the field may be absent.")));
	}

	dst = resolve_parent(doc, to, true, &status, &bad_depth);
	if (status == PARENT_NOT_OBJECT)
		not_an_object(to, bad_depth, step, ruleno, rule);
	if (find_key(dst, to->keys[to->depth - 1], to->lens[to->depth - 1]) >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_JSON_OBJECT_KEY_VALUE),
				 errmsg("field %s already exists in the event data", to->display),
				 errdetail("Rule %d (%s) of the upcaster of event type \"%s\" from version %d would overwrite it.",
						   ruleno, rule->opname, pnstrdup(step->type, step->typelen),
					   step->from_version)));

	/* creating the destination may have added pairs to src: find it again */
	i = find_key(src, from->keys[from->depth - 1], from->lens[from->depth - 1]);
	value = take_pair(src, i);
	add_pair(dst, to->keys[to->depth - 1], to->lens[to->depth - 1], &value);
}

/* add and set. */
static void
apply_put(const Rule *rule, EsDoc *doc, const StepName *step, int ruleno)
{
	ParentStatus status;
	int			bad_depth = 0;
	const EsPath *f = &rule->field;
	EditObject *o = resolve_parent(doc, f, true, &status, &bad_depth);
	EditValue	value;
	int			i;

	if (status == PARENT_NOT_OBJECT)
		not_an_object(f, bad_depth, step, ruleno, rule);
	value.obj = NULL;
	value.val = rule->value;
	i = find_key(o, f->keys[f->depth - 1], f->lens[f->depth - 1]);
	if (i < 0)
		add_pair(o, f->keys[f->depth - 1], f->lens[f->depth - 1], &value);
	else if (rule->op == RULE_SET)
		o->pairs[i].value = value;
}

/* remove. */
static void
apply_remove(const Rule *rule, EsDoc *doc)
{
	ParentStatus status;
	int			bad_depth = 0;
	const EsPath *f = &rule->field;
	EditObject *o = resolve_parent(doc, f, false, &status, &bad_depth);
	int			i;

	if (o == NULL)
		return;					/* nothing there to remove */
	i = find_key(o, f->keys[f->depth - 1], f->lens[f->depth - 1]);
	if (i >= 0)
		take_pair(o, i);
}

/* Start editing an object. */
EsDoc *
es_doc_open(Jsonb *data)
{
	EsDoc	   *doc = palloc(sizeof(EsDoc));

	if (!JB_ROOT_IS_OBJECT(data) || JB_ROOT_IS_SCALAR(data))
		elog(ERROR, "upcasting needs a JSON object");
	doc->root = expand_object(&data->root);
	return doc;
}

/* Apply every rule in order. */
void
es_upcast_rules_apply(const EsUpcastRules *rules, EsDoc *doc, const char *type,
			   int typelen, int32 from_version)
{
	int			i;
	StepName	step;

	step.type = type;
	step.typelen = typelen;
	step.from_version = from_version;

	for (i = 0; i < rules->nrules; i++)
	{
		const Rule *rule = &rules->rules[i];

		switch (rule->op)
		{
			case RULE_RENAME:
			case RULE_MOVE:
				apply_move(rule, doc, &step, i + 1);
				break;
			case RULE_ADD:
			case RULE_SET:
				apply_put(rule, doc, &step, i + 1);
				break;
			case RULE_REMOVE:
				apply_remove(rule, doc);
				break;
			case RULE_RENAME_TYPE:
				break;			/* the caller changes the type */
		}
	}
}

/*
 * jsonb's order of object keys: shorter first, then bytewise.  (jsonb_util.c
 * keeps its comparator static; this is the documented on-disk order.)
 */
static inline int
key_order(const JsonbPair *a, const JsonbPair *b)
{
	int			la = a->key.val.string.len;
	int			lb = b->key.val.string.len;

	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(a->key.val.string.val, b->key.val.string.val, la);
}

/* A stored container as a JsonbValue tree, which convertToJsonb accepts. */
static JsonbValue *
container_tree(JsonbContainer *jc)
{
	JsonbParseState *state = NULL;
	JsonbIterator *it = JsonbIteratorInit(jc);
	JsonbValue	v;
	JsonbValue *res = NULL;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
		res = pushJsonbValue(&state, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
	return res;
}

/*
 * An edited object as a JsonbValue tree with its keys in jsonb order.
 * Pairs are nearly sorted already (expanded in order, a few keys edited),
 * so an insertion sort does little work.
 */
static void
object_tree(EditObject *o, JsonbValue *out)
{
	JsonbPair  *pairs = palloc(sizeof(JsonbPair) * Max(o->npairs, 1));
	int			i;

	for (i = 0; i < o->npairs; i++)
	{
		EditPair   *p = &o->pairs[i];
		JsonbPair	pair;
		int			j;

		pair.key.type = jbvString;
		pair.key.val.string.val = (char *) p->key;
		pair.key.val.string.len = p->keylen;
		pair.order = i;
		if (p->value.obj != NULL)
			object_tree(p->value.obj, &pair.value);
		else if (p->value.val.type == jbvBinary)
			pair.value = *container_tree(p->value.val.val.binary.data);
		else
			pair.value = p->value.val;

		for (j = i; j > 0 && key_order(&pairs[j - 1], &pair) > 0; j--)
			pairs[j] = pairs[j - 1];
		pairs[j] = pair;
	}
	out->type = jbvObject;
	out->val.object.nPairs = o->npairs;
	out->val.object.pairs = pairs;
}

/* The edited document as jsonb. */
Jsonb *
es_doc_close(EsDoc *doc)
{
	JsonbValue	root;

	object_tree(doc->root, &root);
	return JsonbValueToJsonb(&root);
}

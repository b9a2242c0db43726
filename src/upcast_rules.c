/*
 * upcast_rules.c
 *	  Upcaster rules: an array of rules in the rule language (rule_lang.c;
 *	  docs/rules.md is the reference), checked and compiled once, then
 *	  applied to event data in C.
 *
 * An upcaster's rules rewrite the event's data in order.  Targets address
 * the data ($.amount, $.address.city); "from" and "when" read the event as
 * the rules have made it so far ($.data.amount).  The ops:
 *
 *	 set		  set a field to "value" or what "from" finds; with
 *				  "if_exists": "keep", only when the field is absent
 *	 remove		  remove a field if it exists
 *	 move		  move the field at "from" to "target" (rename it)
 *	 replace	  the data becomes the object "from" finds
 *	 rename_type  the step's result has the event type "value"
 *
 * Policy when a rule cannot apply: a rule never discards or overwrites data
 * it was not told to.
 *	 - "from" that finds nothing: 22035, unless "default" or "if_missing":
 *	   "skip";
 *	 - move onto a field that exists: 22030 (duplicate_json_object_key_value);
 *	 - a target through something that is not an object, replace with
 *	   something that is not an object: 2203C.
 * Missing objects on the way to a target are created.
 *
 * The data is edited as a tree of objects that are expanded only where a
 * rule reaches into them; every other value stays a JsonbValue (a scalar,
 * or a jbvBinary container pointing into the stored document).  The result
 * is handed to JsonbValueToJsonb as a JsonbValue object tree with its keys
 * sorted; containers no rule touched are unpacked with pushJsonbValue.
 * Numbers stay numeric (the stored numeric datums) throughout.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "event_sourcing.h"
#include "check.h"
#include "keyindex.h"
#include "rule_lang.h"
#include "upcast_rules.h"

/* A key chain: a target, or the field a move takes. */
typedef struct EsPath
{
	int			depth;
	char	  **keys;
	int		   *lens;
	char	   *display;		/* as written in the rule, for messages */
} EsPath;

typedef struct Rule
{
	EsRule		r;
	EsPath		target;			/* set, remove, move */
	EsPath		field;			/* move: the field it takes */
} Rule;

struct EsUpcastRules
{
	int			nrules;
	Rule	   *rules;
	const char *new_type;
	int			new_type_len;
};

/* ---------------------------------------------------------------------
 * Compiling
 * ---------------------------------------------------------------------
 */

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

/* Check and compile a rules document into cxt. */
EsUpcastRules *
es_upcast_rules_compile(Jsonb *rules, MemoryContext cxt, const char *type, int typelen,
						int32 from_version)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Jsonb	   *copy;
	EsUpcastRules *result;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *typename = pnstrdup(type, typelen);
	char	   *owner = psprintf("the upcaster of \"%s\" from version %d", typename, from_version);
	int			n;
	int			i = 0;

	if (!JB_ROOT_IS_ARRAY(rules) || JB_ROOT_IS_SCALAR(rules))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the rules of %s must be a JSON array", owner),
				 errdetail("The rules are a JSON %s.",
						   JB_ROOT_IS_SCALAR(rules) ? "scalar" : "object"),
				 errhint("Pass an array of rules, e.g. [{\"op\": \"move\", \"from\": \"$.data.amount\", \"target\": \"$.value\"}].")));

	/* compiled rules may point into the document: keep a copy with them */
	copy = palloc(VARSIZE(rules));
	memcpy(copy, rules, VARSIZE(rules));
	n = JsonContainerSize(&copy->root);
	es_rule_check_count(n, sizeof(Rule), "rules", owner);

	result = palloc0(sizeof(EsUpcastRules));
	result->nrules = n;
	result->rules = palloc0(sizeof(Rule) * Max(n, 1));
	it = JsonbIteratorInit(&copy->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		Rule	   *rule;
		char	   *name;

		if (tok != WJB_ELEM)
			continue;
		CHECK_FOR_INTERRUPTS();
		rule = &result->rules[i];
		name = psprintf("rule %d of %s", i + 1, owner);
		es_rule_compile(ES_RULES_UPCASTER, name, &v, &rule->r);
		rule->target.depth = rule->r.ntarget;
		rule->target.keys = rule->r.target_keys;
		rule->target.lens = rule->r.target_lens;
		rule->target.display = rule->r.target_text;
		if (rule->r.op == ES_OP_MOVE)
		{
			rule->field.depth = rule->r.from.nkeys;
			rule->field.keys = rule->r.from.keys;
			rule->field.lens = rule->r.from.keylens;
			rule->field.display = rule->r.from.text;
			if (path_is_prefix(&rule->field, &rule->target) ||
				path_is_prefix(&rule->target, &rule->field))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid %s", name),
						 errdetail("The rule moves a field to itself, into itself or onto the object that holds it.")));
		}
		if (rule->r.op == ES_OP_RENAME_TYPE)
		{
			JsonbValue	tv;

			if (result->new_type != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid %s", name),
						 errdetail("The rules rename the event type more than once.")));
			es_jsonb_as_value(rule->r.value, &tv);
			result->new_type = tv.val.string.val;
			result->new_type_len = tv.val.string.len;
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

/*
 * An object's pairs, in no particular order (object_tree sorts them), and,
 * once it has many keys and has been looked into a few times, an index of
 * its keys.
 */
struct EditObject
{
	int			npairs;
	int			cap;
	EditPair   *pairs;
	int			lookups;		/* answered by scanning the pairs */
	EsKeyIndex *index;			/* or NULL */
};

struct EsDoc
{
	EditObject *root;
};

/*
 * The most pairs an edited object may have: its pairs, and the JsonbPairs
 * object_tree makes of them, are each allocated at once.  An object of
 * jsonb's size limit can have more keys than that (tens of millions).
 */
#define MAX_PAIRS ((int) (MaxAllocSize / Max(sizeof(EditPair), sizeof(JsonbPair))))

/* Refuse an object with more pairs than MAX_PAIRS (54000). */
static void
check_pairs(Size n)
{
	if (n > (Size) MAX_PAIRS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("an object of the event data has too many fields for upcaster rules"),
				 errdetail("It has %zu fields; rules edit objects of at most %d.", n, MAX_PAIRS)));
}

/* An empty object with room for cap pairs. */
static EditObject *
new_object(int cap)
{
	EditObject *o = palloc(sizeof(EditObject));

	o->npairs = 0;
	o->cap = cap;
	o->pairs = palloc(sizeof(EditPair) * cap);
	o->lookups = 0;
	o->index = NULL;
	return o;
}

/* Expand an object container one level (nested values stay binary). */
static EditObject *
expand_object(JsonbContainer *jc)
{
	EditObject *o;
	JsonbIterator *it = JsonbIteratorInit(jc);
	JsonbValue	v;
	JsonbIteratorToken tok;

	check_pairs(JsonContainerSize(jc));
	o = new_object(Min((int) JsonContainerSize(jc) + 4, MAX_PAIRS));
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
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
find_key(EditObject *o, const char *key, int len)
{
	int			i;

	if (o->index == NULL && o->npairs >= ES_KEY_INDEX_MIN_KEYS &&
		++o->lookups > ES_KEY_INDEX_SCANS)
	{
		o->index = es_key_index_create(CurrentMemoryContext, o->npairs);
		for (i = 0; i < o->npairs; i++)
		{
			CHECK_FOR_INTERRUPTS();
			es_key_index_put(o->index, o->pairs[i].key, o->pairs[i].keylen, i);
		}
	}
	if (o->index != NULL)
		return es_key_index_get(o->index, key, len);
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
		check_pairs((Size) o->cap + 1);
		o->cap = Min(o->cap * 2, MAX_PAIRS);
		o->pairs = repalloc(o->pairs, sizeof(EditPair) * o->cap);
	}
	o->pairs[o->npairs].key = key;
	o->pairs[o->npairs].keylen = len;
	o->pairs[o->npairs].value = *value;
	if (o->index != NULL)
		es_key_index_put(o->index, key, len, o->npairs);
	o->npairs++;
}

/* Remove the pair at index i, returning its value. */
static EditValue
take_pair(EditObject *o, int i)
{
	EditValue	v = o->pairs[i].value;

	if (o->index != NULL)
	{
		es_key_index_delete(o->index, o->pairs[i].key, o->pairs[i].keylen);
		if (i != o->npairs - 1)
			es_key_index_put(o->index, o->pairs[o->npairs - 1].key,
							 o->pairs[o->npairs - 1].keylen, i);
	}
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
		int			i;
		EditObject *next;

		CHECK_FOR_INTERRUPTS();
		i = find_key(o, path->keys[d], path->lens[d]);
		if (i < 0)
		{
			EditValue	nv;

			if (!create)
			{
				*status = PARENT_MISSING;
				return NULL;
			}
			nv.obj = new_object(4);
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
static void object_tree(EditObject *o, JsonbValue *out);

/* Raise the error for a path that runs through a non-object. */
static void
pg_attribute_noreturn()
not_an_object(const EsPath *path, int depth)
{
	ereport(ERROR,
			(errcode(ERRCODE_SQL_JSON_OBJECT_NOT_FOUND),
			 errmsg("target %s runs through a value of the event data that is not an object",
					path->display),
			 errdetail("Key %d of the target holds something else.", depth)));
}

/* The document as it is now, as the event document {"data": ...}. */
static Jsonb *
event_document(EsDoc *doc)
{
	JsonbValue	root;
	JsonbParseState *ps = NULL;
	JsonbValue	key;

	object_tree(doc->root, &root);
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	key.type = jbvString;
	key.val.string.val = "data";
	key.val.string.len = 4;
	pushJsonbValue(&ps, WJB_KEY, &key);
	es_push_jsonb(&ps, WJB_VALUE, JsonbValueToJsonb(&root));
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * Evaluate a path ($.data...) on the document as the rules have made it
 * so far: key chains walk the tree, anything else asks PostgreSQL.
 */
static bool
doc_eval(const EsRulePath *p, void *arg, JsonbValue *out)
{
	EsDoc	   *doc = (EsDoc *) arg;
	EditObject *o = doc->root;
	int			i;

	if (p->root == ES_ROOT_DATA && p->nkeys > 0)
	{
		for (i = 0; i < p->nkeys; i++)
		{
			int			k = find_key(o, p->keys[i], p->keylens[i]);
			EditValue  *ev;
			bool		undecided;

			CHECK_FOR_INTERRUPTS();
			if (k < 0)
				return false;
			ev = &o->pairs[k].value;
			if (i == p->nkeys - 1)
			{
				if (ev->obj != NULL)
				{
					JsonbValue	tree;

					object_tree(ev->obj, &tree);
					es_jsonb_as_value(JsonbValueToJsonb(&tree), out);
					return true;
				}
				*out = ev->val;
				return out->type != jbvNull;
			}
			if (ev->obj != NULL)
			{
				o = ev->obj;
				continue;
			}
			if (ev->val.type != jbvBinary)
				return false;	/* a key of a scalar finds nothing */
			if (es_rule_walk(p, i + 1, ev->val.val.binary.data, out, &undecided))
				return true;
			if (!undecided)
				return false;
			break;
		}
	}
	return es_rule_query(p, event_document(doc), out);
}

/* move */
static void
apply_move(const Rule *rule, EsDoc *doc)
{
	ParentStatus status;
	int			bad_depth = 0;
	EditObject *src;
	EditObject *dst;
	int			i;
	EditValue	value;
	const EsPath *from = &rule->field;
	const EsPath *to = &rule->target;

	src = resolve_parent(doc, from, false, &status, &bad_depth);
	i = src ? find_key(src, from->keys[from->depth - 1], from->lens[from->depth - 1]) : -1;
	if (i < 0)
	{
		if (rule->r.skip_missing)
			return;
		ereport(ERROR,
				(errcode(ERRCODE_NO_SQL_JSON_ITEM),
				 errmsg("path %s found nothing in the event", from->display),
				 errhint("Add \"if_missing\": \"skip\" to the rule if the field may be absent.")));
	}

	dst = resolve_parent(doc, to, true, &status, &bad_depth);
	if (status == PARENT_NOT_OBJECT)
		not_an_object(to, bad_depth);
	if (find_key(dst, to->keys[to->depth - 1], to->lens[to->depth - 1]) >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_JSON_OBJECT_KEY_VALUE),
				 errmsg("target %s already exists in the event data", to->display),
				 errdetail("A move never overwrites a field; remove it first.")));

	/* creating the destination may have added pairs to src: find it again */
	i = find_key(src, from->keys[from->depth - 1], from->lens[from->depth - 1]);
	value = take_pair(src, i);
	add_pair(dst, to->keys[to->depth - 1], to->lens[to->depth - 1], &value);
}

/* set */
static void
apply_set(const Rule *rule, EsDoc *doc, const JsonbValue *v)
{
	ParentStatus status;
	int			bad_depth = 0;
	const EsPath *f = &rule->target;
	EditObject *o = resolve_parent(doc, f, true, &status, &bad_depth);
	EditValue	value;
	int			i;

	if (status == PARENT_NOT_OBJECT)
		not_an_object(f, bad_depth);
	value.obj = NULL;
	value.val = *v;
	i = find_key(o, f->keys[f->depth - 1], f->lens[f->depth - 1]);
	if (i < 0)
		add_pair(o, f->keys[f->depth - 1], f->lens[f->depth - 1], &value);
	else if (!rule->r.keep_existing)
		o->pairs[i].value = value;
}

/* remove */
static void
apply_remove(const Rule *rule, EsDoc *doc)
{
	ParentStatus status;
	int			bad_depth = 0;
	const EsPath *f = &rule->target;
	EditObject *o = resolve_parent(doc, f, false, &status, &bad_depth);
	int			i;

	if (o == NULL)
		return;					/* nothing there to remove */
	i = find_key(o, f->keys[f->depth - 1], f->lens[f->depth - 1]);
	if (i >= 0)
		take_pair(o, i);
}

/*
 * Start editing an object.  Stored events and hand-built rows may hold any
 * JSON value: rules edit only objects (2203C, like a path through something
 * that is not an object).
 */
EsDoc *
es_doc_open(Jsonb *data, const char *type, int typelen, int32 from_version)
{
	EsDoc	   *doc = palloc(sizeof(EsDoc));

	if (!JB_ROOT_IS_OBJECT(data) || JB_ROOT_IS_SCALAR(data))
		ereport(ERROR,
				(errcode(ERRCODE_SQL_JSON_OBJECT_NOT_FOUND),
				 errmsg("the event data is a JSON %s, not an object",
						JB_ROOT_IS_SCALAR(data) ? "scalar" : "array"),
				 errdetail("The rules of the upcaster of event type \"%s\" from version %d edit the fields of an object.",
						   pnstrdup(type, typelen), from_version)));
	doc->root = expand_object(&data->root);
	return doc;
}

/* Error context while a rule runs: errors name the rule. */
static void
rule_error_callback(void *arg)
{
	const Rule *const *r = (const Rule *const *) arg;

	if (*r != NULL)
		errcontext("%s", (*r)->r.name);
}

/* Apply every rule in order. */
void
es_upcast_rules_apply(const EsUpcastRules *rules, EsDoc *doc)
{
	ErrorContextCallback errcb;
	const Rule *current = NULL;
	int			i;

	errcb.callback = rule_error_callback;
	errcb.arg = &current;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	for (i = 0; i < rules->nrules; i++)
	{
		const Rule *rule = &rules->rules[i];
		JsonbValue	v;

		CHECK_FOR_INTERRUPTS();
		current = rule;
		if (rule->r.ncond > 0 && !es_rule_conditions_hold(&rule->r, doc_eval, doc, NULL))
			continue;
		if (rule->r.op == ES_OP_SET || rule->r.op == ES_OP_REPLACE)
		{
			if (rule->r.has_from)
			{
				if (!doc_eval(&rule->r.from, doc, &v))
				{
					if (rule->r.skip_missing)
						continue;
					if (rule->r.dflt == NULL)
						ereport(ERROR,
								(errcode(ERRCODE_NO_SQL_JSON_ITEM),
								 errmsg("path %s found nothing in the event", rule->r.from.text),
								 errdetail("Give the rule a \"default\", or \"if_missing\": \"skip\".")));
					es_jsonb_as_value(rule->r.dflt, &v);
				}
			}
			else
				es_jsonb_as_value(rule->r.value, &v);
		}
		switch (rule->r.op)
		{
			case ES_OP_MOVE:
				apply_move(rule, doc);
				break;
			case ES_OP_SET:
				apply_set(rule, doc, &v);
				break;
			case ES_OP_REMOVE:
				apply_remove(rule, doc);
				break;
			case ES_OP_REPLACE:
				if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
					ereport(ERROR,
							(errcode(ERRCODE_SQL_JSON_OBJECT_NOT_FOUND),
							 errmsg("replace needs an object, but %s is %s",
									rule->r.from.text, es_jsonb_kind(&v))));
				doc->root = expand_object(v.val.binary.data);
				break;
			case ES_OP_RENAME_TYPE:
				break;			/* the caller changes the type */
			default:
				elog(ERROR, "reducer op \"%s\" in an upcaster", es_rule_op_name(rule->r.op));
		}
	}
	error_context_stack = errcb.previous;
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
	{
		CHECK_FOR_INTERRUPTS();
		res = pushJsonbValue(&state, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
	}
	return res;
}

/* qsort comparator of JsonbPairs in jsonb key order. */
static int
pair_cmp(const void *a, const void *b)
{
	return key_order((const JsonbPair *) a, (const JsonbPair *) b);
}

/*
 * An edited object as a JsonbValue tree with its keys in jsonb order.
 * Rules decide how deep objects nest (a path of 60,000 keys): the stack is
 * checked.
 */
static void
object_tree(EditObject *o, JsonbValue *out)
{
	JsonbPair  *pairs = palloc(sizeof(JsonbPair) * Max(o->npairs, 1));
	int			i;

	check_stack_depth();
	for (i = 0; i < o->npairs; i++)
	{
		EditPair   *p = &o->pairs[i];
		JsonbPair  *pair = &pairs[i];

		CHECK_FOR_INTERRUPTS();
		pair->key.type = jbvString;
		pair->key.val.string.val = (char *) p->key;
		pair->key.val.string.len = p->keylen;
		pair->order = i;
		if (p->value.obj != NULL)
			object_tree(p->value.obj, &pair->value);
		else if (p->value.val.type == jbvBinary)
			pair->value = *container_tree(p->value.val.val.binary.data);
		else
			pair->value = p->value.val;
	}
	/* keys are unique: the order is total */
	if (o->npairs > 1)
		qsort(pairs, o->npairs, sizeof(JsonbPair), pair_cmp);
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

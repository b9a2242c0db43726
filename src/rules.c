/*
 * rules.c
 *	  Declarative reducers: rules compiled from jsonb and evaluated in C.
 *
 * The rules of a reducer map event types to arrays of rules in the rule
 * language (rule_lang.c; docs/rules.md is the reference):
 *
 *	 { "EventType": [ rule, ... ], "*": [ rule, ... ] }
 *
 * Each key is an event type (matched after upcasting) or "*" for every
 * event; the rules of the event's type run first, then those of "*".
 * Targets address the state: a target's first key is a slot of the working
 * state (top-level fields are kept in mutable form, numbers as numerics
 * being accumulated, arrays being appended to); deeper keys edit the jsonb
 * of that slot.  Arithmetic is numeric, never floating point.
 * $.occurred_at and $.recorded_at read as ISO 8601 strings in UTC: a rules
 * fold depends on no setting, so it needs no identity switch and its
 * snapshots are the same whoever folds (see fold.c).
 *
 * Runtime policy: a path that finds nothing (or JSON null) is an error
 * (22035) unless the rule has "default" or "if_missing": "skip"; a value
 * that is not a number where one is needed -- a JSON number or a string
 * holding one -- is an error (22036); a merge or replace of something other
 * than an object, or a target through something that is not an object, is
 * an error (2203C); an append to something other than an array is 22039.
 * Errors name the rule; the fold adds the stream and version.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "event_sourcing.h"
#include "check.h"
#include "keyindex.h"
#include "rule_lang.h"
#include "rules.h"

typedef struct Rule
{
	EsRule		r;
	int			slot;			/* working-state slot of the target's first
								 * key; -1: the state itself */
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
	int			nslots;			/* distinct first keys of targets */
	int			maxslots;
	char	  **slot_keys;
	int		   *slot_lens;
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

struct EsRuleState
{
	const EsRules *rules;
	MemoryContext cxt;
	int			nslots;
	int			maxslots;
	Slot	   *slots;
	int			lookups;		/* of fields by name, answered by scanning */
	EsKeyIndex *index;			/* slots by name, once there are many */
	EsRuleEvent ev;				/* the event being applied */
	const Rule *rule;
};

static void apply_op(EsRuleState *ws, const Rule *r, struct Slot *s, JsonbValue *v_in);

/* ---------------------------------------------------------------------
 * Compiling
 * ---------------------------------------------------------------------
 */

/* What compile errors name. */
typedef struct CompileContext
{
	const char *reducer;
	const char *event_type;
} CompileContext;

static void
compile_error_callback(void *arg)
{
	CompileContext *cc = (CompileContext *) arg;

	if (cc->event_type != NULL)
		errcontext("rules for \"%s\" of reducer \"%s\"", cc->event_type, cc->reducer);
}

/* The slot of a target's first key, adding it to the reducer's list. */
static int
target_slot(EsRules *rules, const char *key, int len)
{
	int			i = es_key_index_get(rules->slot_index, key, len);

	if (i >= 0)
		return i;
	if (rules->nslots == rules->maxslots)
	{
		rules->maxslots = Max(rules->maxslots * 2, 8);
		rules->slot_keys = repalloc(rules->slot_keys, sizeof(char *) * rules->maxslots);
		rules->slot_lens = repalloc(rules->slot_lens, sizeof(int) * rules->maxslots);
	}
	rules->slot_keys[rules->nslots] = pnstrdup(key, len);
	rules->slot_lens[rules->nslots] = len;
	es_key_index_put(rules->slot_index, rules->slot_keys[rules->nslots], len, rules->nslots);
	return rules->nslots++;
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
	CompileContext cc = {reducer, NULL};
	ErrorContextCallback errcb;
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *owner = psprintf("reducer \"%s\"", reducer);
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
	es_rule_check_count(n, sizeof(TypeRules), "event types", owner);
	rules->types = palloc0(sizeof(TypeRules) * n);
	rules->maxslots = 8;
	rules->slot_keys = palloc(sizeof(char *) * rules->maxslots);
	rules->slot_lens = palloc(sizeof(int) * rules->maxslots);
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
		key = pnstrdup(k.val.string.val, k.val.string.len);
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
		CHECK_FOR_INTERRUPTS();
		es_rule_check_count(JsonContainerSize(v.val.binary.data), sizeof(Rule), "rules", owner);
		tr->rules = palloc0(sizeof(Rule) * Max(JsonContainerSize(v.val.binary.data), 1));
		rit = JsonbIteratorInit(v.val.binary.data);
		while ((rtok = JsonbIteratorNext(&rit, &elem, true)) != WJB_DONE)
		{
			Rule	   *rule;

			if (rtok != WJB_ELEM)
				continue;
			CHECK_FOR_INTERRUPTS();
			rule = &tr->rules[tr->nrules++];
			es_rule_compile(ES_RULES_REDUCER,
							psprintf("rule %d for \"%s\" of reducer \"%s\"",
									 tr->nrules, key, reducer),
							&elem, &rule->r);
			rule->slot = rule->r.ntarget > 0
				? target_slot(rules, rule->r.target_keys[0], rule->r.target_lens[0])
				: -1;
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
		(void) find_slot(ws, rules->slot_keys[i], rules->slot_lens[i]);
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
			es_push_jsonb(&ps, WJB_VALUE, s->jb);
		else
		{
			int			j;

			pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
			for (j = 0; j < s->nelems; j++)
			{
				CHECK_FOR_INTERRUPTS();
				es_push_jsonb(&ps, WJB_ELEM, s->elems[j]);
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
		errcontext("%s", r->r.name);
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
				if (es_rule_numeric(&v, &n))
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

/* Run a rule's op on a slot (NULL: the state itself) with operand v. */
static void
apply_op(EsRuleState *ws, const Rule *r, Slot *s, JsonbValue *v_in)
{
	JsonbValue	v = *v_in;

	switch (r->r.op)
	{
		case ES_OP_SET:
			if (r->r.keep_existing && s->kind != SLOT_ABSENT)
				break;
			set_slot_value(ws, s, &v);
			break;
		case ES_OP_ADD:
		case ES_OP_SUBTRACT:
		case ES_OP_MIN:
		case ES_OP_MAX:
			{
				Numeric		operand;
				Numeric		current;
				Numeric		result;
				bool		absent;

				if (!es_rule_numeric(&v, &operand))
					runtime_error(ws, ERRCODE_NON_NUMERIC_SQL_JSON_ITEM,
								  psprintf("%s of \"%s\" needs a number, but %s is %s",
										   es_rule_op_name(r->r.op), r->r.target_text,
										   r->r.has_from ? r->r.from.text : "the value",
										   es_jsonb_kind(&v)),
								  NULL);
				current = slot_numeric(ws, s, &absent);
				if (r->r.op == ES_OP_ADD)
					result = numeric_add_opt_error(current, operand, NULL);
				else if (r->r.op == ES_OP_SUBTRACT)
					result = numeric_sub_opt_error(current, operand, NULL);
				else if (absent)
					result = operand;
				else
				{
					int			cmp = DatumGetInt32(DirectFunctionCall2(numeric_cmp,
																		NumericGetDatum(current),
																		NumericGetDatum(operand)));

					result = (r->r.op == ES_OP_MIN) == (cmp <= 0) ? current : operand;
				}
				if (result != s->num)
					set_slot_numeric(ws, s, result);
				break;
			}
		case ES_OP_COUNT:
			{
				bool		absent;
				Numeric		current = slot_numeric(ws, s, &absent);

				set_slot_numeric(ws, s, numeric_add_opt_error(current, int64_to_numeric(1), NULL));
				break;
			}
		case ES_OP_APPEND:
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
		case ES_OP_REMOVE:
			clear_slot(s);
			break;
		case ES_OP_REPLACE:
		case ES_OP_MERGE:
			{
				JsonbIterator *it;
				JsonbValue	k;
				JsonbValue	val;
				JsonbIteratorToken tok;

				if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
					runtime_error(ws, ERRCODE_SQL_JSON_OBJECT_NOT_FOUND,
								  psprintf("%s needs an object, but %s is %s",
										   es_rule_op_name(r->r.op), r->r.from.text, es_jsonb_kind(&v)), NULL);
				if (s == NULL)
				{
					/* replace: the state becomes the object */
					if (r->r.op == ES_OP_REPLACE)
					{
						int			i;

						for (i = 0; i < ws->nslots; i++)
						{
							CHECK_FOR_INTERRUPTS();
							clear_slot(&ws->slots[i]);
						}
					}
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
		case ES_OP_MOVE:
		case ES_OP_RENAME_TYPE:
			elog(ERROR, "upcaster op \"%s\" in a reducer", es_rule_op_name(r->r.op));
	}
}

/* A slot's value as a standalone jsonb, or NULL when absent. */
static Jsonb *
slot_jsonb(Slot *s)
{
	JsonbParseState *ps = NULL;
	JsonbValue	num;
	int			j;

	switch (s->kind)
	{
		case SLOT_ABSENT:
			return NULL;
		case SLOT_JSONB:
			return s->jb;
		case SLOT_NUMERIC:
			num.type = jbvNumeric;
			num.val.numeric = s->num;
			return JsonbValueToJsonb(&num);
		case SLOT_ARRAY:
			break;
	}
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (j = 0; j < s->nelems; j++)
	{
		CHECK_FOR_INTERRUPTS();
		es_push_jsonb(&ps, WJB_ELEM, s->elems[j]);
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_ARRAY, NULL));
}

/* Raise 2203C: the target runs through something that is not an object. */
static void
pg_attribute_noreturn()
not_an_object(EsRuleState *ws, const Rule *r, int depth)
{
	runtime_error(ws, ERRCODE_SQL_JSON_OBJECT_NOT_FOUND,
				  psprintf("target %s runs through %s, which is not an object",
						   r->r.target_text,
						   depth == 0 ? "the state field" : "a field of the state"),
				  NULL);
}

/*
 * Push an object: container c (NULL: empty) with the value at the rule's
 * target keys from depth on replaced by val (removed when val is absent).
 */
static JsonbValue *
push_edited(EsRuleState *ws, JsonbParseState **ps, JsonbContainer *c, const Rule *r,
			int depth, Slot *val)
{
	const char *key = r->r.target_keys[depth];
	int			keylen = r->r.target_lens[depth];
	JsonbValue *child = NULL;
	JsonbValue	k;

	check_stack_depth();
	pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
	if (c != NULL)
	{
		JsonbIterator *it = JsonbIteratorInit(c);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			if (tok != WJB_KEY)
				continue;
			CHECK_FOR_INTERRUPTS();
			(void) JsonbIteratorNext(&it, &v, true);
			if (k.val.string.len == keylen && memcmp(k.val.string.val, key, keylen) == 0)
			{
				child = palloc(sizeof(JsonbValue));
				*child = v;
				continue;
			}
			pushJsonbValue(ps, WJB_KEY, &k);
			pushJsonbValue(ps, WJB_VALUE, &v);
		}
	}
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = keylen;
	if (depth == r->r.ntarget - 1)
	{
		Jsonb	   *jb = slot_jsonb(val);

		if (jb != NULL)
		{
			pushJsonbValue(ps, WJB_KEY, &k);
			es_push_jsonb(ps, WJB_VALUE, jb);
		}
	}
	else
	{
		if (child != NULL && !(child->type == jbvBinary &&
							   JsonContainerIsObject(child->val.binary.data)))
			not_an_object(ws, r, depth);
		pushJsonbValue(ps, WJB_KEY, &k);
		(void) push_edited(ws, ps, child ? child->val.binary.data : NULL, r, depth + 1, val);
	}
	return pushJsonbValue(ps, WJB_END_OBJECT, NULL);
}

/*
 * A rule whose target is deeper than a top-level field: the op runs on a
 * scratch slot holding the value at the target, which is then written back
 * into the top-level field's object.
 */
static void
apply_nested(EsRuleState *ws, const Rule *r, Slot *s, JsonbValue *v)
{
	Jsonb	   *top = slot_jsonb(s);
	JsonbContainer *c;
	Slot		tmp;
	int			i;
	bool		was_absent;
	JsonbParseState *ps = NULL;
	JsonbValue *res;

	if (top != NULL && (JB_ROOT_IS_SCALAR(top) || !JB_ROOT_IS_OBJECT(top)))
		not_an_object(ws, r, 0);
	memset(&tmp, 0, sizeof(Slot));
	tmp.key = r->r.target_text;
	tmp.keylen = strlen(tmp.key);
	tmp.kind = SLOT_ABSENT;
	c = top ? &top->root : NULL;
	for (i = 1; c != NULL && i < r->r.ntarget; i++)
	{
		JsonbValue *f;

		CHECK_FOR_INTERRUPTS();
		f = getKeyJsonValueFromContainer(c, r->r.target_keys[i], r->r.target_lens[i], NULL);
		c = NULL;
		if (f == NULL)
			break;
		if (i == r->r.ntarget - 1)
		{
			MemoryContext old = MemoryContextSwitchTo(ws->cxt);

			tmp.jb = JsonbValueToJsonb(f);
			MemoryContextSwitchTo(old);
			tmp.kind = SLOT_JSONB;
		}
		else if (f->type == jbvBinary && JsonContainerIsObject(f->val.binary.data))
			c = f->val.binary.data;
		else
			not_an_object(ws, r, i);
	}
	was_absent = tmp.kind == SLOT_ABSENT;
	apply_op(ws, r, &tmp, v);
	if (!(was_absent && tmp.kind == SLOT_ABSENT))
	{
		res = push_edited(ws, &ps, top ? &top->root : NULL, r, 1, &tmp);
		set_slot_value(ws, s, res);
	}
	clear_slot(&tmp);
}

/* A path for a condition: evaluated on the current event. */
static bool
eval_for_condition(const EsRulePath *path, void *arg, JsonbValue *out)
{
	return es_rule_eval(path, &((EsRuleState *) arg)->ev, out);
}

/* Apply one rule to the working state. */
static void
apply_rule(EsRuleState *ws, const Rule *r)
{
	JsonbValue	v;
	Slot	   *s = r->slot >= 0 ? &ws->slots[r->slot] : NULL;

	ws->rule = r;
	if (r->r.ncond > 0)
	{
		JsonbValue	sid;
		JsonbValue *sidp = NULL;

		if (!ws->ev.nulls[ES_COL_STREAM_ID])
		{
			text	   *t = DatumGetTextPP(ws->ev.row[ES_COL_STREAM_ID]);

			sid.type = jbvString;
			sid.val.string.val = VARDATA_ANY(t);
			sid.val.string.len = VARSIZE_ANY_EXHDR(t);
			sidp = &sid;
		}
		if (!es_rule_conditions_hold(&r->r, eval_for_condition, ws, sidp))
			return;
	}

	/* the operand */
	if (r->r.has_from)
	{
		if (!es_rule_eval(&r->r.from, &ws->ev, &v))
		{
			if (r->r.skip_missing)
				return;
			if (r->r.dflt == NULL)
				runtime_error(ws, ERRCODE_NO_SQL_JSON_ITEM,
							  psprintf("path %s found nothing in the event", r->r.from.text),
							  "Give the rule a \"default\", or \"if_missing\": \"skip\".");
			es_jsonb_as_value(r->r.dflt, &v);
		}
	}
	else if (r->r.value != NULL)
		es_jsonb_as_value(r->r.value, &v);
	else
		v.type = jbvNull;

	if (r->r.ntarget > 1)
		apply_nested(ws, r, s, &v);
	else
		apply_op(ws, r, s, &v);
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

	ws->ev.row = row;
	ws->ev.nulls = nulls;
	ws->ev.doc = NULL;
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
	ws->ev.row = NULL;
	ws->ev.nulls = NULL;
}

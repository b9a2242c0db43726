/*
 * rule_lang.h
 *	  The rule language shared by reducers (rules.c) and upcasters
 *	  (upcast_rules.c): one rule shape, one path syntax, one compiler, one
 *	  error vocabulary.  docs/rules.md is the reference.
 *
 * A rule is an object {"op": OP, ...operands}.  The compiler here checks
 * and compiles one rule for a given use; the engines apply them.  Paths are
 * PostgreSQL jsonpath over an event-shaped document ($.data..., for
 * reducers also $.metadata..., $.stream_id, ...); plain key chains are
 * walked in C with exactly jsonb_path_query_first's result.
 */
#ifndef ES_RULE_LANG_H
#define ES_RULE_LANG_H

#include "fmgr.h"
#include "utils/jsonb.h"

/* What the rules are for. */
typedef enum EsRuleUse
{
	ES_RULES_REDUCER,
	ES_RULES_UPCASTER
} EsRuleUse;

typedef enum EsRuleOp
{
	ES_OP_SET,
	ES_OP_ADD,
	ES_OP_SUBTRACT,
	ES_OP_MIN,
	ES_OP_MAX,
	ES_OP_COUNT,
	ES_OP_APPEND,
	ES_OP_REMOVE,
	ES_OP_MERGE,
	ES_OP_REPLACE,
	ES_OP_MOVE,
	ES_OP_RENAME_TYPE
} EsRuleOp;

/* Where a path starts: a column of the event, or a general jsonpath. */
typedef enum EsPathRoot
{
	ES_ROOT_DATA,
	ES_ROOT_METADATA,
	ES_ROOT_STREAM_ID,
	ES_ROOT_STREAM_VERSION,
	ES_ROOT_EVENT_TYPE,
	ES_ROOT_EVENT_ID,
	ES_ROOT_OCCURRED_AT,
	ES_ROOT_RECORDED_AT,
	ES_ROOT_GLOBAL_POSITION,
	ES_ROOT_SCHEMA_VERSION,
	ES_ROOT_GENERAL
} EsPathRoot;

/* A compiled "from" or condition path. */
typedef struct EsRulePath
{
	char	   *text;			/* as written, for messages */
	EsPathRoot	root;			/* ES_ROOT_GENERAL: not a plain key chain */
	EsPathRoot	column_root;	/* the event field it starts at */
	int			column;			/* event column of the root */
	bool		lax;			/* the path's mode */
	int			nkeys;			/* key chain below data / metadata */
	char	  **keys;
	int		   *keylens;
	Datum		jsonpath;		/* the compiled jsonpath, always */
} EsRulePath;

typedef enum EsCondKind
{
	ES_COND_EQUALS,
	ES_COND_EQUALS_STREAM_ID,
	ES_COND_EXISTS
} EsCondKind;

typedef struct EsRuleCond
{
	EsRulePath	path;
	EsCondKind	kind;
	Jsonb	   *value;			/* ES_COND_EQUALS */
	bool		exists;			/* ES_COND_EXISTS */
} EsRuleCond;

/* One compiled rule. */
typedef struct EsRule
{
	EsRuleOp	op;
	char	   *name;			/* "rule 2 for "T" of reducer "r"", for messages */
	char	   *target_text;	/* as written, or NULL: no target */
	int			ntarget;		/* keys of the target (0: the whole document) */
	char	  **target_keys;
	int		   *target_lens;
	bool		has_from;
	EsRulePath	from;
	Jsonb	   *value;			/* "value", or NULL */
	Jsonb	   *dflt;			/* "default", or NULL */
	bool		skip_missing;	/* "if_missing": "skip" */
	bool		keep_existing;	/* "if_exists": "keep" */
	int			ncond;
	EsRuleCond *conds;
} EsRule;

/*
 * Check and compile one rule object for a use.  name names the rule in
 * every message ("rule 2 for \"Deposited\" of reducer \"bank\"").  Bad
 * rules are 22023; absurd sizes 54000.
 */
extern void es_rule_compile(EsRuleUse use, const char *name, const JsonbValue *v,
							EsRule *rule);

extern const char *es_rule_op_name(EsRuleOp op);

/* Refuse n elements of size when they cannot be allocated at once (54000). */
extern void es_rule_check_count(Size n, Size size, const char *what, const char *owner);

/* The event a rule reads: an es.events row, and the document built from it. */
typedef struct EsRuleEvent
{
	const Datum *row;
	const bool *nulls;
	Jsonb	   *doc;			/* built on demand for general paths */
} EsRuleEvent;

/*
 * Evaluate a path against an event into *out; false when it finds nothing
 * (JSON null counts as nothing).  The result is what jsonb_path_query_first
 * gives on the event document.
 */
extern bool es_rule_eval_general(const EsRulePath *path, EsRuleEvent *ev, JsonbValue *out);

/* jsonb_path_query_first(doc, path, silent => true) into *out. */
extern bool es_rule_query(const EsRulePath *path, Jsonb *doc, JsonbValue *out);

/* How an engine evaluates a path for conditions. */
typedef bool (*EsRuleEvalFn) (const EsRulePath *path, void *arg, JsonbValue *out);

/* Do all the rule's conditions hold?  stream_id: for equals_stream_id. */
extern bool es_rule_conditions_hold(const EsRule *r, EsRuleEvalFn eval, void *arg,
									const JsonbValue *stream_id);

/*
 * A JSON value as a number: a JSON number, or a string holding one.  False
 * for anything else (the caller raises 22036 naming the rule).
 */
extern bool es_rule_numeric(const JsonbValue *v, Numeric *out);

/* A whole jsonb as a JsonbValue (scalars unwrapped). */
extern void es_jsonb_as_value(Jsonb *jb, JsonbValue *out);

/* Push a jsonb as a value (WJB_VALUE or WJB_ELEM). */
extern void es_push_jsonb(JsonbParseState **ps, JsonbIteratorToken tok, Jsonb *jb);

/*
 * Walk keys[start..] of a plain path from container c.  Returns whether it
 * found a non-null value.  In both modes a key of a scalar finds nothing
 * (strict mode raises an error that silent mode suppresses; lax mode
 * ignores it), as does a missing key; a key of an array finds nothing in
 * strict mode and, in lax mode, whatever the unwrapped elements give:
 * *undecided is set (and false returned), which only jsonb_path_query_first
 * can answer.  Inline: it is the hot path of a rules fold.
 */
static inline bool
es_rule_walk(const EsRulePath *path, int start, JsonbContainer *c, JsonbValue *out,
			 bool *undecided)
{
	JsonbValue *v = NULL;
	int			i;

	*undecided = false;
	for (i = start; i < path->nkeys; i++)
	{
		if (!JsonContainerIsObject(c))
		{
			if (path->lax && JsonContainerIsArray(c) && !JsonContainerIsScalar(c))
				*undecided = true;
			return false;
		}
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
	if (v == NULL)
		return false;
	*out = *v;
	return v->type != jbvNull;
}

/*
 * Evaluate a path against an event into *out; false when it finds nothing
 * (JSON null counts as nothing).  The result is what jsonb_path_query_first
 * gives on the event document.  Plain key chains below data or metadata
 * are walked here; the rest goes to es_rule_eval_general.
 */
static inline bool
es_rule_eval(const EsRulePath *path, EsRuleEvent *ev, JsonbValue *out)
{
	if ((path->root == ES_ROOT_DATA || path->root == ES_ROOT_METADATA) &&
		path->nkeys > 0 && !ev->nulls[path->column])
	{
		Jsonb	   *doc = (Jsonb *) PG_DETOAST_DATUM(ev->row[path->column]);
		bool		undecided;

		if (es_rule_walk(path, 0, &doc->root, out, &undecided))
			return true;
		if (!undecided)
			return false;
	}
	return es_rule_eval_general(path, ev, out);
}

#endif							/* ES_RULE_LANG_H */

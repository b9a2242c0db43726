/*
 * upcast_rules.h
 *	  Upcaster rules: a JSON array of rules in the rule language (set,
 *	  remove, move, replace, rename_type; see rule_lang.h), checked and
 *	  compiled once, then applied to event data in C.
 */
#ifndef ES_UPCAST_RULES_H
#define ES_UPCAST_RULES_H

#include "utils/jsonb.h"

/* A compiled, checked list of rules. */
typedef struct EsUpcastRules EsUpcastRules;

/* An event's data while rules edit it. */
typedef struct EsDoc EsDoc;

/*
 * Check a rules document and compile it into cxt (which must outlive the
 * result; the document is copied there).  Bad rules are an error
 * (SQLSTATE 22023) naming the rule and its step (type, typelen: not
 * NUL-terminated, from_version).
 */
extern EsUpcastRules *es_upcast_rules_compile(Jsonb *rules, MemoryContext cxt,
											  const char *type, int typelen,
											  int32 from_version);

/* The event type set by a rename_type rule, or NULL (length in *len). */
extern const char *es_upcast_rules_new_type(const EsUpcastRules *rules, int *len);

/*
 * Start editing a JSON object; allocations go to the current context.
 * Data that is not an object is an error (2203C) naming the step (type,
 * typelen: not NUL-terminated, from_version) whose rules need it.
 */
extern EsDoc *es_doc_open(Jsonb *data, const char *type, int typelen,
						  int32 from_version);

/*
 * Apply compiled rules to a document.  A rule that cannot apply raises an
 * error naming it; see upcast_rules.c for the policy.
 */
extern void es_upcast_rules_apply(const EsUpcastRules *rules, EsDoc *doc);

/* The edited document as a new jsonb value. */
extern Jsonb *es_doc_close(EsDoc *doc);

#endif							/* ES_UPCAST_RULES_H */

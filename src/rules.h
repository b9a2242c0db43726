/*
 * rules.h
 *	  Declarative reducers: rules compiled from jsonb and evaluated in C.
 */
#ifndef ES_RULES_H
#define ES_RULES_H

#include "utils/jsonb.h"

typedef struct EsRules EsRules;

/*
 * Check and compile a reducer's rules; errors name the reducer and the
 * offending rule.  The result lives in the current memory context.
 */
extern EsRules *es_rules_compile(const char *reducer, Jsonb *rules);

/*
 * Apply the rules to state for one event (an upcast es.events row, values
 * and nulls in EsEventColumn order).  Returns the new state, allocated in
 * the current memory context (or state itself when nothing applies).
 */
extern Datum es_rules_apply(const EsRules *rules, Datum state,
							const Datum *row, const bool *nulls);

#endif							/* ES_RULES_H */

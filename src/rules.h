/*
 * rules.h
 *	  Declarative reducers: rules compiled from jsonb and evaluated in C.
 *
 * A fold with a rules reducer keeps its state in a mutable working form
 * (EsRuleState) and builds the jsonb only when it needs it: at the end, or
 * for a snapshot.
 */
#ifndef ES_RULES_H
#define ES_RULES_H

#include "utils/jsonb.h"

typedef struct EsRules EsRules;
typedef struct EsRuleState EsRuleState;

/*
 * Check and compile a reducer's rules; errors name the reducer and the
 * offending rule.  The result lives in the current memory context.
 */
extern EsRules *es_rules_compile(const char *reducer, Jsonb *rules);

/* Check that an initial state suits a rules reducer (a JSON object). */
extern void es_rules_check_initial(const char *reducer, Jsonb *initial_state);

/* Start a working state from a jsonb object; it lives in a child of cxt. */
extern EsRuleState *es_rules_begin(const EsRules *rules, Jsonb *state,
								   MemoryContext cxt);

/*
 * Apply the rules to the working state for one event (an upcast es.events
 * row, values and nulls in EsEventColumn order).  Scratch memory goes to
 * the current memory context, which the caller resets per event.
 */
extern void es_rules_step(EsRuleState *ws, const Datum *row, const bool *nulls);

/* The working state as jsonb, allocated in the current memory context. */
extern Jsonb *es_rules_state(EsRuleState *ws);

#endif							/* ES_RULES_H */

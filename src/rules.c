/*
 * rules.c
 *	  Declarative reducers: rules compiled from jsonb and evaluated in C.
 *
 * The rule language is not available yet: creating a reducer with rules is
 * refused.
 */
#include "postgres.h"

#include "rules.h"

/* Check and compile a reducer's rules. */
EsRules *
es_rules_compile(const char *reducer, Jsonb *rules pg_attribute_unused())
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("reducer \"%s\": declarative rules are not supported yet", reducer),
			 errhint("Pass a function as apply.")));
	return NULL;				/* keep compiler quiet */
}

/* Apply compiled rules to a state. */
Datum
es_rules_apply(const EsRules *rules pg_attribute_unused(), Datum state,
			   const Datum *row pg_attribute_unused(), const bool *nulls pg_attribute_unused())
{
	return state;
}

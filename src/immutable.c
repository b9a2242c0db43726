/*
 * immutable.c
 *	  The trigger that keeps es.events append-only.
 *
 * A BEFORE ... FOR EACH STATEMENT trigger for UPDATE, DELETE and TRUNCATE
 * refuses the statement for every role, the table's owner and superusers
 * included.  The triggers are ENABLE ALWAYS, so session_replication_role
 * = replica does not skip them; only ALTER TABLE ... DISABLE TRIGGER (by
 * the table's owner or a superuser) gets past them; the README says so.
 * The one DELETE let through is es.purge's own, announced by
 * src/lifecycle.c with a backend-local flag that no caller can set.
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "utils/rel.h"

#include "lifecycle.h"

PG_FUNCTION_INFO_V1(es_refuse_change);

/* Trigger function: refuse any UPDATE, DELETE or TRUNCATE of the table. */
Datum
es_refuse_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *what;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.refuse_change() was not called by trigger manager")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.refuse_change() must be fired BEFORE, FOR EACH STATEMENT")));

	/* the one door: es.purge's own DELETE (src/lifecycle.c) */
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) &&
		es_lifecycle_purge_door(RelationGetRelid(trigdata->tg_relation)))
		return PointerGetDatum(NULL);

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		what = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		what = "DELETE";
	else if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		what = "TRUNCATE";
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es.refuse_change() must be fired for UPDATE, DELETE or TRUNCATE")));

	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s of \"%s\" is not allowed: events are immutable",
					what, RelationGetRelationName(trigdata->tg_relation)),
			 errhint("Append a compensating event instead.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

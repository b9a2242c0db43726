/*
 * catalog.h
 *	  Per-backend knowledge of the extension's own objects: who owns them,
 *	  how to act as that owner around the extension's SQL, and SPI plans that
 *	  are prepared once and kept.
 */
#ifndef ES_CATALOG_H
#define ES_CATALOG_H

#include "executor/spi.h"

/*
 * The caller's identity, saved while the extension acts as its owner.
 * Switches nest (es.append inside a projection handler inside es.append);
 * the innermost one is the "current" switch.
 */
typedef struct EsUserSwitch
{
	Oid			saved_userid;
	int			saved_sec_context;
	bool		appending;		/* set by es.append: its rows fire handlers */
	struct EsUserSwitch *outer; /* the switch that was current before */
} EsUserSwitch;

/* Register the invalidation callback; called from _PG_init. */
extern void es_catalog_init(void);

/* OID of the relation es.<name>; InvalidOid (missing_ok) or an error. */
extern Oid	es_relid(const char *name, bool missing_ok);

/*
 * Refuse (42501) a caller that is not the owner of a registry entry (a
 * reducer, projection, subscription), a member of the owner's role or a
 * superuser; action is what only they may do ("replace or drop").
 */
extern void es_check_owner(Oid owner, Oid caller, const char *kind,
						   const char *name, const char *action);

/* Owner of es.events: the role the extension's SQL runs as. */
extern Oid	es_owner(void);

/* The row type of es.events (what handlers and reducers receive). */
extern Oid	es_events_type(void);

/*
 * Act as the extension's owner; es_restore_user switches back and must run
 * on every exit, errors included (PG_TRY / PG_FINALLY), so that the current
 * switch is never stale.
 */
extern void es_become_owner(EsUserSwitch *save);
extern void es_restore_user(const EsUserSwitch *save);

/*
 * Around user code (reducers, upcasters, handlers) called while acting as
 * the owner: become the caller saved by the current switch (a no-op when
 * no switch is current), then es_restore_caller.  User errors need no
 * cleanup here: the enclosing es_restore_user resets the identity.
 */
extern void es_become_caller(Oid *saved_userid, int *saved_sec_context);
extern void es_restore_caller(Oid saved_userid, int saved_sec_context);

/* The innermost active switch, or NULL outside the extension's functions. */
extern EsUserSwitch *es_current_switch(void);

/*
 * Prepare sql once per backend and keep it in *slot.  Must be called inside
 * an SPI connection.  The plan revalidates itself when the tables it reads
 * change, so it survives even DROP EXTENSION / CREATE EXTENSION; argument
 * types must therefore be built-in types, whose OIDs never change.
 */
extern SPIPlanPtr es_keep_plan(SPIPlanPtr *slot, const char *sql,
							   int nargs, const Oid *argtypes);

/* Run a kept plan and check that it returned the expected SPI code. */
extern uint64 es_run_plan(SPIPlanPtr plan, const Datum *values,
						  const char *nulls, bool read_only, long count,
						  int expected_code);

#endif							/* ES_CATALOG_H */

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
 * The identity rule: user code (reducers, upcasters, projection handlers)
 * runs as the role that registered it, with the settings captured when it
 * was registered, the way a SECURITY DEFINER function with SET clauses
 * runs.  So its result does not depend on who calls it or on the caller's
 * settings, and it never runs with the caller's rights.
 *
 * The settings captured, in this order.  search_path is captured with
 * pg_temp moved to its end, so that a registrant's temporary objects can
 * never shadow what its code names.
 */
#define ES_CAPTURED_SETTINGS_COUNT 5
extern const char *const es_captured_settings[ES_CAPTURED_SETTINGS_COUNT];

/*
 * The current values of es_captured_settings as a text[] of "name=value"
 * (the shape of pg_proc.proconfig), allocated in the current context; what
 * a registry stores beside the registrant.
 */
extern Datum es_capture_settings(void);

/* What es_become_registrant saved, for es_restore_identity. */
typedef struct EsIdentitySave
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			guc_nestlevel;	/* settings made by and under the switch */
} EsIdentitySave;

/*
 * Become role (the registrant of what is called) with settings (a text[]
 * from es_capture_settings, or NULL: keep the current ones); restricted
 * adds SECURITY_RESTRICTED_OPERATION (for code that should have no side
 * effects beyond the transaction: reducers, upcasters).  Settings equal to
 * the current ones are not set again, so a switch costs little when
 * nothing changes.  what names the registry entry in errors ("reducer
 * \"x\"").  Undo with es_restore_identity on the way out, which also rolls
 * back whatever the user code SET; an error needs no cleanup:
 * (sub)transaction abort restores both the identity and the settings.
 */
extern void es_become_registrant(Oid role, Datum settings, bool restricted,
								 const char *what, EsIdentitySave *save);
extern void es_restore_identity(const EsIdentitySave *save);

/*
 * es_become_registrant with the settings already split into names[i] =
 * values[i] (a cache that parsed them once), for code called often.  The
 * caller has checked that role exists.
 */
extern void es_become_registrant_parsed(Oid role, int nsettings,
										const char *const *names,
										const char *const *values,
										bool restricted, EsIdentitySave *save);

/*
 * Captured settings taken apart once, for code that switches often (a
 * registry cache entry keeps them): names point into es_captured_settings,
 * values are allocated in the context current at es_parse_settings.
 */
typedef struct EsSettings
{
	int			count;
	const char *names[ES_CAPTURED_SETTINGS_COUNT];
	char	   *values[ES_CAPTURED_SETTINGS_COUNT];
	/* private to catalog.c: how to compare each with the current value */
	int			compare[ES_CAPTURED_SETTINGS_COUNT];
	int			ints[ES_CAPTURED_SETTINGS_COUNT][2];
	struct pg_tz *tz[ES_CAPTURED_SETTINGS_COUNT];
} EsSettings;

/*
 * Take a text[] of "name=value" apart; a NULL element, an element without
 * "=", a name that is not one of es_captured_settings or a name given
 * twice is an error (22023) naming what (a hand-edited registry row).
 */
extern void es_parse_settings(Datum settings, const char *what, EsSettings *out);

/*
 * es_become_registrant with settings taken apart by es_parse_settings
 * (NULL: keep the current ones): checks that role exists, and compares
 * each captured value with PostgreSQL's own variable where it can, so that
 * only settings that differ are set.
 */
extern void es_become_registrant_settings(Oid role, const EsSettings *settings,
										  bool restricted, const char *what,
										  EsIdentitySave *save);

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

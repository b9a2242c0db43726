/*
 * projection.h
 *	  Projections: read models maintained by user handlers, called from a
 *	  trigger on es.events inside the appending transaction, and rebuilt
 *	  from the whole history on demand; async projections are caught up
 *	  from the global log by es.run_projections.
 *
 * The SQL-callable functions (es.create_projection, es.drop_projection,
 * es.rebuild_projection, the trigger and its WHEN function) live in
 * projection.c; the rest of the extension only sets up the cache.
 */
#ifndef ES_PROJECTION_H
#define ES_PROJECTION_H

/* Register the registry cache's invalidation callbacks; called from _PG_init. */
extern void es_projection_init(void);

#endif							/* ES_PROJECTION_H */

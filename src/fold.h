/*
 * fold.h
 *	  The fold engine: es.fold, es.snapshot and the es.fold_agg aggregate.
 *
 * Only SQL-callable functions live in fold.c; nothing else calls in.
 */
#ifndef ES_FOLD_H
#define ES_FOLD_H

#endif							/* ES_FOLD_H */

/*
 * keyindex.h
 *	  An index from string keys to positions in the caller's array, for the
 *	  objects of user-sized input (a state of 100,000 fields, rules with
 *	  100,000 targets) whose keys are too many to search one by one.
 */
#ifndef ES_KEYINDEX_H
#define ES_KEYINDEX_H

typedef struct EsKeyIndex EsKeyIndex;

/*
 * Lookups an object answers by scanning its keys before it builds an index:
 * a few scans cost less than building one, and an object looked into more
 * often gets an index, so that n lookups in n keys never cost n * n.
 */
#define ES_KEY_INDEX_SCANS 4
#define ES_KEY_INDEX_MIN_KEYS 16

/* An empty index in cxt for about nkeys keys. */
extern EsKeyIndex *es_key_index_create(MemoryContext cxt, uint32 nkeys);

/*
 * The position of a key (bytes, not NUL-terminated), or -1.  The index
 * keeps a pointer to each key: the caller keeps the key's bytes alive and
 * unchanged while it is in the index.
 */
extern int	es_key_index_get(EsKeyIndex *ix, const char *key, int len);

/* Add a key, or move it to another position. */
extern void es_key_index_put(EsKeyIndex *ix, const char *key, int len, int pos);

/* Remove a key, if it is there. */
extern void es_key_index_delete(EsKeyIndex *ix, const char *key, int len);

#endif							/* ES_KEYINDEX_H */

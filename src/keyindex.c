/*
 * keyindex.c
 *	  An index from string keys to positions: an open-addressing hash table
 *	  (PostgreSQL's simplehash) over the caller's key bytes.
 */
#include "postgres.h"

#include "common/hashfn.h"

#include "keyindex.h"

/* A key: bytes owned by the caller. */
typedef struct KeyRef
{
	const char *data;
	int			len;
} KeyRef;

typedef struct KeyEntry
{
	KeyRef		key;
	int			pos;
	uint32		hash;
	char		status;			/* used by simplehash */
} KeyEntry;

static inline bool
keyref_equal(KeyRef a, KeyRef b)
{
	return a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
}

#define SH_PREFIX keyindex
#define SH_ELEMENT_TYPE KeyEntry
#define SH_KEY_TYPE KeyRef
#define SH_KEY key
#define SH_HASH_KEY(tb, k) hash_bytes((const unsigned char *) (k).data, (k).len)
#define SH_EQUAL(tb, a, b) keyref_equal(a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

struct EsKeyIndex
{
	keyindex_hash *table;
};

/* An empty index in cxt for about nkeys keys. */
EsKeyIndex *
es_key_index_create(MemoryContext cxt, uint32 nkeys)
{
	EsKeyIndex *ix = MemoryContextAlloc(cxt, sizeof(EsKeyIndex));

	ix->table = keyindex_create(cxt, Max(nkeys, 16), NULL);
	return ix;
}

/* The position of a key, or -1. */
int
es_key_index_get(EsKeyIndex *ix, const char *key, int len)
{
	KeyRef		k = {key, len};
	KeyEntry   *e = keyindex_lookup(ix->table, k);

	return e ? e->pos : -1;
}

/* Add a key, or move it to another position. */
void
es_key_index_put(EsKeyIndex *ix, const char *key, int len, int pos)
{
	KeyRef		k = {key, len};
	bool		found;
	KeyEntry   *e = keyindex_insert(ix->table, k, &found);

	e->key = k;
	e->pos = pos;
}

/* Remove a key, if it is there. */
void
es_key_index_delete(EsKeyIndex *ix, const char *key, int len)
{
	KeyRef		k = {key, len};

	(void) keyindex_delete(ix->table, k);
}

/*
 * log.c
 *	  The global log's read path: positions handed out under a barrier,
 *	  the horizon below which the log is complete, es.read_all.
 *
 * Positions come from es.events_global_position_seq in the order appenders
 * allocate them, but transactions commit in another order: a reader that
 * simply remembers "the last position I saw" skips an event whose
 * transaction allocated a smaller position and committed later.  The log
 * therefore reads only below a horizon: a position such that every event
 * below it is either committed and visible to the reader, or will never
 * exist.
 *
 * Appenders make their positions in flight visible.  es.next_position(),
 * the default of es.events.global_position, does this on the first
 * allocation of a transaction, under a barrier:
 *
 *	 lock the barrier SHARE
 *	 p := nextval(sequence)
 *	 lock position p EXCLUSIVE, owned by the top-level transaction
 *	 release the barrier
 *
 * Later allocations of the transaction are plain nextval() calls: they are
 * all greater than p (the sequence must keep CACHE 1 and never go back), so
 * the smallest position a transaction may still commit is its locked one.
 * The position lock is released when the transaction ends, after its commit
 * became visible to new snapshots.  A transaction that appends nothing
 * takes no lock and delays no reader.
 *
 * A reader computes the horizon with the barrier held EXCLUSIVE (which
 * waits only for appenders inside the three steps above):
 *
 *	 horizon := min(smallest locked position, sequence's next value)
 *
 * then releases it and reads the rows with global_position < horizon using
 * a snapshot taken after that, in every isolation level.  An event at
 * position x < horizon belongs to a transaction that either allocated its
 * first position p <= x before the barrier and had ended by then (it was
 * never in the lock table: its commit is in the snapshot, or it aborted),
 * or allocated p after the barrier (impossible: p would be >= horizon).
 * A transaction in flight at the barrier holds horizon <= p <= x.  Readers
 * never block appenders beyond the barrier's few instructions, and
 * appenders never wait for each other.
 *
 * The reader's own transaction counts too: once it has appended, it reads
 * only below its own first position until it commits (its own events and
 * those of others after that position cannot be known to be complete).
 *
 * A hot standby has none of the primary's position locks (heavyweight locks
 * are not replicated, except AccessExclusiveLock), and its copy of the
 * sequence runs up to 32 values ahead of what was handed out: a horizon
 * computed there would be the sequence's WAL-logged value, past positions
 * that transactions in progress on the primary hold.  Nothing that reaches
 * the standby tells it which positions those are (a transaction may take
 * its position before it writes any WAL), so the log is not read there:
 * every reader of the horizon refuses during recovery (es_log_refuse_standby).
 * (A horizon that the primary computed and wrote to a table would reach the
 * standby through the WAL and be sound there, but it needs a process on the
 * primary to keep writing it; not built.)
 *
 * Wake-ups: with event_sourcing.notify = on (see event_sourcing.c), the
 * first allocation of an appending transaction queues NOTIFY es_events
 * with that position as payload (opt-in, since NOTIFY serializes
 * committing transactions on a cluster-wide lock).  Subscriptions, which
 * read the log through es_log_read, are in subscription.c.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "event_sourcing.h"
#include "catalog.h"
#include "check.h"
#include "log.h"
#include "read.h"
#include "upcast.h"
#include "visibility.h"
#include "worker.h"

/* Rows fetched from the cursor at a time. */
#define LOG_BATCH 1000

/* Has the current transaction locked its first position? */
static bool position_locked = false;

static SPIPlanPtr plan_next_value = NULL;
static SPIPlanPtr plan_read = NULL;

/*
 * Forget the position lock when the transaction ends; a commit that
 * appended wakes the background worker (worker.c).
 */
static void
log_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (event == XACT_EVENT_COMMIT && position_locked)
		es_worker_appended();
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			position_locked = false;
			break;
		default:
			break;
	}
}

/* Register the transaction callback; called from _PG_init. */
void
es_log_init(void)
{
	RegisterXactCallback(log_xact_callback, NULL);
}

/* The lock tag of a position, or of the barrier. */
static void
position_tag(LOCKTAG *tag, int64 position)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId,
						 (uint32) ((uint64) position >> 32),
						 (uint32) position,
						 ES_LOG_LOCK_POSITION);
}

static void
barrier_tag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, 0, 0, ES_LOG_LOCK_BARRIER);
}

PG_FUNCTION_INFO_V1(es_next_position);

/*
 * es.next_position(sequence): the default of es.events.global_position.
 * The first call of a transaction locks the position it hands out.
 */
Datum
es_next_position(PG_FUNCTION_ARGS)
{
	Oid			seq = PG_GETARG_OID(0);
	LOCKTAG		barrier;
	LOCKTAG		tag;
	int64		position;
	ResourceOwner saved_owner;

	/* a regclass can be any number: no relation is an error, not XX000 */
	if (get_rel_relkind(seq) != RELKIND_SEQUENCE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("relation with OID %u is not a sequence", seq)));
	if (position_locked)
		PG_RETURN_INT64(nextval_internal(seq, true));

	/* an error before the release aborts the transaction, which releases */
	barrier_tag(&barrier);
	(void) LockAcquire(&barrier, ShareLock, false, false);
	position = nextval_internal(seq, true);
	position_tag(&tag, position);

	/* the lock belongs to the top-level transaction: a savepoint rolled
	 * back does not release it */
	saved_owner = CurrentResourceOwner;
	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = saved_owner;
	}
	PG_END_TRY();
	LockRelease(&barrier, ShareLock, false);
	position_locked = true;

	if (es_log_notify)
	{
		char		payload[32];

		snprintf(payload, sizeof(payload), INT64_FORMAT, position);
		Async_Notify(ES_LOG_CHANNEL, payload);
	}
	PG_RETURN_INT64(position);
}

/* es_keep_plan for a cursor read in part (CURSOR_OPT_FAST_PLAN). */
static SPIPlanPtr
keep_cursor_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, (Oid *) argtypes,
											  CURSOR_OPT_FAST_PLAN);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare_cursor failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/* The next value the position sequence will hand out.  Inside SPI. */
int64
es_log_sequence_next(void)
{
	bool		isnull;

	es_run_plan(es_keep_plan(&plan_next_value,
							 "SELECT CASE WHEN s.is_called"
							 " THEN s.last_value OPERATOR(pg_catalog.+) 1"
							 " ELSE s.last_value END"
							 " FROM es.events_global_position_seq s",
							 0, NULL),
				NULL, NULL, true, 1, SPI_OK_SELECT);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Refuse to read the log on a standby (see the header comment): `function`
 * names the SQL function the caller runs, NULL for any read of the log.
 */
void
es_log_refuse_standby(const char *function)
{
	if (!RecoveryInProgress())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 function ? errmsg("cannot execute %s during recovery", function)
			 : errmsg("cannot read the global log during recovery"),
			 errdetail("A standby does not know which log positions the primary's transactions in progress hold, so it could return an event before an earlier one that commits later."),
			 errhint("Read the log (es.read_all, es.poll, es.wait, es.log_horizon) on the primary. Stream reads and folds work on a standby.")));
}

/*
 * The horizon: every event below it is committed or will never exist.
 * Inside SPI, as the owner.  Refused on a standby.
 */
static int64
log_horizon(void)
{
	LOCKTAG		barrier;
	LockData   *locks;
	int64		horizon;
	int			i;

	es_log_refuse_standby(NULL);
	barrier_tag(&barrier);
	(void) LockAcquire(&barrier, ExclusiveLock, false, false);
	horizon = es_log_sequence_next();
	locks = GetLockStatusData();
	for (i = 0; i < locks->nelements; i++)
	{
		LockInstanceData *l = &locks->locks[i];
		int64		position;

		if (l->locktag.locktag_type != LOCKTAG_ADVISORY ||
			l->locktag.locktag_field1 != MyDatabaseId ||
			l->locktag.locktag_field4 != ES_LOG_LOCK_POSITION ||
			l->holdMask == 0)
			continue;
		position = (int64) (((uint64) l->locktag.locktag_field2 << 32) |
							(uint64) l->locktag.locktag_field3);
		if (position < horizon)
			horizon = position;
	}
	LockRelease(&barrier, ExclusiveLock, false);
	pfree(locks->locks);
	pfree(locks);
	return horizon;
}

/* log_horizon for the other modules (async projections). */
int64
es_log_horizon_internal(void)
{
	return log_horizon();
}

/* Build a filter from stored text[] values (0: none). */
void
es_log_filter_from_arrays(EsLogFilter *f, Datum types, Datum categories)
{
	f->types = types;
	f->categories = categories;
	f->ntypes = 0;
	f->type_list = NULL;
	if (types != (Datum) 0)
	{
		Datum	   *elems;
		bool	   *elem_nulls;
		int			i;

		deconstruct_array(DatumGetArrayTypeP(types), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, &elem_nulls, &f->ntypes);
		f->type_list = palloc(sizeof(text *) * f->ntypes);
		for (i = 0; i < f->ntypes; i++)
			f->type_list[i] = elem_nulls[i] ? NULL : DatumGetTextPP(elems[i]);
	}
}

/*
 * Does an (upcast) event type pass the filter?  Lifecycle events ("$"
 * types) pass only a filter that names them.
 */
static bool
type_wanted(const EsLogFilter *f, Datum type)
{
	text	   *t = DatumGetTextPP(type);
	Size		len = VARSIZE_ANY_EXHDR(t);
	int			i;

	if (f->types == (Datum) 0)
		return !es_type_is_reserved(VARDATA_ANY(t), len);
	for (i = 0; i < f->ntypes; i++)
	{
		text	   *w = f->type_list[i];

		if (w != NULL && VARSIZE_ANY_EXHDR(w) == len &&
			memcmp(VARDATA_ANY(w), VARDATA_ANY(t), len) == 0)
			return true;
	}
	return false;
}

/*
 * Open a cursor over ES_EVENT_COLUMNS for the events with after < position
 * < bound, in position order, whose stored type is in types or may be
 * upcast to one of them (the caller checks the upcast type) and whose
 * category is in categories (NULL: no filter; the category of a lifecycle
 * event is that of the stream it concerns: its "$" stream's id without
 * the "$"), under a snapshot taken now
 * -- after the caller computed bound, in every isolation level.  Inside
 * SPI, as the owner.  The plan is made for a cursor read in part (callers
 * stop at max_count): a plan that sorts the whole range would read every
 * event after the position for each batch, as it does when the
 * statistics of a growing es.events are stale.
 */
Portal
es_log_open(int64 after, int64 bound, Datum types, Datum categories)
{
	static const Oid argtypes[] = {INT8OID, INT8OID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	Portal		portal;

	values[0] = Int64GetDatum(after);
	values[1] = Int64GetDatum(bound);
	values[2] = types == (Datum) 0 ? (Datum) 0 : es_upcast_stored_types(types);
	nulls[2] = types == (Datum) 0 ? 'n' : ' ';
	values[3] = categories;
	nulls[3] = categories == (Datum) 0 ? 'n' : ' ';
	CommandCounterIncrement();
	PushActiveSnapshot(GetLatestSnapshot());
	portal = SPI_cursor_open(NULL,
							 keep_cursor_plan(&plan_read,
										  "SELECT " ES_EVENT_COLUMNS " FROM es.events e"
										  " WHERE e.global_position OPERATOR(pg_catalog.>) $1"
										  " AND e.global_position OPERATOR(pg_catalog.<) $2"
										  " AND ($3 IS NULL"
										  " OR e.event_type OPERATOR(pg_catalog.=) ANY ($3))"
										  " AND ($4 IS NULL"
										  " OR pg_catalog.split_part(pg_catalog.ltrim(e.stream_id, '$'), '-', 1)"
										  " OPERATOR(pg_catalog.=) ANY ($4))"
										  " ORDER BY e.global_position",
										  4, argtypes),
							 values, nulls, true);
	PopActiveSnapshot();
	return portal;
}

/*
 * Read the events after position `after` and below `horizon` that pass the
 * filter, upcast, in position order, at most max_count of them (-1: no
 * limit), into the tuplestore.  Returns how many; *through is the position
 * up to which the log has been consumed: the last event returned when the
 * limit was reached, else horizon - 1.  Inside SPI, as the owner.
 *
 * Event types match the upcast type.  SQL keeps the rows whose stored type
 * may read as a wanted one, and C checks what each row reads as before
 * upcasting it (es_upcast_final_type), so that only the upcasters of wanted
 * events run: the same result as upcasting every row.
 */
int64
es_log_read(int64 after, int64 horizon, int64 max_count, const EsLogFilter *f,
			Tuplestorestate *store, TupleDesc desc, int64 *through)
{
	Portal		portal;
	EsEventCursor cursor;
	Datum		row[ES_EVENT_NATTS];
	bool		rownulls[ES_EVENT_NATTS];
	MemoryContext row_cxt;
	int64		count = 0;
	bool		done = false;

	*through = after;
	if (max_count == 0 || horizon - 1 <= after)
		return 0;
	if (desc->natts != ES_EVENT_NATTS)
		elog(ERROR, "es.events has %d columns, expected %d",
			 desc->natts, ES_EVENT_NATTS);

	portal = es_log_open(after, horizon, f->types, f->categories);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "es log row",
									ALLOCSET_DEFAULT_SIZES);
	es_event_cursor_open(&cursor, portal, max_count > 0 ? Min(max_count, LOG_BATCH) : LOG_BATCH);
	while (!done && es_event_cursor_next(&cursor, row, rownulls))
	{
		MemoryContext old = MemoryContextSwitchTo(row_cxt);
		text	   *final = es_upcast_final_type(row, rownulls);
		bool		wanted = (final == NULL || type_wanted(f, PointerGetDatum(final)));

		if (wanted)
		{
			es_upcast_row(row, rownulls);
			wanted = type_wanted(f, row[ES_COL_EVENT_TYPE]);
		}
		if (wanted)
		{
			tuplestore_putvalues(store, desc, row, rownulls);
			count++;
			if (count == max_count)
			{
				*through = DatumGetInt64(row[ES_COL_GLOBAL_POSITION]);
				done = true;
			}
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	if (!done)
		*through = horizon - 1;
	es_event_cursor_close(&cursor);
	MemoryContextDelete(row_cxt);
	return count;
}

PG_FUNCTION_INFO_V1(es_log_horizon);

/* es.log_horizon(): every event below it is committed or will never exist. */
Datum
es_log_horizon(PG_FUNCTION_ARGS pg_attribute_unused())
{
	EsUserSwitch save;
	volatile int64 horizon = 0;

	es_log_refuse_standby("es.log_horizon()");
	es_become_owner(&save);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		horizon = log_horizon();
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	PG_RETURN_INT64(horizon);
}

PG_FUNCTION_INFO_V1(es_read_all);

/*
 * es.read_all(after, max_count, event_types, categories): the committed
 * events after a position, in position order, gap-safe.
 */
Datum
es_read_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		after;
	int64		max_count;
	EsLogFilter f;
	EsUserSwitch save;

	es_check_not_null(fcinfo, 0, "after", "Pass 0 to read from the beginning of the log.");
	after = PG_GETARG_INT64(0);
	if (after < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after must not be negative")));
	max_count = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT64(1);
	if (!PG_ARGISNULL(1) && max_count < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must not be negative")));
	f.types = es_check_filter(fcinfo, 2, "event_types", false,
							  "Pass NULL to read every event type.", &f.type_list, &f.ntypes);
	f.categories = es_check_filter(fcinfo, 3, "categories", true,
								   "Pass NULL to read every category.", NULL, NULL);
	es_log_refuse_standby("es.read_all()");

	InitMaterializedSRF(fcinfo, 0);

	es_become_owner(&save);
	PG_TRY();
	{
		int64		through;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		(void) es_log_read(after, log_horizon(), max_count, &f,
						rsinfo->setResult, rsinfo->setDesc, &through);
		SPI_finish();
	}
	PG_FINALLY();
	{
		es_restore_user(&save);
	}
	PG_END_TRY();
	return (Datum) 0;
}

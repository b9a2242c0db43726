# event_sourcing: PGXS build
EXTENSION = event_sourcing
EXTVERSION = 0.1

MODULE_big = event_sourcing
OBJS = \
	src/event_sourcing.o \
	src/catalog.o \
	src/uuid7.o \
	src/event.o \
	src/append.o \
	src/read.o \
	src/upcast.o \
	src/upcast_rules.o \
	src/reducer.o \
	src/rules.o \
	src/keyindex.o \
	src/fold.o \
	src/immutable.o \
	src/projection.o \
	src/log.o

# The install script of this version is generated from one hand-edited file;
# upgrade scripts (event_sourcing--A--B.sql) are picked up by wildcard.
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built), $(wildcard $(EXTENSION)--*--*.sql))

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PostgreSQL's own headers are included as system headers, so that warnings
# flags (make PG_CFLAGS='-Wall -Wextra') report only our code.
override CPPFLAGS := $(patsubst -I/%,-isystem /%,$(CPPFLAGS))

$(EXTENSION)--$(EXTVERSION).sql: $(EXTENSION).sql
	cp $< $@

# Tests: see test/run.sh (builds, installs, runs regress, isolation and
# crash tests against a throwaway cluster).
.PHONY: test demo bench
test:
	test/run.sh
demo:
	./demo.sh
bench:
	bench/run.sh

# event_sourcing: PGXS build
EXTENSION = event_sourcing
# The version is written once, in event_sourcing.control (default_version);
# META.json must agree (make check-version, run by make dist).
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big = event_sourcing
OBJS = \
	src/event_sourcing.o \
	src/catalog.o \
	src/check.o \
	src/uuid7.o \
	src/event.o \
	src/append.o \
	src/dcb.o \
	src/event_insert.o \
	src/read.o \
	src/upcast.o \
	src/upcast_rules.o \
	src/reducer.o \
	src/rules.o \
	src/rule_lang.o \
	src/keyindex.o \
	src/fold.o \
	src/immutable.o \
	src/projection.o \
	src/projection_async.o \
	src/log.o \
	src/subscription.o \
	src/lifecycle.o \
	src/visibility.o \
	src/progress.o \
	src/worker.o

# The install script of the version in development is generated from one
# hand-edited file, event_sourcing.sql.  Every other script is committed and
# picked up by wildcard: the install scripts of released versions, frozen as
# shipped (event_sourcing--X.Y.sql), and the upgrade scripts
# (event_sourcing--A--B.sql), the last of them the open one.
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built), $(wildcard $(EXTENSION)--*.sql))

# make installcheck: against the running server that PGHOST, PGPORT and
# PGUSER name (a superuser; the extension installed; max_prepared_transactions
# above 0), every sql/*.sql with pg_regress, then every specs/*.spec with
# pg_isolation_regress, both compared with expected/.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
# A spec cannot include a file, and its SQL blocks end at the first "}": the
# example a spec runs is inlined (base64) into a copy of the spec in
# output_iso/specs/, where pg_isolation_regress looks before specs/.
REGRESS_PREP = output_iso/specs/bank_concurrency.spec output_iso/specs/enrolment_concurrency.spec

# The library knows its version, to refuse a store at another one
# (src/catalog.c).
PG_CPPFLAGS = -DES_LIBRARY_VERSION=\"$(EXTVERSION)\"

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PostgreSQL's own headers are included as system headers, so that warnings
# flags (make PG_CFLAGS='-Wall -Wextra') report only our code.
override CPPFLAGS := $(patsubst -I/%,-isystem /%,$(CPPFLAGS))

src/catalog.o: $(EXTENSION).control

$(EXTENSION)--$(EXTVERSION).sql: $(EXTENSION).sql
	cp $< $@

output_iso/specs/bank_concurrency.spec: specs/bank_concurrency.spec examples/bank.sql
	@mkdir -p $(dir $@)
	awk -v sql="$$(base64 -w0 examples/bank.sql)" '{ gsub(/@examples\/bank\.sql@/, sql) } 1' $< >$@

output_iso/specs/enrolment_concurrency.spec: specs/enrolment_concurrency.spec examples/enrolment.sql
	@mkdir -p $(dir $@)
	awk -v sql="$$(base64 -w0 examples/enrolment.sql)" '{ gsub(/@examples\/enrolment\.sql@/, sql) } 1' $< >$@

# All tests: see test/run.sh (builds, installs, starts a throwaway cluster,
# runs make installcheck there, then the tests that need clusters of their
# own: crash, dump and restore, the demo).
.PHONY: test demo bench
test:
	test/run.sh
demo:
	./demo.sh
bench:
	bench/run.sh

# Release archive: event_sourcing-X.Y.zip of the committed HEAD (uncommitted
# changes are not in it), after checking that META.json and CHANGELOG.md
# carry the control file's version and that no shipped script has changed.
# PGXN wants a three-part version, so META.json says X.Y.0 for extension
# version X.Y.
EXTVERSION_SEMVER = $(shell echo '$(EXTVERSION)' | sed 's/^\([0-9]*\.[0-9]*\)$$/\1.0/')
# The scripts every release shipped, with their checksums (written by
# tools/release.sh): they are never edited again.
SHIPPED = shipped.sha256
# The open upgrade script: from the last release to the version in development.
OPEN_UPGRADE = $(wildcard $(EXTENSION)--*--$(EXTVERSION).sql)

.PHONY: dist check-version release-open release-freeze
check-version:
	@test -n '$(EXTVERSION)' || { echo "no default_version in $(EXTENSION).control" >&2; exit 1; }
	@versions=$$(awk '/"meta-spec"/ { skip = 1 } \
	    skip { if (/}/) skip = 0; next } \
	    /"version"[ \t]*:/ { sub(/.*"version"[ \t]*:[ \t]*"/, ""); sub(/".*/, ""); print }' META.json); \
	test -n "$$versions" || { echo "META.json: no version found" >&2; exit 1; }; \
	for v in $$versions; do \
	    test "$$v" = '$(EXTVERSION_SEMVER)' || { \
	        echo "META.json says version $$v; $(EXTENSION).control says $(EXTVERSION) (expected $(EXTVERSION_SEMVER))" >&2; exit 1; }; \
	done
	@grep -q '^## $(EXTVERSION)\b' CHANGELOG.md || { echo "CHANGELOG.md has no section \"## $(EXTVERSION)\"" >&2; exit 1; }
	@echo "version $(EXTVERSION) (PGXN $(EXTVERSION_SEMVER)): control file, META.json and CHANGELOG.md agree"
	@for f in $(EXTENSION).sql $(DATA); do \
	    grep -q '^\\echo Use ".* EXTENSION $(EXTENSION).*" to load this file\. \\quit$$' $$f || { \
	        printf "%s: no \\\\echo guard (see $(EXTENSION).sql)\\n" "$$f" >&2; exit 1; }; \
	done
	@if [ -s $(SHIPPED) ]; then \
	    test $(words $(OPEN_UPGRADE)) = 1 || { \
	        echo "expected one upgrade script into $(EXTVERSION) (the open one), found: $(or $(OPEN_UPGRADE),none)" >&2; exit 1; }; \
	    ! grep -q ' $(EXTENSION)--$(EXTVERSION)\.sql$$' $(SHIPPED) || { \
	        echo "$(SHIPPED) lists $(EXTENSION)--$(EXTVERSION).sql, but $(EXTVERSION) is the version in development" >&2; exit 1; }; \
	    sha256sum --quiet --check $(SHIPPED) || { \
	        echo "a script shipped in a release has changed (see $(SHIPPED)): shipped scripts are never edited; make the change in $(EXTENSION).sql and append it to $(OPEN_UPGRADE)" >&2; exit 1; }; \
	    echo "the scripts shipped in releases are unchanged ($(SHIPPED)); the open upgrade script is $(OPEN_UPGRADE)"; \
	fi

# After releasing the version in development (CHANGELOG heading dated,
# release commit tagged): freeze its script and open the next version.
release-open:
	@test -n '$(NEXT)' || { echo "usage: make release-open NEXT=X.Y" >&2; exit 1; }
	tools/release.sh open '$(NEXT)'

# Freeze the last release again from event_sourcing.sql, as long as it is
# not published (not tagged, nothing in the open upgrade script yet).
release-freeze:
	tools/release.sh freeze

dist: check-version
	@git diff --quiet HEAD -- || echo "warning: uncommitted changes are not in the archive (it is made from HEAD)" >&2
	git archive --format=zip --prefix=$(EXTENSION)-$(EXTVERSION)/ -o $(EXTENSION)-$(EXTVERSION).zip HEAD
	@echo "wrote $(EXTENSION)-$(EXTVERSION).zip"

# learning: PGXS build.
#
# The extension script sql/learning--$(EXTVERSION).sql is assembled from the
# per-concern files in sql/parts/ (one section per concern, in file-name order),
# the way pg_partman assembles its script.
#
# Tests, after "make install" as root, as the postgres user:
#   make installcheck   the pg_regress suites, the PGXS way, on a temporary
#                       instance with test/learning.conf (library preloaded)
#   make test           every suite: pg_regress, pgTAP, isolation, scenarios
#                       (test/run_all.sh)

EXTENSION   = learning
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" learning.control)

MODULE_big  = learning
OBJS        = $(patsubst %.c,%.o,$(wildcard src/*.c))

DATA_built  = sql/learning--$(EXTVERSION).sql
DATA        = $(filter-out $(DATA_built),$(wildcard sql/learning--*--*.sql))

PG_CPPFLAGS = -I$(srcdir)/src -DEXTVERSION=\"$(EXTVERSION)\"
PG_CFLAGS   = -Wall -Wmissing-prototypes -Wpointer-arith -Werror=vla -Wendif-labels \
              -Wmissing-format-attribute -Wformat-security -Werror
SHLIB_LINK  = -lcurl

# pg_regress wants sql/ and expected/ under one input folder: REGRESS_PREP
# stages links to sql-tests/regress and expected/ in build/regress.
REGRESS      = $(sort $(basename $(notdir $(wildcard sql-tests/regress/*.sql))))
REGRESS_PREP = regress-staging
REGRESS_OPTS = --inputdir=build/regress --outputdir=build/regress \
               --temp-instance=build/regress/tmp_check --temp-config=test/learning.conf \
               --dbname=contrib_regression

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not track headers: every object depends on them all.
$(OBJS): $(wildcard src/*.h)

SQL_PARTS = $(sort $(wildcard sql/parts/*.sql))

sql/learning--$(EXTVERSION).sql: $(SQL_PARTS) learning.control
	cat $(SQL_PARTS) > $@

.PHONY: test regress-staging
test:
	bash test/run_all.sh

regress-staging:
	rm -rf build/regress && mkdir -p build/regress
	ln -s $(abspath sql-tests/regress) build/regress/sql
	ln -s $(abspath expected) build/regress/expected

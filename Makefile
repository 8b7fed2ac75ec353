# learning: PGXS build.
#
# The extension script sql/learning--$(EXTVERSION).sql is assembled from the
# per-concern files in sql/parts/ (one section per concern, in file-name order),
# the way pg_partman assembles its script.  Tests: see test/run_all.sh and the
# README ("make test" as the postgres user after "make install" as root).

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

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not track headers: every object depends on them all.
$(OBJS): $(wildcard src/*.h)

SQL_PARTS = $(sort $(wildcard sql/parts/*.sql))

sql/learning--$(EXTVERSION).sql: $(SQL_PARTS) learning.control
	cat $(SQL_PARTS) > $@

.PHONY: test
test:
	bash test/run_all.sh

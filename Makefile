# kurier: one non-recursive Makefile.
#
#   make            release build (gcc; CC=clang works too)
#   make deps       install the Debian packages the project needs
#   make run        deps, build, 20-node PostgreSQL cluster, kurierd
#                   (as root, workers run as the system user kurier)
#   make test       deps, build, lint, the suite in release (+ faults) and asan
#   make test-asan  the same suite built with ASan+UBSan
#   make fuzz       libFuzzer targets (clang) for FUZZ_TIME s each
#   make fuzz-merge new inputs of the fuzz runs minimised into the corpora
#   make lint       cppcheck, clang-format, layer rules
#   make install    PREFIX (default /usr/local), DESTDIR: binaries, filter
#                   modules, systemd unit, /etc/kurier/kurier.conf.example
#   make deb        build/kurier_<version>_<arch>.deb (dpkg-deb)
#   make bench      benchmarks side by side with their references
#   make bench-matrix  LMTP kurier vs Dovecot over a matrix of points, plots
#   make clean

BUILD ?= release
O := build/$(BUILD)

PKGS := libevent libevent_pthreads libevent_openssl jansson inih openssl zlib libpq libargon2 libcrypt gmime-3.0 libhs libpcre2-8
TEST_PKGS := cmocka

WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla -Wimplicit-fallthrough
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE -pthread -g -MMD -MP $(WARN) -I.
ifeq ($(BUILD),asan)
MODE_CFLAGS := -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all
MODE_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(BUILD),fuzz)
# libFuzzer needs clang; every object gets coverage and the sanitizers,
# only the targets link libFuzzer's main.
FUZZ_CC ?= clang
override CC := $(FUZZ_CC)
MODE_CFLAGS := -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
MODE_LDFLAGS := -fsanitize=fuzzer,address,undefined
else
MODE_CFLAGS := -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
MODE_LDFLAGS := -pie -Wl,-z,relro,-z,now
endif

PKG_CFLAGS = $(shell pkg-config --cflags-only-I $(PKGS) $(TEST_PKGS) 2>/dev/null | sed 's/-I/-isystem /g')
# libhttp-parser (Debian's nodejs/http-parser) ships no .pc file.
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lm
TEST_LIBS = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

CFLAGS_ALL = $(BASE_CFLAGS) $(MODE_CFLAGS) $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = -pthread $(MODE_LDFLAGS) $(LDFLAGS)

# Layers, lowest first; each becomes one static archive.
LAYERS := lib proto storage antispam admin
# antispam/ also carries the filter modules' code (below): all of it but
# their ABI entries goes into the archive, for the unit tests and the CLI.
layer_src = $(filter-out %_main.c %_entry.c,$(wildcard $(1)/*.c) \
	$(if $(filter antispam,$(1)),$(wildcard antispam/modules/*/*.c)))
# storage/ also carries its SQL migrations, embedded as generated C.
GEN_MIGRATIONS := $(O)/gen/storage/migrations_data.c
# admin/ also carries the dashboard's assets, embedded as generated C.
GEN_UI := $(O)/gen/admin/assets_data.c
layer_gen = $(if $(filter storage,$(1)),$(GEN_MIGRATIONS:.c=.o))$(if $(filter admin,$(1)),$(GEN_UI:.c=.o))
layer_obj = $(patsubst %.c,$(O)/%.o,$(call layer_src,$(1))) $(call layer_gen,$(1))
layer_lib = $(O)/lib$(1).a
ARCHIVES := $(foreach l,$(LAYERS),$(if $(call layer_src,$(l)),$(call layer_lib,$(l))))
# Link order is the reverse of the layer order.
LINK_ARCHIVES := $(foreach l,admin antispam storage proto lib,$(filter $(call layer_lib,$(l)),$(ARCHIVES)))

# server/: the process model at its top, one sub-folder per part.
SERVER_MAINS := server/kurierd_main.c server/cli/kurier_main.c
SERVER_SRC := $(filter-out $(SERVER_MAINS),$(wildcard server/*.c server/*/*.c))
SERVER_OBJ := $(patsubst %.c,$(O)/%.o,$(SERVER_SRC))
SERVER_LIB := $(O)/libserver.a
PROGRAMS = $(O)/kurierd $(O)/kurier $(MODULE_SO) $(MODULE_HELPERS)

# Filter modules (SPEC.md §5, antispam/filter.h): antispam/modules/NAME/
# -> $(O)/modules/kr_NAME.so, from position-independent objects; a
# module's <x>_main.c is a helper program beside it ($(O)/modules/kurier-<x>).
MODULE_NAMES := $(notdir $(wildcard antispam/modules/*))
MODULE_SO := $(patsubst %,$(O)/modules/kr_%.so,$(MODULE_NAMES))
MODULE_HELPERS := $(patsubst %_main.c,$(O)/modules/kurier-%,\
	$(notdir $(wildcard antispam/modules/*/*_main.c)))
module_src = $(filter-out %_main.c,$(wildcard antispam/modules/$(1)/*.c))
# Libraries a module links besides libc: MODULE_LIBS_<name>.
MODULE_LIBS_rules := -lhs -lpcre2-8
MODULE_LIBS_dnsbl := -levent
MODULE_LIBS_spf := -levent
MODULE_LIBS_bayes := -lm
HELPER_LIBS_spf := -lspf2
# Modules only the tests load (tests/modules/NAME/ -> $(O)/test-modules/).
TEST_MODULE_NAMES := $(notdir $(wildcard tests/modules/*))
TEST_MODULE_SO := $(patsubst %,$(O)/test-modules/kr_%.so,$(TEST_MODULE_NAMES))
SO_LDFLAGS = -shared -pthread $(filter-out -pie,$(MODE_LDFLAGS)) $(LDFLAGS)

# Benchmark and load tools: ops/bench_<name>.c -> build/<mode>/bench/<name>
BENCH_SRC := $(wildcard ops/bench_*.c)
BENCH_BIN := $(patsubst ops/bench_%.c,$(O)/bench/%,$(BENCH_SRC))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))

# Fuzz targets: tests/fuzz/fuzz_<name>.c, each with its seed corpus in
# tests/fuzz/corpus/<name>/. In the normal builds each is linked with
# tests/fuzz/replay.c into $(O)/replay/<name>, which tests/run.sh runs
# over the corpus; BUILD=fuzz links it with libFuzzer into
# build/fuzz/fuzz_<name>. Archives let each take only what it uses.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
REPLAY_BIN := $(patsubst %,$(O)/replay/%,$(FUZZ_NAMES))
FUZZ_TIME ?= 60
FUZZ_TARGETS ?= $(FUZZ_NAMES)

ALL_OBJ := $(foreach l,$(LAYERS),$(call layer_obj,$(l))) $(SERVER_OBJ) \
	$(patsubst %.c,$(O)/pic/%.o,$(foreach m,$(MODULE_NAMES),$(call module_src,$(m)))) \
	$(patsubst %.c,$(O)/%.o,$(wildcard antispam/modules/*/*_main.c)) \
	$(patsubst %.c,$(O)/pic/%.o,$(wildcard tests/modules/*/*.c)) \
	$(patsubst %.c,$(O)/%.o,$(SERVER_MAINS) $(UNIT_SRC) $(BENCH_SRC) \
		$(FUZZ_SRC) tests/fuzz/replay.c)

.PHONY: all deps deps-ui deps-test run test test-asan test-run test-build lint clean cluster-stop bench \
	fuzz fuzz-build fuzz-merge bench-matrix install deb
all: $(PROGRAMS)

Q := @
$(O)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

define layer_rule
$(call layer_lib,$(1)): $(call layer_obj,$(1))
	@mkdir -p $$(@D)
	$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rule,$(l))))

$(SERVER_LIB): $(SERVER_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/kurierd: $(O)/server/kurierd_main.o $(SERVER_LIB) $(LINK_ARCHIVES)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(O)/kurier: $(O)/server/cli/kurier_main.o $(SERVER_LIB) $(LINK_ARCHIVES)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(O)/pic/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC PIC  $<"
	$(Q)$(CC) $(CFLAGS_ALL) -fPIC -c $< -o $@

define module_rule
$(O)/modules/kr_$(1).so: $(patsubst %.c,$(O)/pic/%.o,$(call module_src,$(1)))
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	$(Q)$(CC) $$(SO_LDFLAGS) -o $$@ $$^ $(MODULE_LIBS_$(1))
$(O)/modules/kurier-$(1): $(patsubst %.c,$(O)/%.o,$(wildcard antispam/modules/$(1)/*.c))
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $$@ $$^ $(HELPER_LIBS_$(1)) $(MODULE_LIBS_$(1))
endef
$(foreach m,$(MODULE_NAMES),$(eval $(call module_rule,$(m))))

define test_module_rule
$(O)/test-modules/kr_$(1).so: $(patsubst %.c,$(O)/pic/%.o,$(wildcard tests/modules/$(1)/*.c))
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	$(Q)$(CC) $$(SO_LDFLAGS) -o $$@ $$^ -levent
endef
$(foreach m,$(TEST_MODULE_NAMES),$(eval $(call test_module_rule,$(m))))

$(GEN_MIGRATIONS): ops/embed-sql.sh $(wildcard storage/sql/*.sql)
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	$(Q)ops/embed-sql.sh storage/sql >$@.tmp && mv $@.tmp $@

$(GEN_MIGRATIONS:.c=.o): $(GEN_MIGRATIONS)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

# The dashboard (admin/assets.h): admin/ui/ and uPlot's dist files,
# embedded as generated C. uPlot comes from npm (admin/ui/package-lock.json,
# `npm ci` by `make deps` or here when node_modules is missing or older
# than the lock; no network once it exists). npm dates the files it
# unpacks 1985, so the stamp npm ci writes stands for them.
UI_DIR := admin/ui
UI_STAMP := $(UI_DIR)/node_modules/.package-lock.json
UI_FILES := $(addprefix $(UI_DIR)/,index.html login.html app.js login.js app.css) \
	$(addprefix $(UI_DIR)/node_modules/uplot/dist/,uPlot.iife.min.js uPlot.min.css)

$(UI_STAMP): $(UI_DIR)/package-lock.json $(UI_DIR)/package.json
	@echo "  NPM CI  $(UI_DIR)"
	$(Q)cd $(UI_DIR) && npm ci --no-audit --no-fund --loglevel=error
	$(Q)touch $@

$(filter $(UI_DIR)/node_modules/%,$(UI_FILES)): $(UI_STAMP)

$(GEN_UI): ops/embed-ui.sh $(UI_FILES) $(UI_STAMP)
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	$(Q)ops/embed-ui.sh $(UI_FILES) >$@.tmp && mv $@.tmp $@

$(GEN_UI:.c=.o): $(GEN_UI)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

deps-ui: $(UI_STAMP)

$(O)/bench/%: $(O)/ops/bench_%.o $(SERVER_LIB) $(LINK_ARCHIVES)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(O)/tests/%: $(O)/tests/unit/%.o $(SERVER_LIB) $(LINK_ARCHIVES)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

$(O)/replay/%: $(O)/tests/fuzz/fuzz_%.o $(O)/tests/fuzz/replay.o $(SERVER_LIB) $(LINK_ARCHIVES)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(O)/fuzz_%: $(O)/tests/fuzz/fuzz_%.o $(SERVER_LIB) $(LINK_ARCHIVES)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

deps:
	@ops/deps.sh
	@$(MAKE) --no-print-directory deps-ui

# Debian's chromium too, for the dashboard's browser test.
deps-test:
	@ops/deps.sh --test
	@$(MAKE) --no-print-directory deps-ui

run: deps
	@$(MAKE) --no-print-directory all
	@ops/pgcluster start
	@grep -q '^\[antispam\]' var/kurier.conf || \
		printf '\n[antispam]\n# SPEC.md §5; keys in ops/kurier.conf.example\nenabled = true\n' >>var/kurier.conf
	@ops/kurier-user.sh var/kurier.conf
	@printf 'demo\n' | $(O)/kurier -c var/kurier.conf user add demo@kurier.test \
		>/dev/null 2>&1 || true
	@echo "demo user: demo@kurier.test, password demo (created on the first run)"
	@echo "stop the cluster later with: ops/pgcluster stop"
	@echo "dashboard (open in a browser once kurierd runs):"
	@$(O)/kurier -c var/kurier.conf dashboard
	exec $(O)/kurierd -c var/kurier.conf

# The suite twice: the release build (with the fault suite) and the
# ASan+UBSan build (SPEC.md §6: parsers run under both sanitizers).
test: deps-test
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory test-run
	@$(MAKE) --no-print-directory BUILD=asan test-run

test-asan: deps-test
	@$(MAKE) --no-print-directory BUILD=asan test-run

bench: deps
	@$(MAKE) --no-print-directory $(PROGRAMS) $(BENCH_BIN)
	@ops/bench.sh $(O)

# LMTP kurier vs Dovecot over sessions x size x recipients, CPU split,
# plots (ops/bench_matrix.sh; MATRIX=quick|full|tiny, REPS, DURATION,
# QUIET_S). Also run at the end of `make bench`.
bench-matrix: deps
	@$(MAKE) --no-print-directory $(PROGRAMS) $(BENCH_BIN)
	@ops/bench_matrix.sh $(O)

# test-build builds what the suite needs; `tests/run.sh $(O) FILTER`
# then runs a part of it (KR_TEST_JOBS integration scripts at once).
test-build: $(PROGRAMS) $(TEST_MODULE_SO) $(UNIT_BIN) $(BENCH_BIN) $(REPLAY_BIN)

test-run: test-build
	@tests/run.sh $(O)

# Fuzzing writes only under build/fuzz/ (work corpora, crashes, logs)
# and, on fuzz-merge, into tests/fuzz/corpus/. FUZZ_TARGETS picks
# targets by name (default: all), FUZZ_TIME the seconds per target,
# FUZZ_RUNS (optional) a cap on executions per target.
ifeq ($(BUILD),fuzz)
fuzz-build: $(patsubst %,$(O)/fuzz_%,$(FUZZ_TARGETS))
else
fuzz-build:
	@$(MAKE) --no-print-directory BUILD=fuzz fuzz-build
endif

fuzz: deps
	@$(MAKE) --no-print-directory BUILD=fuzz fuzz-build
	@FUZZ_RUNS="$(FUZZ_RUNS)" ops/fuzz.sh run build/fuzz $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-merge: deps
	@$(MAKE) --no-print-directory BUILD=fuzz fuzz-build
	@ops/fuzz.sh merge build/fuzz 0 $(FUZZ_TARGETS)

lint:
	@ops/lint.sh

# make install [PREFIX=/usr/local] [DESTDIR=]: kurierd in sbin, kurier in
# bin, the filter modules and their helpers in lib/kurier/modules (where
# kurierd looks when [antispam] modules is unset), the unit in
# lib/systemd/system with ExecStart pointing at this PREFIX, the example
# config under DESTDIR/etc/kurier (never the live config).
PREFIX ?= /usr/local
DESTDIR ?=
install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/lib/kurier/modules \
		$(DESTDIR)$(PREFIX)/lib/systemd/system \
		$(DESTDIR)$(PREFIX)/share/doc/kurier $(DESTDIR)/etc/kurier
	install -m 0755 $(O)/kurierd $(DESTDIR)$(PREFIX)/sbin/kurierd
	install -m 0755 $(O)/kurier $(DESTDIR)$(PREFIX)/bin/kurier
	install -m 0644 $(MODULE_SO) $(DESTDIR)$(PREFIX)/lib/kurier/modules/
	install -m 0755 $(MODULE_HELPERS) $(DESTDIR)$(PREFIX)/lib/kurier/modules/
	sed 's|/usr/sbin/kurierd|$(PREFIX)/sbin/kurierd|; s|/usr/share/doc/kurier|$(PREFIX)/share/doc/kurier|' \
		ops/systemd/kurierd.service >$(DESTDIR)$(PREFIX)/lib/systemd/system/kurierd.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/kurierd.service
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/kurier/README.md
	install -m 0644 ops/README.md $(DESTDIR)$(PREFIX)/share/doc/kurier/ops-README.md
	install -m 0644 ops/kurier.conf.example $(DESTDIR)/etc/kurier/kurier.conf.example

# The package: `make install PREFIX=/usr` into a staging tree, then
# ops/deb/build.sh (control, maintainer scripts, dpkg-deb).
DEB_STAGE := build/deb/root
deb: all
	@rm -rf $(DEB_STAGE)
	@$(MAKE) --no-print-directory install PREFIX=/usr DESTDIR=$(CURDIR)/$(DEB_STAGE) >/dev/null
	@ops/deb/build.sh $(DEB_STAGE) build

clean:
	rm -rf build

# Keep objects that pattern rules would treat as intermediate.
.SECONDARY:

-include $(ALL_OBJ:.o=.d)

# shoal - one non-recursive Makefile.
#   make            build/shoald, build/shoal (and build/shoal-monitor, embedded in shoald)
#   make test       unit tests (cmocka) + integration tests (bats, needs root)
#   make unit       unit tests only
#   make check      unit + integration tests built with ASan + UBSan
#   make lint       clang-format, cppcheck, clang-tidy, shellcheck, include rules
#   make bench      benchmarks (never part of test)
# VARIANT: release (default, build/) | asan (build/asan/)
VARIANT ?= release
ifeq ($(VARIANT),release)
OUT := build
else
OUT := build/$(VARIANT)
endif
OBJ := $(OUT)/obj
GEN := build/gen

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wimplicit-fallthrough -Wvla -Wwrite-strings -Wpointer-arith -Wundef -fno-common \
        -Wno-format-nonliteral
CFLAGS.release := -O2 -g -D_FORTIFY_SOURCE=2
CFLAGS.asan := -O1 -g3 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
WERROR ?= 1

PKGS := libuv jansson libseccomp libprotobuf-c openssl zlib raft libnl-3.0 libnl-route-3.0 libnl-genl-3.0
# libcurl and libnftables are loaded with dlopen on first use
# (runtime/curl_dl.c, overlaynet/nft_dl.c): headers only.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libarchive libcurl libnftables)
# libarchive is linked statically: only the tar reader and the decompression
# filters we use are pulled in. The shared library drags libxml2, ICU and
# libstdc++ into shoald at start-up (about 3 MiB of RSS for nothing).
ARCHIVE_LIBS := -Wl,-Bstatic -larchive -lz -llzma -lzstd -lbz2 -llz4 -Wl,-Bdynamic
# OpenSSL is linked statically into shoald too: the shared libcrypto costs
# ~3 MiB of RSS at load whether or not TLS is used (relocations and ifuncs);
# statically only the pages of the code that runs are touched.
SSL_STATIC_LIBS := -Wl,-Bstatic -lssl -lcrypto -Wl,-Bdynamic
PKG_LIBS := $(shell pkg-config --libs $(filter-out openssl,$(PKGS))) $(SSL_STATIC_LIBS) $(ARCHIVE_LIBS) -lisal -lhttp_parser -lpthread -ldl
# Tests build archives of every kind: they link the shared libarchive.
TEST_LIBS := $(shell pkg-config --libs $(PKGS) libarchive) -lisal -lhttp_parser -lpthread -ldl

ALL_CPPFLAGS = -iquote . -iquote $(GEN) -MMD -MP -D_GNU_SOURCE $(PKG_CFLAGS) $(CPPFLAGS)
ALL_CFLAGS = -std=gnu11 $(WARN) $(if $(filter 1,$(WERROR)),-Werror) $(CFLAGS.$(VARIANT)) $(CFLAGS)
ALL_LDFLAGS = $(filter -fsanitize=%,$(CFLAGS.$(VARIANT))) $(LDFLAGS)

PROTOS := $(wildcard proto/*.proto)
PROTO_C := $(patsubst %.proto,$(GEN)/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)

LIB_SRCS := $(wildcard lib/*.c)
# libc-only pieces of lib/ that the static monitor links
LIB_MON_SRCS := lib/err.c lib/util.c lib/buf.c lib/log.c
RT_SRCS := $(wildcard runtime/*.c)
MON_SRCS := $(filter-out runtime/monitor/main.c,$(wildcard runtime/monitor/*.c))
NODE_SRCS := $(filter-out node/main.c,$(wildcard node/*.c))
CLI_SRCS := $(filter-out cli/main.c,$(wildcard cli/*.c))
OTHER_SRCS := $(foreach m,overlaynet raft scheduler manager worker,$(wildcard $(m)/*.c))

# runtime/seccomp-default.profile built into shoald as a C string
SECCOMP_PROFILE_C := $(GEN)/runtime/seccomp_profile.c

CORE_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(LIB_SRCS) $(RT_SRCS) $(MON_SRCS) $(NODE_SRCS) $(CLI_SRCS) $(OTHER_SRCS)) \
             $(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$(PROTO_C) $(SECCOMP_PROFILE_C))

# The monitor is always a small static binary built without sanitizers.
MON_OBJ := build/mon-obj
MON_OBJS := $(patsubst %.c,$(MON_OBJ)/%.o,runtime/monitor/main.c $(MON_SRCS) runtime/cgroup.c $(LIB_MON_SRCS)) \
            $(patsubst $(GEN)/%.c,$(MON_OBJ)/gen/%.o,$(PROTO_C))
MON_CFLAGS := -ffunction-sections -fdata-sections -std=gnu11 $(WARN) $(if $(filter 1,$(WERROR)),-Werror) -Os -g -D_FORTIFY_SOURCE=2 \
              -iquote . -iquote $(GEN) -MMD -MP -D_GNU_SOURCE -DSHOAL_MONITOR=1

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))

all: $(OUT)/shoald $(OUT)/shoal

$(GEN)/proto/%.pb-c.c $(GEN)/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)/proto
	protoc-c --c_out=$(GEN) $<

$(SECCOMP_PROFILE_C): runtime/seccomp-default.profile scripts/gen-seccomp-profile.sh
	@mkdir -p $(@D)
	scripts/gen-seccomp-profile.sh $< rt_seccomp__default_text > $@.tmp && mv $@.tmp $@

$(OBJ)/gen/%.o: $(GEN)/%.c $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -Wno-missing-prototypes -c $< -o $@

$(OBJ)/%.o: %.c $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(MON_OBJ)/gen/%.o: $(GEN)/%.c $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(MON_CFLAGS) -Wno-missing-prototypes -c $< -o $@

$(MON_OBJ)/%.o: %.c $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(MON_CFLAGS) -c $< -o $@

build/shoal-monitor: $(MON_OBJS)
	$(CC) -static -Wl,--gc-sections -o $@ $^ -l:libprotobuf-c.a
	objcopy --only-keep-debug $@ $@.debug
	strip --strip-all $@

# The monitor binary is linked into shoald; shoald runs it from a sealed memfd.
build/monitor-blob.o: build/shoal-monitor
	cd build && ld -r -b binary -z noexecstack -o monitor-blob.o shoal-monitor && \
	  objcopy --rename-section .data=.rodata,alloc,load,readonly,data,contents monitor-blob.o

$(OUT)/libcore.a: $(CORE_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(OUT)/shoald: $(OBJ)/node/main.o $(OUT)/libcore.a build/monitor-blob.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(OUT)/shoal: $(OBJ)/cli/main.o $(OUT)/libcore.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(OUT)/tests/%: $(OBJ)/tests/unit/%.o $(OUT)/libcore.a build/monitor-blob.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) -lcmocka

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "# $$t"; $$t; done

integration: all
	SHOAL_BUILD=$(OUT) bats tests/integration tests/compat tests/cluster

test: unit integration

check:
	$(MAKE) VARIANT=asan test

bench: all
	bench/run.sh

lint:
	tests/lint.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

.PHONY: all unit integration test check bench lint format clean
.SECONDARY:
-include $(shell find build -name '*.d' 2>/dev/null)

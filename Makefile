# SPDX-License-Identifier: GPL-2.0
# gfibers: the one entry point.  `make help` lists the targets.
#
# Userspace objects go to build/ (build/asan/, build/tsan/ for the sanitizer
# variants of the library and its host tests).  The module is built from a
# copy of its sources per kernel under build/kmod/, so that kbuild's outputs
# never land in the sources and two kernels never share objects;
# build/gfibers.ko is the one for KDIR.  The top-level Kbuild still lets the
# kernel's own `make -C $KDIR M=$PWD` build it in the tree.

B	:= build
# The Debian kernel series the VM boots (6.1 = linux-image-amd64 on Debian 12,
# 6.12 = linux-image-6.12-amd64), its release, headers and image.
# Resolved when make reads this file: `make demo` and `make check` install
# the kernels first (deps), then run the rest in a sub-make that reads it
# anew. A target that needs a kernel which is not there says so (need_kdir,
# need_kernel), `make -n` included, instead of building a path with a hole.
VMK	?= 6.1
KREL	:= $(shell scripts/kernels.sh $(VMK))
KDIR	?= /usr/src/linux-headers-$(KREL)
KERNEL	?= /boot/vmlinuz-$(KREL)
KTAG	:= $(notdir $(abspath $(KDIR)))
KSRC	?= /usr/src/linux-source-6.1.tar.xz

CC	?= gcc
OPT	?= -O2
CWARN	:= -Wall -Wextra -Werror
CFLAGS_BASE := -std=gnu11 -g $(OPT) $(CWARN) -pthread -Iinclude -fno-omit-frame-pointer
LIB_CFLAGS := -Iulib -fvisibility=hidden -fPIC
TEST_CFLAGS := -isystem $(B)/kselftest -Iulib
LDLIBS	:= -pthread

# Sanitizer variants: name, output directory, extra flags.
SAN_asan := -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_tsan := -fsanitize=thread
# Delay injection at the runtime's race points (ulib/chaos.c), for tests.
CHAOS	:= -DGF_CHAOS

LIB_SRCS  := $(wildcard ulib/*.c ulib/*.S)
LIB_HDRS  := $(wildcard include/*.h include/uapi/*.h ulib/*.h)
TEST_SRCS := $(wildcard ulib/tests/*.c)
KST_SRCS  := $(wildcard selftests/gfibers/*.c)
KST_HDRS  := $(wildcard selftests/gfibers/*.h)
EX_SRCS   := $(wildcard examples/*.c)
TOOL_SRCS := $(wildcard tools/*.c)
# tools/lib/: code the tools share with the selftests (the elfutils symbolizer)
TOOL_LIB  := $(wildcard tools/lib/*.c)
TOOL_LIB_HDRS := $(wildcard tools/lib/*.h) ulib/dwnames.h
# ... as an archive: a program links only what it uses (a selftest that
# names no PC carries no elfutils)
TOOL_LIB_A := $(B)/tools/lib/libtools.a
KHDR      := $(B)/kselftest/kselftest_harness.h

.PHONY: all lib tests selftests examples tools tools-tests gdb-tests module deps check check-debug \
	vmtest demo demo-vm fuzz soak chaos print-ktag \
	bench checkpatch clean help FORCE

all: lib tests selftests examples tools module

help:
	@echo 'make              library, host tests, selftests, examples, tools, module'
	@echo 'make demo         boot the VM, run examples/leak, print /proc/gfibers'
	@echo 'make check        first-run guards, host tests (plain, ASan+UBSan, TSan,'
	@echo '                  chaos, clang), gfps tests, the example servers,'
	@echo '                  packaging, then the VM kselftests on the 6.1 and'
	@echo '                  6.12 Debian kernels'
	@echo 'make check-debug  the VM kselftests on a debug kernel (KASAN, lockdep,'
	@echo '                  kmemleak, UBSAN, fault injection), built once into'
	@echo '                  ~/.cache/gfibers (about 9 minutes on 2 cores)'
	@echo 'make fuzz         ABI fuzzer in the VM (debug kernel): DURATION=s or OPS=n,'
	@echo '                  SEED, PROCS, VMK=debug|6.1|6.12'
	@echo 'make chaos        host tests under delay injection (ASan, TSan), random'
	@echo '                  seeds: DURATION=s (default 600), SEED to replay one'
	@echo 'make soak         100,000-fiber churners, readers, watchdog: DURATION=3600'
	@echo 'make vmtest       the VM kselftests on one kernel: VMK=6.1|6.12, or'
	@echo '                  KERNEL=/path/bzImage KDIR=/path/tree'
	@echo 'make deps         install the Debian packages (as root, when missing)'
	@echo 'make checkpatch   checkpatch.pl --strict on the module and the ABI'
	@echo 'make install      headers, libgfiber.a/.so.0, gfiber.pc, tools, man pages:'
	@echo '                  PREFIX=/usr/local DESTDIR=; make uninstall undoes it'
	@echo 'make deb          Debian packages in build/deb/ (libgfiber0, libgfiber-dev,'
	@echo '                  gfibers-dkms, gfibers-tools)'
	@echo 'make check-clang  library, host tests and tools built with clang, run'
	@echo 'make bench        benchmarks against Go and Boost.Context'
	@echo 'W=1 C=1 pass through to the module build (extra warnings, sparse).'

deps:
	@scripts/deps.sh

# kselftest's headers and checkpatch come from Debian's linux-source tarball,
# extracted at build time, never committed.
KSTAMP := $(B)/ksrc/.extracted
$(KSTAMP):
	@test -r $(KSRC) || { echo "missing $(KSRC): make deps" >&2; exit 1; }
	@mkdir -p $(B)/ksrc
	tar -xJf $(KSRC) -C $(B)/ksrc --strip-components=1 \
		linux-source-6.1/tools/testing/selftests/kselftest.h \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch
	@touch $@
$(KHDR): | $(KSTAMP)
	@mkdir -p $(B)/kselftest
	cp $(B)/ksrc/tools/testing/selftests/kselftest.h $(B)/kselftest/
	cp $(B)/ksrc/tools/testing/selftests/kselftest_harness.h $(B)/kselftest/

# ---------------------------------------------------------------- library
# $(call variant,DIR,EXTRA-CFLAGS): the library and host tests built in DIR.
define variant
$(1)/ulib/%.o: ulib/%.c $(LIB_HDRS)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) $$(LIB_CFLAGS) $(2) -c -o $$@ $$<
$(1)/ulib/%.o: ulib/%.S $(LIB_HDRS)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) $$(LIB_CFLAGS) $(2) -c -o $$@ $$<
$(1)/libgfiber.a: $(patsubst ulib/%,$(1)/ulib/%.o,$(basename $(LIB_SRCS)))
	@mkdir -p $$(@D)
	rm -f $$@
	$$(AR) rcs $$@ $$^
$(1)/tests/%: ulib/tests/%.c $(1)/libgfiber.a $(KHDR) $(LIB_HDRS) $(wildcard ulib/tests/*.h)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) $$(TEST_CFLAGS) $(2) -o $$@ $$< $(1)/libgfiber.a $$(LDLIBS)
# Examples that host tests run (echo_test: bin/echo), built with the
# variant's flags; in bin/, which the test runner does not run.
$(1)/tests/bin/%: examples/%.c $(1)/libgfiber.a $(LIB_HDRS)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) $(2) -o $$@ $$< $(1)/libgfiber.a $$(LDLIBS)
$(1)/tests/echo_test: $(1)/tests/bin/echo
endef
$(eval $(call variant,$(B),))
$(eval $(call variant,$(B)/asan,$(SAN_asan)))
$(eval $(call variant,$(B)/tsan,$(SAN_tsan)))
$(eval $(call variant,$(B)/chaos,$(CHAOS) $(SAN_asan)))
$(eval $(call variant,$(B)/chaos-tsan,$(CHAOS) $(SAN_tsan)))

HOST_TESTS = $(patsubst ulib/tests/%.c,$(1)/tests/%,$(TEST_SRCS)) $(1)/tests/settings
# (a static pattern: a plain %/tests/settings would match its own source)
$(addsuffix /tests/settings,$(B) $(B)/asan $(B)/tsan $(B)/chaos $(B)/chaos-tsan $(B)/clang): \
		%/tests/settings: ulib/tests/settings
	@mkdir -p $(@D)
	cp $< $@

$(B)/libgfiber.so: $(patsubst ulib/%,$(B)/ulib/%.o,$(basename $(LIB_SRCS)))
	$(CC) -shared -o $@ $^ $(LDLIBS)

lib: $(B)/libgfiber.a $(if $(LIB_SRCS),$(B)/libgfiber.so)
tests: $(call HOST_TESTS,$(B))
tests-asan: $(call HOST_TESTS,$(B)/asan)
tests-tsan: $(call HOST_TESTS,$(B)/tsan)
tests-chaos: $(call HOST_TESTS,$(B)/chaos)
tests-chaos-tsan: $(call HOST_TESTS,$(B)/chaos-tsan)

# ---------------------------------------------------------------- static programs
# Selftests and examples run inside a busybox initramfs: link them statically.
$(B)/selftests/gfibers/%: selftests/gfibers/%.c $(B)/libgfiber.a $(KHDR) $(KST_HDRS) $(LIB_HDRS) $(TOOL_LIB_A) $(TOOL_LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(TEST_CFLAGS) -Itools -static -o $@ $< $(TOOL_LIB_A) $(B)/libgfiber.a $(GFPS_LIBS) $(LDLIBS)
$(B)/selftests/gfibers/settings: $(wildcard selftests/gfibers/settings)
	@mkdir -p $(@D)
	$(if $<,cp $< $@,echo timeout=45 > $@)
$(B)/examples/%: examples/%.c $(B)/libgfiber.a $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -static -o $@ $< $(B)/libgfiber.a $(LDLIBS)
# gf_net_listen/gf_net_dial look names up with getaddrinfo(3), which in a
# static program loads glibc's NSS modules at run time (numeric addresses
# need none): glibc's link-time warning about it is noise here.
$(B)/examples/echo $(B)/examples/httpd: LDLIBS += -Wl,--no-warnings
$(B)/tools/%: tools/%.c $(TOOL_LIB_A) $(TOOL_LIB_HDRS) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -Itools -static -o $@ $< $(TOOL_LIB_A) $(GFPS_LIBS) $(LDLIBS)
$(B)/tools/lib/%.o: tools/lib/%.c $(TOOL_LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -Itools -c -o $@ $<
$(TOOL_LIB_A): $(patsubst tools/lib/%.c,$(B)/tools/lib/%.o,$(TOOL_LIB))
	rm -f $@
	$(AR) rcs $@ $^
# tools/lib/dwsym.c (gfps, and the selftests' symbolize.c) is elfutils:
# libdw-dev, with libbz2-dev (Debian's libdw.a reads bzip2-, xz- and
# zlib-compressed sections), linked statically so that it runs in the
# busybox initramfs. --no-warnings: glibc's link-time warning that libdw's
# debuginfod hook would dlopen() (never used here) is noise.
GFPS_SRCS := $(wildcard tools/gfps/*.c)
GFPS_HDRS := $(wildcard tools/gfps/*.h)
GFPS_LIBS := -Wl,--no-warnings -ldw -lelf -llzma -lbz2 -lz
$(B)/tools/gfps: tools/gfps.c $(GFPS_SRCS) $(GFPS_HDRS) $(TOOL_LIB_A) $(TOOL_LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -Itools -static -o $@ $< $(GFPS_SRCS) $(TOOL_LIB_A) $(GFPS_LIBS) $(LDLIBS)

# Shell kselftests (busybox sh in the VM), copied as they are.
KST_SCRIPTS := $(wildcard selftests/gfibers/*.sh)
$(B)/selftests/gfibers/%.sh: selftests/gfibers/%.sh
	@mkdir -p $(@D)
	cp $< $@
selftests: $(patsubst selftests/gfibers/%.c,$(B)/selftests/gfibers/%,$(KST_SRCS)) \
	$(patsubst selftests/gfibers/%,$(B)/selftests/gfibers/%,$(KST_SCRIPTS)) \
	$(B)/selftests/gfibers/settings
# A multi-file example: examples/NAME/*.c into build/examples/NAME.
EX_DIRS   := $(patsubst %/,%,$(dir $(wildcard examples/*/*.c)))
define exdir
$(B)/examples/$(notdir $(1)): $(wildcard $(1)/*.c $(1)/*.h) $(B)/libgfiber.a $(LIB_HDRS)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) -static -o $$@ $(wildcard $(1)/*.c) $(B)/libgfiber.a $$(LDLIBS)
endef
$(foreach d,$(sort $(EX_DIRS)),$(eval $(call exdir,$(d))))
examples: $(patsubst examples/%.c,$(B)/examples/%,$(EX_SRCS)) \
	$(patsubst examples/%,$(B)/examples/%,$(sort $(EX_DIRS)))
tools: $(patsubst tools/%.c,$(B)/tools/%,$(TOOL_SRCS))
# gfps's host tests (tools/tests/run.sh): a target with a parked context at
# known lines, PIE with shared libc and static; with ASan, gfps itself.
tools-tests: $(B)/tools/gfps $(B)/tools/tests/parked $(B)/tools/tests/parked-static \
	$(B)/tools/tests/gfps-asan
$(B)/tools/tests/parked: tools/tests/parked.c $(B)/libgfiber.a $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -Iulib -O1 -o $@ $< $(B)/libgfiber.a $(LDLIBS)
$(B)/tools/tests/parked-static: tools/tests/parked.c $(B)/libgfiber.a $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -Iulib -O1 -static -o $@ $< $(B)/libgfiber.a $(LDLIBS)
$(B)/tools/tests/gfps-asan: tools/gfps.c $(GFPS_SRCS) $(GFPS_HDRS) $(TOOL_LIB) $(TOOL_LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(SAN_asan) -Itools -o $@ $< $(GFPS_SRCS) $(TOOL_LIB) -ldw -lelf $(LDLIBS)

# The gdb extension's and USDT probes' tests (tools/gdb/test.sh): leak
# static (from examples/) and linked with libgfiber.so, and a workload of
# known parks.
gdb-tests: $(B)/examples/leak $(B)/tools/gdb/leak-shared $(B)/tools/gdb/parks
$(B)/tools/gdb/leak-shared: examples/leak.c $(B)/libgfiber.so $(B)/$(SONAME) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -o $@ $< -L$(B) -lgfiber -Wl,-rpath,$(abspath $(B)) $(LDLIBS)
$(B)/tools/gdb/parks: tools/gdb/parks.c $(B)/libgfiber.a $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -static -o $@ $< $(B)/libgfiber.a $(LDLIBS)

# ---------------------------------------------------------------- module
no_kernel = $(if $(KREL),,; no Debian $(VMK) kernel with its headers is installed)
need_kdir = $(if $(wildcard $(KDIR)/Makefile),,$(error no kernel tree at KDIR=$(KDIR)$(no_kernel): run `make deps` (as root), or set KDIR))
need_kernel = $(if $(wildcard $(KERNEL)),,$(error no kernel image KERNEL=$(KERNEL)$(no_kernel): run `make deps` (as root), or set KERNEL and KDIR))

# A copy per kernel (the VM runs use the one of the kernel they boot).
KCOPY := $(B)/kmod/$(KTAG)

# For `make && sudo insmod build/gfibers.ko`.
module: $(KCOPY)/kmod/gfibers.ko
	cp $< $(B)/gfibers.ko

$(KCOPY)/kmod/gfibers.ko: FORCE
	$(need_kdir)@mkdir -p $(KCOPY)
	rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='*.mod*' \
		--exclude='.*.cmd' --exclude='*.order' --exclude=Module.symvers \
		Kbuild kmod include $(KCOPY)/
	$(MAKE) -C $(KDIR) M=$(abspath $(KCOPY)) modules

checkpatch: $(KSTAMP)
	perl $(B)/ksrc/scripts/checkpatch.pl --no-tree --strict --terse \
		-f $(filter-out %.mod.c,$(wildcard kmod/*.c)) \
		$(wildcard kmod/*.h) include/uapi/*.h include/gfibers_names.h

# ---------------------------------------------------------------- VM
VMOUT := $(B)/vm/$(KTAG)
# httpd_test.sh: examples/httpd, and its sources for the lines it checks
VM_FILES = $(B)/selftests/gfibers:/selftests/gfibers $(B)/tools/gfps:/tools/gfps \
	$(B)/examples/httpd:/examples/httpd examples/httpd:/examples/src

vmtest: selftests $(B)/tools/gfps $(B)/examples/httpd $(KCOPY)/kmod/gfibers.ko
	$(need_kernel)@mkdir -p $(VMOUT) && ln -sfn $(KTAG)/console.log $(B)/vm/console.log
	selftests/vm/run.sh test $(KERNEL) $(KCOPY)/kmod/gfibers.ko $(VMOUT) $(VM_FILES)

# deps first, then a make that sees the kernels deps installed.
demo: deps
	@$(MAKE) --no-print-directory demo-vm

demo-vm: examples tools $(KCOPY)/kmod/gfibers.ko
	$(need_kernel)selftests/vm/run.sh demo $(KERNEL) $(KCOPY)/kmod/gfibers.ko \
		$(B)/vm/demo-$(KTAG) $(B)/examples:/examples $(B)/tools/gfps:/tools/gfps

check: deps
	@scripts/check.sh tree host tools examples chaos clang pkg vm:6.1 vm:6.12

check-debug: deps
	@scripts/check.sh vm:debug

# Long reliability runs in the VM (docs/testing.md); VMK=debug by default.
fuzz: deps
	@scripts/fuzz.sh fuzz

soak: deps
	@scripts/soak.sh

# Race hunting on the host: the chaos build, seed after seed.
chaos:
	@scripts/chaos.sh $(if $(DURATION),-d $(DURATION)) $(if $(SEED),-s $(SEED))

print-ktag:
	@echo $(KTAG)

# deps first (the compiler included), then the library in a sub-make.
bench: deps
	@$(MAKE) --no-print-directory lib
	$(MAKE) -f bench/Makefile

clean:
	rm -rf $(B)
	-test -f $(KDIR)/Makefile && $(MAKE) -C $(KDIR) M=$(CURDIR) clean

FORCE:

# ---------------------------------------------------------------- install, packages
# The version: include/gfibers_version.h, the one place it is written.
VERSION	:= $(shell sed -n 's/^\#define GFIBERS_VERSION "\(.*\)"$$/\1/p' include/gfibers_version.h)
SOMAJOR	:= $(firstword $(subst ., ,$(VERSION)))
SONAME	:= libgfiber.so.$(SOMAJOR)

# The shared library exports the GF_API functions of include/gfiber.h and
# nothing else (-fvisibility=hidden, and the version script's local: *).
$(B)/libgfiber.so: LDLIBS += -Wl,-soname,$(SONAME) -Wl,-z,defs
$(B)/libgfiber.so: ulib/libgfiber.map
# For programs linked with -Lbuild -lgfiber, run from the tree.
$(B)/$(SONAME): $(B)/libgfiber.so
	ln -sfn libgfiber.so $@
lib: $(B)/$(SONAME)

# kselftest_harness.h's TEST() leaves its 'variant' parameter unused, which
# clang (unlike gcc) reports in the test's own expansion of the macro.
ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null | head -n 1)),)
TEST_CFLAGS += -Wno-unused-parameter
endif

# A distribution's flags (dpkg-buildflags: hardening, prefix maps) when
# given, after the project's own so that they win.
CFLAGS_BASE += $(CPPFLAGS) $(CFLAGS)
LDLIBS	+= $(LDFLAGS)

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
LIBDIR	?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR	?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL	?= install
# gdb's auto-load directory: gdb finds the shared library's script there
# as <dir>/<the library's real path>-gdb.py (docs/gdb.md)
GDBDIR	?= $(PREFIX)/share/gdb/auto-load
GDB_SCRIPT = $(GDBDIR)$(LIBDIR)/libgfiber.so.$(VERSION)-gdb.py

MAN_PAGES := $(wildcard man/man*/*.[0-9])
TOOLS	:= $(patsubst tools/%.c,%,$(TOOL_SRCS))

# The tools as installed: linked dynamically (build/tools/ has them static,
# for the VM's initramfs).
TOOLS_DYN := $(addprefix $(B)/tools-dyn/,$(TOOLS))
$(B)/tools-dyn/%: tools/%.c $(TOOL_LIB) $(TOOL_LIB_HDRS) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -o $@ $< $(TOOL_LIB) $(LDLIBS)
# gfps: its own sources and elfutils, from Debian's shared libdw.
$(B)/tools-dyn/gfps: tools/gfps.c $(GFPS_SRCS) $(GFPS_HDRS) $(TOOL_LIB) $(TOOL_LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -Itools -o $@ $< $(GFPS_SRCS) $(TOOL_LIB) -ldw -lelf $(LDLIBS)
tools-dyn: $(TOOLS_DYN)

$(B)/gfiber.pc: gfiber.pc.in include/gfibers_version.h FORCE
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    $< > $@.tmp && mv $@.tmp $@

.PHONY: install uninstall tools-dyn deb check-clang check-man check-api check-version check-licenses check-packaging

install: lib tools-dyn $(B)/gfiber.pc
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR)/gfibers $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR) \
		$(sort $(dir $(addprefix $(DESTDIR)$(MANDIR)/,$(MAN_PAGES:man/%=%))))
	$(INSTALL) -m 644 include/gfiber.h $(DESTDIR)$(INCLUDEDIR)/gfiber.h
	$(INSTALL) -m 644 include/uapi/gfibers.h $(DESTDIR)$(INCLUDEDIR)/gfibers/gfibers.h
	$(INSTALL) -m 644 $(B)/libgfiber.a $(DESTDIR)$(LIBDIR)/libgfiber.a
	$(INSTALL) -m 755 $(B)/libgfiber.so $(DESTDIR)$(LIBDIR)/libgfiber.so.$(VERSION)
	ln -sfn libgfiber.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libgfiber.so
	$(INSTALL) -m 644 $(B)/gfiber.pc $(DESTDIR)$(PKGCONFIGDIR)/gfiber.pc
	$(INSTALL) -m 755 $(TOOLS_DYN) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -d $(DESTDIR)$(dir $(GDB_SCRIPT))
	$(INSTALL) -m 644 tools/gdb/libgfiber-gdb.py $(DESTDIR)$(GDB_SCRIPT)
	for m in $(MAN_PAGES:man/%=%); do \
		$(INSTALL) -m 644 man/$$m $(DESTDIR)$(MANDIR)/$$m || exit 1; \
	done

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/gfiber.h $(DESTDIR)$(INCLUDEDIR)/gfibers/gfibers.h \
		$(DESTDIR)$(LIBDIR)/libgfiber.a $(DESTDIR)$(LIBDIR)/libgfiber.so \
		$(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libgfiber.so.$(VERSION) \
		$(DESTDIR)$(PKGCONFIGDIR)/gfiber.pc $(DESTDIR)$(GDB_SCRIPT) \
		$(addprefix $(DESTDIR)$(BINDIR)/,$(TOOLS)) \
		$(addprefix $(DESTDIR)$(MANDIR)/,$(MAN_PAGES:man/%=%))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/gfibers 2>/dev/null || true

# Debian packages into build/deb/: libgfiber0, libgfiber-dev, gfibers-dkms,
# gfibers-tools (scripts/deb.sh, which installs debhelper and dh-dkms).
deb:
	@scripts/deb.sh build

# The library, host tests and tools built with clang into build/clang, and
# the host tests run.
check-clang:
	@scripts/check-clang.sh

# The man pages: mandoc -T lint, and one for every GF_API function.
check-man:
	@scripts/check-man.sh

# What the compiler enforces of gfiber.h's conventions (typed deadlines,
# GF_MUST_CHECK), with gcc and clang, C and C++.
check-api:
	@scripts/check-api.sh

# The version of include/gfibers_version.h everywhere it must be repeated.
check-version:
	@scripts/check-version.sh

# Every file's SPDX line against LICENSE; MODULE_LICENSE("GPL").
check-licenses:
	@scripts/check-licenses.sh

# make install into a scratch DESTDIR, then build and run a program with
# pkg-config alone; the exported symbols; the DKMS build on both kernels.
check-packaging:
	@scripts/check-install.sh
	@scripts/check-dkms.sh

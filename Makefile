# Postern build. One non-recursive Makefile.
#
#   make              build everything (optimised)
#   make SANITIZE=1   build with ASan + UBSan (into build/san)
#   make check        unit tests + fuzz smoke runs + end-to-end tests, sanitizers on
#   make deps         install the Debian packages the build and tests need
#   make install      run conf/postern-install (asks where things go)
#   make clean

SHELL := /bin/bash

# Install-time defaults compiled into the programs (install may override them
# in main.cf; these are what "postconf -d" shows).
config_directory ?= /etc/postern
daemon_directory ?= /usr/libexec/postern
command_directory ?= /usr/sbin
queue_directory ?= /var/spool/postern
data_directory ?= /var/lib/postern
meta_directory ?= /etc/postern
sendmail_path ?= /usr/sbin/sendmail
newaliases_path ?= /usr/bin/newaliases
mailq_path ?= /usr/bin/mailq
mail_owner ?= postern
setgid_group ?= posterndrop
manpage_directory ?= /usr/share/man
html_directory ?= no
readme_directory ?= no

VERSION := 0.1.0

CC ?= cc
ifeq ($(SANITIZE),1)
BUILD := build/san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
else
BUILD := build/opt
SAN_FLAGS :=
OPT := -O2
endif

PKGS := openssl libbsd-overlay libpcre2-8
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

DEFS := -D_GNU_SOURCE -DPOSTERN_VERSION='"$(VERSION)"'

# The install answers that are compiled in as defaults live in one object,
# lib/defaults.c, rebuilt whenever one of them changes (the stamp below), so
# that "make install config_directory=/x" rebuilds one file and relinks.
PATH_VARS := config_directory daemon_directory command_directory \
	queue_directory data_directory meta_directory sendmail_path \
	newaliases_path mailq_path mail_owner setgid_group manpage_directory \
	html_directory readme_directory
PATH_DEFS := $(foreach v,$(PATH_VARS),-DDEF_$(v)='"$($(v))"')
INSTALL_VARS := install_root tempdir $(PATH_VARS)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2
CFLAGS_ALL := -std=c11 $(WARN) $(OPT) -g $(SAN_FLAGS) $(DEFS) -Ilib -Imaps $(PKG_CFLAGS) $(CFLAGS)
# gold links the sanitizer builds in a third of the time of ld.bfd (the
# e2e tests link every program once per test installation).
LD_FAST := $(shell $(CC) -fuse-ld=gold -Wl,--version >/dev/null 2>&1 && echo -fuse-ld=gold)
LDLIBS_ALL := $(LD_FAST) $(SAN_FLAGS) $(PKG_LIBS) -ldb -lcrypt $(LDLIBS)

LIB_SRCS := $(wildcard lib/*.c)
# maps/ holds the library of map types plus the postmap and postalias mains.
MAPS_MAINS := maps/postmap.c maps/postalias.c
MAPS_SRCS := $(filter-out $(MAPS_MAINS),$(wildcard maps/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAPS_OBJS := $(MAPS_SRCS:%.c=$(BUILD)/%.o)
LIBPOSTERN := $(BUILD)/libpostern.a

# Programs: each NAME_SRCS lists the files of program NAME; a program is
# built once its main file exists. Program folders never share files: what
# two programs need lives in lib/ or maps/.
postconf_SRCS := $(wildcard postconf/*.c)
postmap_SRCS := maps/postmap.c
postalias_SRCS := maps/postalias.c
master_SRCS := $(filter-out master/postern%,$(wildcard master/*.c))
postern_SRCS := $(wildcard master/postern*.c)
# queue/: one main file per program, helpers named after it (cleanup_*.c).
cleanup_SRCS := $(wildcard queue/cleanup.c queue/cleanup_*.c)
pickup_SRCS := $(wildcard queue/pickup.c queue/pickup_*.c)
postdrop_SRCS := $(wildcard queue/postdrop.c queue/postdrop_*.c)
sendmail_SRCS := $(wildcard queue/sendmail.c queue/sendmail_*.c)
qmgr_SRCS := $(wildcard queue/qmgr.c queue/qmgr_*.c)
bounce_SRCS := $(wildcard queue/bounce.c queue/bounce_*.c)
showq_SRCS := $(wildcard queue/showq.c queue/showq_*.c)
postqueue_SRCS := $(wildcard queue/postqueue.c queue/postqueue_*.c)
postsuper_SRCS := $(wildcard queue/postsuper.c queue/postsuper_*.c)
postcat_SRCS := $(wildcard queue/postcat.c)
discard_SRCS := $(wildcard queue/discard.c)
error_SRCS := $(wildcard queue/error.c)
# smtpd/: the SMTP server; smtpd.c is its main file.
smtpd_SRCS := $(wildcard smtpd/smtpd.c smtpd/smtpd_*.c)
# auth/: the auth service (auth.c) and its admin tool (postauth.c).
auth_SRCS := $(wildcard auth/auth.c auth/auth_*.c)
postauth_SRCS := $(if $(wildcard auth/postauth.c),auth/postauth.c $(wildcard auth/auth_*.c))
# anvil/: the connection and rate counter service smtpd asks.
anvil_SRCS := $(wildcard anvil/anvil.c anvil/anvil_*.c)
# local/: the local delivery agent.
local_SRCS := $(wildcard local/local.c local/local_*.c)
# smtp/: the SMTP client delivery agent; smtp.c is its main file.
smtp_SRCS := $(wildcard smtp/smtp.c smtp/smtp_*.c)
# Test-only daemons, tests/daemons/NAME.c -> $(BUILD)/testbin/NAME: the e2e
# tests copy them into a test instance's daemon_directory; install never does.
TEST_DAEMONS := $(patsubst tests/daemons/%.c,%,$(wildcard tests/daemons/*.c))
TEST_DAEMON_BINS := $(TEST_DAEMONS:%=$(BUILD)/testbin/%)

ALL_PROGRAMS := postconf postmap postalias master postern cleanup pickup \
	postdrop sendmail qmgr bounce showq postqueue postsuper postcat discard error \
	smtpd anvil auth postauth local smtp
PROGRAMS := $(foreach p,$(ALL_PROGRAMS),$(if $(strip $($(p)_SRCS)),$(if $(wildcard $(firstword $($(p)_SRCS))),$(p))))

PROG_BINS := $(PROGRAMS:%=$(BUILD)/bin/%)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all check unit fuzz e2e deps install clean format-check stage
all: $(PROG_BINS) $(TEST_DAEMON_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $@"; $(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(BUILD)/paths.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(PATH_DEFS)' | cmp -s - $@ || echo '$(PATH_DEFS)' > $@

$(BUILD)/lib/defaults.o: lib/defaults.c $(BUILD)/paths.stamp
	@mkdir -p $(dir $@)
	@echo "  CC $@"; $(CC) $(CFLAGS_ALL) $(PATH_DEFS) -MMD -MP -c -o $@ $<

FORCE:

$(LIBPOSTERN): $(LIB_OBJS) $(MAPS_OBJS)
	@mkdir -p $(dir $@)
	@echo "  AR $@"; rm -f $@; ar rcs $@ $^

define prog_rule
$(BUILD)/bin/$(1): $$($(1)_SRCS:%.c=$(BUILD)/%.o) $(LIBPOSTERN)
	@mkdir -p $$(dir $$@)
	@echo "  LD $$@"; $$(CC) -o $$@ $$^ $$(LDLIBS_ALL)
endef
$(foreach p,$(PROGRAMS),$(eval $(call prog_rule,$(p))))

$(BUILD)/testbin/%: $(BUILD)/tests/daemons/%.o $(LIBPOSTERN)
	@mkdir -p $(dir $@)
	@echo "  LD $@"; $(CC) -o $@ $^ $(LDLIBS_ALL)

# make stage STAGE=DIR name=value...: link every program with those install
# answers compiled in, into DIR/bin, leaving $(BUILD) as it is. The install
# script runs "make all" first and then this; stage has no prerequisites on
# purpose, since rebuilding them here would compile the answers into
# $(BUILD)/lib/defaults.o.
STAGE ?= $(BUILD)/stage
# Links run side by side: an e2e run installs dozens of instances.
STAGE_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
stage:
	@test -f $(LIBPOSTERN) || { echo "make stage: run make all first (no $(LIBPOSTERN))" >&2; exit 1; }
	@mkdir -p $(STAGE)/bin
	@$(CC) $(CFLAGS_ALL) $(PATH_DEFS) -c -o $(STAGE)/defaults.o lib/defaults.c
	@{ $(foreach p,$(PROGRAMS),echo "$(p) $($(p)_SRCS:%.c=$(BUILD)/%.o)";) } | \
	xargs -P $(STAGE_JOBS) -L 1 sh -c 'p=$$1; shift; $(CC) -o $(STAGE)/bin/$$p.tmp $(STAGE)/defaults.o "$$@" $(LIBPOSTERN) $(LDLIBS_ALL) && mv -f $(STAGE)/bin/$$p.tmp $(STAGE)/bin/$$p' sh

$(BUILD)/tests/%: tests/unit/%.c $(LIBPOSTERN)
	@mkdir -p $(dir $@)
	@echo "  CC $@"; $(CC) $(CFLAGS_ALL) -Itests/unit -MMD -MP -MF $@.d -o $@ $< $(LIBPOSTERN) -lcmocka $(LDLIBS_ALL)

-include $(shell find build -name '*.d' 2>/dev/null)

# ---- tests ---------------------------------------------------------------
# make check always tests the sanitizer build.
ifneq ($(SANITIZE),1)
check:
	$(MAKE) SANITIZE=1 check
else
check: format-check unit fuzz e2e
endif

# One .clang-format for all C (STYLE.md); a file that differs fails check.
format-check:
	@files=$$(git ls-files '*.c' '*.h' 2>/dev/null || find lib maps postconf master tests -name '*.[ch]'); \
	clang-format --dry-run --Werror $$files && echo "format: $$(echo $$files | wc -w) files clean"

unit: $(UNIT_BINS) $(PROG_BINS)
	@bash tests/run-unit $(BUILD)

fuzz:
	@bash tests/fuzz/run

e2e: $(PROG_BINS) $(TEST_DAEMON_BINS)
	@POSTERN_BUILD=$(BUILD) POSTERN_SANITIZE=$(SANITIZE) /usr/bin/python3 -m pytest -q tests/e2e

# ---- dependencies --------------------------------------------------------
DEB_PACKAGES := build-essential pkg-config clang libclang-rt-dev python3-aiosmtpd \
	libssl-dev libdb-dev libbsd-dev libpcre2-dev libcmocka-dev \
	python3 python3-pytest swaks libnet-ssleay-perl libio-socket-ssl-perl \
	msmtp openssl groff-base man-db \
	passwd clang-format procps iproute2 postfix postfix-pcre \
	dnsmasq-base sasl2-bin libsasl2-modules fail2ban libauthen-sasl-perl \
	libdigest-hmac-perl logrotate

deps:
	@bash conf/install-deps $(DEB_PACKAGES)

# ---- install -------------------------------------------------------------
# The script asks its questions, then runs "make all" with the answers so the
# compiled-in defaults match the installed main.cf, then copies files.
INSTALL_ARGS := $(foreach v,$(INSTALL_VARS),$(if $(filter command line,$(origin $(v))),$(v)=$($(v))))
install:
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) VERSION=$(VERSION) MAKE="$(MAKE)" \
		bash conf/postern-install $(INSTALL_ARGS)

# make deb: a Debian package (dpkg-deb) from a staged install; see
# conf/make-deb. DEB_OUT: where the .deb goes (default: BUILD).
.PHONY: deb
deb: all
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) VERSION=$(VERSION) MAKE="$(MAKE)" \
		bash conf/make-deb $(DEB_OUT)

# make demo: deps when missing, build, install into ./demo/ and run it in
# the foreground (SMTP on 127.0.0.1:2525, log on stdout); see conf/demo.
.PHONY: demo
demo:
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) VERSION=$(VERSION) MAKE="$(MAKE)" \
		bash conf/demo

clean:
	rm -rf build

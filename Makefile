# tsrun: `make demo` builds everything and runs a busybox container; `make test` runs the suite.
PREFIX ?= /usr/local
NODE ?= node
BUNDLE ?= build/demo-bundle

.PHONY: all build deps test-deps native demo test unit integration security fuzz-plan e2e typecheck bench install clean

all: build

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh test
	@# Failing here is not fatal: the tests that need the stack fail (or skip, offline) with its message.
	-@scripts/modern-stack.sh >/dev/null
	-@scripts/containerd17.sh >/dev/null

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

native:
	$(MAKE) -C native NODE_BIN=$$($(NODE) -p process.execPath)

build: node_modules/.package-lock.json native
	$(NODE) scripts/build.mjs
	cp native/tsrun-executor bin/tsrun-executor
	cp native/tsrun-launcher bin/tsrun
	cp native/shim-launcher bin/containerd-shim-tsrun-v2
	cp native/shim-launcher build/fault/containerd-shim-tsrun-v2
	$(MAKE) -C native fault FAULT_OUT=$(CURDIR)/build/fault/tsrun-executor

typecheck: node_modules/.package-lock.json
	$(NODE) scripts/gen-proto.mjs
	npx tsc --noEmit -p .

demo: deps build
	scripts/make-busybox-bundle.sh $(BUNDLE) demo
	bin/tsrun --root build/demo-root run --bundle $(BUNDLE) tsrun-demo-$$$$

unit: build
	$(NODE) --test --test-reporter=spec build/test/unit/*.test.cjs

integration: build
	$(NODE) --test --test-concurrency=1 --test-reporter=spec build/test/integration/*.test.cjs

security: build
	$(NODE) --test --test-concurrency=1 --test-reporter=spec build/test/security/*.test.cjs

# The plan decoder under libFuzzer for FUZZ_SECONDS (60 in CI), seeded with real plans.
fuzz-plan: build
	TSRUN_PLAN_SEEDS=native/fuzz/seeds $(NODE) --test build/test/fuzz/plan-seeds.test.cjs >/dev/null
	$(MAKE) -C native fuzz FUZZ_SECONDS=$(or $(FUZZ_SECONDS),60)

e2e: test-deps build
	$(NODE) --test --test-concurrency=1 --test-reporter=spec build/test/e2e/*.test.cjs

test: test-deps build typecheck
	$(MAKE) -C native test
	$(MAKE) fuzz-plan
	$(NODE) scripts/run-tests.mjs

bench: deps build
	$(NODE) bench/lifecycle.mjs
	$(NODE) build/bench/seccomp.bench.cjs

install: build
	install -d $(DESTDIR)$(PREFIX)/lib/tsrun $(DESTDIR)$(PREFIX)/bin
	install -m 0755 bin/tsrun $(DESTDIR)$(PREFIX)/lib/tsrun/tsrun
	rm -f $(DESTDIR)$(PREFIX)/lib/tsrun/tsrun.*.cache $(DESTDIR)$(PREFIX)/lib/tsrun/tsrun-quick.*.cache $(DESTDIR)$(PREFIX)/lib/tsrun/generated/*.cache
	install -m 0644 bin/tsrun-launcher.cjs bin/tsrun.cjs bin/tsrun.*.cache bin/tsrun-quick.cjs bin/tsrun-quick.*.cache $(DESTDIR)$(PREFIX)/lib/tsrun/
	install -m 0644 bin/package.json $(DESTDIR)$(PREFIX)/lib/tsrun/package.json
	install -d $(DESTDIR)$(PREFIX)/lib/tsrun/generated
	install -m 0644 bin/generated/validators.js bin/generated/validators.*.cache $(DESTDIR)$(PREFIX)/lib/tsrun/generated/
	install -m 0755 bin/tsrun-executor $(DESTDIR)$(PREFIX)/lib/tsrun/tsrun-executor
	rm -rf $(DESTDIR)$(PREFIX)/lib/tsrun/node_modules && mkdir -p $(DESTDIR)$(PREFIX)/lib/tsrun/node_modules
	cp -r node_modules/koffi $(DESTDIR)$(PREFIX)/lib/tsrun/node_modules/
	ln -sf ../lib/tsrun/tsrun $(DESTDIR)$(PREFIX)/bin/tsrun
	install -m 0755 bin/containerd-shim-tsrun-v2 $(DESTDIR)$(PREFIX)/lib/tsrun/containerd-shim-tsrun-v2
	install -m 0644 bin/tsrun-shim.cjs bin/tsrun-shim-main.cjs $(DESTDIR)$(PREFIX)/lib/tsrun/
	if [ -f bin/tsrun-shim.cache ]; then install -m 0644 bin/tsrun-shim.cache $(DESTDIR)$(PREFIX)/lib/tsrun/; fi
	install -m 0644 bin/tsrun-shim-grpc.cjs $(DESTDIR)$(PREFIX)/lib/tsrun/tsrun-shim-grpc.cjs
	ln -sf ../lib/tsrun/containerd-shim-tsrun-v2 $(DESTDIR)$(PREFIX)/bin/containerd-shim-tsrun-v2

clean:
	rm -rf build bin runtime/spec/generated proto/generated
	$(MAKE) -C native clean

# tsbridge: `make build` gives build/bin/tsbridge (one self-contained executable),
# `make test` runs every test and ends with "N passed, M failed", `make demo` shows it working.
.PHONY: all deps build compile test test-unit test-kernel test-parity demo clean

all: build

# Debian packages and npm modules a fresh machine lacks (skipped when present)
deps:
	bash build/deps.sh

build: deps
	node build/build.mjs

# type-check everything (strict) and emit JS for the tests into build/js (emptied first: the JS of
# a moved or deleted test must not keep running)
compile: deps
	rm -rf build/js
	npx tsc -p .

test: build compile
	node test/run.mjs

# the syscall addon alone, which the unit tests load from build/native (`build` makes it too)
# formatter + linter (biome.jsonc: style, and the floors of src/ as import rules); `make test` runs the
# same check as a unit test (test/unit/house-lint.test.ts). `make fmt` rewrites: long comments and
# strings wrapped at 120 columns, pieces the formatter put back on one line joined, the formatter
# (the test-call layout can push a joined title past 120 again: wrapped once more), the linter's fixes.
.PHONY: lint fmt
lint: deps
	npx biome ci

fmt: deps
	git ls-files -z -- '*.ts' '*.mjs' | xargs -0 node build/wrap-long-lines.mjs
	npx biome format --write
	git ls-files -z -- '*.ts' '*.mjs' | xargs -0 node build/wrap-long-lines.mjs --join
	npx biome format --write
	git ls-files -z -- '*.ts' '*.mjs' | xargs -0 node build/wrap-long-lines.mjs
	npx biome format --write
	npx biome lint --write

.PHONY: native
native: deps
	node build/build.mjs --native-only

test-unit: native compile
	node test/run.mjs unit

test-kernel: build compile
	node test/run.mjs kernel

# the differential suite: the reference bridge + host-local + portmap vs tsbridge (or PARITY_PLUGIN)
# in twin namespaces (test/parity; root). PARITY_CASES=<regex> runs some cases, PARITY_JOBS=<n> in parallel.
test-parity: build compile
	node test/run.mjs parity

demo: build
	bash build/demo.sh

# re-record the bytecode layout profile build/bytecode-order/*.order (root; scratch namespaces):
# the functions ADD, DEL, CHECK, VERSION, ... run, which `make build` places first (docs/build.md)
.PHONY: bytecode-order
bytecode-order: deps
	node build/record-bytecode-order.mjs

# cnitool: a cnitool-compatible client on Debian's libcni -> build/cnitool (see docs/clients.md).
# e2e: tsbridge under real clients from Debian (ctr run --cni, podman, containerd CRI), each in a
# throwaway node namespace; as root; ends with "N passed, M failed" (test/e2e/run.sh).
.PHONY: cnitool e2e
cnitool:
	bash test/cnitool/build.sh

e2e: build compile
	node test/run.mjs e2e

clean:
	rm -rf build/bin build/bundle build/js build/native build/native-arm64 build/recorder

# tsbridge vs the reference plugins, side by side (not a test; prints a table of ratios). Root.
.PHONY: bench
bench: build compile cnitool
	env -u NODE_EXTRA_CA_CERTS node build/js/bench/bench.js

# the reliability layer alone: seeded fuzzing, kill -9 at each ADD step, storms, store damage,
# lock contention (FUZZ_SEED, FUZZ_CASES, STORM_PODS, STORM_CYCLES scale or replay it)
.PHONY: test-reliability
test-reliability: build compile
	node test/run.mjs 'unit:fuzz-' 'kernel:(fault|fuzz)-'

# the long churn soak (not part of `make test`; its short version is test/kernel/soak-churn.test.ts):
# 10,000 ADD/DEL pairs, 20 in parallel, 1 % kill -9, random GC; prints leaks and p50/p99 first/last 1,000
.PHONY: soak
soak: build compile
	env -u NODE_EXTRA_CA_CERTS node build/js/bench/soak.js

# the long route-agent soak (not part of `make test`; its short version is test/kernel/k8s-agent-soak.test.ts):
# install --watch --routes through 50,000 Node events, watch drops, 410, 500s, a foreign certificate and a
# 30 s hang; prints RSS/fd at start and end and the convergence after each outage (AGENT_SOAK_* scale it)
.PHONY: soak-agent
soak-agent: build compile
	env -u NODE_EXTRA_CA_CERTS node build/js/bench/soak-agent.js

# the test VM: Debian 12's stock kernel (6.1, with bridge VLAN filtering and 802.1Q) under QEMU/TCG,
# an initramfs with the binary and the guest checks in test/vm/guest; ends with "N passed, M failed"
.PHONY: test-vm
test-vm: build
	node test/run.mjs vm

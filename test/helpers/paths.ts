// Where the tests find the repository and the binary under test: here and nowhere else.
// TSBRIDGE_BIN names the binary (absolute, or relative to the repository root); default
// build/bin/tsbridge. The shell side (test/e2e/lib.sh, test/vm/build.sh,
// conf/kubernetes/build-image.sh) reads the same variable with the same default.
import * as path from 'node:path';

/** The repository root (this file runs compiled from build/js/test/helpers). */
export const ROOT = path.resolve(__dirname, '../../../..');

/** The tsbridge binary every test runs: $TSBRIDGE_BIN, default build/bin/tsbridge. */
export const BIN = path.resolve(ROOT, process.env.TSBRIDGE_BIN || 'build/bin/tsbridge');

/** The arm64 build of the same binary: `make build` writes it next to it, as `<BIN>-arm64`. */
export const BIN_ARM64 = `${BIN}-arm64`;

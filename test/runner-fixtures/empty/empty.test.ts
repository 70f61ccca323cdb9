// A test file with no tests at all: a failure (tests that vanish must not read as a pass).
export {};

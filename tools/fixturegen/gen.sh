#!/bin/sh
# Regenerates test/fixtures/cpu/ by executing every case natively on this machine's CPU.
# Needs a C compiler (cc) and deno; only the generator needs them, never the tests.
#   ./tools/fixturegen/gen.sh                 # all families
#   ./tools/fixturegen/gen.sh --only div,bt   # some families (MANIFEST.json keeps the others)
set -eu
cd "$(dirname "$0")/../.."
runner="${FXRUNNER:-/tmp/fxrunner}"
cc -O2 -Wall -o "$runner" tools/fixturegen/runner.c
exec deno run -A tools/fixturegen/gen.ts --no-build --runner "$runner" "$@"

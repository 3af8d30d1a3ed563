#!/usr/bin/env bash
# Cross-builds the Windows binaries the Wine suites run, with Debian's cargo and
# -Zbuild-std (see env.sh for why):
#   - tend.exe and tend-fixture.exe (the test child) for the tend.exe suite, and a
#     check that tend compiles for x86_64-pc-windows-gnu (the release target) too;
#   - hello-service.exe (the self-installing service), argv-roundtrip.exe (the
#     command-line probe) and winapi-probe.exe (the service control, ACL and event log
#     probe) for x86_64-win7-windows-gnu, which runs under Wine 8;
#   - a check that tend-service also compiles (and documents) for
#     x86_64-pc-windows-gnu, the release target.
# Warnings fail the build (RUSTFLAGS=-Dwarnings): clippy is not part of Debian's
# toolchain, so a warning-free cross build is the Windows lint gate.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$WINE_ROOT"

t0=$(date +%s)
export RUSTFLAGS="-Dwarnings"
common=(-Zbuild-std=std,panic_abort --release --locked)

echo "==> build tend.exe and tend-fixture.exe ($WIN_TARGET)"
"$WIN_CARGO" build "${common[@]}" --target "$WIN_TARGET" -p tend -p tend-fixture --bins
"$WIN_CARGO" build "${common[@]}" --target "$WIN_TARGET" -p tend-fixture --example ctrl-c-probe

echo "==> build hello-service.exe, argv-roundtrip.exe and winapi-probe.exe ($WIN_TARGET)"
"$WIN_CARGO" build "${common[@]}" --target "$WIN_TARGET" \
  -p hello-service --bin hello-service
"$WIN_CARGO" build "${common[@]}" --target "$WIN_TARGET" \
  -p tend-service --example argv-roundtrip --example winapi-probe

echo "==> check tend and tend-service ($RELEASE_TARGET, the release target)"
"$WIN_CARGO" check "${common[@]}" --target "$RELEASE_TARGET" \
  -p tend-service --lib --examples
"$WIN_CARGO" check "${common[@]}" --target "$RELEASE_TARGET" -p tend --lib --bins

echo "==> docs of tend-service ($RELEASE_TARGET; broken intra-doc links fail)"
RUSTDOC=/usr/bin/rustdoc RUSTDOCFLAGS="-Dwarnings" "$WIN_CARGO" doc "${common[@]}" \
  --target "$RELEASE_TARGET" -p tend-service --no-deps

ls -l "$WIN_OUT/tend.exe" "$WIN_OUT/tend-fixture.exe" "$WIN_OUT/hello-service.exe" "$WIN_OUT/examples/argv-roundtrip.exe" \
  "$WIN_OUT/examples/winapi-probe.exe"
echo "build done in $(( $(date +%s) - t0 ))s"

# Shared settings for the Wine scripts (sourced, not run).
#
# Windows binaries are built with Debian's Rust (rustc-web, whose rust-web-src lets
# cargo build std from source with -Zbuild-std), not the rustup toolchain, which has no
# Windows std here. They go to their own target dir so the two toolchains never share
# build state. x86_64-win7-windows-gnu is what runs under Wine 8 (the regular
# x86_64-pc-windows-gnu std needs ProcessPrng from bcryptprimitives.dll, which Wine 8
# lacks); the release target is still checked to compile.

WINE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WIN_TARGET=x86_64-win7-windows-gnu
RELEASE_TARGET=x86_64-pc-windows-gnu
export CARGO_TARGET_DIR=${TEND_WIN_TARGET_DIR:-$WINE_ROOT/target-win}
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_X86_64_WIN7_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
# The rustup toolchain's environment must not leak into Debian's cargo.
unset RUSTUP_TOOLCHAIN RUSTDOC RUSTC_WRAPPER
WIN_CARGO=/usr/bin/cargo
WIN_OUT=$CARGO_TARGET_DIR/$WIN_TARGET/release

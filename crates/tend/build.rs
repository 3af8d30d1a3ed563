//! Compiles the Windows Event Log message table (`res/messages.mc`) into tend.exe.
//!
//! Only when the target is Windows; any other build does nothing and needs no tool.
//! For a Windows target:
//!
//! 1. `windmc` compiles `res/messages.mc` (copied to `OUT_DIR` with CRLF line ends,
//!    as Microsoft's mc reads it, so each message ends with `\r\n`) into a message
//!    table (`MSG00409.bin`), a resource script (`messages.rc`) and a C header
//!    (`messages.h`).
//! 2. `windres` compiles the resource script into a COFF object (`messages.res.o`),
//!    or a `.res` file for an MSVC target (untried: no MSVC toolchain here), which is
//!    passed to the linker of the `tend` binary (`rustc-link-arg-bins`). Not as a
//!    static library: a linker pulls nothing from a library that no symbol refers
//!    to, and resources have no symbols.
//! 3. The header's message IDs become `OUT_DIR/message_ids.rs`, which
//!    `src/supervise/eventlog.rs` checks at compile time against the IDs tend reports.
//!
//! The tools are MinGW's (`x86_64-w64-mingw32-windmc`, `…-windres`; Debian and
//! Ubuntu: `apt-get install binutils-mingw-w64-x86-64`); the environment variables
//! `WINDMC` and `WINDRES` name others.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const SOURCE: &str = "res/messages.mc";

fn main() -> ExitCode {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-env-changed=WINDMC");
    println!("cargo:rerun-if-env-changed=WINDRES");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return ExitCode::SUCCESS;
    }
    match message_table() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot build tend's Windows Event Log message table: {e}");
            ExitCode::FAILURE
        }
    }
}

fn var(name: &str) -> Result<String, String> {
    env::var(name).map_err(|e| format!("{name}: {e}"))
}

fn message_table() -> Result<(), String> {
    let out = PathBuf::from(var("OUT_DIR")?);
    let manifest = PathBuf::from(var("CARGO_MANIFEST_DIR")?);
    let arch = var("CARGO_CFG_TARGET_ARCH")?;
    let msvc = env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("msvc");
    // MinGW names x86 `i686`; the Debian packages exist for the two x86 targets.
    let (prefix, package) = match arch.as_str() {
        "x86_64" => (
            "x86_64-w64-mingw32-".to_string(),
            "the package binutils-mingw-w64-x86-64 (`apt-get install binutils-mingw-w64-x86-64`)",
        ),
        "x86" => (
            "i686-w64-mingw32-".to_string(),
            "the package binutils-mingw-w64-i686 (`apt-get install binutils-mingw-w64-i686`)",
        ),
        other => (
            format!("{other}-w64-mingw32-"),
            "a MinGW toolchain for this target (e.g. llvm-mingw)",
        ),
    };

    let source = manifest.join(SOURCE);
    let text = fs::read_to_string(&source)
        .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    let mc = out.join("messages.mc");
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    fs::write(&mc, crlf).map_err(|e| format!("cannot write {}: {e}", mc.display()))?;

    // -U: the messages in UTF-16, as Windows keeps them. No -c: no customer bit, so
    // the IDs are severity << 30 | code, as `EventId::message_id` computes them.
    let windmc = Tool::new("WINDMC", &prefix, "windmc", package);
    windmc.run(|c| {
        c.arg("-U").arg("-h").arg(&out).arg("-r").arg(&out).arg(&mc);
    })?;

    let (object, format) = if msvc {
        (out.join("messages.res"), "res")
    } else {
        (out.join("messages.res.o"), "coff")
    };
    let windres = Tool::new("WINDRES", &prefix, "windres", package);
    windres.run(|c| {
        c.arg("-O")
            .arg(format)
            .arg("-i")
            .arg(out.join("messages.rc"))
            .arg("-o")
            .arg(&object);
    })?;
    println!("cargo:rustc-link-arg-bins={}", object.display());

    let header = out.join("messages.h");
    let ids = fs::read_to_string(&header)
        .map_err(|e| format!("cannot read {}: {e}", header.display()))
        .and_then(|h| message_ids(&h))?;
    let ids_rs = out.join("message_ids.rs");
    fs::write(&ids_rs, ids).map_err(|e| format!("cannot write {}: {e}", ids_rs.display()))
}

/// A MinGW tool: the environment variable that overrides it, else the target's
/// prefixed name.
struct Tool {
    program: String,
    overridden: bool,
    name: &'static str,
    package: &'static str,
}

impl Tool {
    fn new(var: &str, prefix: &str, name: &'static str, package: &'static str) -> Tool {
        match env::var(var) {
            Ok(program) if !program.is_empty() => Tool {
                program,
                overridden: true,
                name,
                package,
            },
            _ => Tool {
                program: format!("{prefix}{name}"),
                overridden: false,
                name,
                package,
            },
        }
    }

    /// Runs it with the arguments `args` adds; its stderr goes into the error.
    fn run(&self, args: impl FnOnce(&mut Command)) -> Result<(), String> {
        let mut command = Command::new(&self.program);
        args(&mut command);
        let output = command.output().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                let set = self.name.to_uppercase();
                if self.overridden {
                    format!("{set}={} was not found", self.program)
                } else {
                    format!(
                        "`{}` was not found: it comes with {}; or set {set} to a {} for \
                         this target",
                        self.program, self.package, self.name
                    )
                }
            } else {
                format!("cannot run `{}`: {e}", self.program)
            }
        })?;
        if output.status.success() {
            return Ok(());
        }
        let mut msg = format!(
            "`{}` failed ({}) on {}:\n{}",
            self.program,
            output.status,
            SOURCE,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
        if self.name == "windres" && String::from_utf8_lossy(&output.stderr).contains("preprocess")
        {
            msg.push_str(
                "\nwindres runs the MinGW C preprocessor (x86_64-w64-mingw32-gcc, \
                 `apt-get install gcc-mingw-w64-x86-64`), the compiler that links tend.exe too",
            );
        }
        Err(msg)
    }
}

/// The Rust source of the `(SymbolicName, message ID)` pairs in windmc's header
/// (its lines `#define NAME (DWORD) 0x400003e8`).
fn message_ids(header: &str) -> Result<String, String> {
    let mut rs = String::from(
        "/// The `(SymbolicName, message ID)` pairs windmc compiled (from its header).\n\
         pub(super) const MESSAGE_IDS: &[(&str, u32)] = &[\n",
    );
    let mut count = 0;
    for line in header.lines() {
        let Some(rest) = line.trim().strip_prefix("#define ") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(" (DWORD) ") else {
            continue;
        };
        let hex = value
            .trim()
            .trim_start_matches("0x")
            .trim_end_matches(['L', 'l']);
        let id = u32::from_str_radix(hex, 16)
            .map_err(|e| format!("windmc header: bad ID in {line:?}: {e}"))?;
        let _ = writeln!(rs, "    ({:?}, {id:#010x}),", name.trim());
        count += 1;
    }
    if count == 0 {
        return Err("windmc wrote no message IDs into its header".into());
    }
    rs.push_str("];\n");
    Ok(rs)
}

//! Exit codes, signals and service-manager event ids in words: what `tend doctor` says
//! about how a service ended. Pure and compiled on every platform (a Windows exit code
//! is explained the same on a Linux machine that reads a copied state file); the OS
//! family the child ran on is passed in, because one number means different things:
//! exit code 2 is a shell's usage error on Unix and may be ERROR_FILE_NOT_FOUND on
//! Windows. Tables, never guesses: a number not listed here has no explanation.

use std::fmt;

/// The OS family a child ran on: how its exit code is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Linux, the BSDs, macOS: a code 0-255, or a signal.
    Unix,
    /// Windows: a 32-bit code, often an NTSTATUS or a Win32 error.
    Windows,
}

impl Family {
    /// The family of this machine.
    pub const HOST: Family = if cfg!(windows) {
        Family::Windows
    } else {
        Family::Unix
    };
}

/// What a code means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// Its symbolic name, e.g. `SIGSEGV`, `EX_CONFIG`, `STATUS_ACCESS_VIOLATION`.
    pub name: String,
    /// What it means, one sentence.
    pub meaning: String,
    /// What usually helps, when something does.
    pub hint: Option<&'static str>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.meaning)?;
        if let Some(h) = self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

fn ex(name: &str, meaning: &str, hint: Option<&'static str>) -> Explanation {
    Explanation {
        name: name.to_string(),
        meaning: meaning.to_string(),
        hint,
    }
}

/// Signals a program commonly dies of: (number where it is the same on Linux, the BSDs
/// and macOS, name, meaning, hint).
const SIGNALS: &[(Option<i32>, &str, &str, Option<&str>)] = &[
    (Some(1), "SIGHUP", "hang-up: its terminal closed, or someone asked it to reload and it does not handle SIGHUP", None),
    (Some(2), "SIGINT", "interrupted (Ctrl-C)", None),
    (Some(3), "SIGQUIT", "quit, with a core dump", None),
    (Some(4), "SIGILL", "illegal instruction: a crash, or a program built for a newer CPU than this one", Some("check that the build targets this CPU")),
    (Some(5), "SIGTRAP", "a breakpoint or trap instruction: a crash (Rust and C++ runtimes trap on some fatal errors)", None),
    (Some(6), "SIGABRT", "aborted: the program called abort() (a failed assertion, a panic with panic=abort, memory corruption detected by the allocator)", Some("its last lines of stderr usually say why")),
    (Some(8), "SIGFPE", "arithmetic error: an integer division by zero or overflow (a crash)", None),
    (Some(9), "SIGKILL", "killed outright: by `kill -9`, by tend after the stop timeout, or by the kernel's OOM killer when memory ran out", Some("`dmesg` or `journalctl -k` shows whether the OOM killer chose it")),
    (Some(11), "SIGSEGV", "segmentation fault: the program touched memory it does not own (a bug, a stack overflow, or a mismatched shared library)", Some("its core dump (`coredumpctl`) shows where")),
    (Some(13), "SIGPIPE", "wrote to a pipe or socket whose reader had gone", None),
    (Some(14), "SIGALRM", "an alarm timer it set went off and it does not handle SIGALRM", None),
    (Some(15), "SIGTERM", "asked to terminate: the normal stop signal (a stop, a restart, or a shutdown)", None),
    (None, "SIGBUS", "bus error: a bad memory access, often a memory-mapped file that was truncated or a full disk behind it", None),
    (None, "SIGUSR1", "user signal 1, which it does not handle", None),
    (None, "SIGUSR2", "user signal 2, which it does not handle", None),
    (None, "SIGSYS", "a forbidden system call: a seccomp filter (systemd's SystemCallFilter=) killed it", Some("the kernel log names the system call")),
    (None, "SIGXCPU", "its CPU time limit (RLIMIT_CPU, ulimit -t) ran out", None),
    (None, "SIGXFSZ", "it wrote beyond its file size limit (RLIMIT_FSIZE, ulimit -f)", None),
];

/// A signal by name (`SIGSEGV`, as the state file records it), or by number as text.
pub fn signal(name: &str) -> Option<Explanation> {
    let by_number = name.parse::<i32>().ok();
    SIGNALS
        .iter()
        .find(|(n, s, ..)| *s == name || (by_number.is_some() && *n == by_number))
        .map(|(_, s, m, h)| ex(s, m, *h))
}

/// sysexits.h, 64-78.
const SYSEXITS: &[(&str, &str)] = &[
    ("EX_USAGE", "wrong command-line usage: check `args`"),
    ("EX_DATAERR", "its input data was wrong"),
    (
        "EX_NOINPUT",
        "an input file it needs does not exist or cannot be read",
    ),
    ("EX_NOUSER", "a user it was told about does not exist"),
    ("EX_NOHOST", "a host it was told about does not exist"),
    ("EX_UNAVAILABLE", "a service it needs is unavailable"),
    ("EX_SOFTWARE", "an internal software error"),
    (
        "EX_OSERR",
        "an operating system error (it could not fork, or create a pipe)",
    ),
    ("EX_OSFILE", "a system file is missing or wrong"),
    (
        "EX_CANTCREAT",
        "it cannot create an output file: check that its account may write there",
    ),
    ("EX_IOERR", "an input/output error"),
    (
        "EX_TEMPFAIL",
        "a temporary failure: trying again later may work",
    ),
    (
        "EX_PROTOCOL",
        "a remote system answered something impossible",
    ),
    ("EX_NOPERM", "it lacks a permission it needs"),
    ("EX_CONFIG", "its configuration is wrong"),
];

/// An exit code as a Unix program's: 0, 1, sysexits (64-78), a shell's 126/127, a
/// shell's 128+N for a child killed by signal N, 255.
fn unix_code(code: i32) -> Option<Explanation> {
    match code {
        0 => Some(ex("success", "it ended successfully", None)),
        1 => Some(ex("failure", "a general error: the program's own log or stderr says which", None)),
        2 => Some(ex("usage", "by convention a command-line usage error (shells and many programs)", Some("check `args`"))),
        64..=78 => {
            let (name, meaning) = SYSEXITS[(code - 64) as usize];
            Some(ex(name, meaning, None))
        }
        126 => Some(ex("not executable", "a shell found the command but could not execute it (no permission, or not a program)", Some("`chmod +x` it, or check its first line (#!)"))),
        127 => Some(ex("command not found", "a shell could not find the command (PATH, a typo, or a missing interpreter named by #!)", Some("use an absolute path"))),
        129..=192 => {
            let n = code - 128;
            let s = SIGNALS.iter().find(|(num, ..)| *num == Some(n));
            Some(Explanation {
                name: format!("128+{n}"),
                meaning: match s {
                    Some((_, name, m, _)) => format!(
                        "by convention a child killed by signal {n} ({name}) as a shell reports it: {m}"
                    ),
                    None => format!(
                        "by convention a child killed by signal {n}, as a shell reports it"
                    ),
                },
                hint: s.and_then(|(.., h)| *h),
            })
        }
        255 => Some(ex("exit(-1)", "exit code -1 (or an ssh or a runtime failing before the program ran)", None)),
        _ => None,
    }
}

/// NTSTATUS codes a Windows process commonly dies with.
const NTSTATUS: &[(u32, &str, &str, Option<&str>)] = &[
    (0xC000_0005, "STATUS_ACCESS_VIOLATION", "a crash: the program read or wrote memory it does not own", Some("a crash dump (WER, procdump) shows where")),
    (0xC000_0006, "STATUS_IN_PAGE_ERROR", "a page of its program or a mapped file could not be read (a network drive or disk went away)", None),
    (0xC000_0017, "STATUS_NO_MEMORY", "out of memory", None),
    (0xC000_001D, "STATUS_ILLEGAL_INSTRUCTION", "illegal instruction: a crash, or built for a newer CPU", None),
    (0xC000_0022, "STATUS_ACCESS_DENIED", "access denied, before or while it started", Some("check the account's rights to the program and its folders")),
    (0xC000_007B, "STATUS_INVALID_IMAGE_FORMAT", "the program or one of its DLLs is not a valid program for this machine (wrong architecture, 32/64-bit mismatch, or a corrupt file)", None),
    (0xC000_0094, "STATUS_INTEGER_DIVIDE_BY_ZERO", "an integer division by zero (a crash)", None),
    (0xC000_00FD, "STATUS_STACK_OVERFLOW", "a stack overflow (deep or endless recursion)", None),
    (0xC000_012D, "STATUS_COMMITMENT_LIMIT", "the system's commit limit (memory plus page file) is reached", None),
    (0xC000_0135, "STATUS_DLL_NOT_FOUND", "a DLL it needs was not found", Some("install its runtime (e.g. the Visual C++ redistributable), or put the DLL next to the program")),
    (0xC000_0139, "STATUS_ENTRYPOINT_NOT_FOUND", "a DLL it loaded lacks a function it needs (a DLL of the wrong version)", None),
    (0xC000_0142, "STATUS_DLL_INIT_FAILED", "a DLL failed to initialise (often: no desktop for a GUI program run as a service)", None),
    (0xC000_013A, "STATUS_CONTROL_C_EXIT", "ended by Ctrl-C or Ctrl-Break (a normal stop)", None),
    (0xC000_0374, "STATUS_HEAP_CORRUPTION", "the heap was corrupted (a memory bug)", None),
    (0xC000_0409, "STATUS_STACK_BUFFER_OVERRUN", "a fail-fast exit: a detected buffer overrun, or the program chose to end at once (abort(), a Rust panic=abort)", None),
    (0xC000_0420, "STATUS_ASSERTION_FAILURE", "an assertion failed", None),
    (0x8000_0003, "STATUS_BREAKPOINT", "a breakpoint was hit outside a debugger (a crash)", None),
];

/// Win32 error codes that programs commonly return as their exit code.
const WIN32: &[(u32, &str, &str)] = &[
    (
        2,
        "ERROR_FILE_NOT_FOUND",
        "the system cannot find the file specified",
    ),
    (
        3,
        "ERROR_PATH_NOT_FOUND",
        "the system cannot find the path specified",
    ),
    (5, "ERROR_ACCESS_DENIED", "access is denied"),
    (8, "ERROR_NOT_ENOUGH_MEMORY", "not enough memory"),
    (87, "ERROR_INVALID_PARAMETER", "a parameter is incorrect"),
    (
        193,
        "ERROR_BAD_EXE_FORMAT",
        "not a valid Win32 application (wrong architecture, or not a program)",
    ),
    (
        1067,
        "ERROR_PROCESS_ABORTED",
        "the process terminated unexpectedly",
    ),
];

/// An exit code as a Windows process's: an NTSTATUS, or a Win32 error (which only
/// some programs return as their exit code: said so).
fn windows_code(code: i32) -> Option<Explanation> {
    let unsigned = code as u32;
    if let Some((_, n, m, h)) = NTSTATUS.iter().find(|(c, ..)| *c == unsigned) {
        return Some(ex(n, m, *h));
    }
    match unsigned {
        0 => Some(ex("success", "it ended successfully", None)),
        1 => Some(ex(
            "failure",
            "a general error (also the code of a process ended by `taskkill /f`)",
            None,
        )),
        _ => WIN32
            .iter()
            .find(|(c, ..)| *c == unsigned)
            .map(|(_, n, m)| ex(n, &format!("if it returns Win32 error codes: {m}"), None)),
    }
}

/// What exit code `code` of a program on `family` means, where a table knows it.
pub fn exit_code(code: i32, family: Family) -> Option<Explanation> {
    match family {
        Family::Unix => unix_code(code),
        Family::Windows => windows_code(code),
    }
}

/// A code as people write it on `family`: `0xC0000005` on Windows when it is an
/// NTSTATUS-sized number, else decimal.
pub fn show_code(code: i32, family: Family) -> String {
    match family {
        Family::Windows if code < 0 => format!("0x{:08X}", code as u32),
        _ => code.to_string(),
    }
}

/// How a child ended, in one line: `exit code 78 (EX_CONFIG: its configuration is
/// wrong)`, `signal SIGSEGV (segmentation fault: ...)`.
pub fn ending(code: Option<i32>, signal_name: Option<&str>, family: Family) -> String {
    match (code, signal_name) {
        (Some(c), _) => {
            let shown = show_code(c, family);
            match exit_code(c, family) {
                Some(e) => format!("exit code {shown} ({e})"),
                None => format!("exit code {shown} (a code of the program's own)"),
            }
        }
        (None, Some(s)) => match signal(s) {
            Some(e) => format!("signal {e}"),
            None => format!("signal {s}"),
        },
        (None, None) => "an unknown ending".to_string(),
    }
}

/// An event of the Windows service control manager, as Event Viewer shows it (System
/// log, source Service Control Manager) or as `sc`/`net start` report the error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScmEvent {
    /// The event id or error number.
    pub id: u32,
    /// The text Event Viewer shows (`%1` stands for the service's name).
    pub shown: &'static str,
    /// Why it happens.
    pub cause: &'static str,
    /// What to do.
    pub fix: &'static str,
}

const SCM_EVENTS: &[ScmEvent] = &[
    ScmEvent {
        id: 1053,
        shown: "The service did not respond to the start or control request in a timely fashion.",
        cause: "the program registered as the service never told the SCM it runs (it is not a service program), or took longer than 30 s to start",
        fix: "install it with `tend install` (tend is the service program and starts yours); if tend itself is slow to start, look at what runs before it (antivirus scanning a large binary)",
    },
    ScmEvent {
        id: 1069,
        shown: "The service did not start due to a logon failure.",
        cause: "the account's password is wrong or expired, or the account lacks the \"Log on as a service\" right (SeServiceLogonRight)",
        fix: "grant the right (secpol.msc, Local Policies, User Rights Assignment) and reinstall with the current password",
    },
    ScmEvent {
        id: 7000,
        shown: "The %1 service failed to start due to the following error: ...",
        cause: "the SCM could not start the service's program at all; the error that follows says why (often 2: the program path is wrong, 5: access denied, 1053 or 1069)",
        fix: "check the registered program path (`sc qc NAME`) and the account's rights to it",
    },
    ScmEvent {
        id: 7009,
        shown: "A timeout was reached (30000 milliseconds) while waiting for the %1 service to connect.",
        cause: "the program started but never connected to the SCM: it is not a service program, or it hung before it did",
        fix: "run it through `tend install` so that tend is the service program",
    },
    ScmEvent {
        id: 7023,
        shown: "The %1 service terminated with the following error: ...",
        cause: "the service stopped and reported a Win32 error",
        fix: "the error number that follows says why",
    },
    ScmEvent {
        id: 7024,
        shown: "The %1 service terminated with the following service-specific error: ...",
        cause: "the service stopped with an error code of its own; from tend, 3 means the service failed (restart limit reached, or it ended with a failure)",
        fix: "`tend doctor NAME` and `tend logs NAME` say why the child failed",
    },
    ScmEvent {
        id: 7031,
        shown: "The %1 service terminated unexpectedly. It has done this N time(s). The following corrective action will be taken in M milliseconds: Restart the service.",
        cause: "the service's process ended without reporting that it stopped (a crash, or it was killed); the recovery actions restart it",
        fix: "look at the Application log for the crash (event 1000) and at `tend logs NAME`",
    },
    ScmEvent {
        id: 7034,
        shown: "The %1 service terminated unexpectedly. It has done this N time(s).",
        cause: "the service's process ended without reporting that it stopped, and no recovery action is set",
        fix: "look at the Application log for the crash (event 1000); `tend install` sets recovery actions",
    },
    ScmEvent {
        id: 7038,
        shown: "The %1 service was unable to log on as ACCOUNT with the currently configured password due to the following error: ...",
        cause: "the configured password is wrong, expired, or the account is locked or disabled",
        fix: "reinstall with the current password (`tend install --password-env VAR`)",
    },
];

/// A service control manager event id or error (1053, 1069, 7000, 7009, 7023, 7024,
/// 7031, 7034, 7038).
pub fn scm_event(id: u32) -> Option<&'static ScmEvent> {
    SCM_EVENTS.iter().find(|e| e.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_exit_codes() {
        let cases: &[(i32, Option<&str>, &str)] = &[
            (0, Some("success"), "successfully"),
            (1, Some("failure"), "general error"),
            (64, Some("EX_USAGE"), "usage"),
            (66, Some("EX_NOINPUT"), "input file"),
            (73, Some("EX_CANTCREAT"), "create an output file"),
            (77, Some("EX_NOPERM"), "permission"),
            (78, Some("EX_CONFIG"), "configuration"),
            (126, Some("not executable"), "could not execute"),
            (127, Some("command not found"), "could not find"),
            (137, Some("128+9"), "signal 9 (SIGKILL)"),
            (139, Some("128+11"), "signal 11 (SIGSEGV)"),
            (143, Some("128+15"), "SIGTERM"),
            // A signal with a number of its own per OS: the number only.
            (138, Some("128+10"), "signal 10, as a shell"),
            (255, Some("exit(-1)"), "-1"),
            (3, None, ""),
            (63, None, ""),
            (79, None, ""),
            (128, None, ""),
            (193, None, ""),
            (-1, None, ""),
        ];
        for (code, name, words) in cases {
            let e = exit_code(*code, Family::Unix);
            assert_eq!(e.as_ref().map(|e| e.name.as_str()), *name, "{code}");
            if let Some(e) = e {
                assert!(e.meaning.contains(words), "{code}: {e}");
            }
        }
    }

    #[test]
    fn windows_exit_codes() {
        let cases: &[(i64, Option<&str>, &str)] = &[
            (0, Some("success"), "successfully"),
            (0xC000_0005, Some("STATUS_ACCESS_VIOLATION"), "memory"),
            (0xC000_0135, Some("STATUS_DLL_NOT_FOUND"), "DLL"),
            (
                0xC000_007B,
                Some("STATUS_INVALID_IMAGE_FORMAT"),
                "architecture",
            ),
            (
                0xC000_0409,
                Some("STATUS_STACK_BUFFER_OVERRUN"),
                "fail-fast",
            ),
            (0xC000_013A, Some("STATUS_CONTROL_C_EXIT"), "Ctrl-C"),
            (2, Some("ERROR_FILE_NOT_FOUND"), "if it returns Win32"),
            (5, Some("ERROR_ACCESS_DENIED"), "denied"),
            (193, Some("ERROR_BAD_EXE_FORMAT"), "architecture"),
            // Unix meanings do not leak into Windows.
            (78, None, ""),
            (139, None, ""),
            (0xC000_0001, None, ""),
        ];
        for (code, name, words) in cases {
            // As the state file holds it: a signed 32-bit number.
            let code = *code as u32 as i32;
            let e = exit_code(code, Family::Windows);
            assert_eq!(e.as_ref().map(|e| e.name.as_str()), *name, "{code:#x}");
            if let Some(e) = e {
                assert!(e.meaning.contains(words), "{code:#x}: {e}");
            }
        }
    }

    #[test]
    fn signals_by_name_and_number() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("SIGSEGV", Some("SIGSEGV"), "segmentation fault"),
            ("SIGKILL", Some("SIGKILL"), "OOM killer"),
            ("SIGABRT", Some("SIGABRT"), "abort()"),
            ("SIGSYS", Some("SIGSYS"), "seccomp"),
            ("11", Some("SIGSEGV"), "segmentation"),
            // Numbers that differ between OSes are not guessed.
            ("10", None, ""),
            ("SIGWINCH", None, ""),
            ("", None, ""),
        ];
        for (name, want, words) in cases {
            let e = signal(name);
            assert_eq!(e.as_ref().map(|e| e.name.as_str()), *want, "{name}");
            if let Some(e) = e {
                assert!(e.meaning.contains(words), "{name}: {e}");
            }
        }
    }

    #[test]
    fn endings_in_one_line() {
        let cases: &[(Option<i32>, Option<&str>, Family, &str)] = &[
            (
                Some(78),
                None,
                Family::Unix,
                "exit code 78 (EX_CONFIG: its configuration is wrong)",
            ),
            (
                Some(42),
                None,
                Family::Unix,
                "exit code 42 (a code of the program's own)",
            ),
            (
                None,
                Some("SIGSEGV"),
                Family::Unix,
                "signal SIGSEGV: segmentation fault",
            ),
            (None, Some("SIGWINCH"), Family::Unix, "signal SIGWINCH"),
            (
                Some(0xC000_0005_u32 as i32),
                None,
                Family::Windows,
                "exit code 0xC0000005 (STATUS_ACCESS_VIOLATION: ",
            ),
            (
                Some(3),
                None,
                Family::Windows,
                "exit code 3 (ERROR_PATH_NOT_FOUND: if it returns Win32",
            ),
            (None, None, Family::Unix, "an unknown ending"),
        ];
        for (code, sig, family, want) in cases {
            let got = ending(*code, *sig, *family);
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn scm_events_as_event_viewer_shows_them() {
        let cases: &[(u32, &str, &str)] = &[
            (1053, "did not respond to the start or control request in a timely fashion", "not a service program"),
            (1069, "did not start due to a logon failure", "Log on as a service"),
            (7000, "failed to start due to the following error", "could not start"),
            (7009, "A timeout was reached (30000 milliseconds)", "never connected"),
            (7024, "service-specific error", "3 means the service failed"),
            (7031, "terminated unexpectedly. It has done this N time(s). The following corrective action", "restart"),
            (7034, "terminated unexpectedly. It has done this N time(s).", "no recovery action"),
        ];
        for (id, shown, cause) in cases {
            let e = scm_event(*id).unwrap_or_else(|| panic!("{id} is known"));
            assert!(e.shown.contains(shown), "{id}: {}", e.shown);
            assert!(e.cause.contains(cause), "{id}: {}", e.cause);
            assert!(!e.fix.is_empty());
        }
        assert_eq!(scm_event(7035), None);
        assert_eq!(scm_event(0), None);
    }
}

//! `argv-roundtrip`: proves `tend_service::cmdline` against real Windows parsers.
//!
//! The unit tests check the quoting against this crate's own re-implementations of the
//! Windows splitters; this program checks it against the real ones. Run on Windows (or
//! under Wine, as `.ci/wine/suite.sh` does), it starts copies of itself with command
//! lines built by `windows_command_line` / `windows_args`, and each copy reports what
//! Rust's `std::env::args` (the MSVC CRT rules) and shell32's `CommandLineToArgvW` made
//! of its command line. It prints one `PASS: …` or `FAIL: …` line per property and
//! exits non-zero on any failure. Elsewhere it only says it needs Windows.

#[cfg(windows)]
fn main() -> std::process::ExitCode {
    win::main()
}

#[cfg(not(windows))]
fn main() {
    println!("argv-roundtrip: a Windows program (see .ci/wine/suite.sh)");
}

#[cfg(windows)]
mod win {
    use std::ffi::OsStr;
    use std::fs;
    use std::io;
    use std::os::windows::ffi::OsStrExt;
    use std::os::windows::process::CommandExt;
    use std::path::Path;
    use std::process::{Command, ExitCode};
    use std::ptr;

    use tend_service::cmdline::{self, gen};
    use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, WAIT_OBJECT_0};
    use windows_sys::Win32::System::Environment::GetCommandLineW;
    use windows_sys::Win32::System::Threading::{
        CreateProcessW, GetExitCodeProcess, WaitForSingleObject, CREATE_NO_WINDOW,
        PROCESS_INFORMATION, STARTUPINFOW,
    };
    use windows_sys::Win32::UI::Shell::CommandLineToArgvW;

    /// Set in a child: the file it writes its report to.
    const OUT_VAR: &str = "TEND_ARGV_OUT";
    const CHILD_TIMEOUT_MS: u32 = 20_000;

    /// What one child saw.
    #[derive(Debug, Default)]
    struct Report {
        raw: String,
        std_args: Vec<String>,
        cltaw: Vec<String>,
    }

    pub fn main() -> ExitCode {
        if let Some(out) = std::env::var_os(OUT_VAR) {
            return match child(Path::new(&out)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(3),
            };
        }
        match driver() {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                println!("FAIL: argv-roundtrip could not run: {e}");
                ExitCode::from(2)
            }
        }
    }

    /// Child: writes `R <hex>`, then `S <hex>` per std arg and `C <hex>` per
    /// CommandLineToArgvW arg (hex of UTF-8, so any character survives the file).
    fn child(out: &Path) -> io::Result<()> {
        // SAFETY: GetCommandLineW returns the process's NUL-terminated command line.
        let raw = unsafe { from_wide(GetCommandLineW()) };
        let mut text = format!("R {}\n", hex(&raw));
        for arg in std::env::args() {
            text.push_str(&format!("S {}\n", hex(&arg)));
        }
        for arg in command_line_to_argv(&raw)? {
            text.push_str(&format!("C {}\n", hex(&arg)));
        }
        fs::write(out, text)
    }

    fn command_line_to_argv(line: &str) -> io::Result<Vec<String>> {
        let wide: Vec<u16> = line.encode_utf16().chain([0]).collect();
        let mut n = 0;
        // SAFETY: `wide` is NUL-terminated; the result is checked and freed below.
        let argv = unsafe { CommandLineToArgvW(wide.as_ptr(), &mut n) };
        if argv.is_null() {
            return Err(io::Error::last_os_error());
        }
        let args = (0..n.max(0) as usize)
            // SAFETY: CommandLineToArgvW returned `n` valid NUL-terminated strings.
            .map(|i| unsafe { from_wide(*argv.add(i)) })
            .collect();
        // SAFETY: the array was allocated by CommandLineToArgvW with LocalAlloc.
        unsafe { LocalFree(argv.cast()) };
        Ok(args)
    }

    /// # Safety
    /// `p` points to a NUL-terminated UTF-16 string.
    unsafe fn from_wide(p: *const u16) -> String {
        let mut len = 0;
        // SAFETY: reads up to the terminator the caller guarantees.
        while unsafe { *p.add(len) } != 0 {
            len += 1;
        }
        // SAFETY: `len` units were just read.
        String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
    }

    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Option<String> {
        let bytes: Option<Vec<u8>> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
            .collect();
        String::from_utf8(bytes?).ok()
    }

    fn read_report(out: &Path) -> io::Result<Report> {
        let text = fs::read_to_string(out)?;
        let mut r = Report::default();
        for line in text.lines() {
            let (tag, value) = line.split_once(' ').unwrap_or((line, ""));
            let value = unhex(value)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad report"))?;
            match tag {
                "R" => r.raw = value,
                "S" => r.std_args.push(value),
                "C" => r.cltaw.push(value),
                _ => {}
            }
        }
        Ok(r)
    }

    /// Launch attempts per child. Wine now and then fails a process launch with
    /// ERROR_INTERNAL_ERROR (1359) right after the prefix was created; a launch failure
    /// says nothing about command-line parsing, so it is retried (and counted), while
    /// any mismatch in what a child read is never retried.
    const ATTEMPTS: u32 = 3;

    /// Runs `launch` until it succeeds or [`ATTEMPTS`] are used; counts the retries.
    fn with_retries(
        retries: &mut u32,
        what: &str,
        mut launch: impl FnMut() -> io::Result<Report>,
    ) -> io::Result<Report> {
        let mut attempt = 1;
        loop {
            match launch() {
                Ok(report) => return Ok(report),
                Err(e) if attempt < ATTEMPTS => {
                    *retries += 1;
                    attempt += 1;
                    eprintln!("argv-roundtrip: retrying {what}: {e}");
                }
                Err(e) => return Err(io::Error::new(e.kind(), format!("{what}: {e}"))),
            }
        }
    }

    /// Runs `exe` with exactly `line` as its command line (CreateProcessW), waits.
    fn spawn_raw(exe: &Path, line: &str, out: &Path) -> io::Result<Report> {
        let _ = fs::remove_file(out);
        let app: Vec<u16> = exe.as_os_str().encode_wide().chain([0]).collect();
        // CreateProcessW may write to the command line buffer: give it a mutable copy.
        let mut cmd: Vec<u16> = OsStr::new(line).encode_wide().chain([0]).collect();
        let startup = STARTUPINFOW {
            cb: std::mem::size_of::<STARTUPINFOW>() as u32,
            ..Default::default()
        };
        let mut info = PROCESS_INFORMATION::default();
        // SAFETY: all pointers are valid for the call; the environment (with OUT_VAR)
        // and the working directory are inherited.
        let ok = unsafe {
            CreateProcessW(
                app.as_ptr(),
                cmd.as_mut_ptr(),
                ptr::null(),
                ptr::null(),
                0,
                CREATE_NO_WINDOW,
                ptr::null(),
                ptr::null(),
                &startup,
                &mut info,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the handles in `info` are valid and ours to wait on and close.
        let (waited, code) = unsafe {
            let waited = WaitForSingleObject(info.hProcess, CHILD_TIMEOUT_MS);
            let mut code = 0;
            GetExitCodeProcess(info.hProcess, &mut code);
            CloseHandle(info.hThread);
            CloseHandle(info.hProcess);
            (waited, code)
        };
        if waited != WAIT_OBJECT_0 || code != 0 {
            return Err(io::Error::other(format!(
                "child did not finish cleanly (wait {waited}, exit {code})"
            )));
        }
        read_report(out)
    }

    /// Runs `exe` through std with `tail` appended verbatim (`raw_arg`).
    fn spawn_std(exe: &Path, tail: &str, out: &Path) -> io::Result<Report> {
        let _ = fs::remove_file(out);
        let status = Command::new(exe)
            .raw_arg(tail)
            .env(OUT_VAR, out)
            .creation_flags(CREATE_NO_WINDOW)
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!("child exited with {status}")));
        }
        read_report(out)
    }

    /// Counts cases and keeps the first failure of one property.
    struct Property {
        name: &'static str,
        cases: usize,
        failure: Option<String>,
    }

    impl Property {
        fn new(name: &'static str) -> Property {
            Property {
                name,
                cases: 0,
                failure: None,
            }
        }

        fn check(&mut self, ok: bool, detail: impl FnOnce() -> String) {
            self.cases += 1;
            if !ok && self.failure.is_none() {
                self.failure = Some(detail());
            }
        }

        fn report(&self) -> bool {
            match &self.failure {
                None => {
                    println!("PASS: {} ({} cases)", self.name, self.cases);
                    true
                }
                Some(f) => {
                    println!("FAIL: {}: {f}", self.name);
                    false
                }
            }
        }
    }

    /// Arguments that stress the quoting rules.
    const TRICKY: &[&str] = &[
        "",
        " ",
        "a b",
        "a\tb",
        r"C:\Program Files\x\",
        r"C:\Program Files\x\\",
        r#"a"b"#,
        r#"a\"b"#,
        r#"a\\"b"#,
        r#"""#,
        r#""""#,
        r"\\server\share\",
        r"\\",
        "é ✓ 😀",
        "--listen=127.0.0.1:8080",
        "%PATH%",
        "^&|<>",
        "line\nbreak",
    ];

    /// Command lines no quoting of ours produces, for comparing the parsers alone.
    const RAW_LINES: &[&str] = &[
        r#""a b"c d"#,
        r#"a"b c"d e"#,
        r#"C:\dir\" x"#,
        r#""C:\dir\" x"#,
        r#"p "a""b""#,
        r#"p a""b"#,
        r#"p """a"#,
        r#"p """" x"#,
        r#"p "a"" b"#,
        r#"p """""" x"#,
        r#"p a\\"b c""#,
        r#"p "" x"#,
        r#"p """#,
        r#"p ""#,
        r#"p \\\"#,
        "p  \t a",
        " leading space",
        "p trailing   ",
    ];

    fn driver() -> io::Result<bool> {
        let exe = std::env::current_exe()
            .map_err(|e| io::Error::new(e.kind(), format!("current_exe: {e}")))?;
        let out = std::env::temp_dir().join(format!("argv-roundtrip-{}.txt", std::process::id()));
        // Children started through CreateProcessW inherit the environment.
        std::env::set_var(OUT_VAR, &out);
        let mut rng = gen::Rng::new(0x5eed_0a7c);
        let mut retries = 0u32;

        let mut tails = Property::new("windows_args: std::env::args and CommandLineToArgvW read back every argument (std raw_arg)");
        let mut lines = Property::new(
            "windows_command_line: argv[0] and arguments survive CreateProcessW in both parsers",
        );
        let mut crt = Property::new("split_windows_command_line_crt matches Rust std's parsing");
        let mut shell = Property::new("split_windows_command_line matches CommandLineToArgvW");

        let mut vectors: Vec<Vec<String>> = TRICKY
            .iter()
            .map(|a| vec![String::new(), a.to_string(), "next".into()])
            .collect();
        vectors.extend((0..120).map(|_| gen::argv(&mut rng)));
        for argv in &vectors {
            let args = &argv[1..];
            let tail = cmdline::windows_args(args);
            let r = with_retries(&mut retries, &format!("std launch with {tail:?}"), || {
                spawn_std(&exe, &tail, &out)
            })?;
            tails.check(r.std_args.get(1..) == Some(args), || {
                format!("{args:?} as {tail:?} read by std as {:?}", r.std_args)
            });
            tails.check(r.cltaw.get(1..) == Some(args), || {
                format!(
                    "{args:?} as {tail:?} read by CommandLineToArgvW as {:?}",
                    r.cltaw
                )
            });
            compare_parsers(&r, &mut crt, &mut shell);
        }
        for argv in &vectors {
            let line = cmdline::windows_command_line(argv).map_err(io::Error::other)?;
            let r = with_retries(
                &mut retries,
                &format!("CreateProcessW with {line:?}"),
                || spawn_raw(&exe, &line, &out),
            )?;
            lines.check(r.std_args == *argv, || {
                format!("{argv:?} as {line:?} read by std as {:?}", r.std_args)
            });
            lines.check(r.cltaw == *argv, || {
                format!(
                    "{argv:?} as {line:?} read by CommandLineToArgvW as {:?}",
                    r.cltaw
                )
            });
            compare_parsers(&r, &mut crt, &mut shell);
        }
        let mut raw_lines: Vec<String> = RAW_LINES.iter().map(|s| s.to_string()).collect();
        raw_lines.extend((0..60).map(|_| format!("p {}", gen::arg(&mut rng, false))));
        for line in &raw_lines {
            let r = with_retries(
                &mut retries,
                &format!("CreateProcessW with {line:?}"),
                || spawn_raw(&exe, line, &out),
            )?;
            compare_parsers(&r, &mut crt, &mut shell);
        }
        let _ = fs::remove_file(&out);

        let mut all = true;
        for p in [&tails, &lines, &crt, &shell] {
            all &= p.report();
        }
        if retries > 0 {
            println!("note: {retries} child launches were retried (launch errors, not mismatches)");
        }
        let service = tend_service::windows::running_as_service();
        if service {
            println!("FAIL: running_as_service() is true in a console program");
        } else {
            println!("PASS: running_as_service() is false in a console program");
        }
        Ok(all && !service)
    }

    /// Our splitters, given the raw command line the child saw, must agree with std and
    /// CommandLineToArgvW.
    fn compare_parsers(r: &Report, crt: &mut Property, shell: &mut Property) {
        let mine = cmdline::split_windows_command_line_crt(&r.raw);
        crt.check(mine == r.std_args, || {
            format!("{:?}: std {:?}, ours {mine:?}", r.raw, r.std_args)
        });
        let mine = cmdline::split_windows_command_line(&r.raw);
        shell.check(mine == r.cltaw, || {
            format!(
                "{:?}: CommandLineToArgvW {:?}, ours {mine:?}",
                r.raw, r.cltaw
            )
        });
    }
}

//! `ctrl-c-probe`: checks tend-fixture's Windows behaviour with real console
//! Ctrl-C events, delivered the way tend's supervisor delivers them.
//!
//! Run on Windows or under Wine as `ctrl-c-probe [FIXTURE_EXE]` (default: the
//! `tend-fixture.exe` next to this program's `examples` directory). Each
//! fixture is started with `CREATE_NO_WINDOW` (a hidden console of its own)
//! and no new process group; a Ctrl-C is sent by a copy of this program
//! (`ctrl-c-probe send-ctrl-c PID`) that does `FreeConsole`,
//! `AttachConsole(PID)`, `SetConsoleCtrlHandler(NULL, TRUE)` (harmless in a
//! helper that starts nothing), `GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0)`,
//! `FreeConsole`. It prints one `PASS: …` or `FAIL: …` line per property
//! (and `note: …` lines), then `N passed, M failed`, and exits non-zero on
//! any failure:
//!
//! - `--on-term FILE --hang`: FILE holds `graceful\n` and the exit code is 0;
//! - `--ignore-term --hang`: still running 1 s after the Ctrl-C;
//! - `--grandchildren 2 --grandchild-pids FILE --hang`: FILE lists 2 live pids;
//!   the Ctrl-C ends the fixture (default handling) but not the grandchildren,
//!   which share its console and ignore it; `--grandchild-setsid` the same;
//! - the grandchildren do not hold the fixture's stdout pipe open (checked
//!   with `DETACHED_PROCESS`; with `CREATE_NO_WINDOW` Wine's console host
//!   holds it while any process is on the console, which is only noted);
//! - `--setsid`: the process has left its console, so no Ctrl-C reaches it;
//! - `--kill-self 9` exits 9, `--whoami` prints `user=<name>`, `--stamp` is
//!   unsupported (69), and `--abort`'s exit code is noted.
//!
//! Elsewhere it only says it needs Windows.

#[cfg(windows)]
fn main() -> std::process::ExitCode {
    win::main()
}

#[cfg(not(windows))]
fn main() {
    println!("ctrl-c-probe: a Windows program (run it under Wine, see its docs)");
}

#[cfg(windows)]
mod win {
    use std::fs;
    use std::io::{self, Read};
    use std::os::windows::process::CommandExt;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, ExitCode, Stdio};
    use std::sync::mpsc;
    use std::thread;
    use std::time::{Duration, Instant};

    use windows_sys::Win32::Foundation::{CloseHandle, FALSE, STILL_ACTIVE, TRUE};
    use windows_sys::Win32::System::Console::{
        AttachConsole, FreeConsole, GenerateConsoleCtrlEvent, SetConsoleCtrlHandler, CTRL_C_EVENT,
    };
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, OpenProcess, TerminateProcess, CREATE_NO_WINDOW, DETACHED_PROCESS,
        PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_TERMINATE,
    };

    const SECS: Duration = Duration::from_secs(1);

    pub fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.first().map(String::as_str) == Some("send-ctrl-c") {
            let pid = args.get(1).and_then(|p| p.parse().ok());
            let Some(pid) = pid else {
                eprintln!("usage: ctrl-c-probe send-ctrl-c PID");
                return ExitCode::from(64);
            };
            return match ctrl_c_console_of(pid) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            };
        }
        let fixture = match args.first() {
            Some(path) => PathBuf::from(path),
            None => default_fixture(),
        };
        let dir = std::env::temp_dir().join(format!("tend-ctrl-c-probe-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch directory");
        let mut p = Probe {
            fixture,
            dir: dir.clone(),
            passed: 0,
            failed: 0,
        };
        p.on_term();
        p.ignore_term();
        p.grandchildren(false);
        p.grandchildren(true);
        p.grandchildren_leave_stdout();
        p.setsid();
        p.small_flags();
        let _ = fs::remove_dir_all(&dir);
        println!("{} passed, {} failed", p.passed, p.failed);
        if p.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    /// `<target>/<profile>/tend-fixture.exe`, this program being in
    /// `<target>/<profile>/examples/`.
    fn default_fixture() -> PathBuf {
        let me = std::env::current_exe().expect("current_exe");
        let profile_dir = me.parent().and_then(Path::parent).expect("examples dir");
        profile_dir.join("tend-fixture.exe")
    }

    struct Probe {
        fixture: PathBuf,
        dir: PathBuf,
        passed: u32,
        failed: u32,
    }

    impl Probe {
        fn check(&mut self, ok: bool, what: &str, detail: &str) {
            if ok {
                self.passed += 1;
                println!("PASS: {what} ({detail})");
            } else {
                self.failed += 1;
                println!("FAIL: {what} ({detail})");
            }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.join(name)
        }

        /// The fixture with `args`, on a hidden console of its own, in the
        /// probe's process group, stdin and stdout null, stderr shared.
        fn command(&self, args: &[&str]) -> Command {
            let mut cmd = Command::new(&self.fixture);
            cmd.args(args)
                .creation_flags(CREATE_NO_WINDOW)
                .stdin(Stdio::null())
                .stdout(Stdio::null());
            cmd
        }

        /// Starts the fixture with `args` plus `--pid-file` and waits until
        /// it wrote its pid, i.e. until its handlers are in place.
        fn start(&self, name: &str, args: &[&str]) -> Option<Child> {
            let pidf = self.path(&format!("{name}.pid"));
            let mut all = vec!["--pid-file", pidf.to_str().unwrap()];
            all.extend_from_slice(args);
            let mut child = match self.command(&all).spawn() {
                Ok(child) => child,
                Err(e) => {
                    println!("note: {name}: spawning {}: {e}", self.fixture.display());
                    return None;
                }
            };
            if wait_until(10 * SECS, || pids(&pidf).len() == 1) {
                Some(child)
            } else {
                println!("note: {name}: no pid file within 10 s");
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        }

        fn on_term(&mut self) {
            let marker = self.path("on-term.marker");
            let what = "--on-term: Ctrl-C appends graceful\\n and exits 0";
            let Some(mut child) = self.start(
                "on-term",
                &["--on-term", marker.to_str().unwrap(), "--hang"],
            ) else {
                return self.check(false, what, "did not start");
            };
            let sent = send_ctrl_c(child.id());
            let code = wait_exit(&mut child, 5 * SECS);
            let text = fs::read_to_string(&marker).unwrap_or_default();
            let ok = sent.is_ok() && code == Some(0) && text == "graceful\n";
            self.check(
                ok,
                what,
                &format!("send: {sent:?}, exit: {}, marker: {text:?}", show(code)),
            );
        }

        fn ignore_term(&mut self) {
            let what = "--ignore-term: still running 1 s after Ctrl-C";
            let Some(mut child) = self.start("ignore-term", &["--ignore-term", "--hang"]) else {
                return self.check(false, what, "did not start");
            };
            let (sent, running) = ctrl_c_then_kill(&mut child);
            self.check(sent.is_ok() && running, what, &format!("send: {sent:?}"));
        }

        fn grandchildren(&mut self, setsid: bool) {
            let name = if setsid {
                "grandchild-setsid"
            } else {
                "grandchildren"
            };
            let gpids = self.path(&format!("{name}.gpids"));
            let mut args = vec![
                "--grandchildren",
                "2",
                "--grandchild-pids",
                gpids.to_str().unwrap(),
            ];
            if setsid {
                args.push("--grandchild-setsid");
            }
            args.push("--hang");
            let what = format!(
                "--grandchildren 2{}: 2 live pids in the file",
                if setsid { " --grandchild-setsid" } else { "" }
            );
            let Some(mut child) = self.start(name, &args) else {
                return self.check(false, &what, "did not start");
            };
            let got = wait_until(10 * SECS, || pids(&gpids).len() == 2);
            let listed = pids(&gpids);
            let text = fs::read_to_string(&gpids).unwrap_or_default();
            let format_ok = text.lines().count() == 2 && text.ends_with('\n');
            self.check(
                got && format_ok
                    && listed.iter().all(|&p| alive(p))
                    && !listed.contains(&child.id()),
                &what,
                &format!("file: {text:?}"),
            );
            let sent = send_ctrl_c(child.id());
            let code = wait_exit(&mut child, 5 * SECS);
            println!(
                "note: {name}: the fixture without a term flag exited {} on Ctrl-C",
                show(code)
            );
            thread::sleep(SECS);
            let survivors = listed.iter().filter(|&&p| alive(p)).count();
            self.check(
                sent.is_ok() && code.is_some() && survivors == 2,
                &format!("{name}: Ctrl-C ends the fixture, its 2 grandchildren survive it"),
                &format!("send: {sent:?}, alive 1 s later: {survivors}"),
            );
            for pid in listed {
                kill(pid);
            }
            if code.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }

        /// Grandchildren get null stdio and must not inherit the fixture's
        /// own stdout: its reader sees EOF when the fixture exits. Checked
        /// with `DETACHED_PROCESS`, so that only the fixture's handles are
        /// in play; with `CREATE_NO_WINDOW` Wine's console host also holds
        /// the pipe while any process is on the console (noted, not checked).
        fn grandchildren_leave_stdout(&mut self) {
            let what = "--grandchildren: the fixture's stdout pipe closes when it exits";
            match self.stdout_eof_with_grandchildren("detached", DETACHED_PROCESS, 5 * SECS) {
                Ok((eof, detail)) => self.check(eof, what, &detail),
                Err(e) => self.check(false, what, &e),
            }
            match self.stdout_eof_with_grandchildren("no-window", CREATE_NO_WINDOW, 2 * SECS) {
                Ok((eof, detail)) => println!(
                    "note: the same with CREATE_NO_WINDOW: EOF while the grandchildren live: {eof} ({detail})"
                ),
                Err(e) => println!("note: the same with CREATE_NO_WINDOW: {e}"),
            }
        }

        /// Runs `--grandchildren 2 --print ready --exit 0` with `flags` and
        /// a stdout pipe; whether the pipe reached EOF within `limit` while
        /// both grandchildren lived. Kills them.
        fn stdout_eof_with_grandchildren(
            &self,
            name: &str,
            flags: u32,
            limit: Duration,
        ) -> Result<(bool, String), String> {
            let gpids = self.path(&format!("stdout-{name}.gpids"));
            let mut cmd = self.command(&[
                "--grandchildren",
                "2",
                "--grandchild-pids",
                gpids.to_str().unwrap(),
                "--print",
                "ready",
                "--exit",
                "0",
            ]);
            cmd.creation_flags(flags).stdout(Stdio::piped());
            let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
            let mut out = child.stdout.take().unwrap();
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                let mut text = String::new();
                let _ = tx.send(out.read_to_string(&mut text).map(|_| text));
            });
            let code = wait_exit(&mut child, 5 * SECS);
            let listed = wait_until(5 * SECS, || pids(&gpids).len() == 2);
            let read = rx.recv_timeout(limit);
            let live = pids(&gpids).into_iter().filter(|&p| alive(p)).count();
            for pid in pids(&gpids) {
                kill(pid);
            }
            let after_kill = match &read {
                Err(_) => format!(", after killing them: {:?}", rx.recv_timeout(5 * SECS)),
                Ok(_) => String::new(),
            };
            let eof = matches!(&read, Ok(Ok(text)) if text == "ready\n");
            Ok((
                eof && code == Some(0) && listed && live == 2,
                format!(
                    "exit: {}, live grandchildren: {live}, stdout: {read:?}{after_kill}",
                    show(code)
                ),
            ))
        }

        fn setsid(&mut self) {
            let marker = self.path("setsid.marker");
            let what = "--setsid: left its console, Ctrl-C cannot reach it";
            let Some(mut child) = self.start(
                "setsid",
                &["--setsid", "--on-term", marker.to_str().unwrap(), "--hang"],
            ) else {
                return self.check(false, what, "did not start");
            };
            let (sent, running) = ctrl_c_then_kill(&mut child);
            self.check(
                running && !marker.exists(),
                what,
                &format!("send: {sent:?}, running 1 s later: {running}"),
            );
        }

        fn small_flags(&mut self) {
            let code = self.run(&["--kill-self", "9"]).map(|(code, _)| code);
            self.check(
                code == Some(9),
                "--kill-self 9 exits 9",
                &format!("exit: {}", show(code)),
            );

            let who = self.run(&["--whoami"]);
            let ok = matches!(&who, Some((0, out)) if out.starts_with("user=") && out.trim_end().len() > 5);
            self.check(ok, "--whoami prints user=<name>", &format!("{who:?}"));

            let stamp = self.path("stamp");
            let code = self
                .run(&["--stamp", stamp.to_str().unwrap()])
                .map(|(code, _)| code);
            self.check(
                code == Some(69),
                "--stamp is unsupported (69)",
                &format!("exit: {}", show(code)),
            );

            let code = self.run(&["--abort"]).map(|(code, _)| code);
            println!("note: --abort exited {}", show(code));
        }

        /// Runs the fixture to completion; its exit code and stdout.
        fn run(&self, args: &[&str]) -> Option<(i32, String)> {
            let out = self.command(args).stdout(Stdio::piped()).output().ok()?;
            Some((
                out.status.code()?,
                String::from_utf8_lossy(&out.stdout).into_owned(),
            ))
        }
    }

    fn show(code: Option<i32>) -> String {
        match code {
            Some(c) if c < 0 || c > 255 => format!("{c} (0x{:08X})", c as u32),
            Some(c) => c.to_string(),
            None => "none (still running)".into(),
        }
    }

    /// Sends Ctrl-C to `pid`'s console through a helper copy of this program.
    fn send_ctrl_c(pid: u32) -> Result<(), String> {
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        let out = Command::new(me)
            .args(["send-ctrl-c", &pid.to_string()])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// The helper's job: Ctrl-C to every process on `pid`'s console.
    fn ctrl_c_console_of(pid: u32) -> Result<(), String> {
        // SAFETY: FreeConsole takes no arguments; failing (no console) is fine.
        unsafe { FreeConsole() };
        // SAFETY: AttachConsole takes a plain process id.
        if unsafe { AttachConsole(pid) } == 0 {
            return Err(format!(
                "AttachConsole({pid}): {}",
                io::Error::last_os_error()
            ));
        }
        // SAFETY: a null handler with TRUE only sets this process's ignore flag.
        unsafe { SetConsoleCtrlHandler(None, TRUE) };
        // SAFETY: plain arguments; group 0 is every process on the console.
        let sent = unsafe { GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0) };
        let err = io::Error::last_os_error();
        // SAFETY: as above.
        unsafe { FreeConsole() };
        if sent == 0 {
            return Err(format!("GenerateConsoleCtrlEvent: {err}"));
        }
        Ok(())
    }

    fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends Ctrl-C, and after a second says whether the child still runs; then
    /// kills it either way.
    fn ctrl_c_then_kill(child: &mut Child) -> (Result<(), String>, bool) {
        let sent = send_ctrl_c(child.id());
        thread::sleep(SECS);
        let running = matches!(child.try_wait(), Ok(None));
        let _ = child.kill();
        let _ = child.wait();
        (sent, running)
    }

    /// The exit code, or `None` if still running after `limit`.
    fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
        let mut code = None;
        wait_until(limit, || match child.try_wait() {
            Ok(Some(status)) => {
                code = status.code();
                true
            }
            _ => false,
        });
        code
    }

    fn pids(path: &Path) -> Vec<u32> {
        fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    }

    fn alive(pid: u32) -> bool {
        // SAFETY: OpenProcess takes plain arguments; a null result is checked.
        let handle = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid) };
        if handle.is_null() {
            return false;
        }
        let mut code = 0u32;
        // SAFETY: `handle` is open with query rights; `code` is writable.
        let ok = unsafe { GetExitCodeProcess(handle, &mut code) };
        // SAFETY: `handle` was opened above and is closed once.
        unsafe { CloseHandle(handle) };
        ok != 0 && code == STILL_ACTIVE as u32
    }

    fn kill(pid: u32) {
        // SAFETY: OpenProcess takes plain arguments; a null result is checked.
        let handle = unsafe { OpenProcess(PROCESS_TERMINATE, FALSE, pid) };
        if !handle.is_null() {
            // SAFETY: `handle` is open with terminate rights, closed once.
            unsafe {
                TerminateProcess(handle, 1);
                CloseHandle(handle);
            }
        }
    }
}

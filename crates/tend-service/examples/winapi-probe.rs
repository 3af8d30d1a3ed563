//! `winapi-probe`: checks `tend_service::windows`'s service control, `acl` and
//! `eventlog` against the real Windows API.
//!
//! Run on Windows (or under Wine, as `.ci/wine/suite.sh` does) as an administrator, it
//! prints one `PASS: …` or `FAIL: …` line per property (and `note: …` lines) and exits
//! non-zero on any failure:
//!
//! - permissions: accounts as SIDs (the virtual account's written out here, as Windows
//!   computes it; `Everyone`, by its English name, and the current user looked up);
//!   `acl::grant` on a temporary directory, read back and idempotent; `acl::restrict`
//!   on a file, each call replacing the DACL. On Windows also (Wine drops such entries,
//!   see the `note:` it prints): the entries for `LocalService` and the virtual account
//!   read back, inherited by a new file, and a restricted file's DACL protected with
//!   exactly SYSTEM, the Administrators and the account;
//! - the event log: `eventlog::register_source`, its registry values read back with
//!   `reg.exe`, idempotent, `EventSource::report`, `unregister_source`;
//! - service control: `query` of a service that does not exist, then this program
//!   installed as a service (`run-service` mode): `query`, `start`, `wait_state`, a
//!   custom control code received by the service, `stop`, `uninstall`.
//!
//! `winapi-probe control NAME pause|continue` only sends `SERVICE_CONTROL_PAUSE` or
//! `SERVICE_CONTROL_CONTINUE` to the service NAME, as `sc pause` / `sc continue` do
//! (Wine's sc.exe has neither).
//!
//! Elsewhere it only says it needs Windows.

#[cfg(windows)]
fn main() -> std::process::ExitCode {
    win::main()
}

#[cfg(not(windows))]
fn main() {
    println!("winapi-probe: a Windows program (see .ci/wine/suite.sh)");
}

#[cfg(windows)]
mod win {
    use std::fs;
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::{Command, ExitCode};
    use std::thread;
    use std::time::{Duration, Instant};

    use tend_service::cmdline::windows_command_line;
    use tend_service::windows::acl::{self, Access, AceKind, Sid};
    use tend_service::windows::eventlog::{self, EventKind, EventSource};
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};

    use tend_service::windows::{
        self as win, Account, Error, Event, ExitCodeError, ServiceDef, ServiceState, StartOutcome,
        StartType, StopOutcome, UninstallOutcome,
    };

    /// The service this program installs itself as, and the event source it registers.
    const SERVICE: &str = "tend-probe";
    /// The SID of `NT SERVICE\tend-probe` (SHA-1 of "TEND-PROBE" in UTF-16LE, as five
    /// little-endian words), computed outside this crate.
    const SERVICE_SID: &str = "S-1-5-80-3944144164-2823035650-983931640-1527118053-1063885171";
    const ABSENT: &str = "tend-probe-absent";
    const TIMEOUT: Duration = Duration::from_secs(20);
    /// The custom control code sent to the service.
    const CUSTOM: u8 = 200;
    /// `FILE_ALL_ACCESS`.
    const FULL_CONTROL: u32 = 0x1F_01FF;

    /// Counts and prints the checks.
    #[derive(Default)]
    struct Probe {
        failed: usize,
    }

    impl Probe {
        fn check(&mut self, ok: bool, what: impl std::fmt::Display) {
            if ok {
                println!("PASS: {what}");
            } else {
                println!("FAIL: {what}");
                self.failed += 1;
            }
        }
    }

    pub fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let [mode, marker] = args.as_slice() {
            if mode == "run-service" {
                return run_service(Path::new(marker));
            }
        }
        // `control NAME pause|continue`: what `sc pause` / `sc continue` do (Wine's
        // sc.exe has neither), for the tend.exe suite.
        if let [mode, name, what] = args.as_slice() {
            if mode == "control" {
                let sent = match what.as_str() {
                    "pause" => win::pause(name),
                    "continue" => win::resume(name),
                    _ => {
                        eprintln!("winapi-probe control: pause or continue, not {what}");
                        return ExitCode::from(2);
                    }
                };
                return match sent {
                    Ok(()) => {
                        println!("sent {what} to {name}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("winapi-probe control {name} {what}: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
        }
        let mut p = Probe::default();
        let work = std::env::temp_dir().join(format!("tend-probe-{}", std::process::id()));
        match fs::create_dir_all(&work) {
            Ok(()) => {
                permissions(&mut p, &work, is_wine());
                event_log(&mut p);
                service_control(&mut p, &work);
            }
            Err(e) => p.check(false, format!("create {}: {e}", work.display())),
        }
        let _ = fs::remove_dir_all(&work);
        if p.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    /// The service: reports running, appends each custom control code to `marker`,
    /// stops when asked.
    fn run_service(marker: &Path) -> ExitCode {
        let marker = marker.to_owned();
        let result = win::run(SERVICE, move |events, status| {
            status.running().map_err(|_| ExitCodeError::new(2))?;
            for event in events.iter() {
                match event {
                    Event::Custom(code) => {
                        let mut f = fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&marker)
                            .map_err(|_| ExitCodeError::new(3))?;
                        writeln!(f, "custom {code}").map_err(|_| ExitCodeError::new(3))?;
                    }
                    _ => break,
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("winapi-probe run-service: {e}");
                ExitCode::from(64)
            }
        }
    }

    /// Whether this is Wine (its ntdll exports `wine_get_version`).
    fn is_wine() -> bool {
        let ntdll: Vec<u16> = "ntdll.dll".encode_utf16().chain([0]).collect();
        // SAFETY: both names are NUL-terminated; ntdll is loaded in every process, and
        // the module handle is only used for the lookup.
        unsafe {
            let module = GetModuleHandleW(ntdll.as_ptr());
            !module.is_null()
                && GetProcAddress(module, c"wine_get_version".as_ptr().cast()).is_some()
        }
    }

    /// The rights the DACL of `path` gives `sid`, for the messages.
    fn rights(path: &Path, sid: &Sid) -> String {
        match acl::allowed_access(path, sid) {
            Ok(Some(mask)) => format!("{mask:#x}"),
            Ok(None) => "none".into(),
            Err(e) => e.to_string(),
        }
    }

    fn covers(path: &Path, sid: &Sid, access: Access) -> bool {
        acl::allowed_access(path, sid)
            .is_ok_and(|m| m.is_some_and(|m| m & access.mask() == access.mask()))
    }

    fn permissions(p: &mut Probe, work: &Path, wine: bool) {
        let local_service = Sid::local_service();
        let virtual_sid: Sid = SERVICE_SID.parse().expect("a SID");
        let everyone_sid: Sid = "S-1-1-0".parse().expect("a SID");
        // A user account whose entries Wine keeps (as the "other" mode bits).
        let everyone = Account::User {
            name: "Everyone".into(),
            password: None,
        };

        // Accounts as SIDs.
        let r = acl::account_sid(&Account::Virtual, SERVICE);
        p.check(
            r.as_ref().is_ok_and(|s| *s == virtual_sid),
            format!("acl: NT SERVICE\\{SERVICE} is {SERVICE_SID} ({r:?})"),
        );
        let r = acl::account_sid(&everyone, SERVICE);
        p.check(
            r.as_ref().is_ok_and(|s| *s == everyone_sid),
            format!("acl: the account Everyone is looked up as S-1-1-0 ({r:?})"),
        );
        let user = std::env::var("USERNAME").unwrap_or_default();
        let r = acl::account_sid(
            &Account::User {
                name: format!(r".\{user}"),
                password: None,
            },
            SERVICE,
        );
        p.check(
            r.as_ref()
                .is_ok_and(|s| s.to_string().starts_with("S-1-5-21-")),
            format!("acl: the local user .\\{user} is looked up ({r:?})"),
        );
        let r = acl::account_sid(
            &Account::User {
                name: r".\no-such-user-tend".into(),
                password: None,
            },
            SERVICE,
        );
        p.check(
            r.is_err(),
            format!("acl: an unknown user is an error ({r:?})"),
        );

        // grant on a directory.
        let dir = work.join("data");
        let _ = fs::create_dir_all(&dir);
        let r = acl::grant(&dir, &Account::LocalService, SERVICE, Access::Modify);
        p.check(
            matches!(r, Ok(true)),
            format!("acl: grant LocalService Modify on a directory ({r:?})"),
        );
        let r = acl::grant(&dir, &Account::Virtual, SERVICE, Access::Read);
        p.check(
            matches!(r, Ok(true)),
            format!("acl: grant NT SERVICE\\{SERVICE} Read on it ({r:?})"),
        );
        let before = rights(&dir, &everyone_sid);
        let r = acl::grant(&dir, &everyone, SERVICE, Access::Modify);
        let entry = acl::dacl(&dir).ok().and_then(|d| {
            d.aces?.into_iter().find(|a| {
                a.kind == AceKind::Allow && a.sid.as_ref() == Some(&everyone_sid) && !a.inherited()
            })
        });
        p.check(
            matches!(r, Ok(true))
                && entry.as_ref().is_some_and(|a| {
                    a.mask & Access::Modify.mask() == Access::Modify.mask() && a.inheritable()
                }),
            format!("acl: grant Everyone Modify on it: read back as an explicit, inheritable entry ({r:?}; {before} -> {entry:x?})"),
        );
        let r = acl::grant(&dir, &everyone, SERVICE, Access::Modify);
        p.check(
            matches!(r, Ok(false)),
            format!("acl: the same grant again changes nothing ({r:?})"),
        );
        let r = acl::grant(&dir, &everyone, SERVICE, Access::Read);
        p.check(
            matches!(r, Ok(false)),
            format!("acl: nor does a grant of less (Read) ({r:?})"),
        );

        // restrict on a file: each call replaces the DACL. (Not in `dir`, whose
        // inheritable Everyone Modify entry Wine would merge in.)
        let secret = work.join("secret.toml");
        let _ = fs::write(&secret, "password = 'x'");
        let r = acl::restrict(&secret, &everyone, SERVICE, Access::Modify);
        p.check(
            matches!(r, Ok(true)) && covers(&secret, &everyone_sid, Access::Modify),
            format!(
                "acl: restrict a file to Everyone Modify: read back ({r:?}, {})",
                rights(&secret, &everyone_sid)
            ),
        );
        let r = acl::restrict(&secret, &everyone, SERVICE, Access::Read);
        let now = acl::allowed_access(&secret, &everyone_sid);
        p.check(
            matches!(r, Ok(true)) && matches!(now, Ok(Some(m)) if m == Access::Read.mask()),
            format!("acl: restrict it to Everyone Read: the Modify entry is replaced, not kept ({r:?}, {now:x?})"),
        );
        let r = acl::restrict(&secret, &Account::LocalService, SERVICE, Access::Read);
        p.check(
            matches!(r, Ok(true)),
            format!("acl: restrict it to LocalService Read ({r:?})"),
        );

        if wine {
            println!(
                "note: acl: Wine keeps a file's DACL only as Unix mode bits (entries for \
                 other SIDs such as LocalService and NT SERVICE\\... are dropped, a read \
                 DACL is rebuilt from the mode and never protected, the parent's inheritable \
                 entries are merged even into a protected DACL): their read-back, inheritance \
                 into new files, protection and restrict's idempotence are checked on \
                 Windows only"
            );
            return;
        }
        p.check(
            covers(&dir, &local_service, Access::Modify),
            format!(
                "acl: the directory gives LocalService Modify ({})",
                rights(&dir, &local_service)
            ),
        );
        p.check(
            covers(&dir, &virtual_sid, Access::Read),
            format!(
                "acl: and {SERVICE_SID} Read ({})",
                rights(&dir, &virtual_sid)
            ),
        );
        let child = dir.join("child.txt");
        let inherited = fs::write(&child, "x")
            .map_err(|e| e.to_string())
            .and_then(|()| acl::dacl(&child).map_err(|e| e.to_string()));
        let inherits = |sid: &Sid| {
            inherited.as_ref().is_ok_and(|d| {
                d.aces.as_ref().is_some_and(|aces| {
                    aces.iter().any(|a| {
                        a.kind == AceKind::Allow && a.inherited() && a.sid.as_ref() == Some(sid)
                    })
                })
            })
        };
        p.check(
            inherits(&local_service) && inherits(&virtual_sid),
            format!("acl: a file created in the directory inherits both entries ({inherited:x?})"),
        );
        // The entries as sorted text, to compare as a whole.
        let entries = |aces: &[acl::Ace]| {
            let mut list: Vec<String> = aces
                .iter()
                .map(|a| format!("{:?} {:?} {:#x} {:#x}", a.kind, a.sid, a.mask, a.flags))
                .collect();
            list.sort();
            list
        };
        let allow = |sid: Sid, mask: u32| acl::Ace {
            kind: AceKind::Allow,
            flags: 0,
            mask,
            sid: Some(sid),
        };
        let want = entries(&[
            allow(Sid::local_system(), FULL_CONTROL),
            allow(Sid::administrators(), FULL_CONTROL),
            allow(local_service.clone(), Access::Read.mask()),
        ]);
        let d = acl::dacl(&secret);
        p.check(
            d.as_ref().is_ok_and(|d| d.protected && d.aces.as_deref().map(entries) == Some(want.clone())),
            format!("acl: the file's DACL is protected with exactly SYSTEM and Administrators full, LocalService Read ({d:x?})"),
        );
        let r = acl::restrict(&secret, &Account::LocalService, SERVICE, Access::Read);
        p.check(
            matches!(r, Ok(false)),
            format!("acl: restrict again changes nothing ({r:?})"),
        );
    }

    /// `reg query HKLM\…\Application\<source> /v <value>`: the value's line, if any.
    fn reg_value(value: &str) -> Option<String> {
        let key = format!(r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\{SERVICE}");
        let out = Command::new("reg")
            .args(["query", &key, "/v", value])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.trim_start().starts_with(value))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    fn event_log(p: &mut Probe) {
        let exe = std::env::current_exe().unwrap_or_default();
        let _ = eventlog::unregister_source(SERVICE);

        let r = eventlog::register_source(SERVICE, &exe);
        p.check(
            matches!(r, Ok(true)),
            format!("eventlog: register_source ({r:?})"),
        );
        let file = reg_value("EventMessageFile");
        let want = format!("EventMessageFile REG_EXPAND_SZ {}", exe.display());
        p.check(
            file.as_deref() == Some(want.as_str()),
            format!("eventlog: reg query shows {want:?} ({file:?})"),
        );
        let types = reg_value("TypesSupported");
        p.check(
            types.as_deref() == Some("TypesSupported REG_DWORD 0x7"),
            format!("eventlog: reg query shows TypesSupported REG_DWORD 0x7 ({types:?})"),
        );
        let r = eventlog::source_registered(SERVICE);
        p.check(
            matches!(&r, Ok(Some(f)) if *f == exe),
            format!("eventlog: source_registered reads the message file back ({r:?})"),
        );
        let r = eventlog::register_source(SERVICE, &exe);
        p.check(
            matches!(r, Ok(false)),
            format!("eventlog: register_source again changes nothing ({r:?})"),
        );
        let other = PathBuf::from(r"%SystemRoot%\System32\EventCreate.exe");
        let r = eventlog::register_source(SERVICE, &other);
        let now = eventlog::source_registered(SERVICE);
        p.check(
            matches!(r, Ok(true)) && matches!(&now, Ok(Some(f)) if *f == other),
            format!("eventlog: another message file is written ({r:?}, {now:?})"),
        );
        let r = eventlog::register_source(r"a\b", &exe);
        p.check(
            matches!(r, Err(Error::InvalidName { .. })),
            format!("eventlog: a source name with a backslash is refused ({r:?})"),
        );
        let r = eventlog::register_source(SERVICE, Path::new(r"relative\x.exe"));
        p.check(
            matches!(r, Err(Error::RelativePath(_))),
            format!("eventlog: a relative message file is refused ({r:?})"),
        );

        match EventSource::open(SERVICE) {
            Ok(log) => {
                let results = [
                    log.report(EventKind::Info, 1, &["winapi-probe: information"]),
                    log.report(EventKind::Warning, 0x8000_0002, &[]),
                    log.report(EventKind::Error, 0xC000_0003, &["one", "two"]),
                    log.report(EventKind::Info, 4, &[&"x".repeat(40_000)]),
                ];
                p.check(
                    results.iter().all(Result::is_ok),
                    format!("eventlog: report (information, warning, error, a long string) succeeds ({results:?})"),
                );
                let r = log.report(EventKind::Info, 1, &["a\0b"]);
                p.check(
                    matches!(r, Err(Error::Nul(_))),
                    format!("eventlog: a string with a NUL is refused ({r:?})"),
                );
            }
            Err(e) => p.check(false, format!("eventlog: EventSource::open: {e}")),
        }

        let r = eventlog::unregister_source(SERVICE);
        p.check(
            matches!(r, Ok(true)),
            format!("eventlog: unregister_source ({r:?})"),
        );
        let now = eventlog::source_registered(SERVICE);
        let file = reg_value("EventMessageFile");
        p.check(
            matches!(now, Ok(None)) && file.is_none(),
            format!("eventlog: the source is gone ({now:?}, reg query: {file:?})"),
        );
        let r = eventlog::unregister_source(SERVICE);
        p.check(
            matches!(r, Ok(false)),
            format!("eventlog: unregister_source again: not registered ({r:?})"),
        );
    }

    /// Polls `f` every 100 ms until it is true or `timeout` passes.
    fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if f() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn service_control(p: &mut Probe, work: &Path) {
        let r = win::query(ABSENT);
        p.check(
            matches!(r, Ok(None)),
            format!("service: query of a service that does not exist: None ({r:?})"),
        );
        let not_installed = |r: Result<(), Error>| r.is_err_and(|e| e.is_not_installed());
        p.check(
            not_installed(win::start(ABSENT).map(drop))
                && not_installed(win::stop(ABSENT, Duration::ZERO).map(drop))
                && not_installed(win::control(ABSENT, CUSTOM))
                && not_installed(
                    win::wait_state(ABSENT, ServiceState::Running, Duration::ZERO).map(drop),
                ),
            "service: start, stop, control and wait_state of it: a not-installed error",
        );
        let r = win::control(ABSENT, 5);
        p.check(
            matches!(r, Err(Error::NotCustomControl(5))),
            format!("service: control code 5 is refused as not custom ({r:?})"),
        );

        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => return p.check(false, format!("service: current_exe: {e}")),
        };
        let marker = work.join("controls.txt");
        let marker_arg = marker.to_string_lossy().into_owned();
        let def = ServiceDef {
            display_name: "tend winapi probe".into(),
            start: StartType::Manual,
            args: vec!["run-service".into(), marker_arg.clone()],
            ..ServiceDef::new(SERVICE)
        };
        let _ = win::uninstall(SERVICE);
        let r = win::install(&def, &exe);
        p.check(
            r.is_ok(),
            format!("service: install this program as {SERVICE} ({r:?})"),
        );
        if r.is_err() {
            return;
        }

        let info = win::query(SERVICE);
        let command_line =
            windows_command_line(&[&exe.to_string_lossy(), "run-service", &marker_arg]);
        p.check(
            info.as_ref().is_ok_and(|i| {
                i.as_ref().is_some_and(|i| {
                    i.state == ServiceState::Stopped
                        && i.pid.is_none()
                        && i.start == StartType::Manual
                        && i.account == "LocalSystem"
                        && i.display_name == "tend winapi probe"
                        && Ok(&i.command_line) == command_line.as_ref()
                })
            }),
            format!("service: query after install: stopped, no pid, manual, LocalSystem, its display name and command line ({info:?})"),
        );
        let r = win::start(SERVICE);
        p.check(
            matches!(r, Ok(StartOutcome::Started)),
            format!("service: start ({r:?})"),
        );
        let r = win::wait_state(SERVICE, ServiceState::Running, TIMEOUT);
        p.check(
            matches!(r, Ok(true)),
            format!("service: wait_state running ({r:?})"),
        );
        let info = win::query(SERVICE);
        let pid = info.as_ref().ok().and_then(|i| i.as_ref()?.pid);
        p.check(
            info.as_ref()
                .is_ok_and(|i| i.as_ref().is_some_and(|i| i.state == ServiceState::Running))
                && pid.is_some(),
            format!("service: query: running, with a pid ({info:?})"),
        );
        let r = win::start(SERVICE);
        p.check(
            matches!(r, Ok(StartOutcome::AlreadyRunning)),
            format!("service: start again: already running ({r:?})"),
        );
        let r = win::control(SERVICE, CUSTOM);
        let seen = eventually(Duration::from_secs(10), || {
            fs::read_to_string(&marker)
                .is_ok_and(|s| s.lines().any(|l| l == format!("custom {CUSTOM}")))
        });
        p.check(
            r.is_ok() && seen,
            format!("service: control({CUSTOM}) reaches the service as Event::Custom({CUSTOM}) ({r:?}, seen: {seen})"),
        );
        let r = win::stop(SERVICE, TIMEOUT);
        p.check(
            matches!(r, Ok(StopOutcome::Stopped)),
            format!("service: stop ({r:?})"),
        );
        let info = win::query(SERVICE);
        p.check(
            info.as_ref().is_ok_and(|i| {
                i.as_ref().is_some_and(|i| {
                    i.state == ServiceState::Stopped && i.pid.is_none() && i.win32_exit_code == 0
                })
            }),
            format!("service: query: stopped cleanly, no pid ({info:?})"),
        );
        let r = win::stop(SERVICE, TIMEOUT);
        p.check(
            matches!(r, Ok(StopOutcome::AlreadyStopped)),
            format!("service: stop again: already stopped ({r:?})"),
        );
        let r = win::wait_state(SERVICE, ServiceState::Running, Duration::from_millis(300));
        p.check(
            matches!(r, Ok(false)),
            format!("service: wait_state running on a stopped service times out ({r:?})"),
        );
        let r = win::uninstall(SERVICE);
        let gone = win::query(SERVICE);
        p.check(
            matches!(r, Ok(UninstallOutcome::Removed)) && matches!(gone, Ok(None)),
            format!("service: uninstall, then query: None ({r:?}, {gone:?})"),
        );
    }
}

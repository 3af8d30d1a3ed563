//! `tend doctor` on services broken on purpose under `tend run`: each diagnosis names
//! the cause, shows the evidence and gives the fix.
#![cfg(unix)]

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const SECS: Duration = Duration::from_secs(1);

/// `tend doctor ARGS --json` in `s`: its exit code and reports.
fn doctor(s: &Scratch, target: &str) -> (i32, Vec<serde_json::Value>) {
    let out = s
        .tend(&["doctor", target, "--json"])
        .output()
        .expect("run tend doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    let reports: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code(&out), reports)
}

/// The finding `id` of the only report, or a panic showing them all.
fn finding(reports: &[serde_json::Value], id: &str) -> serde_json::Value {
    assert_eq!(reports.len(), 1, "{reports:#?}");
    reports[0]["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no `{id}` finding in {reports:#?}"))
}

fn evidence(f: &serde_json::Value) -> String {
    f["evidence"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// A service that exits 1 at once, restarted until the restart limit: a crash loop,
/// and the last exit in words.
#[test]
fn a_crash_loop_is_named_with_its_last_exit() {
    let s = Scratch::new();
    let spec = s.spec(
        "c.toml",
        &fixture_spec(
            "c",
            &["--eprint", "cannot open /etc/c.conf", "--exit", "78"],
            "[restart]\npolicy = \"always\"\nmax_restarts = 2\nwindow = \"1m\"\n[restart.backoff]\ninitial = \"10ms\"\n",
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(30 * SECS);
    assert_eq!(code(&out), 3, "the restart limit ends tend run");

    let (code, reports) = doctor(&s, "c");
    assert_eq!(code, 3, "problems found");
    let f = finding(&reports, "crash-loop");
    assert_eq!(f["severity"], "problem");
    assert!(evidence(&f).contains("restart.max_restarts = 2"), "{f:#}");
    // Its supervisor has ended: started again by `tend run`.
    assert_eq!(
        f["fix"],
        format!(
            "tend logs c (why it ends), then tend run {}",
            spec.display()
        )
    );
    let f = finding(&reports, "last-exit");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("exit code 78 (EX_CONFIG: its configuration is wrong)"),
        "{f:#}"
    );
    assert!(evidence(&f).contains("cannot open /etc/c.conf"), "{f:#}");

    // The same, for people.
    let out = s.tend(&["doctor", "c"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("c:\n  problem [crash-loop]: "), "{text}");
    assert!(text.contains("    fix: tend logs c"), "{text}");
}

/// A program without its execute bit: named, with the fix.
#[test]
fn a_program_that_is_not_executable() {
    let s = Scratch::new();
    let prog = s.path("app");
    std::fs::write(&prog, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o644)).unwrap();
    let spec = s.spec(
        "p.toml",
        &format!(
            "name = \"p\"\ncommand = {}\n[restart]\npolicy = \"never\"\n",
            q(&prog)
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(30 * SECS);
    assert_ne!(code(&out), 0);

    let (code, reports) = doctor(&s, spec.to_str().unwrap());
    assert_eq!(code, 3);
    let f = finding(&reports, "program");
    assert!(
        evidence(&f).contains("is not executable (mode 644)"),
        "{f:#}"
    );
    assert!(f["fix"].as_str().unwrap().contains("chmod +x"), "{f:#}");

    // Fixed: no such finding.
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (_, reports) = doctor(&s, spec.to_str().unwrap());
    let ids: Vec<&str> = reports[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(!ids.contains(&"program"), "{reports:#?}");
}

/// A program in a folder its `user` may not enter (as root: another account): the
/// folder is named, with the fix. tend itself (root) could run it; the account cannot.
#[test]
fn a_program_its_account_cannot_reach() {
    // SAFETY: a plain getter.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root, to run a service as another account");
        return;
    }
    let s = Scratch::new();
    let opt = s.path("opt");
    std::fs::create_dir(&opt).unwrap();
    let prog = opt.join("app");
    std::fs::copy(fixture_bin(), &prog).unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&opt, std::fs::Permissions::from_mode(0o700)).unwrap();
    let spec = s.spec(
        "a.toml",
        &format!(
            "name = \"a\"\ncommand = {}\nuser = \"nobody\"\nworking_dir = \"/\"\n[restart]\npolicy = \"never\"\n",
            q(&prog)
        ),
    );
    let (code, reports) = doctor(&s, spec.to_str().unwrap());
    assert_eq!(code, 3);
    let f = finding(&reports, "program-access");
    assert_eq!(
        f["summary"],
        format!("its account nobody cannot enter {}", opt.display())
    );
    assert_eq!(f["fix"], format!("chmod a+x {}", opt.display()));
}

/// The `[[listen]]` port is held by another process (this test): tend run refuses to
/// start, and the doctor names the holder.
#[test]
fn a_listen_port_held_by_another_process() {
    let s = Scratch::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let spec = s.spec(
        "l.toml",
        &fixture_spec(
            "l",
            &["--hang"],
            &format!("[[listen]]\nname = \"http\"\naddress = \"{addr}\"\n"),
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(30 * SECS);
    assert_eq!(code(&out), 1);

    let (code, reports) = doctor(&s, spec.to_str().unwrap());
    assert_eq!(code, 3);
    let f = finding(&reports, "port");
    assert_eq!(f["severity"], "problem");
    let holder = format!("pid {} (", std::process::id());
    assert!(
        f["summary"].as_str().unwrap().starts_with(&format!(
            "the address of [[listen]] http is held by {holder}"
        )),
        "{f:#}"
    );
    assert!(evidence(&f).contains(&addr.to_string()), "{f:#}");

    drop(taken);
    let (code, reports) = doctor(&s, spec.to_str().unwrap());
    assert_eq!(code, 0, "{reports:#?}");
}

/// Whether a C compiler is here (the missing-library test needs one).
fn have_gcc() -> bool {
    Command::new("gcc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn gcc(dir: &Path, args: &[&str]) {
    let out = Command::new("gcc")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A program linked against a shared library that is then removed: `ldd` says "not
/// found", the doctor names the library.
#[test]
fn a_missing_shared_library() {
    if !have_gcc() {
        eprintln!("skipped: no gcc to build a program that needs a library");
        return;
    }
    let s = Scratch::new();
    let dir = s.dir.path();
    std::fs::write(dir.join("gone.c"), "int gone(void) { return 0; }\n").unwrap();
    std::fs::write(
        dir.join("main.c"),
        "int gone(void);\nint main(void) { return gone(); }\n",
    )
    .unwrap();
    gcc(dir, &["-shared", "-fPIC", "-o", "libtendgone.so", "gone.c"]);
    gcc(dir, &["-o", "needs", "main.c", "-L.", "-ltendgone"]);
    std::fs::remove_file(dir.join("libtendgone.so")).unwrap();
    let spec = s.spec(
        "m.toml",
        &format!(
            "name = \"m\"\ncommand = {}\n[restart]\npolicy = \"never\"\n",
            q(&dir.join("needs"))
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(30 * SECS);
    assert_ne!(code(&out), 0, "the loader refuses it");

    let (code, reports) = doctor(&s, "m");
    assert_eq!(code, 3);
    let f = finding(&reports, "library");
    assert!(
        f["summary"].as_str().unwrap().ends_with(": libtendgone.so"),
        "{f:#}"
    );
    assert!(
        evidence(&f).contains("libtendgone.so => not found"),
        "{f:#}"
    );
    // And how the loader's refusal ended the child, in words.
    let f = finding(&reports, "last-exit");
    assert!(
        f["summary"].as_str().unwrap().contains("exit code 127"),
        "{f:#}"
    );
}

/// A running service whose health probe fails: the probe's last result is the
/// evidence.
#[test]
fn a_failing_health_probe() {
    let s = Scratch::new();
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = s.spec(
        "h.toml",
        &fixture_spec(
            "h",
            &["--hang"],
            &format!(
                "[health]\ntcp = \"127.0.0.1:{port}\"\ninterval = \"50ms\"\ntimeout = \"1s\"\nretries = 1\non_unhealthy = \"report\"\n"
            ),
        ),
    );
    let _run = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(20 * SECS, "the service is unhealthy", || {
        s.state("h")
            .is_some_and(|st| st["health"]["state"] == "unhealthy")
    });

    let (code, reports) = doctor(&s, "h");
    assert_eq!(code, 3);
    let f = finding(&reports, "health");
    let ev = evidence(&f);
    assert!(ev.contains("health: unhealthy"), "{f:#}");
    assert!(ev.contains(&format!("127.0.0.1:{port}")), "{f:#}");
}

/// An unknown name: an error that says how to check a service that never ran.
#[test]
fn an_unknown_name_points_at_the_spec_file() {
    let s = Scratch::new();
    let out = s.tend(&["doctor", "nope"]).output().unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("tend doctor ./nope.toml"),
        "{}",
        stderr(&out)
    );
}

/// A program and a shared library it needs, built in `dir`: `needs` and
/// `libs/libtendhidden.so`, with `rpath` (else found only through LD_LIBRARY_PATH).
fn program_with_a_library(dir: &Path, rpath: bool) {
    std::fs::create_dir(dir.join("libs")).unwrap();
    std::fs::write(dir.join("hidden.c"), "int hidden(void) { return 0; }\n").unwrap();
    std::fs::write(
        dir.join("main.c"),
        "int hidden(void);\nint main(void) { return hidden(); }\n",
    )
    .unwrap();
    gcc(
        dir,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "libs/libtendhidden.so",
            "hidden.c",
        ],
    );
    let rp = format!("-Wl,-rpath,{}", dir.join("libs").display());
    let mut args = vec!["-o", "needs", "main.c", "-Llibs", "-ltendhidden"];
    if rpath {
        args.push(&rp);
    }
    gcc(dir, &args);
}

/// The service's LD_LIBRARY_PATH is the loader's: the doctor's `ldd` uses it, and
/// finds what the service would.
#[test]
fn a_library_found_through_the_spec_s_ld_library_path() {
    if !have_gcc() {
        eprintln!("skipped: no gcc to build a program that needs a library");
        return;
    }
    let s = Scratch::new();
    let dir = s.dir.path();
    program_with_a_library(dir, false);
    let spec = s.spec(
        "m.toml",
        &format!(
            "name = \"m\"\ncommand = {}\n[env]\nLD_LIBRARY_PATH = {}\n[restart]\npolicy = \"never\"\n",
            q(&dir.join("needs")),
            q(&dir.join("libs"))
        ),
    );
    let (_, reports) = doctor(&s, spec.to_str().unwrap());
    let ids: Vec<&str> = reports[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(!ids.contains(&"library"), "{reports:#?}");
}

/// A library in a folder only root may enter: found by root, not by the service's
/// account, and `ldd` runs as that account, so the doctor names it.
#[test]
fn a_library_its_account_cannot_read() {
    // SAFETY: a plain getter.
    if unsafe { libc::geteuid() } != 0 || !have_gcc() {
        eprintln!("skipped: needs root (to run ldd as another account) and gcc");
        return;
    }
    let s = Scratch::new();
    let dir = s.dir.path();
    program_with_a_library(dir, true);
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.join("libs"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let spec = s.spec(
        "h.toml",
        &format!(
            "name = \"h\"\ncommand = {}\nuser = \"nobody\"\nworking_dir = \"/\"\n[restart]\npolicy = \"never\"\n",
            q(&dir.join("needs"))
        ),
    );
    let (code, reports) = doctor(&s, spec.to_str().unwrap());
    assert_eq!(code, 3, "{reports:#?}");
    let f = finding(&reports, "library");
    assert!(
        evidence(&f).contains("(as nobody): libtendhidden.so => not found"),
        "{f:#}"
    );
}

/// A program for another machine (the fixture with another ELF `e_machine`): the
/// doctor says which architecture it is for.
#[test]
fn a_program_built_for_another_machine() {
    let s = Scratch::new();
    let prog = s.path("foreign");
    let mut bytes = std::fs::read(fixture_bin()).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    let (machine, arch): (u16, &str) = if std::env::consts::ARCH == "aarch64" {
        (62, "x86_64")
    } else {
        (183, "aarch64")
    };
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
    std::fs::write(&prog, bytes).unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let spec = s.spec(
        "f.toml",
        &format!(
            "name = \"f\"\ncommand = {}\n[restart]\npolicy = \"never\"\n",
            q(&prog)
        ),
    );
    let (code, reports) = doctor(&s, spec.to_str().unwrap());
    assert_eq!(code, 3, "{reports:#?}");
    let f = finding(&reports, "architecture");
    assert_eq!(
        f["summary"],
        format!(
            "its program cannot run on this machine: it is built for {arch}, and this machine is {}",
            std::env::consts::ARCH
        )
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .starts_with(&format!("install the {} build", std::env::consts::ARCH)),
        "{f:#}"
    );
}

/// Output flooded into a log folder on a 512 kB tmpfs: lines are dropped and counted
/// in the state file, and the doctor says so, with the disk's free space and the fix.
#[test]
fn logs_dropping_lines_on_a_full_disk() {
    // SAFETY: a plain getter.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root, to mount a small tmpfs");
        return;
    }
    let s = Scratch::new();
    let mnt = s.path("small");
    std::fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|st| st.success());
    assert!(ok, "mount a 512k tmpfs at {}", mnt.display());
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let spec = s.spec(
        "full.toml",
        &fixture_spec(
            "full",
            &["--flood", "50000"],
            &format!(
                "[restart]\npolicy = \"never\"\n[log]\ndir = {}\nmax_size = \"100MB\"\n",
                q(&mnt)
            ),
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(30 * SECS);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (code, reports) = doctor(&s, "full");
    assert_eq!(code, 3, "{reports:#?}");
    let f = finding(&reports, "log-dropped");
    assert_eq!(f["severity"], "problem");
    assert_eq!(f["summary"], "its logs are dropping lines");
    let ev = evidence(&f);
    assert!(
        ev.contains("of its output could not be written to its log files"),
        "{f:#}"
    );
    assert!(
        ev.contains(&format!("{}: ", mnt.display())) && ev.contains("bytes free"),
        "{f:#}"
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("`df -h {}`", mnt.display())),
        "{f:#}"
    );
}

//! The command line itself: what every verb accepts, and how it ends.

mod common;

use common::Scratch;

/// Every verb that takes a service name checks it with the spec's rule before anything
/// else, so `../x` can never become a path (`<logdir>/../x.out.log`, or an install
/// record `/etc/tend/../../tmp/x.install.json` naming a script to run).
#[test]
fn every_verb_refuses_a_name_that_is_not_a_service_name() {
    let s = Scratch::new();
    let spec = s.spec("a.toml", "name = \"a\"\ncommand = \"/bin/true\"\n");
    let spec = spec.to_str().unwrap();
    for bad in [
        "../secret",
        "../../tmp/x",
        "a/b",
        ".hidden",
        "",
        "a b",
        "-x",
    ] {
        let bad_arg = format!("--name={bad}");
        let cases: Vec<Vec<&str>> = vec![
            vec!["start", "--", bad],
            vec!["stop", "--", bad],
            vec!["restart", "--", bad],
            vec!["status", "--", bad],
            vec!["logs", "--", bad],
            vec!["logs", "-f", "--", bad],
            vec!["uninstall", "--dry-run", "--", bad],
            vec!["install", "--dry-run", &bad_arg, spec],
            vec!["run", "--no-guard", &bad_arg, spec],
        ];
        for args in cases {
            let out = s.tend(&args).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "tend {args:?}: {err}");
            assert!(
                err.contains("invalid value") && err.contains("service name"),
                "tend {args:?}: {err}"
            );
            assert!(out.stdout.is_empty(), "tend {args:?} printed something");
        }
    }
}

/// `tend status | head`: a reader that goes away is a normal end for every command, not
/// a panic (exit 101, or 134 in a release build) on "failed printing to stdout".
#[test]
fn a_closed_stdout_is_a_normal_end() {
    let s = Scratch::new();
    let spec = s.spec("a.toml", "name = \"a\"\ncommand = \"/bin/true\"\n");
    let spec = spec.to_str().unwrap();
    std::fs::create_dir_all(s.log_dir()).unwrap();
    let lines: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(s.log_dir().join("a.out.log"), lines).unwrap();
    let cases: &[(&[&str], i32)] = &[
        (&["status"], 0),
        (&["status", "--json"], 0),
        (&["check", spec], 0),
        (&["check", "--json", spec], 0),
        (&["logs", "-n", "5000", "a"], 0),
        (&["schema"], 0),
        (&["completions", "bash"], 0),
        (&["init", "--name", "x", "/bin/true"], 0),
        (&["install", "--dry-run", "--backend", "systemd", spec], 0),
        (&["logs", "nosuchservice"], 1),
    ];
    for (args, code) in cases {
        let (reader, writer) = std::io::pipe().unwrap();
        // Nobody will ever read: every write fails with EPIPE.
        drop(reader);
        let out = s
            .tend(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "tend {args:?}: {err}");
        assert_eq!(out.status.code(), Some(*code), "tend {args:?}: {err}");
    }
}

/// `tend check` runs every check `tend run` makes before it starts: what run refuses,
/// check refuses, at the line of the key, all problems at once.
#[test]
fn check_refuses_what_run_refuses() {
    let s = Scratch::new();
    std::fs::write(s.path("bad.env"), "KEY=1\nBAR with spaces\n").unwrap();
    // (spec body after name and command, the key's line, what the error says, a
    // machine check that --syntax-only skips)
    let cases = [
        ("group = \"daemon\"\n", 3, "needs a `user`", false),
        (
            "working_dir = \"/does/not/exist\"\n",
            3,
            "is not a directory",
            true,
        ),
        (
            "env_file = \"missing.env\"\n",
            3,
            "cannot read env_file",
            true,
        ),
        (
            "env_file = \"bad.env\"\n",
            3,
            "bad.env:2: expected KEY=VALUE",
            true,
        ),
        ("user = \"no-such-user-here\"\n", 3, "does not exist", true),
    ];
    for (body, line, says, machine) in cases {
        let spec = s.spec(
            "c.toml",
            &format!("name = \"c\"\ncommand = \"/bin/true\"\n{body}"),
        );
        let spec = spec.to_str().unwrap();
        let out = s.tend(&["check", spec]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "check {body:?}: {err}");
        assert!(err.contains(says), "check {body:?}: {err}");
        assert!(
            err.contains(&format!("c.toml:{line}:")),
            "check {body:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "check {body:?} printed the spec");
        let run = s.tend(&["run", "--no-guard", spec]).output().unwrap();
        assert_eq!(run.status.code(), Some(1), "run {body:?} refuses it too");
        let syntax = s.tend(&["check", "--syntax-only", spec]).output().unwrap();
        assert_eq!(
            syntax.status.code(),
            Some(if machine { 0 } else { 1 }),
            "check --syntax-only {body:?}"
        );
    }
    // A missing program: refused, not a warning with exit 0.
    let spec = s.spec("m.toml", "name = \"m\"\ncommand = \"/nope/prog\"\n");
    let out = s.tend(&["check", spec.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("m.toml:2:11") && err.contains("/nope/prog"),
        "{err}"
    );
    // Several at once.
    let spec = s.spec(
        "all.toml",
        "name = \"all\"\ncommand = \"/nope/prog\"\nworking_dir = \"/does/not/exist\"\nenv_file = \"bad.env\"\n",
    );
    let out = s.tend(&["check", spec.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for at in ["all.toml:2:", "all.toml:3:", "all.toml:4:"] {
        assert!(err.contains(at), "{at} in {err}");
    }
    assert!(err.contains("3 problems"), "{err}");
}

/// Switching to `user` needs root, but whoever runs `tend check` is not who will run
/// the service: checked by someone else, that is a warning, not a failure.
#[cfg(unix)]
#[test]
fn check_by_someone_else_warns_that_the_account_needs_root() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root, to run tend check as another user");
        return;
    }
    let s = Scratch::new();
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let spec = s.spec(
        "u.toml",
        "name = \"u\"\ncommand = \"/bin/true\"\nuser = \"daemon\"\n",
    );
    std::fs::set_permissions(&spec, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new(common::tend_bin())
        .args(["check", spec.to_str().unwrap()])
        .current_dir("/")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning:") && err.contains("needs root"),
        "{err}"
    );
}

/// What means something only under the Windows service control manager (`run
/// --service`, `control NAME CODE`, the `ctrl-c` stop helper, `install
/// --password-env`) is not on the command
/// line elsewhere: no shell completion offers it, and a call is a usage error that
/// runs nothing.
#[cfg(unix)]
#[test]
fn windows_only_commands_are_not_offered_elsewhere() {
    let s = Scratch::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = s.tend(&["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "completions {shell}");
    }
    // What the completion scripts ask tend (fish's protocol: one candidate a line).
    let offered = |words: &[&str]| {
        let out = s
            .tend(&["--", "tend"])
            .args(words)
            .env("COMPLETE", "fish")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "completing {words:?}");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let words: Vec<String> = text
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect();
        words
    };
    let subcommands = offered(&[""]);
    assert!(subcommands.iter().any(|w| w == "stop"), "{subcommands:?}");
    for word in ["control", "ctrl-c"] {
        assert!(!subcommands.iter().any(|w| w == word), "{word} offered");
    }
    let run = offered(&["run", "--"]);
    assert!(run.iter().any(|w| w == "--no-guard"), "{run:?}");
    assert!(!run.iter().any(|w| w == "--service"), "{run:?}");
    let install = offered(&["install", "--"]);
    assert!(install.iter().any(|w| w == "--dry-run"), "{install:?}");
    assert!(
        !install.iter().any(|w| w == "--password-env"),
        "{install:?}"
    );
    let spec = s.spec("a.toml", "name = \"a\"\ncommand = \"/bin/true\"\n");
    let spec = spec.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["run", "--service", spec],
        &["run", "--no-guard", "--service", spec],
        &["control", "a", "130"],
        &["ctrl-c", "1"],
        &["install", "--dry-run", "--password-env", "PW", spec],
    ];
    for args in cases {
        let out = s.tend(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "tend {args:?}: {err}");
        assert!(
            err.contains("unexpected argument '--service'")
                || err.contains("unexpected argument '--password-env'")
                || err.contains("unrecognized subcommand"),
            "tend {args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "tend {args:?} printed something");
    }
    assert!(s.state("a").is_none(), "run --service ran the spec");
}

/// `tend --help` and every subcommand's help, as a user sees them (Linux; Windows adds
/// `control` and differs in a few options).
#[cfg(unix)]
#[test]
fn help_texts() {
    use clap::CommandFactory;
    // No TEND_* variables: clap shows their values in the help.
    let help = |args: &[&str]| {
        let out = std::process::Command::new(common::tend_bin())
            .args(args)
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "tend {args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    insta::assert_snapshot!("help", help(&["--help"]));
    for sub in tend::cli::Cli::command().get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        let name = sub.get_name();
        insta::assert_snapshot!(format!("help_{name}"), help(&[name, "--help"]));
    }
}

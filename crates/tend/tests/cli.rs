//! The command line itself: what every verb accepts, and how it ends.

mod common;

use common::{code, stderr, Scratch};

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
        // This machine has far fewer than 1024 CPUs; any machine can have that many.
        (
            "[resources]\nnice = 1\ncpu_affinity = [0, 1023]\n",
            5,
            "names CPU 1023 but this machine has",
            true,
        ),
        (
            "[resources]\nscheduling = { policy = \"rr\", priority = 0 }\n",
            4,
            "out of range for the realtime policy `rr` (1 to 99)",
            false,
        ),
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

/// `tend init PROGRAM -- ARGS`: everything after `--` is the program's arguments, the
/// spec passes `tend check`, and a program that is not there is warned about.
#[cfg(unix)]
#[test]
fn init_takes_the_programs_arguments_after_a_double_dash() {
    let s = Scratch::new();
    // A Python script by its shebang: the spec suggests what Python reads.
    let script = s.spec("serve", "#!/usr/bin/env python3\nprint('hi')\n");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let spec = s.path("web.toml");
    let out = s
        .tend(&[
            "init",
            "--name",
            "web",
            "-o",
            spec.to_str().unwrap(),
            script.to_str().unwrap(),
            "--",
            "-m",
            "http.server",
            "18300",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(text.starts_with("#:schema ./tend.schema.json\n"), "{text}");
    assert!(!text.contains("RUST_LOG"), "{text}");
    let check = s.tend(&["check", spec.to_str().unwrap()]).output().unwrap();
    assert_eq!(code(&check), 0, "{}", stderr(&check));
    let resolved: toml::Table = toml::from_str(&String::from_utf8_lossy(&check.stdout)).unwrap();
    assert_eq!(
        resolved["args"].as_array().unwrap(),
        &["-m", "http.server", "18300"].map(|a| toml::Value::String(a.into()))
    );
    assert_eq!(resolved["env"]["PYTHONUNBUFFERED"].as_str(), Some("1"));

    for (program, says) in [
        ("/no/such/program", "No such file or directory"),
        ("no-such-program-on-path", "not found on PATH"),
    ] {
        let out = s.tend(&["init", "-o", "-", program]).output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with("warning: ") && err.contains(says),
            "{program}: {err}"
        );
        assert!(!err.contains("os error"), "{err}");
    }
}

/// `tend install --dry-run` says when a path of the spec is under /tmp or /var/tmp,
/// which the systemd unit's PrivateTmp=yes hides from the service; a backend without
/// a private /tmp does not.
#[cfg(unix)]
#[test]
fn a_dry_run_warns_of_paths_a_private_tmp_hides() {
    let s = Scratch::new();
    let spec = s.spec(
        "w.toml",
        "name = \"w\"\ncommand = \"/bin/true\"\nworking_dir = \"/var/tmp\"\n",
    );
    let spec = spec.to_str().unwrap();
    for (backend, warned) in [("systemd", true), ("openrc", false), ("sysv", false)] {
        let out = s
            .tend(&["install", "--dry-run", "--backend", backend, spec])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(code(&out), 0, "{backend}: {err}");
        assert_eq!(
            err.contains("warning: `working_dir` /var/tmp is under /var/tmp, which the unit's PrivateTmp=yes"),
            warned,
            "{backend}: {err}"
        );
    }
    // The warning says what the unit has, not always `yes`.
    let spec = s.spec(
        "d.toml",
        "name = \"d\"\ncommand = \"/bin/true\"\nworking_dir = \"/var/tmp\"\n[systemd.service]\nPrivateTmp = \"disconnected\"\n",
    );
    let out = s
        .tend(&[
            "install",
            "--dry-run",
            "--backend",
            "systemd",
            spec.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(
        err.contains("which the unit's PrivateTmp=disconnected replaces"),
        "{err}"
    );
    assert!(!err.contains("PrivateTmp=yes"), "{err}");
}

/// `tend check --json` prints one object whatever the outcome: every error and
/// warning as an object with the same fields (null when unknown), and the resolved
/// spec when it is valid; nothing on stderr; exit 1 on errors.
#[cfg(unix)]
#[test]
fn check_json_carries_errors_and_warnings_as_objects() {
    let s = Scratch::new();
    let fields = [
        "message", "file", "line", "column", "key", "help", "source", "service",
    ];
    let json = |args: &[&str]| {
        let out = s.tend(args).output().unwrap();
        assert!(out.stderr.is_empty(), "tend {args:?}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "tend {args:?}: {e}: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        for top in ["ok", "file", "errors", "warnings", "spec"] {
            assert!(v.get(top).is_some(), "no `{top}` in {v}");
        }
        for d in v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .chain(v["warnings"].as_array().unwrap())
        {
            let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
            let mut want = fields.to_vec();
            want.sort();
            assert_eq!(keys, want, "{d}");
        }
        (code(&out), v)
    };

    let bad = s.spec(
        "bad.toml",
        "name = \"a\"\ncommand = \"/bin/true\"\nbogus = 1\n[restart]\nmax_restarts = -1\n",
    );
    let (rc, v) = json(&[
        "check",
        "--json",
        bad.to_str().unwrap(),
        "--set",
        "restart.policy=sometimes",
    ]);
    assert_eq!(rc, 1);
    assert_eq!(v["ok"], false);
    assert!(v["spec"].is_null());
    let errors = v["errors"].as_array().unwrap();
    let places: Vec<_> = errors
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap(),
                e["line"].as_u64(),
                e["source"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            ("bogus", Some(3), None),
            ("restart.max_restarts", Some(5), None),
            (
                "restart.policy",
                None,
                Some("--set restart.policy=sometimes")
            ),
        ],
        "{v}"
    );
    assert_eq!(errors[0]["column"], 1);
    assert!(errors[0]["file"].as_str().unwrap().ends_with("bad.toml"));
    assert_eq!(
        errors[2]["help"],
        "expected one of: always, on-failure, never"
    );

    let good = s.spec("good.toml", "name = \"a\"\ncommand = \"/bin/true\"\n");
    let (rc, v) = json(&["check", "--json", good.to_str().unwrap()]);
    assert_eq!(rc, 0);
    assert_eq!(v["ok"], true);
    assert_eq!(v["errors"], serde_json::json!([]));
    assert_eq!(v["spec"]["name"], "a");
    assert_eq!(v["spec"]["restart"]["policy"], "on-failure");

    let (rc, v) = json(&["check", "--json", "missing.toml"]);
    assert_eq!(rc, 1);
    let e = &v["errors"][0];
    assert_eq!(
        e["message"],
        "cannot read the spec missing.toml: No such file or directory"
    );
    assert!(e["help"].as_str().unwrap().contains("tend init"), "{e}");
}

/// A spec that is not there: which file, and how to write one; no `(os error 2)`.
#[cfg(unix)]
#[test]
fn a_missing_spec_says_which_file_and_how_to_write_one() {
    let s = Scratch::new();
    // (`tend run` and `tend up` say it before loading: see the next test.)
    let out = s.tend(&["check", "nope.toml"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert_eq!(
        err,
        "error: cannot read the spec nope.toml: No such file or directory\n  = help: write one with `tend init PROGRAM --output nope.toml`\n"
    );
}

/// `tend up` without a file says which file it looked for and how to make one; a named
/// file that is missing says where it was looked for. Neither shows Rust's `(os error
/// N)`.
#[test]
fn a_missing_spec_file_says_what_was_looked_for_and_how_to_create_one() {
    let s = Scratch::new();
    let dir = s.dir.path().display().to_string();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["up"],
            &[
                &format!("error: no tend.toml in {dir}: `tend up` runs the services of ./tend.toml unless given a file\n"),
                "  = help: create one with `tend init PROGRAM --output tend.toml`, or name a file: `tend up FILE`\n",
            ],
        ),
        (
            &["up", "dev.toml"],
            &[
                &format!("error: no spec file dev.toml (looked for {dir}/dev.toml)\n"),
                "  = help: `tend init PROGRAM --output dev.toml` writes a spec to start from\n",
            ],
        ),
        (
            &["run", "./web.toml"],
            &[&format!("error: no spec file ./web.toml (looked for {dir}/web.toml)\n")],
        ),
    ];
    for (args, lines) in cases {
        let out = s.tend(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "tend {args:?}: {err}");
        for line in *lines {
            assert!(err.contains(line), "tend {args:?}: {line:?} in:\n{err}");
        }
        assert!(!err.contains("os error"), "tend {args:?}: {err}");
        assert!(err.starts_with("error: "), "tend {args:?}: {err}");
    }
}

/// The `--> file:line` places of a human `tend check`, in the order printed.
#[cfg(unix)]
fn places(err: &str) -> Vec<usize> {
    err.lines()
        .filter_map(|l| l.trim_start().strip_prefix("--> "))
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.parse().unwrap())
        .collect()
}

/// `tend check --json` lists the errors in the order the human output does, that of the
/// file, the checks of this machine among them; overrides in the order they were given.
#[cfg(unix)]
#[test]
fn check_json_lists_errors_in_the_order_of_the_human_output() {
    let s = Scratch::new();
    // `tend run`'s checks find env_file before command; the file has command first.
    let spec = s.spec(
        "o.toml",
        "name = \"o\"\ncommand = \"/nope/prog\"\nenv_file = \"missing.env\"\n",
    );
    let spec = spec.to_str().unwrap();
    let human = s.tend(&["check", spec]).output().unwrap();
    assert_eq!(places(&stderr(&human)), [2, 3], "{}", stderr(&human));
    let out = s.tend(&["check", "--json", spec]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["command", "env_file"], "{v}");

    // Overrides: in command-line order, not by key.
    let good = s.spec("g.toml", "name = \"g\"\ncommand = \"/bin/true\"\n");
    let good = good.to_str().unwrap();
    let sets = [
        "--set",
        "restart.policy=x",
        "--set",
        "log.keep=-3",
        "--set",
        "env=1",
    ];
    let out = s
        .tend(&[&["check", "--json", good][..], &sets[..]].concat())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sources: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["--set restart.policy=x", "--set log.keep=-3", "--set env=1"],
        "{v}"
    );
    let human = s
        .tend(&[&["check", good][..], &sets[..]].concat())
        .output()
        .unwrap();
    let shown: Vec<String> = stderr(&human)
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--> "))
        .map(str::to_string)
        .collect();
    assert_eq!(shown, sources, "{}", stderr(&human));
}

/// A spec with errors in its values is still checked against this machine: the
/// program, working_dir and env_file problems come in the same run. What stands in for
/// a value in error makes no problem of its own.
#[cfg(unix)]
#[test]
fn check_reports_this_machines_problems_when_the_spec_has_errors() {
    let s = Scratch::new();
    let spec = s.spec(
        "e.toml",
        "name = \"e\"\ncommand = \"/nope/prog\"\nworking_dir = \"/does/not/exist\"\nenv_file = \"missing.env\"\n[restart]\nmax_restarts = -1\n",
    );
    let out = s.tend(&["check", spec.to_str().unwrap()]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert_eq!(places(&err), [2, 3, 4, 6], "{err}");
    assert!(err.contains("error: 4 problems in"), "{err}");
    assert!(err.contains("`tend run` refuses to start this"), "{err}");
    let out = s
        .tend(&["check", "--json", spec.to_str().unwrap()])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["command", "working_dir", "env_file", "restart.max_restarts"],
        "{v}"
    );

    // Values in error, missing or misspelt: their stand-ins and defaults are not
    // checked as if the spec said them.
    for (body, only) in [
        // the program is missing: no "cannot start" about a stand-in
        ("name = \"e\"\nworking_dir = \"/does/not/exist\"\n", 2),
        (
            "name = \"e\"\ncomand = \"/bin/true\"\nworking_dir = \"/does/not/exist\"\n",
            2,
        ),
        // a working_dir of the wrong kind is not replaced by the spec's folder's check
        (
            "name = \"e\"\ncommand = \"/nope/prog\"\nworking_dir = 5\n",
            2,
        ),
        // a name in error: the program's problem does not name the stand-in
        ("name = \"../e\"\ncommand = \"/nope/prog\"\n", 2),
    ] {
        let spec = s.spec("f.toml", body);
        let out = s.tend(&["check", spec.to_str().unwrap()]).output().unwrap();
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "{body}: {err}");
        assert_eq!(places(&err).len(), only, "{body}: {err}");
        assert!(!err.contains("stand-in"), "{body}: {err}");
    }
}

/// `tend check --json`: a warning about a key has the key and its place; a problem of
/// a service of a `[[service]]` file names it in `service` (null in a single-service
/// file), the message does not repeat it; two services of one name are reported at
/// the second `name`.
#[cfg(unix)]
#[test]
fn check_json_places_warnings_and_names_the_service() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let env = s.spec("open.env", "KEY=1\n");
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644)).unwrap();
    let one = s.spec(
        "one.toml",
        "name = \"g\"\ncommand = \"/bin/true\"\nenv_file = \"open.env\"\n",
    );
    let out = s
        .tend(&["check", "--json", one.to_str().unwrap()])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(code(&out), 0, "{v}");
    let w = &v["warnings"][0];
    assert_eq!(w["key"], "env_file", "{v}");
    assert_eq!(w["line"], 3, "{v}");
    assert!(w["file"].as_str().unwrap().ends_with("one.toml"), "{v}");
    assert!(w["service"].is_null(), "{v}");
    assert!(
        w["message"].as_str().unwrap().starts_with("env_file "),
        "{v}"
    );
    let human = s.tend(&["check", one.to_str().unwrap()]).output().unwrap();
    assert!(
        stderr(&human).starts_with("warning: env_file "),
        "{}",
        stderr(&human)
    );
    // The human warning has the place the JSON one has.
    assert_eq!(places(&stderr(&human)), [3], "{}", stderr(&human));

    let many = s.spec(
        "many.toml",
        "[[service]]\nname = \"a\"\ncommand = \"/bin/true\"\n\n[[service]]\nname = \"b\"\ncommand = \"/nope/prog\"\n\n[[service]]\nname = \"a\"\ncommand = \"/bin/true\"\ndepends_on = [\"b\"]\n",
    );
    let out = s
        .tend(&["check", "--json", many.to_str().unwrap()])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors: Vec<_> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["service"].as_str().unwrap(),
                e["key"].as_str().unwrap(),
                e["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(errors, [("b", "command", 7), ("a", "name", 10)], "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot start"),
        "{v}"
    );
    // The human output names the service of a check of this machine.
    let human = s.tend(&["check", many.to_str().unwrap()]).output().unwrap();
    assert!(
        stderr(&human).contains("error: b: cannot start"),
        "{}",
        stderr(&human)
    );
}

/// `tend init` writes the tend.schema.json its `#:schema` line names when there is
/// none next to the spec, and says so; one already there is left alone.
#[cfg(unix)]
#[test]
fn init_writes_the_schema_its_first_line_names() {
    let s = Scratch::new();
    let spec = s.path("web.toml");
    let out = s
        .tend(&["init", "-o", spec.to_str().unwrap(), "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let schema = s.path("tend.schema.json");
    assert!(
        said.contains(&format!("wrote {}", schema.display())),
        "{said}"
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schema).unwrap()).unwrap();
    let printed = s.tend(&["schema"]).output().unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(written, printed);

    std::fs::write(&schema, "mine").unwrap();
    let other = s.path("api.toml");
    let out = s
        .tend(&["init", "-o", other.to_str().unwrap(), "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("schema"));
    assert_eq!(std::fs::read_to_string(&schema).unwrap(), "mine");
}

/// Each check of this machine is made on its own: a program that is not there hides
/// neither the stop command's problem, nor working_dir's, nor env_file's warning.
#[cfg(unix)]
#[test]
fn check_makes_every_machine_check_when_one_fails() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let env = s.spec("open.env", "KEY=1\n");
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644)).unwrap();
    let keys = |v: &serde_json::Value, what: &str| -> Vec<String> {
        v[what]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["key"].as_str().unwrap().to_string())
            .collect()
    };
    for (body, errors, warnings) in [
        (
            "name = \"x\"\ncommand = \"/nonexist1\"\n[stop]\ncommand = [\"/nonexist-stop\"]\n",
            &["command", "stop.command"][..],
            &[][..],
        ),
        (
            "name = \"x\"\ncommand = \"/bin/true\"\nworking_dir = \"/nonexist-d\"\n[stop]\ncommand = [\"/nonexist-stop\"]\n",
            &["working_dir", "stop.command"][..],
            &[][..],
        ),
        (
            "name = \"x\"\ncommand = \"/bin/true\"\n[reload]\ncommand = [\"/nonexist-reload\"]\n",
            &["reload.command"][..],
            &[][..],
        ),
        (
            "name = \"x\"\ncommand = \"/nonexist1\"\nenv_file = \"open.env\"\nworking_dir = \"/nonexist-d\"\n",
            &["command", "working_dir"][..],
            &["env_file"][..],
        ),
    ] {
        let spec = s.spec("m.toml", body);
        let out = s
            .tend(&["check", "--json", spec.to_str().unwrap()])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(code(&out), 1, "{body}: {v}");
        assert_eq!(keys(&v, "errors"), errors, "{body}: {v}");
        assert_eq!(keys(&v, "warnings"), warnings, "{body}: {v}");
    }
}

/// A check of this machine fails on the value a layer gave: it is placed where that
/// layer sets it, a `--set` or `TEND_*` override as its source (no line of the file),
/// a profile at its line.
#[cfg(unix)]
#[test]
fn check_places_a_machine_problem_at_the_layer_that_set_the_key() {
    let s = Scratch::new();
    let spec = s.spec(
        "s.toml",
        "name = \"s\"\ncommand = \"/bin/true\"\n\n[profile.p]\ncommand = \"/nonexist3\"\n",
    );
    let spec = spec.to_str().unwrap();
    let first = |args: &[&str], env: Option<(&str, &str)>| {
        let mut c = s.tend(&[&["check", "--json", spec][..], args].concat());
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(code(&out), 1, "{args:?}: {v}");
        assert_eq!(v["errors"].as_array().unwrap().len(), 1, "{args:?}: {v}");
        let e = v["errors"][0].clone();
        assert_eq!(e["key"], "command", "{args:?}: {v}");
        (e["line"].clone(), e["source"].clone())
    };
    assert_eq!(
        first(&["--set", "command=/nonexist2"], None),
        (serde_json::Value::Null, "--set command=/nonexist2".into())
    );
    assert_eq!(
        first(&[], Some(("TEND_COMMAND", "/nonexist2"))),
        (
            serde_json::Value::Null,
            "environment variable TEND_COMMAND".into()
        )
    );
    assert_eq!(
        first(&["--profile", "p"], None),
        (5.into(), serde_json::Value::Null)
    );
    // The human output names the override.
    let out = s
        .tend(&["check", spec, "--set", "command=/nonexist2"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("--> --set command=/nonexist2"),
        "{}",
        stderr(&out)
    );
}

/// `tend check` checks every profile, each layered over the file, and applies none: a
/// profile's wrong value or unknown key is an error at its line, with or without
/// `--profile` (the one selected is checked as applied).
#[test]
fn check_checks_every_profile_without_applying_any() {
    let s = Scratch::new();
    let spec = s.spec(
        "s.toml",
        "name = \"x\"\ncommand = \"/bin/true\"\n\n[profile.p.restart]\npolicy = 9\n\n[profile.q]\nbogus = 1\n\n[profile.ok]\nrestart.policy = \"never\"\n",
    );
    let spec = spec.to_str().unwrap();
    for (args, expected) in [
        (
            &[][..],
            vec![("profile.p.restart.policy", 5), ("profile.q.bogus", 8)],
        ),
        (
            &["--profile", "p"][..],
            vec![("restart.policy", 5), ("profile.q.bogus", 8)],
        ),
        (
            &["--profile", "ok"][..],
            vec![("profile.p.restart.policy", 5), ("profile.q.bogus", 8)],
        ),
    ] {
        let out = s
            .tend(&[&["check", "--json", "--syntax-only", spec][..], args].concat())
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(code(&out), 1, "{args:?}: {v}");
        let errors: Vec<(&str, u64)> = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["key"].as_str().unwrap(), e["line"].as_u64().unwrap()))
            .collect();
        assert_eq!(errors, expected, "{args:?}: {v}");
    }
    // Good profiles pass, and none is applied to what is printed.
    let good = s.spec(
        "g.toml",
        "name = \"g\"\ncommand = \"/bin/true\"\n\n[profile.ok]\nrestart.policy = \"never\"\n",
    );
    let out = s
        .tend(&["check", "--json", "--syntax-only", good.to_str().unwrap()])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(code(&out), 0, "{v}");
    assert_ne!(v["spec"]["restart"]["policy"], "never", "{v}");
}

/// In a `[[service]]` file, a problem of a service with no name names it by its place.
#[test]
fn check_names_a_service_without_a_name_by_its_place() {
    let s = Scratch::new();
    let spec = s.spec(
        "n.toml",
        "[[service]]\nname = \"a\"\ncommand = \"a\"\n\n[[service]]\ncommand = \"b\"\nrestart.policy = 9\n",
    );
    let out = s
        .tend(&["check", "--json", "--syntax-only", spec.to_str().unwrap()])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(code(&out), 1, "{v}");
    let services: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["service"].as_str().unwrap_or("null"))
        .collect();
    assert_eq!(services, ["service #2", "service #2"], "{v}");
}

/// In a `[[service]]` file, `TEND_RESTART__POLICY` names no service, and is refused as
/// `--set restart.policy=...` is, not silently left alone.
#[test]
fn check_refuses_a_setting_variable_that_names_no_service() {
    let s = Scratch::new();
    let spec = s.spec("m.toml", "[[service]]\nname = \"api\"\ncommand = \"api\"\n");
    let spec = spec.to_str().unwrap();
    let run = |c: &mut std::process::Command| {
        let out = c.output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(code(&out), 1, "{v}");
        v["errors"][0]["message"].as_str().unwrap().to_string()
    };
    let by_set = run(&mut s.tend(&[
        "check",
        "--json",
        "--syntax-only",
        spec,
        "--set",
        "restart.policy=zzz",
    ]));
    let by_env = run(s
        .tend(&["check", "--json", "--syntax-only", spec])
        .env("TEND_RESTART__POLICY", "zzz"));
    assert_eq!(
        by_set,
        "override `restart.policy` names no service of this file"
    );
    assert_eq!(by_env, by_set);
}

/// `env_file = ""` is an empty value, said so at its line, not a directory that cannot
/// be read.
#[test]
fn check_says_an_empty_env_file_is_empty() {
    let s = Scratch::new();
    let spec = s.spec("e.toml", "name = \"e\"\ncommand = \"e\"\nenv_file = \"\"\n");
    let out = s
        .tend(&["check", "--json", spec.to_str().unwrap()])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(code(&out), 1, "{v}");
    let env_file: Vec<_> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["key"] == "env_file")
        .collect();
    assert_eq!(env_file.len(), 1, "{v}");
    assert_eq!(env_file[0]["message"], "`env_file` is empty", "{v}");
    assert_eq!(env_file[0]["line"], 3, "{v}");
}

/// `tend install --dry-run --json` prints one object on stdout (the text goes to
/// stderr): the plan's steps and the files it writes with their full text, the same
/// text the plain dry run shows; `changed` because something would be written.
#[cfg(unix)]
#[test]
fn install_json_carries_the_steps_and_the_rendered_files() {
    let s = Scratch::new();
    let spec = s.spec(
        "j.toml",
        "name = \"jsonsvc\"\ncommand = \"/bin/sleep\"\nargs = [\"1000\"]\n",
    );
    let spec = spec.to_str().unwrap();
    for (backend, unit) in [
        ("systemd", "/etc/systemd/system/jsonsvc.service"),
        ("openrc", "/etc/init.d/jsonsvc"),
    ] {
        let args = ["install", "--dry-run", "--backend", backend, spec];
        let text = s.tend(&args).output().unwrap();
        assert_eq!(code(&text), 0, "{}", stderr(&text));
        let text = String::from_utf8(text.stdout).unwrap();
        let out = s.tend(&[&args[..], &["--json"]].concat()).output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        // The text for people is on stderr, whole.
        assert_eq!(stderr(&out), text, "{backend}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(v["name"], "jsonsvc");
        assert_eq!(v["backend"], backend);
        assert_eq!(v["dry_run"], true);
        assert_eq!(v["changed"], true);
        assert_eq!(v["started"], false);
        let steps: Vec<&str> = v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert!(
            steps.contains(&format!("write {unit} (mode 755)").as_str())
                || steps.contains(&format!("write {unit} (mode 644)").as_str()),
            "{backend}: {steps:?}"
        );
        // Each step is a line of the text (whose file contents follow it).
        for st in &steps {
            assert!(text.contains(&format!("  {st}")), "{backend}: {st}\n{text}");
        }
        let files = v["files"].as_array().unwrap();
        let file = |p: &str| {
            files
                .iter()
                .find(|f| f["path"] == p)
                .unwrap_or_else(|| panic!("{backend}: no {p} in {files:?}"))
        };
        for p in [unit, "/etc/tend/jsonsvc.toml"] {
            let content = file(p)["content"].as_str().unwrap();
            assert!(!content.is_empty());
            // The plain dry run shows the same text, each line behind `    | `.
            let shown: String = content.lines().map(|l| format!("    | {l}\n")).collect();
            assert!(
                text.contains(&shown),
                "{backend}: {p}:\n{content}\n---\n{text}"
            );
        }
        assert!(file("/etc/tend/jsonsvc.toml")["content"]
            .as_str()
            .unwrap()
            .contains("command = \"/bin/sleep\""));
    }
}

/// `tend uninstall --json` of a service that is not installed: nothing to do is not
/// an error there (exit 0, `changed` false, no steps), while the plain command still
/// refuses (exit 1); a dry run says so too.
#[cfg(unix)]
#[test]
fn uninstall_json_of_a_service_that_is_not_installed_changes_nothing() {
    let s = Scratch::new();
    let name = "tend-test-never-installed";
    for extra in [&[][..], &["--purge"], &["--dry-run"]] {
        let args = [&["uninstall", name, "--json"][..], extra].concat();
        let out = s.tend(&args).output().unwrap();
        assert_eq!(code(&out), 0, "tend {args:?}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["name"], name);
        assert_eq!(v["changed"], false, "{v}");
        assert_eq!(v["steps"], serde_json::json!([]), "{v}");
        assert_eq!(v["purge"], extra.contains(&"--purge"), "{v}");
        assert_eq!(v["dry_run"], extra.contains(&"--dry-run"), "{v}");
        assert!(
            stderr(&out).contains("is not installed"),
            "{}",
            stderr(&out)
        );
        let plain = s
            .tend(&args[..args.len() - extra.len() - 1])
            .output()
            .unwrap();
        assert_eq!(code(&plain), 1, "{}", stderr(&plain));
        assert!(plain.stdout.is_empty());
    }
}

/// `tend install --dry-run --json` says what the real install would do after its
/// steps: `--now` on a service that does not run is a start (`started`, `changed`).
#[cfg(unix)]
#[test]
fn install_dry_run_json_says_it_would_start_with_now() {
    let s = Scratch::new();
    let spec = s.spec(
        "n.toml",
        "name = \"tend-test-nowsvc\"\ncommand = \"/bin/sleep\"\nargs = [\"1000\"]\n",
    );
    let spec = spec.to_str().unwrap();
    for (extra, started) in [(&[][..], false), (&["--now"][..], true)] {
        let args = [
            &[
                "install",
                "--dry-run",
                "--json",
                "--backend",
                "systemd",
                spec,
            ][..],
            extra,
        ]
        .concat();
        let out = s.tend(&args).output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["started"], started, "{args:?}: {v}");
        assert_eq!(v["restarted"], false, "{args:?}: {v}");
        assert_eq!(v["changed"], true, "{args:?}: {v}");
        assert_eq!(
            stderr(&out).contains("run systemctl start"),
            started,
            "{}",
            stderr(&out)
        );
    }
}

/// `tend install --dry-run --source PATH COPY` plans COPY as if it were at PATH: the
/// installed spec's first line names PATH and relative paths are taken from PATH's
/// folder, so a tool planning from a copy sees what the real install will write. Only
/// with `--dry-run`.
#[cfg(unix)]
#[test]
fn install_source_plans_a_copy_as_the_file_it_will_be() {
    let s = Scratch::new();
    let copy = s.spec(
        "copy.toml",
        "name = \"tend-test-srcsvc\"\ncommand = \"../../../bin/sleep\"\nargs = [\"1000\"]\n",
    );
    let copy = copy.to_str().unwrap();
    let source = "/etc/tend/ansible/tend-test-srcsvc.toml";
    let out = s
        .tend(&[
            "install",
            "--dry-run",
            "--json",
            "--backend",
            "systemd",
            "--source",
            source,
            copy,
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let installed = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "/etc/tend/tend-test-srcsvc.toml")
        .unwrap_or_else(|| panic!("{v}"))["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        installed.starts_with(&format!("# Installed by tend from {source}.")),
        "{installed}"
    );
    assert!(
        installed.contains("command = \"/bin/sleep\""),
        "{installed}"
    );
    let out = s
        .tend(&["install", "--backend", "systemd", "--source", source, copy])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--dry-run"), "{}", stderr(&out));
}

/// `tend check` prints `[env]` values expanded, and an undefined one as an error at its
/// line.
#[test]
fn check_shows_env_values_expanded() {
    let s = Scratch::new();
    let spec = s.spec(
        "a.toml",
        "name = \"a\"\ncommand = \"/bin/true\"\n[env]\nDATA = \"${TEND_TEST_BASE}/data\"\nPORT = \"${TEND_TEST_PORT:-8080}\"\nURL = \"http://localhost:${PORT}/\"\n",
    );
    let spec = spec.to_str().unwrap();
    let out = s
        .tend(&["check", spec])
        .env("TEND_TEST_BASE", "/srv/a")
        .env_remove("TEND_TEST_PORT")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let resolved: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(resolved["env"]["DATA"].as_str(), Some("/srv/a/data"));
    assert_eq!(resolved["env"]["PORT"].as_str(), Some("8080"));
    assert_eq!(
        resolved["env"]["URL"].as_str(),
        Some("http://localhost:8080/")
    );
    let out = s
        .tend(&["check", spec])
        .env_remove("TEND_TEST_BASE")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("`${TEND_TEST_BASE}` is not defined"), "{err}");
    assert!(err.contains("a.toml:4:8"), "{err}");
}

/// The verbs that change a service append to the audit log, failed attempts too;
/// `tend audit` shows it, filters it by service, and `--verify` passes on the log as
/// written and names the line after an edit.
#[test]
fn actions_are_audited_and_an_edit_is_found() {
    let s = Scratch::new();
    for (verb, name) in [("stop", "a"), ("start", "b"), ("restart", "a")] {
        let out = s.tend(&[verb, name]).output().unwrap();
        assert_eq!(code(&out), 1, "no supervisor: {}", stderr(&out));
    }
    let log = s.state_dir().join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["service"], "a");
    assert_eq!(first["action"], "stop");
    assert!(first["result"].as_str().unwrap().starts_with("error: "));
    #[cfg(unix)]
    assert_eq!(first["uid"], u64::from(nix::unistd::getuid().as_raw()));

    let out = s.tend(&["audit"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shown.lines().count(), 3, "{shown}");
    assert!(
        shown.lines().nth(1).unwrap().contains(": start b: error: "),
        "{shown}"
    );

    let out = s.tend(&["audit", "a", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["stop", "restart"]);

    let out = s.tend(&["audit", "--verify"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3 lines, chain intact"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Someone turns the failed start of b into a success.
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let (head, _) = lines[1].split_once("\"result\":").unwrap();
    let (_, tail) = lines[1].split_once(",\"prev\":").unwrap();
    let forged = format!("{head}\"result\":\"ok\",\"prev\":{tail}");
    let edited = format!("{}\n{forged}\n{}\n", lines[0], lines[2]);
    std::fs::write(&log, edited).unwrap();
    let out = s.tend(&["audit", "--verify"]).output().unwrap();
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("line 3 does not follow line 2: line 2 was changed"),
        "{err}"
    );
    let out = s.tend(&["audit", "--verify", "--json"]).output().unwrap();
    assert_eq!(code(&out), 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], false);
    assert_eq!(v["breaks"][0]["line"], 3);

    // A deleted line.
    std::fs::write(&log, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    let out = s.tend(&["audit", "--verify"]).output().unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("line 2 holds entry #3"),
        "{}",
        stderr(&out)
    );
}

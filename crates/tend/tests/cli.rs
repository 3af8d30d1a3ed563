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

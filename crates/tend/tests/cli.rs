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
    for bad in ["../secret", "../../tmp/x", "a/b", ".hidden", "", "a b", "-x"] {
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

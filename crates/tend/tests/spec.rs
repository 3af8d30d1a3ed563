//! Spec loading: parsing, profiles and precedence, and every error message (snapshots).
use std::path::Path;

use tend::spec::{
    load_str, IoClass, Limit, LoadOptions, LogTarget, Percent, RestartPolicy, SchedPolicy,
    Scheduling, SpecError,
};

const ORDERS: &str = r#"
name = "orders"
description = "Order management API"
command = "/opt/orders/orders"
args = ["--listen", "127.0.0.1:8080"]
user = "orders"

[env]
RUST_LOG = "info"
PORT = 8080

[restart]
policy = "on-failure"

[stop]
timeout = "10s"

[log]
max_size = "50MB"
keep = 10

[profile.prod]
restart = { policy = "always" }

[profile.prod.env]
RUST_LOG = "warn"
"#;

fn load(text: &str, opts: &LoadOptions) -> Result<tend::spec::Loaded, SpecError> {
    load_str(Path::new("orders.toml"), text, opts)
}

fn error(text: &str, opts: &LoadOptions) -> String {
    match load(text, opts) {
        Ok(l) => panic!("expected an error, got {:?}", l.services),
        Err(e) => e.to_string(),
    }
}

fn opts(profile: Option<&str>, sets: &[&str], env: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        profile: profile.map(str::to_string),
        sets: sets.iter().map(|s| s.to_string()).collect(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        every_profile: false,
    }
}

#[test]
fn the_issue_example_loads_with_defaults() {
    let l = load(ORDERS, &LoadOptions::default()).unwrap();
    assert!(!l.multi);
    let s = &l.services[0];
    assert_eq!(s.name.as_str(), "orders");
    assert_eq!(s.args, ["--listen", "127.0.0.1:8080"]);
    assert_eq!(s.env["RUST_LOG"], "info");
    assert_eq!(s.env["PORT"], "8080", "numbers in [env] become strings");
    assert_eq!(s.restart.policy, RestartPolicy::OnFailure);
    assert_eq!(s.stop.timeout.get().as_secs(), 10);
    assert_eq!(s.log.max_size.0, 50_000_000);
    assert_eq!(s.log.keep, 10);
    assert_eq!(s.log.stdout, LogTarget::File);
    assert_eq!(s.restart.max_restarts, 10, "default limit");
}

#[test]
fn profile_layers_over_the_file() {
    let s = &load(ORDERS, &opts(Some("prod"), &[], &[]))
        .unwrap()
        .services[0];
    assert_eq!(s.restart.policy, RestartPolicy::Always);
    assert_eq!(s.env["RUST_LOG"], "warn");
    assert_eq!(s.env["PORT"], "8080", "tables merge key by key");
    assert_eq!(s.stop.timeout.get().as_secs(), 10, "untouched keys stay");
}

#[test]
fn precedence_is_set_then_env_then_profile_then_file() {
    let env = [
        ("TEND_ENV__RUST_LOG", "debug"),
        ("TEND_LOG__KEEP", "3"),
        ("HOME", "/root"),
        ("TEND_PROFILE", "x"),
    ];
    let s = &load(ORDERS, &opts(Some("prod"), &[], &env))
        .unwrap()
        .services[0];
    assert_eq!(s.env["RUST_LOG"], "debug", "environment beats profile");
    assert_eq!(s.log.keep, 3);
    let s = &load(
        ORDERS,
        &opts(
            Some("prod"),
            &["env.RUST_LOG=trace", "restart.policy=never"],
            &env,
        ),
    )
    .unwrap()
    .services[0];
    assert_eq!(s.env["RUST_LOG"], "trace", "--set beats environment");
    assert_eq!(s.restart.policy, RestartPolicy::Never);
    assert_eq!(s.log.keep, 3);
}

#[test]
fn set_values_are_toml_when_they_parse_as_toml() {
    let s = &load(
        ORDERS,
        &opts(
            None,
            &[
                "args=[\"a b\", \"c\"]",
                "log.compress=true",
                "description=plain words",
            ],
            &[],
        ),
    )
    .unwrap()
    .services[0];
    assert_eq!(s.args, ["a b", "c"]);
    assert!(s.log.compress);
    assert_eq!(s.description.as_deref(), Some("plain words"));
}

#[test]
fn multi_service_file_and_start_order() {
    let text = r#"
[[service]]
name = "web"
command = "web"
depends_on = ["api"]

[[service]]
name = "api"
command = "api"
depends_on = ["db"]

[[service]]
name = "db"
command = "db"
"#;
    let l = load(
        text,
        &opts(None, &["api.env.X=1"], &[("TEND_WEB__LOG__KEEP", "2")]),
    )
    .unwrap();
    assert!(l.multi);
    let names: Vec<_> = l.services.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["web", "api", "db"]);
    assert_eq!(l.services[1].env["X"], "1");
    assert_eq!(l.services[0].log.keep, 2);
    let order: Vec<_> = tend::spec::start_order(&l.services)
        .unwrap()
        .into_iter()
        .map(|i| names[i].clone())
        .collect();
    assert_eq!(order, ["db", "api", "web"]);
}

macro_rules! error_snapshot {
    ($name:ident, $text:expr) => {
        error_snapshot!($name, $text, LoadOptions::default());
    };
    ($name:ident, $text:expr, $opts:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(error($text, &$opts));
        }
    };
}

error_snapshot!(err_toml_syntax, "name = \"orders\"\ncommand = /bin/true\n");
error_snapshot!(err_missing_command, "name = \"orders\"\n");
error_snapshot!(
    err_integer_overflow,
    "name = \"orders\"\ncommand = \"x\"\n[restart]\nmax_restarts = 99999999999999999999999\n"
);

/// A value TOML reads but cannot hold is reported once, at the value, not also at 1:1.
#[test]
fn an_integer_too_large_has_one_location_the_value() {
    let e = error(
        "name = \"orders\"\ncommand = \"x\"\n[restart]\nmax_restarts = 99999999999999999999999\n",
        &LoadOptions::default(),
    );
    assert_eq!(e.matches("-->").count(), 1, "{e}");
    assert!(e.contains("orders.toml:4:16"), "{e}");
}
error_snapshot!(err_unknown_top_key, "name = \"orders\"\ncomand = \"x\"\n");
error_snapshot!(
    err_unknown_nested_key,
    "name = \"orders\"\ncommand = \"x\"\n\n[restart]\npolcy = \"always\"\n"
);
error_snapshot!(
    err_bad_policy,
    "name = \"orders\"\ncommand = \"x\"\n[restart]\npolicy = \"allways\"\n"
);
error_snapshot!(err_bad_name, "name = \"../etc/passwd\"\ncommand = \"x\"\n");
error_snapshot!(
    err_bad_duration,
    "name = \"orders\"\ncommand = \"x\"\n[stop]\ntimeout = \"10 parsecs\"\n"
);
error_snapshot!(
    err_bad_size,
    "name = \"orders\"\ncommand = \"x\"\n[log]\nmax_size = \"50XB\"\n"
);
error_snapshot!(
    err_bad_signal,
    "name = \"orders\"\ncommand = \"x\"\n[stop]\nsignal = \"SIGTREM\"\n"
);
error_snapshot!(
    err_wrong_type,
    "name = \"orders\"\ncommand = \"x\"\nargs = \"--listen :8080\"\n"
);
error_snapshot!(
    err_backoff_factor,
    "name = \"orders\"\ncommand = \"x\"\n[restart.backoff]\nfactor = 0.5\n"
);
error_snapshot!(
    err_backoff_initial_above_max,
    "name = \"orders\"\ncommand = \"x\"\n[restart.backoff]\ninitial = \"1m\"\nmax = \"10s\"\n"
);
error_snapshot!(
    err_exit_code_range,
    "name = \"orders\"\ncommand = \"x\"\n[restart]\nsuccess_codes = [0, 300]\n"
);
error_snapshot!(
    err_windows_control_code,
    "name = \"orders\"\ncommand = \"x\"\n[windows.controls]\n42 = \"restart\"\n"
);
error_snapshot!(
    err_windows_bad_start,
    "name = \"orders\"\ncommand = \"x\"\n[windows]\nstart = \"boot\"\n"
);
error_snapshot!(
    err_stop_hook_url,
    "name = \"orders\"\ncommand = \"x\"\n[stop]\nhttp = \"https://127.0.0.1/stop\"\n"
);
error_snapshot!(
    err_stop_two_hooks,
    "name = \"orders\"\ncommand = \"x\"\n[stop]\nhttp = \"http://127.0.0.1:8080/stop\"\ncommand = [\"x\", \"drain\"]\n"
);
error_snapshot!(
    err_reload_two_ways,
    "name = \"orders\"\ncommand = \"x\"\n[reload]\nsignal = \"SIGHUP\"\ncommand = [\"x\", \"reload\"]\n"
);
error_snapshot!(
    err_reload_no_way,
    "name = \"orders\"\ncommand = \"x\"\n[reload]\ntimeout = \"5s\"\n"
);
error_snapshot!(
    err_reload_kill,
    "name = \"orders\"\ncommand = \"x\"\n[reload]\nsignal = \"SIGKILL\"\n"
);
error_snapshot!(
    err_reload_term,
    "name = \"orders\"\ncommand = \"x\"\n[reload]\nsignal = \"SIGTERM\"\n"
);
error_snapshot!(
    err_reload_no_time,
    "name = \"orders\"\ncommand = \"x\"\n[reload]\ncommand = [\"x\", \"reload\"]\ntimeout = \"0s\"\n"
);
error_snapshot!(
    err_reload_typo,
    "name = \"orders\"\ncommand = \"x\"\n[reload]\nsignl = \"SIGHUP\"\n"
);

/// `[reload]` loads with either way, and the command's timeout defaults to 30s.
#[test]
fn reload_loads() {
    let s = &load(
        "name = \"orders\"\ncommand = \"x\"\n[reload]\nsignal = \"SIGHUP\"\n",
        &LoadOptions::default(),
    )
    .unwrap()
    .services[0];
    let r = s.reload.as_ref().unwrap();
    assert_eq!(r.signal, Some(tend::spec::Signal::Hup));
    assert!(r.command.is_empty());
    assert_eq!(r.timeout.get().as_secs(), 30);
    let s = &load(
        "name = \"orders\"\ncommand = \"x\"\n[reload]\ncommand = [\"x\", \"reload\"]\n",
        &LoadOptions::default(),
    )
    .unwrap()
    .services[0];
    assert_eq!(s.reload.as_ref().unwrap().command, ["x", "reload"]);
    assert_eq!(s.reload.as_ref().unwrap().signal, None);
    let s = &load(
        "name = \"orders\"\ncommand = \"x\"\n",
        &LoadOptions::default(),
    )
    .unwrap()
    .services[0];
    assert_eq!(s.reload, None);
}
error_snapshot!(
    err_multiline_description,
    "name = \"orders\"\ncommand = \"x\"\ndescription = \"\"\"two\nlines\"\"\"\n"
);
error_snapshot!(
    err_unknown_profile,
    ORDERS,
    opts(Some("production"), &[], &[])
);
error_snapshot!(
    err_profile_sets_name,
    "name = \"orders\"\ncommand = \"x\"\n[profile.dev]\nname = \"other\"\n",
    opts(Some("dev"), &[], &[])
);
error_snapshot!(
    err_profile_bad_key,
    "name = \"orders\"\ncommand = \"x\"\n[profile.dev.restart]\nmax_restart = 3\n",
    opts(Some("dev"), &[], &[])
);
error_snapshot!(
    err_set_bad_value,
    ORDERS,
    opts(None, &["restart.policy=sometimes"], &[])
);
error_snapshot!(
    err_set_no_equals,
    ORDERS,
    opts(None, &["restart.policy"], &[])
);
error_snapshot!(
    err_env_unknown_key,
    ORDERS,
    opts(None, &[], &[("TEND_RESTRT__POLICY", "always")])
);
error_snapshot!(
    err_several_problems,
    "name = \"orders\"\ncommand = \"\"\n[log]\nmax_size = 10\n[restart]\nno_restart_codes = [-1]\n"
);
error_snapshot!(err_depends_unknown, "[[service]]\nname = \"web\"\ncommand = \"w\"\ndepends_on = [\"apu\"]\n\n[[service]]\nname = \"api\"\ncommand = \"a\"\n");
error_snapshot!(err_depends_cycle, "[[service]]\nname = \"a\"\ncommand = \"a\"\ndepends_on = [\"b\"]\n\n[[service]]\nname = \"b\"\ncommand = \"b\"\ndepends_on = [\"a\"]\n");
error_snapshot!(
    err_duplicate_names,
    "[[service]]\nname = \"a\"\ncommand = \"a\"\n\n[[service]]\nname = \"a\"\ncommand = \"b\"\n"
);
error_snapshot!(err_multi_unknown_key_in_second_service, "[[service]]\nname = \"a\"\ncommand = \"a\"\n\n[[service]]\nname = \"b\"\ncommand = \"b\"\n[service.stop]\ntimout = \"1s\"\n");
error_snapshot!(
    err_multi_set_unknown_service,
    "[[service]]\nname = \"api\"\ncommand = \"a\"\n",
    opts(None, &["apo.env.X=1"], &[])
);

error_snapshot!(
    err_resources_out_of_range,
    "name = \"orders\"\ncommand = \"x\"\n[resources]\nnice = -21\noom_score_adjust = 1001\nio_class = \"idle\"\nio_priority = 3\ncpu_affinity = [0, 4096]\nscheduling = { policy = \"fifo\", priority = 100 }\n"
);
error_snapshot!(
    err_resources_bad_values,
    "name = \"orders\"\ncommand = \"x\"\n[resources]\nmemory_max = \"lots\"\ncpu_max = \"1.5\"\nio_class = \"fast\"\nscheduling = { policy = \"deadline\" }\n"
);

/// The issue's `[resources]` example loads as written, and prints back as it reads.
#[test]
fn resources_load_and_print_back() {
    let text = "name = \"orders\"\ncommand = \"x\"\n[resources]\nmemory_max = \"512MiB\"\ncpu_max = \"150%\"\ncpu_weight = 100\ntasks_max = 256\nnofile = 65536\nmemlock = \"unlimited\"\ncpu_affinity = [2, 3]\nnice = -5\nio_class = \"best-effort\"\nio_priority = 2\noom_score_adjust = -500\nscheduling = { policy = \"fifo\", priority = 50 }\n";
    let l = load(text, &LoadOptions::default()).unwrap();
    let r = &l.services[0].resources;
    assert_eq!(r.memory_max, Some(Limit(Some(512 << 20))));
    assert_eq!(r.cpu_max, Some(Percent(150)));
    assert_eq!(r.memlock, Some(Limit(None)));
    assert_eq!(r.nofile, Some(Limit(Some(65536))));
    assert_eq!(r.cpu_affinity, vec![2, 3]);
    assert_eq!(r.nice, Some(-5));
    assert_eq!(r.io_class, Some(IoClass::BestEffort));
    assert_eq!(
        r.scheduling,
        Some(Scheduling {
            policy: SchedPolicy::Fifo,
            priority: 50
        })
    );
    let back = toml::to_string(&l.services[0]).unwrap();
    let again = load(&back, &LoadOptions::default()).unwrap();
    assert_eq!(again.services[0].resources, *r, "{back}");
}

/// The published JSON Schema (`schema/tend.schema.json`) is what the code generates.
/// Regenerate with `cargo run -p tend -- schema > schema/tend.schema.json`.
#[test]
fn published_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/tend.schema.json");
    let now = serde_json::to_string_pretty(&tend::spec::schema()).unwrap() + "\n";
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == now,
        "{} is out of date: run `cargo run -p tend -- schema > schema/tend.schema.json`",
        path.display()
    );
    let v: serde_json::Value = serde_json::from_str(&now).unwrap();
    let single = &v["oneOf"][0];
    for key in [
        "name", "command", "args", "restart", "stop", "log", "profile", "env_file",
    ] {
        assert!(
            single["properties"].get(key).is_some(),
            "schema lacks `{key}`"
        );
    }
}

#[test]
fn unrelated_tend_variables_are_not_settings() {
    // A script's own TEND_BIN or TEND_HOME is nothing like a spec key: ignored.
    let env = [
        ("TEND_BIN", "/usr/bin/tend"),
        ("TEND_HOME", "/x"),
        ("TEND_LOG__KEEP", "2"),
    ];
    let s = &load(ORDERS, &opts(None, &[], &env)).unwrap().services[0];
    assert_eq!(s.log.keep, 2);
}

/// Every problem of a spec in one run, in the order of the file, each at its own line,
/// then how many: unknown keys, values of the wrong kind, values serde reads but the
/// checks refuse, and a profile's.
#[test]
fn every_problem_is_reported_in_one_run() {
    let text = "name = \"orders\"\ncommand = \"\"\nbogus = 1\n[restart]\nmax_restarts = -1\ndelay = \"abc\"\n[stop]\ntimeout = \"abc\"\n[log]\nkeep = \"5\"\nmax_size = 10\n[profile.dev]\nname = \"x\"\n";
    let e = error(text, &opts(Some("dev"), &[], &[]));
    insta::assert_snapshot!("err_every_problem_in_one_run", e);
    let lines: Vec<usize> = e
        .lines()
        .filter_map(|l| l.split("orders.toml:").nth(1))
        .map(|l| l.split(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 5, 6, 8, 10, 11, 13], "{e}");
    assert!(e.ends_with("error: 8 problems in orders.toml"), "{e}");
}

/// A service's problems do not hide another's, nor the checks across services.
#[test]
fn every_service_of_a_file_is_checked_in_one_run() {
    let text = "[[service]]\nname = \"web\"\ncommand = \"w\"\ndepends_on = [\"apu\"]\ncolour = 1\n\n[[service]]\nname = \"api\"\ncommand = \"a\"\n[service.restart]\nmax_restarts = \"3\"\n";
    let e = error(text, &LoadOptions::default());
    for want in [
        "orders.toml:4:",
        "orders.toml:5:1",
        "orders.toml:11:16",
        "error: 3 problems in orders.toml",
    ] {
        assert!(e.contains(want), "{want} in\n{e}");
    }
}

error_snapshot!(
    err_command_as_list,
    "name = \"orders\"\ncommand = [\"/bin/sh\", \"-c\", \"exec orders\"]\n"
);
error_snapshot!(
    err_values_in_the_specs_words,
    "name = \"orders\"\ncommand = \"x\"\n[restart]\npolicy = 3\nmax_restarts = 1.5\nsuccess_codes = [\"0\"]\nbackoff = 3\n[stop]\ntimeout = true\n[log]\ncompress = \"yes\"\nstdout = [\"file\"]\n"
);

/// No Rust or serde words reach a person: whatever the wrong value, the message says
/// what the spec takes.
#[test]
fn value_errors_use_the_specs_words() {
    let leaks = [
        "u32",
        "i32",
        "u64",
        "invalid type",
        "sequence",
        "struct ",
        "variant",
        "expected a map",
        "expected a string",
        "expected a boolean",
        "Backoff",
        "RestartPolicy",
        "(expected",
    ];
    let cases = [
        "command = 5",
        "command = [\"/bin/sh\", \"-c\", \"x\"]",
        "args = [1, 2]",
        "env = 3",
        "env = { A = [1] }",
        "user = 5",
        "depends_on = \"x\"",
        "restart = { max_restarts = -1 }",
        "restart = { max_restarts = \"5\" }",
        "restart = { policy = 1 }",
        "restart = { policy = [\"always\"] }",
        "restart = { window = \"abc\" }",
        "restart = { window = true }",
        "restart = { success_codes = \"0\" }",
        "restart = { backoff = 3 }",
        "restart = { backoff = { factor = \"2\" } }",
        "log = { keep = -1 }",
        "log = { compress = \"yes\" }",
        "log = { stdout = 1 }",
        "log = { max_size = true }",
        "stop = { signal = 15 }",
        "stop = { command = \"x\" }",
        "windows = { controls = { 128 = 5 } }",
        "windows = { start = 1 }",
        "windows = { recovery = \"5s\" }",
        "systemd = { service = { A = 1 } }",
    ];
    for case in cases {
        let text = format!("name = \"orders\"\n{case}\n");
        let text = if case.starts_with("command") {
            text
        } else {
            format!("command = \"x\"\n{text}")
        };
        let e = error(&text, &LoadOptions::default());
        for leak in leaks {
            assert!(!e.contains(leak), "`{leak}` for `{case}`:\n{e}");
        }
    }
}

/// A float where a whole number goes is shown as written, not as the whole number the
/// message asks for (`not 1000`); the help says what to write.
#[test]
fn a_float_for_a_whole_number_is_shown_as_written() {
    for (written, whole) in [("1000.0", "1000"), ("1e3", "1000"), ("2.5", "")] {
        let e = error(
            &format!("name = \"orders\"\ncommand = \"x\"\n[restart]\nmax_restarts = {written}\n"),
            &LoadOptions::default(),
        );
        assert!(
            e.contains(&format!("from 0 to 4294967295, not {written}\n")),
            "{written}: {e}"
        );
        if !whole.is_empty() {
            assert!(
                e.contains(&format!(
                    "help: write a whole number: max_restarts = {whole}"
                )),
                "{written}: {e}"
            );
        }
    }
}

/// The signals a spec can name are listed in the order of the schema, then the short
/// spellings also accepted.
#[test]
fn the_stop_signals_are_listed_in_order() {
    let e = error(
        "name = \"orders\"\ncommand = \"x\"\n[stop]\nsignal = \"FOO\"\n",
        &LoadOptions::default(),
    );
    assert!(
        e.contains("help: expected one of: SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGKILL; also TERM, INT, QUIT, HUP, USR1, USR2, KILL\n")
            || e.ends_with("help: expected one of: SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGKILL; also TERM, INT, QUIT, HUP, USR1, USR2, KILL"),
        "{e}"
    );
}

/// A duration without a unit says that it needs one.
#[test]
fn a_duration_without_a_unit_says_so() {
    let e = error(
        "name = \"orders\"\ncommand = \"x\"\n[stop]\ntimeout = \"10\"\n",
        &LoadOptions::default(),
    );
    assert!(e.contains("a duration needs a unit"), "{e}");
    assert!(e.contains("\"10s\""), "{e}");
    assert!(!e.contains("unknown unit"), "{e}");
}

/// `[metrics]`: the address of a single service's spec, and the one table of a
/// `[[service]]` file (for every service), each checked at its line.
#[test]
fn metrics_listen_is_read_and_checked_at_its_line() {
    let one = "name = \"web\"\ncommand = \"/bin/true\"\n[metrics]\nlisten = \"127.0.0.1:9464\"\n";
    let l = load(one, &LoadOptions::default()).unwrap();
    assert_eq!(l.metrics.unwrap().listen, "127.0.0.1:9464");
    let none = load(
        "name = \"web\"\ncommand = \"/bin/true\"\n",
        &LoadOptions::default(),
    );
    assert_eq!(none.unwrap().metrics, None);
    // A profile and an override set it like any key.
    let set = load(one, &opts(None, &["metrics.listen=[::1]:9000"], &[])).unwrap();
    assert_eq!(set.metrics.unwrap().listen, "[::1]:9000");

    let many = "[metrics]\nlisten = \"0.0.0.0:9464\"\n\n[[service]]\nname = \"a\"\ncommand = \"/bin/true\"\n\n[[service]]\nname = \"b\"\ncommand = \"/bin/true\"\n";
    let l = load(many, &LoadOptions::default()).unwrap();
    assert!(l.multi);
    assert_eq!(l.metrics.unwrap().listen, "0.0.0.0:9464");
    assert!(l.services.iter().all(|s| s.metrics.is_none()));

    #[rustfmt::skip]
    let bad: &[(&str, &[&str])] = &[
        ("name = \"web\"\ncommand = \"/bin/true\"\n[metrics]\nlisten = \"metrics.local:9464\"\n",
            &["orders.toml:4:10", "`metrics.listen` \"metrics.local:9464\" is not usable: \"metrics.local\" is not an IP address", "e.g. \"127.0.0.1:9464\""]),
        ("name = \"web\"\ncommand = \"/bin/true\"\n[metrics]\nport = 9464\n",
            &["orders.toml:4:1", "port"]),
        ("[metrics]\nlisten = \"9464\"\n[[service]]\nname = \"a\"\ncommand = \"/bin/true\"\n",
            &["orders.toml:2:10", "`metrics.listen` \"9464\" is not usable: it names no port"]),
        ("[metrics]\nlisten = 9464\n[[service]]\nname = \"a\"\ncommand = \"/bin/true\"\n",
            &["orders.toml:2:10", "`metrics.listen` must be a string"]),
        ("[metrics]\nlisen = \"127.0.0.1:9464\"\n[[service]]\nname = \"a\"\ncommand = \"/bin/true\"\n",
            &["orders.toml:2:1", "unknown key `metrics.lisen`", "did you mean `listen`?", "`[metrics]` lacks `listen`"]),
        ("[[service]]\nname = \"a\"\ncommand = \"/bin/true\"\n[service.metrics]\nlisten = \"127.0.0.1:9464\"\n",
            &["orders.toml:4:", "`[metrics]` inside a service of a `[[service]]` file", "one `[metrics]` table for the whole file"]),
    ];
    for (text, wants) in bad {
        let e = error(text, &LoadOptions::default());
        for want in *wants {
            assert!(e.contains(want), "{want:?} not in:\n{e}");
        }
    }
}

/// `[env]` values refer to the environment and to other keys, expanded once at load.
#[test]
fn env_values_are_expanded_from_the_environment_and_other_keys() {
    let text = r#"
name = "orders"
command = "/opt/orders/orders"
[env]
DATA = "${APP_HOME}/data"
APP_HOME = "${HOME}/orders"
PORT = "${ORDERS_PORT:-8080}"
PATH = "/opt/orders/bin:${PATH}"
PRICE = "5$$"
[profile.prod.env]
PORT = "${ORDERS_PORT:-80}"
"#;
    let env = [("HOME", "/home/ann"), ("PATH", "/usr/bin")];
    let s = &load(text, &opts(None, &[], &env)).unwrap().services[0];
    assert_eq!(s.env["DATA"], "/home/ann/orders/data");
    assert_eq!(s.env["APP_HOME"], "/home/ann/orders");
    assert_eq!(s.env["PORT"], "8080");
    assert_eq!(s.env["PATH"], "/opt/orders/bin:/usr/bin");
    assert_eq!(s.env["PRICE"], "5$");
    let env = [("HOME", "/h"), ("PATH", "/b"), ("ORDERS_PORT", "9000")];
    let s = &load(text, &opts(Some("prod"), &[], &env)).unwrap().services[0];
    assert_eq!(s.env["PORT"], "9000");
    // An override is expanded too, with the keys of the file.
    let s = &load(text, &opts(None, &["env.URL=http://x:${PORT}/"], &env))
        .unwrap()
        .services[0];
    assert_eq!(s.env["URL"], "http://x:9000/");
}

error_snapshot!(
    err_env_undefined,
    "name = \"orders\"\ncommand = \"x\"\n[env]\nOK = \"${HOME}\"\nDATA = \"${NO_SUCH_VAR}/data\"\n",
    opts(None, &[], &[("HOME", "/h")])
);
error_snapshot!(
    err_env_cycle,
    "name = \"orders\"\ncommand = \"x\"\n[env]\nA = \"${B}\"\nB = \"${A}\"\n"
);
error_snapshot!(
    err_env_lone_dollar,
    "name = \"orders\"\ncommand = \"x\"\n[env]\nPASSWORD = \"abc$1\"\n"
);
error_snapshot!(
    err_env_undefined_in_override,
    "name = \"orders\"\ncommand = \"x\"\n",
    opts(None, &["env.X=${NOPE}"], &[])
);

/// Every value in error is reported, each at its line, with the rest of the spec's.
#[test]
fn every_env_value_in_error_is_reported_at_its_line() {
    let e = error(
        "name = \"orders\"\ncommand = \"x\"\n[env]\nA = \"${NOPE}\"\nB = \"${}\"\nC = \"${A}\"\n[restart]\npolicy = \"sometimes\"\n",
        &LoadOptions::default(),
    );
    assert!(e.contains("orders.toml:4:5"), "{e}");
    assert!(e.contains("orders.toml:5:5"), "{e}");
    assert!(
        !e.contains("orders.toml:6:"),
        "C only repeats A's problem: {e}"
    );
    assert!(e.contains("orders.toml:8:"), "{e}");
}

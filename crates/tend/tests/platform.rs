//! Native artifacts: every backend's rendering, snapshot-tested, and read back the way
//! its service manager reads it: a real `sh` runs the SysV script and OpenRC's start
//! (with OpenRC's own `eval` re-stated), a real plist parser reads the launchd job, and
//! systemd units go through the model of systemd's parser in `platform::parse_back`
//! (itself checked against systemd 252 in `.ci/e2e/systemd.sh`). Specs and tend's own
//! path are made hostile: spaces, quotes, `$`, backquotes, `$(…)`, `%`, `\`, a trailing
//! `\`, patterns.

use std::path::{Path, PathBuf};

use tend::platform::parse_back::{self, LaunchdJob, Meaning};
use tend::platform::{self, record::installed_spec, Layout};
use tend::spec::{load_str, LoadOptions, Spec};

fn load(text: &str) -> Result<Spec, String> {
    load_str(
        Path::new("/srv/orders/orders.toml"),
        text,
        &LoadOptions::default(),
    )
    .map(|mut l| l.services.remove(0))
    .map_err(|e| e.to_string())
}

fn spec(text: &str) -> Spec {
    load(text).unwrap()
}

const FULL: &str = r#"
name = "orders"
description = "Order API: 100% uptime, costs $0"
command = "/opt/orders/orders"
args = ["--listen", "127.0.0.1:8080"]
user = "orders"
working_dir = "/var/lib/orders"
[stop]
timeout = "20s"
[reload]
signal = "SIGHUP"
[log]
stdout = "inherit"
[systemd.unit]
After = "postgresql.service"
[systemd.service]
LimitNOFILE = "65536"
Restart = "always"
"#;

fn layouts() -> [Layout; 2] {
    [
        Layout::system(PathBuf::from("/usr/local/bin/tend")),
        Layout::system(PathBuf::from("/opt/my tools/tend $x%d")),
    ]
}

/// The backends that render files for a Unix service manager (all but Windows, which
/// registers with the SCM).
fn unix_backends() -> impl Iterator<Item = &'static str> {
    platform::BACKENDS
        .iter()
        .copied()
        .filter(|b| platform::backend(b).is_some())
}

fn render(backend: &str, s: &Spec, layout: &Layout) -> String {
    let b = platform::backend(backend).unwrap();
    b.render(s, layout)
        .into_iter()
        .map(|a| {
            format!(
                "==> {} (mode {:o})\n{}",
                a.path.display(),
                a.mode,
                a.content
            )
        })
        .collect()
}

fn content(backend: &str, s: &Spec, layout: &Layout) -> String {
    let b = platform::backend(backend).unwrap();
    let mut files = b.render(s, layout);
    assert_eq!(files.len(), 1);
    files.remove(0).content
}

#[test]
fn snapshots() {
    let minimal = spec("name = \"mini\"\ncommand = \"/bin/mini\"\n");
    let full = spec(FULL);
    // The Unix service managers' files (Windows registers with the SCM: see
    // `dry_run_plans_of_every_backend`).
    for backend in unix_backends() {
        for (i, layout) in layouts().iter().enumerate() {
            insta::assert_snapshot!(
                format!("{backend}_full_{i}"),
                render(backend, &full, layout)
            );
        }
        insta::assert_snapshot!(
            format!("{backend}_minimal"),
            render(backend, &minimal, &layouts()[0])
        );
    }
}

/// `tend install --dry-run --backend B` for every backend, on a machine where nothing
/// is installed (a fixed observation: the output depends on nothing but the spec),
/// with tend to be copied from a fixed place.
#[test]
fn dry_run_plans_of_every_backend() {
    use tend::platform::engine::{preview, InstallRequest, Seen};
    let unix = spec(FULL);
    let windows = load_str(
        Path::new(r"C:\srv\orders\orders.toml"),
        r#"
name = "orders"
description = "Order API: 100% uptime, costs $0"
command = 'bin\orders.exe'
args = ["--listen", "127.0.0.1:8080"]
working_dir = 'work\..\data'
env_file = 'orders.env'
[log]
dir = 'D:\logs\.\orders'
[stop]
timeout = "20s"
[windows]
start = "delayed-auto"
dependencies = ["Tcpip"]
"#,
        &LoadOptions::default(),
    )
    .unwrap()
    .services
    .remove(0);
    for backend in platform::BACKENDS {
        let is_windows = *backend == "windows";
        let (spec, spec_file, layout, from) = if is_windows {
            (
                &windows,
                Path::new(r"C:\srv\orders\orders.toml"),
                Layout::windows(PathBuf::from(r"C:\Program Files\tend\tend.exe")),
                Path::new(r"C:\Users\admin\Downloads\tend.exe"),
            )
        } else {
            (
                &unix,
                Path::new("/srv/orders/orders.toml"),
                Layout::unix(PathBuf::from("/usr/local/bin/tend")),
                Path::new("/home/admin/tend"),
            )
        };
        let request = InstallRequest {
            spec,
            spec_file,
            profile: None,
            backend: Some(backend),
            dry_run: true,
            now: true,
            restart: false,
            password_env: None,
        };
        let text = preview(&request, backend, &layout, Some(from), Seen::Nothing)
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        insta::assert_snapshot!(format!("dry_run_{backend}"), text);
    }
}

/// `tend install --dry-run --backend windows` of a service running as a domain user:
/// the account is granted "Log on as a service" before the service is registered (on
/// a machine where nothing is installed, no account holds it).
#[test]
fn dry_run_windows_with_a_user_account() {
    use tend::platform::engine::{preview, InstallRequest, Seen};
    let file = Path::new(r"C:\srv\orders\orders.toml");
    let spec = load_str(
        file,
        "name = \"orders\"\ncommand = 'bin\\orders.exe'\n[windows]\naccount = 'CORP\\orders'\npassword_env = \"ORDERS_PASSWORD\"\n",
        &LoadOptions::default(),
    )
    .unwrap()
    .services
    .remove(0);
    let request = InstallRequest {
        spec: &spec,
        spec_file: file,
        profile: None,
        backend: Some("windows"),
        dry_run: true,
        now: true,
        restart: false,
        password_env: None,
    };
    let layout = Layout::windows(PathBuf::from(r"C:\Program Files\tend\tend.exe"));
    let text = preview(&request, "windows", &layout, None, Seen::Nothing).unwrap();
    insta::assert_snapshot!("dry_run_windows_user", text);
}

// ---------------------------------------------------------------- hostile specs

/// Text that each parser on the way treats specially.
const HOSTILE: &str = "a  b 'q' \"d\" $x ${y} $$ `touch PWNED1` $(touch PWNED2) %n %% \\ \\n * ? [ab] ~ ; & | < > # é";

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A spec whose rendered values are all hostile, with paths under `root`; `end` is
/// appended to the working and log directories (a trailing `\`, a trailing space).
fn hostile_spec(root: &str, end: &str, user: &str) -> Spec {
    let text = format!(
        "name = \"orders\"\ndescription = {desc}\ncommand = {cmd}\nargs = [{arg}]\n\
         working_dir = {wd}\nuser = {user}\n[env]\nA = {env}\n[log]\ndir = {log}\n\
         [reload]\ncommand = [{cmd}]\n",
        desc = toml_str(&format!("{HOSTILE}\tend")),
        cmd = toml_str(&format!("{root}/bin/{HOSTILE}")),
        arg = toml_str(HOSTILE),
        wd = toml_str(&format!("{root}/srv/{HOSTILE}{end}")),
        user = toml_str(user),
        // `$$` is how a spec writes a dollar in [env] (its values expand `${NAME}`).
        env = toml_str(&format!("{HOSTILE}\nline two\\").replace('$', "$$")),
        log = toml_str(&format!("{root}/log/{HOSTILE}{end}")),
    );
    let s = load(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let layout = Layout::system(PathBuf::from("/usr/local/bin/tend"));
    installed_spec(&s, Path::new("/srv/orders"), &layout)
}

/// tend's own path, hostile; `quotes` adds what systemd cannot run tend from.
fn hostile_tend(root: &str, quotes: bool) -> PathBuf {
    let extra = if quotes { " 'q' \"d\" back\\slash" } else { "" };
    PathBuf::from(format!(
        "{root}/opt/my tools $x ${{y}} $$ %d `touch PWNED3` $(touch PWNED4) ; & * ? [ab]{extra}/tend"
    ))
}

fn launchd_job(text: &str) -> LaunchdJob {
    let v = plist::Value::from_reader_xml(text.as_bytes()).expect("a valid plist");
    let d = v.as_dictionary().expect("a dictionary");
    let s = |k: &str| d.get(k).and_then(|v| v.as_string()).map(str::to_string);
    LaunchdJob {
        label: s("Label").unwrap_or_default(),
        program_arguments: d
            .get("ProgramArguments")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .map(|v| v.as_string().unwrap_or("<not a string>").to_string())
                    .collect()
            })
            .unwrap_or_default(),
        working_directory: s("WorkingDirectory"),
        standard_out_path: s("StandardOutPath"),
        standard_error_path: s("StandardErrorPath"),
        user_name: s("UserName"),
        group_name: s("GroupName"),
    }
}

/// Renders `spec` for `backend` and reads it back the way the manager does.
fn round_trip(backend: &str, s: &Spec, layout: &Layout) -> Result<(), String> {
    let text = content(backend, s, layout);
    let m = Meaning::of(s, layout);
    let name = s.name.as_str();
    let r = match backend {
        "systemd" => parse_back::check_systemd(&text, &m, name),
        "openrc" => parse_back::check_openrc(&text, &m, name),
        "sysv" => parse_back::check_sysv(&text, &m, name),
        "procd" => parse_back::check_procd(&text, &m, name),
        "launchd" => parse_back::check_launchd(&launchd_job(&text), &m, name),
        other => panic!("no check for {other}"),
    };
    r.map_err(|e| format!("{backend}: {e}\n{text}"))
}

#[test]
fn every_backend_reads_hostile_specs_back_as_meant() {
    let root = "/tmp/t";
    for backend in unix_backends() {
        for end in ["", "\\", " ", "\\\\"] {
            for user in ["orders", "app$", "root"] {
                let s = hostile_spec(root, end, user);
                for quotes in [false, true] {
                    if quotes && backend == "systemd" {
                        continue; // refused by check_tend_path: tend is copied instead
                    }
                    let layout = Layout::system(hostile_tend(root, quotes));
                    round_trip(backend, &s, &layout).unwrap();
                }
            }
        }
        for text in [FULL, "name = \"mini\"\ncommand = \"/bin/mini\"\n"] {
            for layout in layouts() {
                let s = installed_spec(&spec(text), Path::new("/srv/orders"), &layout);
                round_trip(backend, &s, &layout).unwrap();
            }
        }
    }
}

#[test]
fn the_read_back_fails_on_a_wrong_rendering() {
    // The checks can fail: a unit whose ExecStart lost its quoting is caught.
    let layout = Layout::system(hostile_tend("/tmp/t", false));
    let s = hostile_spec("/tmp/t", "", "orders");
    let unit = content("systemd", &s, &layout);
    let broken = unit.replace("$$x", "$x");
    assert_ne!(unit, broken);
    let m = Meaning::of(&s, &layout);
    assert!(parse_back::check_systemd(&broken, &m, "orders").is_err());
    let script = content("openrc", &s, &layout);
    // A single quote escaped as in double quotes: the words are no longer the same.
    let broken = script.replace("'\\''", "\\'");
    assert_ne!(script, broken);
    assert!(parse_back::check_openrc(&broken, &m, "orders").is_err());
    // The reload command runs tend with the same path: quoting it wrong is caught too.
    let reload = unit
        .lines()
        .find(|l| l.starts_with("ExecReload="))
        .expect("an ExecReload= line");
    let broken = unit.replace(reload, &reload.replace('"', ""));
    assert_ne!(unit, broken);
    assert!(parse_back::check_systemd(&broken, &m, "orders").is_err());
    let broken = unit.replace(reload, &reload.replace("ExecReload=+", "ExecReload="));
    assert!(parse_back::check_systemd(&broken, &m, "orders").is_err());
    // No reload at all where the spec has one is caught.
    let broken = unit.replace(reload, "");
    assert!(parse_back::check_systemd(&broken, &m, "orders").is_err());
}

// ---------------------------------------------------------------- systemd (items 4-6)

fn unit_view(s: &Spec, layout: &Layout) -> parse_back::systemd::UnitView {
    parse_back::systemd::read(&content("systemd", s, layout)).unwrap()
}

#[test]
fn a_trailing_backslash_in_a_systemd_raw_value_is_refused() {
    // Description= is raw text: `foo\` would continue onto Documentation=.
    for (key, value) in [("description", "foo \\\\"), ("display_name", "foo\\\\  ")] {
        let err = load(&format!(
            "name = \"o\"\ncommand = \"/bin/o\"\n{key} = \"{value}\"\n"
        ))
        .unwrap_err();
        assert!(
            err.contains(&format!("`{key}` ends in a backslash")),
            "{err}"
        );
    }
    let err = load("name = \"o\"\ncommand = \"/bin/o\"\n[systemd.service]\nNice = \"5\\\\\"\n")
        .unwrap_err();
    assert!(
        err.contains("systemd.service.Nice` ends in a backslash"),
        "{err}"
    );
    // A backslash elsewhere is text like any other.
    let s = spec("name = \"o\"\ncommand = \"/bin/o\"\ndescription = \"a\\\\b\"\n");
    assert_eq!(unit_view(&s, &layouts()[0]).description, "a\\b");
}

#[test]
fn a_working_dir_ending_in_a_backslash_or_space_keeps_the_next_key() {
    for dir in ["/srv/app\\", "/srv/app ", "/srv/a\\\\"] {
        let s = spec(&format!(
            "name = \"o\"\ncommand = \"/bin/o\"\nworking_dir = {}\n",
            toml_str(dir)
        ));
        let v = unit_view(&s, &layouts()[0]);
        assert_eq!(v.working_directory.as_deref(), Some(dir));
        assert_eq!(
            v.keys.get("Service.Restart").map(String::as_str),
            Some("on-failure")
        );
    }
}

#[test]
fn read_write_paths_keep_a_dollar_as_is() {
    let s = spec("name = \"o\"\ncommand = \"/bin/o\"\n[log]\ndir = \"/var/log/o $x$$\"\n");
    let v = unit_view(&s, &layouts()[0]);
    assert_eq!(v.read_write_paths, ["/var/lib/tend/o", "/var/log/o $x$$"]);
}

#[test]
fn exec_start_runs_tend_from_a_path_with_a_dollar() {
    let s = spec("name = \"o\"\ncommand = \"/bin/o\"\n");
    let layout = Layout::system(PathBuf::from("/opt/t$x/te$$nd"));
    let exec = unit_view(&s, &layout).exec.unwrap();
    assert_eq!(exec.path, "/opt/t$x/te$$nd");
    assert_eq!(exec.argv[0], "/opt/t$x/te$$nd");
}

#[test]
fn the_model_reads_the_e2e_hostile_unit_as_systemd_252_does() {
    // .ci/e2e/systemd.sh installs this spec with tend at this path and checks these
    // same values with `systemctl show` and the running processes: the model and the
    // real systemd agree on this unit.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/e2e/specs/hostile.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let layout = Layout::system(PathBuf::from("/opt/t $x %d/tend"));
    let s = installed_spec(&spec(&text), Path::new("/opt/tend"), &layout);
    let v = unit_view(&s, &layout);
    let wd =
        "/srv/a  b $(touch /tmp/pwned-wd) `touch /tmp/pwned-bq` 'q' \"d\" $x ${y} %n * ? [a] ~\\";
    let log = "/var/log/hostile  logs $x $$ %n $(touch /tmp/pwned-log) 'q' \"d\" \\";
    assert_eq!(
        v.description,
        "hostile: $(touch /tmp/pwned-desc) 100% `id` 'q' \"d\" $x \\ end"
    );
    assert_eq!(v.working_directory.as_deref(), Some(wd));
    assert_eq!(v.keys["Unit.Documentation"], "file:/etc/tend/hostile.toml");
    assert_eq!(v.keys["Service.Restart"], "on-failure");
    assert_eq!(v.user.as_deref(), Some("hostile"));
    assert_eq!(v.read_write_paths, ["/var/lib/tend/hostile", log]);
    let exec = v.exec.unwrap();
    assert_eq!(exec.path, "/opt/t $x %d/tend");
    assert_eq!(
        exec.argv,
        [
            "/opt/t $x %d/tend",
            "run",
            "--no-guard",
            "--state-dir",
            "/var/lib/tend/hostile",
            "--log-dir",
            log,
            "/etc/tend/hostile.toml"
        ]
    );
}

#[test]
fn tend_paths_systemd_cannot_run_are_refused() {
    for bad in [
        "/opt/a'b/tend",
        "/opt/a\"b/tend",
        "/opt/a\\b/tend",
        "/opt/a\nb/tend",
        "relative/tend",
        "/opt//tend",
        "/opt/./tend",
        "/opt/../tend",
    ] {
        assert!(
            platform::check_tend_path(Path::new(bad)).is_err(),
            "{bad:?}"
        );
    }
    for good in ["/usr/local/bin/tend", "/opt/my tools $x %d ;&*?[a]/tend"] {
        assert!(
            platform::check_tend_path(Path::new(good)).is_ok(),
            "{good:?}"
        );
    }
}

#[test]
fn tend_is_copied_when_systemd_could_not_run_it_where_it_is() {
    use std::os::unix::fs::PermissionsExt;
    use tend::platform::install::tend_location;
    // Under the target folder: root-owned and closed to others when the tests run as
    // root, as CI does; otherwise tend would be copied anyway and this proves nothing.
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let bin = |dir: &str| {
        let d = root.path().join(dir);
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let b = d.join("tend");
        std::fs::write(&b, b"x").unwrap();
        std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o755)).unwrap();
        b
    };
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let plain = bin("plain $x");
    if tend_location(&plain) != (plain.clone(), false) {
        eprintln!(
            "skipped: {} is not a place tend runs from as is",
            plain.display()
        );
        return;
    }
    for dir in ["it's", "say \"hi\"", "back\\slash"] {
        assert_eq!(
            tend_location(&bin(dir)),
            (PathBuf::from("/usr/local/bin/tend"), true),
            "{dir}"
        );
    }
}

// ---------------------------------------------------------------- real shells (items 1-2)

/// A scratch root with a stub program that records its argv (NUL-separated) in
/// `$ARGV_OUT`, installed as `bin/NAME`.
struct ShellRoot {
    dir: tempfile::TempDir,
}

impl ShellRoot {
    fn new() -> ShellRoot {
        ShellRoot {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn root(&self) -> String {
        self.path().display().to_string()
    }
    fn stub(&self, at: &Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(at, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    fn argv(&self, file: &str) -> Vec<String> {
        let bytes = std::fs::read(self.path().join(file))
            .unwrap_or_else(|e| panic!("{file} was not written: {e}"));
        let mut words: Vec<String> = bytes
            .split(|&b| b == 0)
            .map(|w| String::from_utf8(w.to_vec()).unwrap())
            .collect();
        words.pop();
        words
    }
    /// No command substitution anywhere in the run created a file.
    fn assert_nothing_ran(&self) {
        let mut found = Vec::new();
        for e in walk(self.path()) {
            let n = e.file_name().unwrap().to_string_lossy().to_string();
            if n.starts_with("PWNED") {
                found.push(e);
            }
        }
        assert!(
            found.is_empty(),
            "the shell ran injected commands: {found:?}"
        );
    }
    fn sh(&self, script: &str) -> std::process::Output {
        let path = format!(
            "{}:{}",
            self.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(self.path())
            .env("PATH", path)
            .env("ARGV_OUT", self.path().join("argv"))
            .output()
            .unwrap()
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        out.push(p.clone());
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        }
    }
    out
}

/// OpenRC's start, re-stated from `sh/openrc-run.sh` and `sh/supervise-daemon.sh`
/// (openrc 0.45, Debian 12): openrc-run defines a default `start()` that, for
/// `supervisor=supervise-daemon`, runs `supervise_start`, which `eval`s the unquoted
/// variables of the script; then it sources the service script (whose own `start()`
/// replaces the default) and calls `start`.
const OPENRC_RUN: &str = r#"
ebegin() { :; }
eend() { return "$1"; }
einfo() { :; }
ewarn() { :; }
start() {
	eval supervise-daemon "${RC_SVCNAME}" --start \
		${retry:+--retry} $retry \
		${directory:+--chdir} $directory \
		${output_log+--stdout} ${output_log} \
		${error_log+--stderr} $error_log \
		${respawn_delay:+--respawn-delay} $respawn_delay \
		${respawn_max:+--respawn-max} $respawn_max \
		${command_user+--user} $command_user \
		$command \
		-- $command_args $command_args_foreground
}
"#;

#[test]
fn openrc_start_passes_hostile_paths_to_supervise_daemon_word_for_word() {
    for end in ["", "\\", " "] {
        let r = ShellRoot::new();
        let s = hostile_spec(&r.root(), end, "orders");
        let layout = Layout::system(hostile_tend(&r.root(), true));
        let script = content("openrc", &s, &layout);
        std::fs::write(r.path().join("orders.init"), &script).unwrap();
        r.stub(
            &r.path().join("bin/supervise-daemon"),
            r#"printf '%s\0' "$@" >"$ARGV_OUT""#,
        );
        let out = r.sh(&format!(
            "RC_SVCNAME=orders\n{OPENRC_RUN}\n. ./orders.init\nstart"
        ));
        assert!(
            out.status.success(),
            "{}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
        r.assert_nothing_ran();
        let m = Meaning::of(&s, &layout);
        let mut want = vec![
            "orders".to_string(),
            "--start".into(),
            "--retry".into(),
            "TERM/15/KILL/5".into(),
            "--chdir".into(),
            m.working_dir.clone(),
            "--stdout".into(),
            m.log_file.clone(),
            "--stderr".into(),
            m.log_file.clone(),
            "--respawn-delay".into(),
            "2".into(),
            "--respawn-max".into(),
            "0".into(),
            "--user".into(),
            "orders:orders".into(),
            m.run[0].clone(),
            "--".into(),
        ];
        want.extend(m.run[1..].iter().cloned());
        assert_eq!(r.argv("argv"), want, "{script}");
        // The model of the shell reads it the same way.
        parse_back::check_openrc(&script, &m, "orders").unwrap();
    }
}

#[test]
fn sysv_start_runs_tend_with_hostile_paths_word_for_word() {
    for end in ["", "\\", " "] {
        let r = ShellRoot::new();
        let s = hostile_spec(&r.root(), end, "orders");
        let layout = Layout::system(hostile_tend(&r.root(), true));
        let script = content("sysv", &s, &layout);
        let check = std::process::Command::new("sh")
            .args(["-n", "-c", &script])
            .output()
            .unwrap();
        assert!(check.status.success(), "sh -n: {check:?}\n{script}");
        std::fs::write(r.path().join("orders.init"), &script).unwrap();
        // start-stop-daemon: record its argv, then start what follows --startas as it
        // would (the program, then the words after `--`).
        r.stub(
            &r.path().join("bin/start-stop-daemon"),
            r#"printf '%s\0' "$@" >"$ARGV_OUT.ssd"
while [ "$1" != --startas ]; do shift; done
prog=$2; shift 2; [ "$1" = -- ] && shift
exec "$prog" "$@""#,
        );
        // tend itself, at its hostile path: records its argv, prints a line.
        r.stub(
            &layout.tend_bin,
            r#"printf '%s\0' "$0" "$@" >"$ARGV_OUT"; echo tend-ran"#,
        );
        let log_dir = layout.log_dir(&s);
        std::fs::create_dir_all(&log_dir).unwrap();
        let out = r.sh("sh ./orders.init start");
        assert!(
            out.status.success(),
            "{}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
        r.assert_nothing_ran();
        let m = Meaning::of(&s, &layout);
        assert_eq!(r.argv("argv"), m.run, "{script}");
        let log = std::fs::read_to_string(log_dir.join("tend.log")).unwrap();
        assert_eq!(log, "tend-ran\n");
        let ssd = r.argv("argv.ssd");
        let chuid = ssd.iter().position(|w| w == "--chuid").unwrap();
        assert_eq!(ssd[chuid + 1], "orders:orders");
        assert_eq!(
            ssd[ssd.iter().position(|w| w == "--pidfile").unwrap() + 1],
            "/run/tend-orders.pid"
        );
        // The model of the shell reads it the same way.
        parse_back::check_sysv(&script, &m, "orders").unwrap();
    }
}

#[test]
fn detection_follows_the_running_manager() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(
        platform::detect(root.path()),
        if cfg!(target_os = "macos") {
            Some("launchd")
        } else {
            None
        }
    );
    std::fs::create_dir_all(root.path().join("run/openrc")).unwrap();
    assert_eq!(platform::detect(root.path()), Some("openrc"));
    std::fs::create_dir_all(root.path().join("run/systemd/system")).unwrap();
    assert_eq!(platform::detect(root.path()), Some("systemd"));
}

/// `tend install --dry-run --backend B` plans for every backend on this machine, as
/// root and as an unprivileged user (a dry run needs no privileges; a Windows plan on
/// Linux sees nothing installed and uses the Windows layout), and changes nothing.
#[test]
fn the_dry_run_of_every_backend_works_here_without_privileges() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let spec = dir.path().join("web.toml");
    std::fs::write(
        &spec,
        "name = \"tend-dry-run-test\"\ncommand = \"/bin/sh\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&spec, std::fs::Permissions::from_mode(0o644)).unwrap();
    // SAFETY: a plain system call without arguments.
    let root = unsafe { libc::geteuid() } == 0;
    for backend in platform::BACKENDS {
        let backend = *backend;
        for unprivileged in [false, true] {
            if unprivileged && !root {
                continue; // already unprivileged
            }
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tend"));
            cmd.args(["install", "--dry-run", "--backend", backend])
                .arg(&spec);
            if unprivileged {
                cmd.uid(65534).gid(65534);
            }
            let out = cmd.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let who = if unprivileged { "nobody" } else { "this user" };
            assert!(
                out.status.success(),
                "{backend} as {who}: {}\n{stdout}",
                String::from_utf8_lossy(&out.stderr)
            );
            let title = if backend == "windows" {
                "dry run: installing `tend-dry-run-test` (windows service) would:".to_string()
            } else {
                format!("dry run: installing `tend-dry-run-test` ({backend}) would:")
            };
            assert!(stdout.starts_with(&title), "{backend} as {who}:\n{stdout}");
            assert!(stdout.ends_with("(nothing was changed)\n"), "{stdout}");
            if backend == "windows" {
                assert!(
                    stdout.contains(r"write C:\ProgramData\tend\tend-dry-run-test.toml")
                        && stdout.contains("create service tend-dry-run-test"),
                    "{stdout}"
                );
            }
        }
    }
    assert!(!Path::new("/etc/tend/tend-dry-run-test.toml").exists());
}

/// A backend name tend does not know (a corrupt or foreign install record) is refused
/// as unknown, not as "not possible on this OS"; what is not possible here does not
/// suggest a dry run unless one works.
#[test]
fn an_unknown_recorded_backend_is_refused_as_unknown() {
    let e = platform::pick_backend(None, Some("upstart")).err().unwrap();
    assert_eq!(e.to_string(), "unknown backend `upstart`");
    let e = platform::pick_backend(None, Some("windows")).err().unwrap();
    assert!(
        e.to_string().contains("not possible on this OS") && !e.to_string().contains("--dry-run"),
        "{e}"
    );
    let install = platform::InstallError::NotOnThisOs {
        what: "installing a Windows service".into(),
        dry_run_works: true,
    };
    assert!(install
        .to_string()
        .ends_with("`--dry-run` shows what it would do"));
}

/// READY=1 waits for the first healthy probe: a unit with a health check gets a start
/// timeout long enough for its probes, whatever the host's default.
#[test]
fn a_health_check_sets_the_systemd_start_timeout() {
    let plain = "name = \"orders\"\ncommand = \"/opt/orders/orders\"\n";
    let base = format!("{plain}[health]\ntcp = \"127.0.0.1:8080\"\n");
    let layout = &layouts()[0];
    let none = content("systemd", &spec(plain), layout);
    assert!(!none.contains("TimeoutStartSec"), "{none}");
    // 3 * (5s + 2s) + 5s, and 30s more.
    let quick = content("systemd", &spec(&base), layout);
    assert!(quick.contains("\nTimeoutStartSec=56s\n"), "{quick}");
    // 2m + 3 * (5s + 2s) + 5s, and 30s more.
    let slow = content(
        "systemd",
        &spec(&format!("{base}start_period = \"2m\"\n")),
        layout,
    );
    assert!(slow.contains("\nTimeoutStartSec=176s\n"), "{slow}");
}

const RESOURCES: &str = r#"
name = "orders"
command = "/opt/orders/orders"
[resources]
memory_max = "512MiB"
cpu_max = "150%"
cpu_weight = 200
tasks_max = "unlimited"
nofile = 65536
memlock = "1000"
cpu_affinity = [2, 3]
nice = -5
io_class = "best-effort"
io_priority = 2
oom_score_adjust = -500
scheduling = { policy = "fifo", priority = 50 }
[systemd.service]
TasksMax = "4096"
"#;

/// `[resources]` becomes the unit keys systemd reads (as its parser reads them), a
/// `systemd.service` key replacing tend's own.
#[test]
fn systemd_renders_resources_as_unit_keys() {
    let s = spec(RESOURCES);
    let unit = content("systemd", &s, &layouts()[0]);
    insta::assert_snapshot!("systemd_resources", unit);
    let keys: Vec<(String, String)> = parse_back::systemd::assignments(&unit)
        .unwrap()
        .into_iter()
        .filter(|a| a.section == "Service")
        .map(|a| (a.key, a.value))
        .collect();
    let get = |k: &str| -> Vec<&str> {
        keys.iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    for (k, v) in [
        ("MemoryMax", "536870912"),
        ("OOMPolicy", "continue"),
        ("CPUQuota", "150%"),
        ("CPUWeight", "200"),
        ("TasksMax", "4096"),
        ("LimitNOFILE", "65536"),
        ("LimitMEMLOCK", "1000"),
        ("CPUAffinity", "2 3"),
        ("Nice", "-5"),
        ("IOSchedulingClass", "best-effort"),
        ("IOSchedulingPriority", "2"),
        ("OOMScoreAdjust", "-500"),
        ("CPUSchedulingPolicy", "fifo"),
        ("CPUSchedulingPriority", "50"),
    ] {
        assert_eq!(get(k), [v], "{k}\n{unit}");
    }
    // None of them without [resources].
    let plain = content("systemd", &spec(FULL), &layouts()[0]);
    assert!(
        !plain.contains("MemoryMax") && !plain.contains("Nice=") && !plain.contains("OOMPolicy"),
        "{plain}"
    );
}

/// `[resources]` becomes OpenRC's `rc_ulimit` and `rc_cgroup_*`, as a real `sh`
/// reads the script.
#[test]
fn openrc_renders_resources_as_rc_variables() {
    let s = spec(RESOURCES);
    let script = content("openrc", &s, &layouts()[0]);
    insta::assert_snapshot!("openrc_resources", script);
    let r = ShellRoot::new();
    std::fs::write(r.path().join("orders.init"), &script).unwrap();
    let out = r.sh(&format!(
        "RC_SVCNAME=orders\n{OPENRC_RUN}\n. ./orders.init\n\
         printf '%s\\0' \"$rc_ulimit\" \"$rc_cgroup_settings\" \"$rc_cgroup_memory\" \"$rc_cgroup_cpu\" \"$rc_cgroup_pids\" >\"$ARGV_OUT\""
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        r.argv("argv"),
        [
            "-n 65536 -l 1",
            "memory.max 536870912\ncpu.max 150000 100000\ncpu.weight 200\npids.max max",
            "memory.limit_in_bytes 536870912",
            "cpu.cfs_period_us 100000 cpu.cfs_quota_us 150000 cpu.shares 2048",
            "pids.max max",
        ],
        "{script}"
    );
    let plain = content("openrc", &spec(FULL), &layouts()[0]);
    assert!(
        !plain.contains("rc_ulimit") && !plain.contains("rc_cgroup"),
        "{plain}"
    );
}

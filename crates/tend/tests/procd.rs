//! The procd backend's init script, run the way OpenWrt runs it: `sh /etc/rc.common
//! /etc/init.d/NAME ACTION`, against a stand-in of `/etc/rc.common` and
//! `/lib/functions/procd.sh` (`tests/procd/`, see its README) that records every procd
//! call instead of sending it to ubus. Each action runs under every shell here: `sh`,
//! `dash`, and BusyBox `sh` (ash, OpenWrt's shell) when installed. The values are made
//! hostile (spaces, quotes, `$`, backquotes, `$(…)`, line breaks, patterns) and must
//! reach procd unchanged.
//!
//! What is not run here: procd, ubus, jshn and logd themselves (no OpenWrt system).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tend::platform::parse_back::{self, Meaning};
use tend::platform::{self, procd, record::installed_spec, Layout};
use tend::spec::{load_str, LoadOptions, Spec};

/// The shells to run the script with: `sh`, `dash`, and `busybox sh` (ash, OpenWrt's
/// shell). Each must be there: the docs say the script is proven under all three
/// (`.ci/run` installs BusyBox; Debian's `sh` is dash).
fn shells() -> Vec<Vec<&'static str>> {
    let all = vec![vec!["sh"], vec!["dash"], vec!["busybox", "sh"]];
    for shell in &all {
        let found = Command::new(shell[0])
            .args(&shell[1..])
            .args(["-c", "exit 0"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "`{}` does not run here: install it (apt-get install busybox dash)",
            shell.join(" ")
        );
    }
    all
}

/// Text each parser on the way treats specially (a line break too).
const HOSTILE: &str = "a  b 'q' \"d\" $x ${y} $$ `touch PWNED1` $(touch PWNED2) %n \\ \\n * ? [ab] ~ ; & | < > # é\nline two";

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// An installed spec whose values are hostile, with paths under `root`.
fn hostile_spec(root: &str, user: &str) -> Spec {
    let one_line = HOSTILE.replace('\n', " ");
    let text = format!(
        "name = \"orders\"\ndescription = {desc}\ncommand = {cmd}\nargs = [{arg}]\n\
         working_dir = {wd}\nuser = {user}\nenv_file = {envf}\n[env]\nA = {env}\nEMPTY = \"\"\n\
         EQ = \"x=y=z\"\n\"SP ACE$x\" = {env}\n[log]\ndir = {log}\n[stop]\ntimeout = \"20s\"\n",
        desc = toml_str(&one_line),
        cmd = toml_str(&format!("{root}/bin/{one_line}")),
        arg = toml_str(HOSTILE),
        wd = toml_str(&format!("{root}/srv/{one_line}")),
        user = toml_str(user),
        envf = toml_str(&format!("{root}/etc/{one_line}.env")),
        // `$$` is how a spec writes a dollar in [env] (its values expand `${NAME}`).
        env = toml_str(&format!("{HOSTILE}\nend\\").replace('$', "$$")),
        log = toml_str(&format!("{root}/log/{one_line}")),
    );
    let s = load_str(
        Path::new("/srv/orders/orders.toml"),
        &text,
        &LoadOptions::default(),
    )
    .map(|mut l| l.services.remove(0))
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let layout = Layout::system(PathBuf::from("/usr/local/bin/tend"));
    installed_spec(&s, Path::new("/srv/orders"), &layout)
}

/// tend's own path, hostile (what `check_tend_path` accepts: no quotes or backslash).
fn hostile_tend(root: &str) -> PathBuf {
    PathBuf::from(format!(
        "{root}/opt/my tools $x ${{y}} $$ %d `touch PWNED3` $(touch PWNED4) ; & * ? [ab]/tend"
    ))
}

/// One parameter of an instance, as the real procd.sh would put it in the message.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Array(Vec<String>),
    Table(Vec<(String, String)>),
    Int(i64),
    Bool(bool),
    Str(String),
}

/// What `start` sends procd (`ubus call service set`).
#[derive(Debug, Default, PartialEq, Eq)]
struct Message {
    /// The service's name and the script.
    service: (String, String),
    /// Each instance's parameters, by instance name.
    instances: BTreeMap<String, BTreeMap<String, Value>>,
    /// `set` (or `add`).
    method: String,
}

/// A scratch OpenWrt root: the stand-in's files, `etc/init.d`, `etc/rc.d`.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/procd");
        for f in [
            "etc/rc.common",
            "lib/functions.sh",
            "lib/functions/service.sh",
            "lib/functions/procd.sh",
        ] {
            let to = dir.path().join(f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(here.join(f), &to).unwrap();
        }
        for d in ["etc/init.d", "etc/rc.d"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Root { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn root(&self) -> String {
        self.path().display().to_string()
    }
    fn install(&self, name: &str, script: &str) {
        std::fs::write(self.path().join("etc/init.d").join(name), script).unwrap();
    }
    /// `SHELL /etc/rc.common /etc/init.d/NAME ACTION`, recording into a fresh file.
    fn run(&self, shell: &[&str], name: &str, action: &str) -> Output {
        let record = self.path().join("record");
        let _ = std::fs::remove_file(&record);
        Command::new(shell[0])
            .args(&shell[1..])
            .arg(self.path().join("etc/rc.common"))
            .arg(self.path().join("etc/init.d").join(name))
            .arg(action)
            .current_dir(self.path())
            .env("IPKG_INSTROOT", self.path())
            .env("PROCD_RECORD", &record)
            .output()
            .unwrap()
    }
    /// The calls recorded by the last run.
    fn calls(&self) -> Vec<Vec<String>> {
        let bytes = std::fs::read(self.path().join("record")).unwrap_or_default();
        let mut fields = bytes
            .split(|&b| b == 0)
            .map(|f| String::from_utf8(f.to_vec()).unwrap());
        let mut out = Vec::new();
        while let Some(n) = fields.next().filter(|n| !n.is_empty()) {
            let n: usize = n.parse().unwrap();
            out.push((0..n).map(|_| fields.next().unwrap()).collect());
        }
        out
    }
    /// No command substitution anywhere created a file.
    fn assert_nothing_ran(&self) {
        let found: Vec<PathBuf> = walk(self.path())
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("PWNED")
            })
            .collect();
        assert!(
            found.is_empty(),
            "the shell ran injected commands: {found:?}"
        );
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

/// The message the recorded calls of a `start` build, as procd.sh builds it; any
/// call out of place (a parameter outside an instance, a second service) is an error.
fn message(calls: &[Vec<String>]) -> Result<Message, String> {
    let mut m = Message::default();
    let mut open: Option<String> = None;
    let mut closed = false;
    for c in calls {
        let words: Vec<&str> = c.iter().map(String::as_str).collect();
        let instance = |open: &Option<String>| {
            open.clone()
                .ok_or_else(|| format!("{words:?} outside an instance"))
        };
        match words.as_slice() {
            ["open_service", name, script] if m.service.0.is_empty() => {
                m.service = (name.to_string(), script.to_string());
            }
            ["open_instance", name] if open.is_none() && !closed => {
                open = Some(name.to_string());
                m.instances.entry(name.to_string()).or_default();
            }
            ["close_instance"] => {
                instance(&open)?;
                open = None;
            }
            ["array", param, rest @ ..] => {
                let i = instance(&open)?;
                m.instances.get_mut(&i).unwrap().insert(
                    param.to_string(),
                    Value::Array(rest.iter().map(|s| s.to_string()).collect()),
                );
            }
            ["table", param, k, v] => {
                let i = instance(&open)?;
                let params = m.instances.get_mut(&i).unwrap();
                let entry = params
                    .entry(param.to_string())
                    .or_insert_with(|| Value::Table(Vec::new()));
                let Value::Table(t) = entry else {
                    return Err(format!("{param} is not a table"));
                };
                t.push((k.to_string(), v.to_string()));
            }
            ["int", param, v] => {
                let i = instance(&open)?;
                let n = v
                    .parse()
                    .map_err(|_| format!("{param} = {v:?} is not an integer"))?;
                m.instances
                    .get_mut(&i)
                    .unwrap()
                    .insert(param.to_string(), Value::Int(n));
            }
            ["bool", param, v] => {
                let i = instance(&open)?;
                let b = match *v {
                    "1" => true,
                    "0" => false,
                    _ => return Err(format!("{param} = {v:?} is not 0 or 1")),
                };
                m.instances
                    .get_mut(&i)
                    .unwrap()
                    .insert(param.to_string(), Value::Bool(b));
            }
            ["string", param, v] => {
                let i = instance(&open)?;
                m.instances
                    .get_mut(&i)
                    .unwrap()
                    .insert(param.to_string(), Value::Str(v.to_string()));
            }
            ["ubus", "call", "service", method] if open.is_none() && !closed => {
                m.method = method.to_string();
                closed = true;
            }
            other => return Err(format!("unexpected call {other:?}")),
        }
    }
    if !closed {
        return Err("the service was never sent to procd".into());
    }
    Ok(m)
}

/// The instance `start` must send for `spec` in `layout`, stated from the spec.
fn expected(spec: &Spec, layout: &Layout) -> BTreeMap<String, Value> {
    let mut want = BTreeMap::new();
    let s = |v: &str| v.to_string();
    want.insert(s("command"), Value::Array(layout.run_argv(spec)));
    let r = &spec.restart;
    want.insert(
        s("respawn"),
        Value::Array(vec![
            r.window.get().as_secs().to_string(),
            s("2"),
            r.max_restarts.to_string(),
        ]),
    );
    want.insert(
        s("term_timeout"),
        Value::Int(spec.stop.timeout.get().as_secs() as i64 + 5),
    );
    if let Some(u) = spec.user.as_deref().filter(|u| *u != "root") {
        want.insert(s("user"), Value::Str(s(u)));
        want.insert(
            s("group"),
            Value::Str(spec.group.clone().unwrap_or_else(|| s(u))),
        );
    }
    if !spec.env.is_empty() {
        want.insert(
            s("env"),
            Value::Table(
                spec.env
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        );
    }
    let mut files = vec![layout.spec_path(spec.name.as_str()).display().to_string()];
    files.extend(spec.env_file.iter().map(|f| f.display().to_string()));
    want.insert(s("file"), Value::Array(files));
    want.insert(s("stdout"), Value::Bool(true));
    want.insert(s("stderr"), Value::Bool(true));
    want
}

fn script(spec: &Spec, layout: &Layout) -> String {
    let files = platform::backend("procd").unwrap().render(spec, layout);
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].path,
        Path::new("/etc/init.d").join(spec.name.as_str())
    );
    files[0].content.clone()
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn start_sends_procd_tends_command_and_values_word_for_word() {
    for shell in shells() {
        for user in ["orders", "app$", "root"] {
            let r = Root::new();
            let spec = hostile_spec(&r.root(), user);
            let layout = Layout::system(hostile_tend(&r.root()));
            let text = script(&spec, &layout);
            r.install("orders", &text);
            let out = r.run(&shell, "orders", "start");
            ok(&out, &format!("{shell:?} start"));
            r.assert_nothing_ran();
            let m = message(&r.calls()).unwrap_or_else(|e| panic!("{shell:?}: {e}\n{text}"));
            assert_eq!(
                m.service,
                (
                    "orders".to_string(),
                    r.path().join("etc/init.d/orders").display().to_string()
                )
            );
            assert_eq!(m.method, "set");
            assert_eq!(m.instances.len(), 1, "{m:?}");
            let instance = &m.instances["instance1"];
            let want = expected(&spec, &layout);
            for (k, v) in &want {
                assert_eq!(instance.get(k), Some(v), "{shell:?} {user}: {k}\n{text}");
            }
            assert_eq!(instance, &want, "{shell:?} {user}\n{text}");
            // The command is tend's run_argv exactly, the guard kept.
            assert_eq!(
                instance["command"],
                Value::Array(layout.run_argv(&spec)),
                "{text}"
            );
            // The model of the shell reads it the same way.
            parse_back::check_procd(&text, &Meaning::of(&spec, &layout), "orders")
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
    }
}

#[test]
fn stop_restart_enable_disable_as_rc_common_does_them() {
    for shell in shells() {
        let r = Root::new();
        let spec = hostile_spec(&r.root(), "orders");
        let layout = Layout::system(hostile_tend(&r.root()));
        r.install("orders", &script(&spec, &layout));
        let delete = |calls: &[Vec<String>]| {
            calls.iter().any(|c| {
                c[..] == ["ubus", "call", "service", "delete", "orders", ""].map(String::from)
            })
        };

        let out = r.run(&shell, "orders", "stop");
        ok(&out, "stop");
        let calls = r.calls();
        assert_eq!(calls[0], ["lock"], "{shell:?}: {calls:?}");
        assert!(delete(&calls), "{shell:?}: {calls:?}");

        let out = r.run(&shell, "orders", "restart");
        ok(&out, "restart");
        let calls = r.calls();
        let deleted = calls.iter().position(|c| c[0] == "ubus").unwrap();
        assert!(delete(&calls[..=deleted]), "stop first: {calls:?}");
        let started = message(&calls[deleted + 1..]).unwrap();
        assert_eq!(
            started.instances["instance1"]["command"],
            Value::Array(layout.run_argv(&spec))
        );

        // enable: the boot links rc.d holds; enabled says so; disable removes them.
        let rc_d = r.path().join("etc/rc.d");
        let start_link = rc_d.join(format!("S{}orders", procd::START));
        let stop_link = rc_d.join(format!("K{}orders", procd::STOP));
        assert!(!r.run(&shell, "orders", "enabled").status.success());
        ok(&r.run(&shell, "orders", "enable"), "enable");
        for link in [&start_link, &stop_link] {
            assert_eq!(
                std::fs::read_link(link).unwrap(),
                Path::new("../init.d/orders"),
                "{shell:?}"
            );
        }
        ok(&r.run(&shell, "orders", "enabled"), "enabled");
        let names: Vec<String> = std::fs::read_dir(&rc_d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(procd::enabled_in(&names, "orders"), "{names:?}");
        ok(&r.run(&shell, "orders", "disable"), "disable");
        assert!(!start_link.exists() && !stop_link.exists());
        assert!(!r.run(&shell, "orders", "enabled").status.success());
        assert!(r.calls().is_empty(), "enable and disable never call procd");

        // status: what procd says of a service it does not know.
        let out = r.run(&shell, "orders", "status");
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "inactive\n");
    }
}

/// The commands tend runs are the script's own actions.
#[test]
fn the_backend_drives_the_init_script() {
    let b = platform::backend("procd").unwrap();
    let words = |c: platform::Cmd| {
        let mut w = vec![c.program];
        w.extend(c.args);
        w
    };
    assert_eq!(
        b.enable("orders")
            .into_iter()
            .map(words)
            .collect::<Vec<_>>(),
        [["/etc/init.d/orders", "enable"]]
    );
    assert_eq!(
        b.disable("orders")
            .into_iter()
            .map(words)
            .collect::<Vec<_>>(),
        [
            ["/etc/init.d/orders", "stop"],
            ["/etc/init.d/orders", "disable"]
        ]
    );
    for verb in [
        platform::Verb::Start,
        platform::Verb::Stop,
        platform::Verb::Restart,
    ] {
        assert_eq!(
            words(b.control("orders", verb)),
            ["/etc/init.d/orders", verb.as_str()]
        );
    }
    assert!(b.forget("orders").is_empty());
}

/// No `respawn` when the spec says never to restart: procd would start the program
/// again whatever its exit status.
#[test]
fn a_service_never_restarted_is_not_respawned() {
    let r = Root::new();
    let spec = load_str(
        Path::new("/srv/once.toml"),
        "name = \"once\"\ncommand = \"/bin/true\"\nuser = \"root\"\n[restart]\npolicy = \"never\"\n",
        &LoadOptions::default(),
    )
    .unwrap()
    .services
    .remove(0);
    let layout = Layout::unix("/usr/local/bin/tend".into());
    let spec = installed_spec(&spec, Path::new("/srv"), &layout);
    r.install("once", &script(&spec, &layout));
    ok(&r.run(&["sh"], "once", "start"), "start");
    let m = message(&r.calls()).unwrap();
    let i = &m.instances["instance1"];
    assert!(!i.contains_key("respawn"), "{i:?}");
    assert!(!i.contains_key("user") && !i.contains_key("env"), "{i:?}");
}

/// The test can fail: a script whose words lost their quoting, or that puts a value
/// through the shell a second time, sends procd something else.
#[test]
fn a_script_with_broken_quoting_is_caught() {
    let r = Root::new();
    let spec = hostile_spec(&r.root(), "orders");
    let layout = Layout::system(hostile_tend(&r.root()));
    let text = script(&spec, &layout);
    let want = expected(&spec, &layout);
    for broken in [
        // single quotes turned into double quotes: `$x` and `$(…)` expand
        text.replace('\'', "\""),
        // the command's words through `eval`, as OpenRC's own start would do
        text.replace("procd_set_param command", "eval procd_set_param command"),
    ] {
        assert_ne!(broken, text);
        r.install("orders", &broken);
        let out = r.run(&["sh"], "orders", "start");
        let got = message(&r.calls())
            .ok()
            .and_then(|m| m.instances.get("instance1").cloned());
        assert!(
            !out.status.success() || got.as_ref() != Some(&want),
            "a broken script went unnoticed:\n{broken}"
        );
    }
}

/// The stand-in takes procd.sh's arguments as procd.sh does: a table entry splits at
/// its first `=`, an entry without `=` has an empty value, and the first empty
/// argument ends the table.
#[test]
fn the_stand_in_splits_tables_as_procd_sh_does() {
    for shell in shells() {
        let r = Root::new();
        r.install(
            "t",
            "USE_PROCD=1\nstart_service() {\n\tprocd_open_instance\n\tprocd_set_param env 'A=b=c' 'E=' 'N' '' 'AFTER=x'\n\tprocd_set_param command /bin/x '' 'a b'\n\tprocd_close_instance\n}\n",
        );
        ok(&r.run(&shell, "t", "start"), "start");
        let m = message(&r.calls()).unwrap();
        let i = &m.instances["instance1"];
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            i["env"],
            Value::Table(vec![pair("A", "b=c"), pair("E", ""), pair("N", "")]),
            "{shell:?}"
        );
        assert_eq!(
            i["command"],
            Value::Array(vec!["/bin/x".into(), "".into(), "a b".into()])
        );
    }
}

/// A host with procd and `/etc/rc.common`, and neither systemd nor OpenRC running,
/// picks procd.
#[test]
fn detection_picks_procd_on_openwrt() {
    let root = tempfile::tempdir().unwrap();
    let touch = |p: &str| {
        let p = root.path().join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    };
    let none = if cfg!(target_os = "macos") {
        Some("launchd")
    } else {
        None
    };
    touch("sbin/procd");
    assert_eq!(
        platform::detect(root.path()),
        none,
        "procd without rc.common"
    );
    touch("etc/rc.common");
    assert_eq!(platform::detect(root.path()), Some("procd"));
    std::fs::create_dir_all(root.path().join("run/openrc")).unwrap();
    assert_eq!(platform::detect(root.path()), Some("openrc"));
    std::fs::create_dir_all(root.path().join("run/systemd/system")).unwrap();
    assert_eq!(platform::detect(root.path()), Some("systemd"));
    let only_rc = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(only_rc.path().join("etc")).unwrap();
    std::fs::write(only_rc.path().join("etc/rc.common"), "").unwrap();
    assert_eq!(platform::detect(only_rc.path()), none, "rc.common alone");
}

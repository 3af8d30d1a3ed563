//! procd (OpenWrt): an init script `/etc/init.d/NAME` for `/etc/rc.common` with
//! `USE_PROCD=1`, whose `start_service` describes one procd instance that runs `tend run`
//! on the installed spec. `rc.common` sources the script, and `start` sends the
//! instance to procd (`ubus call service set`), which starts it, respawns it, and stops
//! it (`stop`: `ubus call service delete`).
//!
//! Every value is one shell word, quoted once ([`sh_word`]) and read once: the
//! `procd_set_param` functions of `/lib/functions/procd.sh` take one argument per
//! array element or `KEY=VALUE` table entry and never split or `eval` them (proven by
//! running the script under `sh` against a stand-in of `rc.common` and `procd.sh` that
//! records every call, in `tests/procd.rs`).
//!
//! Choices, each from procd's own code (`service/instance.c`):
//! - **The guard stays** (`tend run` without `--no-guard`). procd does not own the
//!   process tree: a stop sends SIGTERM to the instance's main pid only, then SIGKILL
//!   to that pid after `term_timeout`; it puts the instance in a cgroup where cgroup v2
//!   is mounted but never kills that cgroup. If tend's supervisor died, whatever its
//!   program started would be left running; the guard (a subreaper) kills it.
//! - **`respawn`** is the backstop for tend itself, as `Restart=on-failure` is under
//!   systemd and `supervise-daemon` is under OpenRC; restarting the program is tend's
//!   job. procd respawns tend 2 s after it exits and gives up once tend has exited
//!   `restart.max_restarts` times in a row, each time within `restart.window` of its
//!   start (0: never gives up), the numbers of the limit tend applies to the program.
//!   The two limits multiply: each tend that gives up on a crash-looping program has
//!   started it up to `max_restarts` + 1 times, so the program can be started up to
//!   (`max_restarts` + 1)² times before procd gives up too (under systemd,
//!   `Restart=on-failure` restarts tend without a limit). With
//!   `restart.policy = "never"` there is no `respawn`: tend runs the program once, and
//!   procd would otherwise start it again (procd respawns whatever the exit status).
//! - **`term_timeout`** is [`super::manager_stop_timeout_secs`]: procd waits that long
//!   for tend to stop the program gracefully before it kills tend.
//! - **`stdout 1`, `stderr 1`**: tend's own event lines, and output the spec sends to
//!   `inherit`, go to logd (`logread`), tagged `tend[PID]` (procd tags an instance's
//!   lines with the name of the program it runs and its main pid).
//! - **`user`, `group`**: the service's account (procd switches to it before running
//!   tend; nothing for root).
//! - **`env`**: the spec's `[env]` (tend applies it to the program itself as well;
//!   procd's copy also reaches tend).
//! - **`file`**: the installed spec (and `env_file`): on `reload`, procd restarts the
//!   instance only if one of them changed.
//! - No `limits`: the spec has no resource limits to map (procd's `limits` takes
//!   `nofile`, `core`, ...).
//!
//! procd has no working-directory parameter: tend starts in `/` and runs the program in
//! the spec's `working_dir` (the installed spec always names one).

use std::path::Path;

use super::escape::{sh_word, sh_words};
use super::{Artifact, Backend, Cmd, InstallError, Layout, NativeStatus, Verb};
use crate::spec::{RestartPolicy, Spec};

/// The procd backend.
pub struct Procd;

/// The start priority (`/etc/rc.d/S95NAME`): after the network (20) and most
/// services.
pub const START: u32 = 95;
/// The stop priority (`/etc/rc.d/K10NAME`): stopped early, before the network (90).
pub const STOP: u32 = 10;
/// procd's wait before it respawns tend, in seconds (systemd's `RestartSec=2s` and
/// OpenRC's `--respawn-delay 2` in the other backends).
pub const RESPAWN_DELAY: u64 = 2;

/// Where init scripts go.
pub const INIT_DIR: &str = "/etc/init.d";

/// procd's `respawn` parameter for `spec`: `[threshold, timeout, retry]` (seconds,
/// seconds, count), or `None` when procd must not respawn tend (see the module doc).
pub fn respawn(spec: &Spec) -> Option<[u64; 3]> {
    let r = &spec.restart;
    if r.policy == RestartPolicy::Never {
        return None;
    }
    let window = r.window.get().as_secs_f64().ceil().max(1.0) as u64;
    Some([window, RESPAWN_DELAY, u64::from(r.max_restarts)])
}

/// What procd runs: `tend run …` on the installed spec, with tend's guard (see the
/// module doc).
pub fn command(spec: &Spec, layout: &Layout) -> Vec<String> {
    layout.run_argv(spec)
}

/// The files procd watches for `reload`: the installed spec, and the env file.
pub fn files(spec: &Spec, layout: &Layout) -> Vec<String> {
    let mut out = vec![layout.spec_path(spec.name.as_str()).display().to_string()];
    if let Some(f) = &spec.env_file {
        out.push(f.display().to_string());
    }
    out
}

/// The `procd_set_param` calls of `start_service`, in order: the parameter and its
/// words.
pub fn params(spec: &Spec, layout: &Layout) -> Vec<(&'static str, Vec<String>)> {
    let mut out: Vec<(&'static str, Vec<String>)> = vec![("command", command(spec, layout))];
    if let Some(r) = respawn(spec) {
        out.push(("respawn", r.iter().map(u64::to_string).collect()));
    }
    out.push((
        "term_timeout",
        vec![super::manager_stop_timeout_secs(spec).to_string()],
    ));
    if let Some(u) = spec.user.as_deref().filter(|u| *u != "root") {
        out.push(("user", vec![u.to_string()]));
        out.push((
            "group",
            vec![spec.group.clone().unwrap_or_else(|| u.to_string())],
        ));
    }
    if !spec.env.is_empty() {
        out.push((
            "env",
            spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        ));
    }
    out.push(("file", files(spec, layout)));
    out.push(("stdout", vec!["1".into()]));
    out.push(("stderr", vec!["1".into()]));
    out
}

/// The init script text.
pub fn render_script(spec: &Spec, layout: &Layout) -> String {
    let name = spec.name.as_str();
    let description = spec
        .description
        .clone()
        .unwrap_or_else(|| spec.display_name().to_string());
    let mut out = String::from("#!/bin/sh /etc/rc.common\n");
    out.push_str(&format!(
        "# Written by tend from {}; `tend install` rewrites it.\n",
        layout.spec_path(name).display()
    ));
    // A comment: any text but a line break is inert in it.
    out.push_str(&format!("# {}\n", description.replace(['\n', '\r'], " ")));
    out.push_str(&format!(
        "\nUSE_PROCD=1\nSTART={START:02}\nSTOP={STOP:02}\n\nstart_service() {{\n\tprocd_open_instance\n"
    ));
    for (param, words) in params(spec, layout) {
        out.push_str("\tprocd_set_param ");
        out.push_str(param);
        for w in &words {
            out.push(' ');
            out.push_str(&sh_word(w));
        }
        out.push('\n');
    }
    out.push_str("\tprocd_close_instance\n}\n");
    // `service NAME reload`: tend tells the program, as `[reload]` says (without it,
    // rc.common's reload starts the service again).
    if let Some(argv) = layout.reload_argv(spec) {
        let words: Vec<&str> = argv.iter().map(String::as_str).collect();
        out.push_str(&format!(
            "\nreload_service() {{\n\t{}\n}}\n",
            sh_words(&words)
        ));
    }
    out
}

/// The script of `name`.
pub fn script_path(name: &str) -> std::path::PathBuf {
    Path::new(INIT_DIR).join(name)
}

fn script(name: &str, verb: &str) -> Cmd {
    Cmd::new(&script_path(name).display().to_string(), &[verb])
}

/// What `ubus call service list '{"name":"NAME"}'` says of `name`: `running` when an
/// instance runs (its pid the main pid), `failed` when it exited with a non-zero code
/// and procd gave up or has not respawned it yet, `stopped` when it exited otherwise,
/// `inactive` when procd does not know the service. `enabled` is left false (the
/// caller looks at `/etc/rc.d`).
pub fn parse_service_list(json: &str, name: &str) -> Result<NativeStatus, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not JSON ({e}): {json}"))?;
    let Some(service) = v.get(name) else {
        return Ok(NativeStatus {
            active: "inactive".into(),
            ..NativeStatus::default()
        });
    };
    let instances = service
        .get("instances")
        .and_then(|i| i.as_object())
        .map(|m| m.values().collect::<Vec<_>>())
        .unwrap_or_default();
    let running = instances
        .iter()
        .find(|i| i.get("running").and_then(|r| r.as_bool()) == Some(true));
    let (active, main_pid) = match running {
        Some(i) => (
            "running",
            i.get("pid")
                .and_then(|p| p.as_u64())
                .and_then(|p| u32::try_from(p).ok()),
        ),
        None if instances
            .iter()
            .any(|i| i.get("exit_code").and_then(|c| c.as_i64()).unwrap_or(0) != 0) =>
        {
            ("failed", None)
        }
        None => ("stopped", None),
    };
    Ok(NativeStatus {
        active: active.into(),
        sub: None,
        enabled: false,
        main_pid,
    })
}

/// Whether `rc.d` (the contents of `/etc/rc.d`) starts `name` at boot: the link
/// `S<START>NAME` that `enable` makes.
pub fn enabled_in(rc_d: &[String], name: &str) -> bool {
    rc_d.iter().any(|f| *f == format!("S{START:02}{name}"))
}

/// The tag procd gives the lines an instance writes (`ulog` with the ident
/// `basename(command[0])[PID]`, cut to 31 bytes), for tend at `tend_bin` with main
/// pid `pid`.
pub fn log_tag(tend_bin: &Path, pid: u32) -> String {
    let base = tend_bin
        .file_name()
        .map_or_else(String::new, |b| b.to_string_lossy().to_string());
    let mut tag = format!("{base}[{pid}]");
    let mut cut = tag.len().min(31);
    while !tag.is_char_boundary(cut) {
        cut -= 1;
    }
    tag.truncate(cut);
    tag
}

/// `text` as a POSIX basic regular expression that matches it literally (what
/// `logread -e` compiles: `regcomp` without `REG_EXTENDED`).
pub fn bre_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if ".[]\\*^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `logread -e` pattern for a service's lines in logd: with its instance's main
/// pid, every line procd logged for it since that instance started (tend's event
/// lines and `inherit` output: `TAG: …`); without (the service is not running), the
/// event lines tend wrote for it in any run (`TAG: tend: NAME: …`, any pid).
pub fn logread_pattern(tend_bin: &Path, pid: Option<u32>, name: &str) -> String {
    match pid {
        Some(pid) => format!("^{}: ", bre_literal(&log_tag(tend_bin, pid))),
        None => {
            let base = tend_bin
                .file_name()
                .map_or_else(String::new, |b| b.to_string_lossy().to_string());
            format!(
                "^{}\\[[0-9]*\\]: tend: {}: ",
                bre_literal(&base),
                bre_literal(name)
            )
        }
    }
}

/// The `logread` arguments: every matching line logd holds, or (`follow`) the new ones
/// as they come. (`-l N` would count lines before the filter, so the caller keeps the
/// last lines itself.)
pub fn logread_args(pattern: &str, follow: bool) -> Vec<String> {
    let mut args = Vec::new();
    if follow {
        args.push("-f".to_string());
    }
    args.extend(["-e".to_string(), pattern.to_string()]);
    args
}

impl Backend for Procd {
    fn name(&self) -> &'static str {
        "procd"
    }

    fn render(&self, spec: &Spec, layout: &Layout) -> Vec<Artifact> {
        vec![Artifact {
            path: script_path(spec.name.as_str()),
            content: render_script(spec, layout),
            mode: 0o755,
        }]
    }

    fn enable(&self, name: &str) -> Vec<Cmd> {
        vec![script(name, "enable")]
    }

    fn disable(&self, name: &str) -> Vec<Cmd> {
        // `stop` also makes procd forget the service (`ubus call service delete`).
        vec![script(name, "stop"), script(name, "disable")]
    }

    fn forget(&self, _name: &str) -> Vec<Cmd> {
        Vec::new()
    }

    fn control(&self, name: &str, verb: Verb) -> Cmd {
        script(name, verb.as_str())
    }

    fn query(&self, name: &str) -> Result<NativeStatus, InstallError> {
        let arg = serde_json::json!({ "name": name }).to_string();
        let out = Cmd::new("ubus", &["call", "service", "list", &arg]).run()?;
        let mut status = parse_service_list(&out, name).map_err(|reason| InstallError::Tool {
            command: format!("ubus call service list {}", sh_word(&arg)),
            status: "exit status: 0".into(),
            stderr: reason,
        })?;
        let rc_d: Vec<String> = std::fs::read_dir("/etc/rc.d")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        status.enabled = enabled_in(&rc_d, name);
        Ok(status)
    }

    fn can_apply(&self) -> bool {
        Path::new("/sbin/procd").exists() && Path::new("/etc/rc.common").exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> Spec {
        let text = format!("name = \"web\"\ncommand = \"/opt/web/web\"\n{extra}");
        crate::spec::load_str(Path::new("/srv/web.toml"), &text, &Default::default())
            .unwrap()
            .services
            .remove(0)
    }

    #[test]
    fn respawn_follows_the_restart_limit() {
        // (spec lines, respawn)
        let cases: &[(&str, Option<[u64; 3]>)] = &[
            ("", Some([120, 2, 10])),
            (
                "[restart]\nmax_restarts = 3\nwindow = \"30s\"\n",
                Some([30, 2, 3]),
            ),
            ("[restart]\nmax_restarts = 0\n", Some([120, 2, 0])),
            ("[restart]\nwindow = \"1500ms\"\n", Some([2, 2, 10])),
            ("[restart]\npolicy = \"always\"\n", Some([120, 2, 10])),
            ("[restart]\npolicy = \"never\"\n", None),
        ];
        for (extra, want) in cases {
            assert_eq!(respawn(&spec(extra)), *want, "{extra}");
        }
    }

    #[test]
    fn the_command_keeps_the_guard() {
        let layout = Layout::unix("/usr/local/bin/tend".into());
        let s = spec("");
        assert_eq!(command(&s, &layout), layout.run_argv(&s));
        assert!(!render_script(&s, &layout).contains("--no-guard"));
    }

    #[test]
    fn the_service_list_of_procd() {
        let running = r#"{"web":{"instances":{"instance1":{"running":true,"pid":4242,"command":["/usr/local/bin/tend","run"],"term_timeout":15,"respawn":{"threshold":120,"timeout":2,"retry":10}}}}}"#;
        let s = parse_service_list(running, "web").unwrap();
        assert_eq!((s.active.as_str(), s.main_pid), ("running", Some(4242)));
        let gave_up = r#"{"web":{"instances":{"instance1":{"running":false,"command":["/x"],"term_timeout":15,"exit_code":3}}}}"#;
        let s = parse_service_list(gave_up, "web").unwrap();
        assert_eq!((s.active.as_str(), s.main_pid), ("failed", None));
        let done = r#"{"web":{"instances":{"instance1":{"running":false,"exit_code":0}}}}"#;
        assert_eq!(parse_service_list(done, "web").unwrap().active, "stopped");
        assert_eq!(parse_service_list("{}", "web").unwrap().active, "inactive");
        assert_eq!(
            parse_service_list(r#"{"webx":{}}"#, "web").unwrap().active,
            "inactive"
        );
        assert!(parse_service_list("Command failed: Not found", "web").is_err());
    }

    #[test]
    fn enabled_is_the_start_link() {
        let d = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(enabled_in(&d(&["S10boot", "S95web", "K10web"]), "web"));
        assert!(!enabled_in(&d(&["K10web", "S95webx", "S90web"]), "web"));
    }

    #[test]
    fn logread_patterns_match_procds_tag() {
        let tend = Path::new("/usr/local/bin/tend");
        assert_eq!(log_tag(tend, 4242), "tend[4242]");
        assert_eq!(
            logread_pattern(tend, Some(4242), "web.api"),
            "^tend\\[4242\\]: "
        );
        assert_eq!(
            logread_pattern(tend, None, "web.api"),
            "^tend\\[[0-9]*\\]: tend: web\\.api: "
        );
        // procd cuts the tag to 31 bytes (snprintf into char[32]).
        let long = Path::new("/opt/a-very-long-name-for-tend-binary");
        assert_eq!(log_tag(long, 1234567), "a-very-long-name-for-tend-binar");
        assert_eq!(bre_literal("a.b[c]*^$\\"), "a\\.b\\[c\\]\\*\\^\\$\\\\");
        assert_eq!(logread_args("^x: ", false), ["-e", "^x: "]);
        assert_eq!(logread_args("^x: ", true), ["-f", "-e", "^x: "]);
    }

    /// The BRE escaping is what a real `grep` (POSIX basic regular expressions, as
    /// `regcomp` without `REG_EXTENDED`) reads as literal text.
    #[test]
    fn bre_literals_match_themselves_in_a_real_grep() {
        for text in ["tend[42]: x", "a.b", "^$", "a*b", "back\\slash", "[x]"] {
            let decoy = text.replace(|c: char| !c.is_alphanumeric(), "Z");
            let input = format!("{text}\n{decoy}\n");
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "printf '%s' {} | grep -- {}",
                    sh_word(&input),
                    sh_word(&bre_literal(text))
                ))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{text}\n"));
        }
    }
}

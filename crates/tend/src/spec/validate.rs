//! Checks that serde cannot express: values that must relate to each other, text that
//! would break a unit file, and `depends_on` across the services of one file. Each
//! problem carries the key path it is about, so it can be shown at its line.

use std::collections::BTreeMap;

use super::error::did_you_mean;
use super::load::{KeyPath, Seg};
use super::model::{Health, IoClass, Listen, Metrics, Reload, Resources, Spec, Update};
use super::values::SocketAddress;

pub(crate) type Problem = (KeyPath, String, Option<String>);

fn at(keys: &[&str]) -> KeyPath {
    keys.iter().map(|k| Seg::Key((*k).to_string())).collect()
}

/// Problems within one service.
pub(crate) fn check(spec: &Spec) -> Vec<Problem> {
    let mut out: Vec<Problem> = Vec::new();
    if spec.command.trim().is_empty() {
        out.push((
            at(&["command"]),
            "`command` is empty".into(),
            Some("name the program to run, e.g. command = \"/opt/orders/orders\"".into()),
        ));
    }
    if spec.command.contains('\0') {
        out.push((
            at(&["command"]),
            "`command` contains a NUL character".into(),
            None,
        ));
    }
    if spec
        .env_file
        .as_ref()
        .is_some_and(|p| p.as_os_str().to_string_lossy().trim().is_empty())
    {
        out.push((
            at(&["env_file"]),
            "`env_file` is empty".into(),
            Some("name a file of KEY=VALUE lines, or remove `env_file`".into()),
        ));
    }
    // Paths end up in unit files and scripts, one per line: no control characters.
    let paths = [
        ("command", Some(spec.command.clone())),
        (
            "working_dir",
            spec.working_dir.as_ref().map(|p| p.display().to_string()),
        ),
        (
            "env_file",
            spec.env_file.as_ref().map(|p| p.display().to_string()),
        ),
    ];
    let log_dir = spec.log.dir.as_ref().map(|p| p.display().to_string());
    for (key, text) in paths
        .iter()
        .map(|(k, t)| (vec![*k], t))
        .chain([(vec!["log", "dir"], &log_dir)])
    {
        if text
            .as_deref()
            .is_some_and(|t| t.chars().any(char::is_control))
        {
            out.push((
                at(&key),
                format!(
                    "`{}` contains a control character (a line break?)",
                    key.join(".")
                ),
                Some("paths are single lines of printable characters".into()),
            ));
        }
    }
    for (i, a) in spec.args.iter().enumerate() {
        if a.contains('\0') {
            let mut p = at(&["args"]);
            p.push(Seg::Index(i));
            out.push((
                p,
                format!("argument {} contains a NUL character", i + 1),
                None,
            ));
        }
    }
    for (k, v) in &spec.env {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            out.push((
                at(&["env", k]),
                format!("`{k}` is not a valid environment variable name"),
                Some("names cannot be empty or contain '=' or NUL".into()),
            ));
        }
        if v.contains('\0') {
            out.push((
                at(&["env", k]),
                format!("the value of `{k}` contains a NUL character"),
                None,
            ));
        }
    }
    for (key, text) in [
        ("display_name", &spec.display_name),
        ("description", &spec.description),
    ] {
        if text
            .as_deref()
            .is_some_and(|t| t.contains(['\n', '\r', '\0']))
        {
            out.push((
                at(&[key]),
                format!("`{key}` must be a single line"),
                Some("service managers show it on one line; remove the line breaks".into()),
            ));
        }
    }
    // systemd reads a line ending in a backslash as continued on the next line, which
    // would swallow the key after it; no quoting helps in these raw-text keys.
    for (key, text) in [
        ("display_name", &spec.display_name),
        ("description", &spec.description),
    ] {
        if text.as_deref().is_some_and(ends_in_backslash) {
            out.push((
                at(&[key]),
                format!("`{key}` ends in a backslash"),
                Some("a systemd unit would read the next line as part of it; remove the trailing backslash".into()),
            ));
        }
    }
    for (key, text) in [("user", &spec.user), ("group", &spec.group)] {
        if let Some(t) = text {
            let ok = !t.is_empty()
                && t.len() <= 32
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '$'));
            if !ok {
                out.push((
                    at(&[key]),
                    format!("`{key}` {t:?} is not a valid account name"),
                    Some("use letters, digits, '-', '_' and '.' (at most 32 characters)".into()),
                ));
            }
        }
    }
    if let (None, Some(g)) = (&spec.user, &spec.group) {
        out.push((
            at(&["group"]),
            format!("`group = \"{g}\"` needs a `user` as well"),
            Some("set `user` (the account to run as) too, or remove `group`".into()),
        ));
    }
    let b = &spec.restart.backoff;
    if !(b.factor.is_finite() && b.factor >= 1.0) {
        out.push((
            at(&["restart", "backoff", "factor"]),
            format!(
                "`restart.backoff.factor` is {}, but must be at least 1.0",
                b.factor
            ),
            Some("1.0 keeps the delay constant; 2.0 doubles it each time".into()),
        ));
    }
    if b.initial > b.max {
        out.push((
            at(&["restart", "backoff", "initial"]),
            format!(
                "`restart.backoff.initial` ({}) is longer than `restart.backoff.max` ({})",
                b.initial, b.max
            ),
            Some("lower `initial` or raise `max`".into()),
        ));
    }
    if spec.restart.max_restarts > 0 && spec.restart.window.get().is_zero() {
        out.push((
            at(&["restart", "window"]),
            "`restart.window` is zero, so `max_restarts` can never be reached".into(),
            Some("give a window such as \"2m\", or set max_restarts = 0 for no limit".into()),
        ));
    }
    for key in ["success_codes", "no_restart_codes"] {
        let codes = if key == "success_codes" {
            &spec.restart.success_codes
        } else {
            &spec.restart.no_restart_codes
        };
        for (i, c) in codes.iter().enumerate() {
            if !(0..=255).contains(c) {
                let mut p = at(&["restart", key]);
                p.push(Seg::Index(i));
                out.push((
                    p,
                    format!("`restart.{key}`: exit code {c} is out of range"),
                    Some("exit codes are 0 to 255".into()),
                ));
            }
        }
    }
    if spec.log.max_size.0 < 1024 {
        out.push((
            at(&["log", "max_size"]),
            format!(
                "`log.max_size` is {}, below the minimum of 1KiB",
                spec.log.max_size
            ),
            Some("a typical value is \"50MB\"".into()),
        ));
    }
    if let Some(total) = spec.log.max_total.filter(|t| t.0 < spec.log.max_size.0) {
        out.push((
            at(&["log", "max_total"]),
            format!(
                "`log.max_total` ({total}) is below `log.max_size` ({}): the live file alone grows to max_size",
                spec.log.max_size
            ),
            Some("make max_total a few times max_size, e.g. max_size = \"10MB\", max_total = \"100MB\"".into()),
        ));
    }
    if let Some(addr) = &spec.log.syslog {
        if let Err(e) = crate::supervise::syslog::parse_address(addr) {
            out.push((
                at(&["log", "syslog"]),
                format!("`log.syslog`: {e}"),
                Some("leave it out to send to the local /dev/log".into()),
            ));
        }
    }
    out.extend(no_local_syslog(spec, cfg!(windows)));
    for (section, map) in [
        ("unit", &spec.systemd.unit),
        ("service", &spec.systemd.service),
    ] {
        for (k, v) in map {
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
                out.push((
                    at(&["systemd", section, k]),
                    format!("`{k}` is not a systemd setting name"),
                    Some("systemd keys are letters and digits, e.g. LimitNOFILE".into()),
                ));
            }
            if v.contains(['\n', '\r']) {
                out.push((
                    at(&["systemd", section, k]),
                    format!("the value of `systemd.{section}.{k}` must be a single line"),
                    None,
                ));
            } else if ends_in_backslash(v) {
                out.push((
                    at(&["systemd", section, k]),
                    format!("the value of `systemd.{section}.{k}` ends in a backslash"),
                    Some("systemd would read the next line of the unit as part of it".into()),
                ));
            }
        }
    }
    if spec.stop.http.is_some() && !spec.stop.command.is_empty() {
        out.push((
            at(&["stop", "command"]),
            "`stop.http` and `stop.command` are both set".into(),
            Some("give one stop hook: an HTTP request or a command".into()),
        ));
    }
    if let Some(url) = &spec.stop.http {
        if let Err(e) = super::values::HttpUrl::parse(url) {
            out.push((
                at(&["stop", "http"]),
                format!("`stop.http` {url:?} is not usable: {e}"),
                Some(
                    "write it as http://HOST:PORT/PATH, e.g. \"http://127.0.0.1:8080/shutdown\""
                        .into(),
                ),
            ));
        }
    }
    if let Some(first) = spec.stop.command.first() {
        if first.trim().is_empty() || spec.stop.command.iter().any(|a| a.contains('\0')) {
            out.push((
                at(&["stop", "command"]),
                "`stop.command` needs a program and no NUL characters".into(),
                Some("e.g. command = [\"/opt/orders/orders\", \"drain\"]".into()),
            ));
        }
    }
    if let Some(r) = &spec.reload {
        out.extend(check_reload(r));
    }
    if let Some(m) = &spec.metrics {
        out.extend(check_metrics(m));
    }
    if let Some(h) = &spec.health {
        out.extend(check_health(h));
    }
    if let Some(u) = &spec.update {
        out.extend(check_update(u));
    }
    out.extend(check_resources(&spec.resources));
    out.extend(check_listen(&spec.listen, cfg!(windows)));
    let w = &spec.windows;
    if w.account.trim().is_empty() || w.account.chars().any(char::is_control) {
        out.push((
            at(&["windows", "account"]),
            "`windows.account` is empty or has control characters".into(),
            Some(
                "use virtual, local-service, network-service, local-system or DOMAIN\\user".into(),
            ),
        ));
    }
    if let Some(var) = &w.password_env {
        if var.is_empty() || var.contains(['=', '\0']) {
            out.push((
                at(&["windows", "password_env"]),
                format!("`{var}` is not a valid environment variable name"),
                None,
            ));
        }
    }
    for (i, d) in w.dependencies.iter().enumerate() {
        if d.trim().is_empty() || d.contains(['/', '\\', '\0']) {
            let mut p = at(&["windows", "dependencies"]);
            p.push(Seg::Index(i));
            out.push((
                p,
                format!("{d:?} is not a Windows service name"),
                Some("name the service as `sc query` shows it, e.g. \"Tcpip\"".into()),
            ));
        }
    }
    for code in w.controls.keys() {
        if !code.parse::<u16>().is_ok_and(|c| (128..=255).contains(&c)) {
            out.push((
                at(&["windows", "controls", code]),
                format!("`{code}` is not a custom control code"),
                Some("custom service control codes are 128 to 255".into()),
            ));
        }
    }
    for (i, d) in spec.depends_on.iter().enumerate() {
        if *d == spec.name {
            let mut p = at(&["depends_on"]);
            p.push(Seg::Index(i));
            out.push((
                p,
                format!("service `{}` depends on itself", spec.name),
                Some("remove it from depends_on".into()),
            ));
        }
    }
    out
}

/// `[metrics]`: an address to listen on.
pub(crate) fn check_metrics(m: &Metrics) -> Vec<Problem> {
    match super::values::parse_listen(&m.listen) {
        Ok(_) => Vec::new(),
        Err(e) => vec![(
            at(&["metrics", "listen"]),
            format!("`metrics.listen` {:?} is not usable: {e}", m.listen),
            Some(
                "write it as IP:PORT, e.g. \"127.0.0.1:9464\", \"0.0.0.0:9464\" or \"[::1]:9464\""
                    .into(),
            ),
        )],
    }
}

/// The `[metrics]` table at the top of a `[[service]]` file: read as serde would, each
/// problem at its key (the `[[service]]` tables are read as services, this one alone).
pub(crate) fn read_top_metrics(value: &toml::Value) -> Result<Metrics, Vec<Problem>> {
    let Some(table) = value.as_table() else {
        return Err(vec![(
            at(&["metrics"]),
            "`metrics` must be a table".into(),
            Some("write it as [metrics] with listen = \"127.0.0.1:9464\"".into()),
        )]);
    };
    let mut out: Vec<Problem> = table
        .keys()
        .filter(|k| *k != "listen")
        .map(|k| {
            let help = match did_you_mean(k, ["listen"]) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "`[metrics]` takes `listen`".into(),
            };
            (
                at(&["metrics", k]),
                format!("unknown key `metrics.{k}`"),
                Some(help),
            )
        })
        .collect();
    let listen = match table.get("listen") {
        Some(toml::Value::String(l)) => Some(l.clone()),
        Some(_) => {
            out.push((
                at(&["metrics", "listen"]),
                "`metrics.listen` must be a string".into(),
                Some("e.g. listen = \"127.0.0.1:9464\"".into()),
            ));
            None
        }
        None => {
            out.push((
                at(&["metrics"]),
                "`[metrics]` lacks `listen`".into(),
                Some("add listen = \"127.0.0.1:9464\"".into()),
            ));
            None
        }
    };
    if let Some(listen) = listen {
        let m = Metrics { listen };
        out.extend(check_metrics(&m));
        if out.is_empty() {
            return Ok(m);
        }
    }
    Err(out)
}

/// `[update]`: keys that are minisign public keys, a release to roll back to, a
/// program path inside the release folder.
/// The highest CPU number a CPU set can name (`CPU_SETSIZE`, 1024 CPUs); whether this
/// machine has the CPU is checked by `tend run` (and `tend check`) on the machine.
pub(crate) const MAX_CPU: u32 = 1023;

/// `[resources]`: each value within the range the kernel accepts.
fn check_resources(r: &Resources) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut range = |key: &str, value: Option<i64>, lo: i64, hi: i64, help: &str| {
        if let Some(v) = value.filter(|v| !(lo..=hi).contains(v)) {
            out.push((
                at(&["resources", key]),
                format!("`resources.{key}` is {v}, out of range ({lo} to {hi})"),
                Some(help.to_string()),
            ));
        }
    };
    range(
        "nice",
        r.nice.map(i64::from),
        -20,
        19,
        "-20 is the most favoured, 0 the default, 19 the least",
    );
    range(
        "oom_score_adjust",
        r.oom_score_adjust.map(i64::from),
        -1000,
        1000,
        "-1000 keeps the OOM killer away, 1000 makes the service its first choice",
    );
    range(
        "cpu_weight",
        r.cpu_weight.map(i64::from),
        1,
        10000,
        "100 is every service's default weight",
    );
    range(
        "io_priority",
        r.io_priority.map(i64::from),
        0,
        7,
        "0 is the highest priority within the class, 7 the lowest",
    );
    if r.io_class == Some(IoClass::Idle) && r.io_priority.is_some() {
        out.push((
            at(&["resources", "io_priority"]),
            "`resources.io_priority` does not apply to `io_class = \"idle\"`".into(),
            Some("remove io_priority, or choose io_class = \"best-effort\"".into()),
        ));
    }
    if let Some(s) = r.scheduling {
        if s.policy.realtime() && !(1..=99).contains(&s.priority) {
            out.push((
                at(&["resources", "scheduling", "priority"]),
                format!(
                    "`resources.scheduling.priority` is {}, out of range for the realtime policy `{}` (1 to 99)",
                    s.priority, s.policy
                ),
                Some("e.g. scheduling = { policy = \"fifo\", priority = 50 }".into()),
            ));
        } else if !s.policy.realtime() && s.priority != 0 {
            out.push((
                at(&["resources", "scheduling", "priority"]),
                format!(
                    "`resources.scheduling.priority` is {}, but the policy `{}` has none",
                    s.priority, s.policy
                ),
                Some("a priority (1 to 99) goes with policy = \"fifo\" or \"rr\"; use `nice` for the others".into()),
            ));
        }
    }
    for (i, cpu) in r.cpu_affinity.iter().enumerate() {
        if *cpu > MAX_CPU {
            let mut p = at(&["resources", "cpu_affinity"]);
            p.push(Seg::Index(i));
            out.push((
                p,
                format!(
                    "`resources.cpu_affinity`: CPU {cpu} is beyond the {} a CPU set can name",
                    MAX_CPU + 1
                ),
                Some("CPUs are numbered from 0, e.g. cpu_affinity = [2, 3]".into()),
            ));
        }
    }
    out
}

fn check_update(u: &Update) -> Vec<Problem> {
    let mut out = Vec::new();
    if u.public_keys.is_empty() {
        out.push((
            at(&["update", "public_keys"]),
            "`update.public_keys` is empty: no release could be verified".into(),
            Some("add the base64 line of your minisign.pub, e.g. public_keys = [\"RWQ...\"] (`minisign -G` makes a key pair)".into()),
        ));
    }
    for (i, key) in u.public_keys.iter().enumerate() {
        if let Err(e) = crate::update::minisign::Key::parse(key) {
            let mut path = at(&["update", "public_keys"]);
            path.push(Seg::Index(i));
            out.push((
                path,
                format!("`update.public_keys[{i}]` is not a minisign public key: {e}"),
                Some("give the second line of minisign.pub (56 characters starting with RW), not the file name or the secret key".into()),
            ));
        }
    }
    if u.keep < 2 {
        out.push((
            at(&["update", "keep"]),
            format!("`update.keep` is {}: tend keeps the current release and at least one to roll back to", u.keep),
            Some("use keep = 2 or more (default 3)".into()),
        ));
    }
    if u.verify_within.get().is_zero() {
        out.push((
            at(&["update", "verify_within"]),
            "`update.verify_within` is zero: no release could pass".into(),
            Some(
                "give the time a release needs to become healthy, e.g. verify_within = \"60s\""
                    .into(),
            ),
        ));
    }
    if let Some(c) = &u.channel {
        let scheme_ok = ["http://", "https://", "file://"]
            .iter()
            .any(|s| c.starts_with(s) && c.len() > s.len());
        if !scheme_ok || c.chars().any(char::is_whitespace) {
            out.push((
                at(&["update", "channel"]),
                format!("`update.channel` {c:?} is not an http://, https:// or file:// URL"),
                Some("e.g. channel = \"https://updates.example.com/orders/stable.json\"".into()),
            ));
        }
    }
    if u.check_every.get() < std::time::Duration::from_secs(1) {
        out.push((
            at(&["update", "check_every"]),
            "`update.check_every` is shorter than a second".into(),
            Some("e.g. check_every = \"1h\"".into()),
        ));
    }
    if u.max_download_rate.0 < 1024 {
        out.push((
            at(&["update", "max_download_rate"]),
            format!(
                "`update.max_download_rate` is {} bytes a second: a download would never end",
                u.max_download_rate.0
            ),
            Some("e.g. max_download_rate = \"1MiB\" (a second)".into()),
        ));
    }
    if let Some(p) = &u.program {
        if let Err(e) = crate::update::release::check_program_path(p) {
            out.push((
                at(&["update", "program"]),
                format!("`update.program` {p:?} {e}"),
                Some(
                    "give the program's path inside the release folder, e.g. \"bin/orders\"".into(),
                ),
            ));
        }
    }
    out
}

/// `[reload]`: one way to reload, a signal that does not end the child, a command with
/// a program.
fn check_reload(r: &Reload) -> Vec<Problem> {
    let mut out = Vec::new();
    match (r.signal, r.command.is_empty()) {
        (None, true) => out.push((
            at(&["reload"]),
            "`[reload]` names no way to reload".into(),
            Some("give signal = \"SIGHUP\" or command = [\"/opt/x/x\", \"reload\"]".into()),
        )),
        (Some(_), false) => out.push((
            at(&["reload", "command"]),
            "`reload.signal` and `reload.command` are both set".into(),
            Some("keep one: a signal to the child, or a command".into()),
        )),
        (
            Some(
                sig @ (super::values::Signal::Kill
                | super::values::Signal::Term
                | super::values::Signal::Int
                | super::values::Signal::Quit),
            ),
            true,
        ) => out.push((
            at(&["reload", "signal"]),
            format!(
                "`reload.signal` {} ends the child instead of reloading it",
                sig.name()
            ),
            Some("use the signal the program reloads on: SIGHUP, SIGUSR1 or SIGUSR2".into()),
        )),
        _ => {}
    }
    if let Some(first) = r.command.first() {
        if first.trim().is_empty() || r.command.iter().any(|a| a.contains('\0')) {
            out.push((
                at(&["reload", "command"]),
                "`reload.command` needs a program and no NUL characters".into(),
                Some("e.g. command = [\"/opt/orders/orders\", \"reload\"]".into()),
            ));
        }
    }
    if r.timeout.get().is_zero() {
        out.push((
            at(&["reload", "timeout"]),
            "`reload.timeout` is zero".into(),
            Some("give the command time to finish, e.g. timeout = \"30s\"".into()),
        ));
    }
    out
}

/// `[health]`: one probe, well-formed, with times and counts that can work.
fn check_health(h: &Health) -> Vec<Problem> {
    let mut out = Vec::new();
    let given = [h.http.is_some(), h.tcp.is_some(), !h.command.is_empty()];
    match given.iter().filter(|g| **g).count() {
        0 => out.push((
            at(&["health"]),
            "`[health]` names no probe".into(),
            Some("give one of http = \"http://127.0.0.1:8080/healthz\", tcp = \"127.0.0.1:5432\" or command = [\"/opt/x/check\"]".into()),
        )),
        1 => {}
        _ => out.push((
            at(&["health", if h.command.is_empty() { "tcp" } else { "command" }]),
            "`[health]` names more than one probe".into(),
            Some("keep one of `http`, `tcp` and `command`".into()),
        )),
    }
    if let Some(url) = &h.http {
        if let Err(e) = super::values::HttpUrl::parse_with_tls(url) {
            out.push((
                at(&["health", "http"]),
                format!("`health.http` {url:?} is not usable: {e}"),
                Some(
                    "write it as http://HOST:PORT/PATH, e.g. \"http://127.0.0.1:8080/healthz\""
                        .into(),
                ),
            ));
        }
    }
    if let Some(addr) = &h.tcp {
        if let Err(e) = super::values::parse_host_port(addr) {
            out.push((
                at(&["health", "tcp"]),
                format!("`health.tcp` {addr:?} is not usable: {e}"),
                Some("write it as HOST:PORT, e.g. \"127.0.0.1:5432\" or \"[::1]:5432\"".into()),
            ));
        }
    }
    if let Some(first) = h.command.first() {
        if first.trim().is_empty() || h.command.iter().any(|a| a.contains('\0')) {
            out.push((
                at(&["health", "command"]),
                "`health.command` needs a program and no NUL characters".into(),
                Some("e.g. command = [\"/opt/orders/orders\", \"check\"]".into()),
            ));
        }
    }
    if h.http.is_none() {
        for (key, set) in [
            ("expect_status", h.expect_status.is_some()),
            ("expect_body", h.expect_body.is_some()),
        ] {
            if set {
                out.push((
                    at(&["health", key]),
                    format!("`health.{key}` only applies to an `http` probe"),
                    Some("remove it, or probe with http = \"...\"".into()),
                ));
            }
        }
    }
    if let Some(code) = h.expect_status {
        if !(100..=599).contains(&code) {
            out.push((
                at(&["health", "expect_status"]),
                format!("{code} is not an HTTP status"),
                Some("HTTP statuses are 100 to 599, e.g. 200 or 204".into()),
            ));
        }
    }
    for (key, d) in [("interval", h.interval), ("timeout", h.timeout)] {
        if d.get().is_zero() {
            out.push((
                at(&["health", key]),
                format!("`health.{key}` is 0"),
                Some("give a time such as \"5s\"".into()),
            ));
        }
    }
    if h.retries == 0 {
        out.push((
            at(&["health", "retries"]),
            "`health.retries` is 0".into(),
            Some("at least 1: the failures in a row that make the service unhealthy".into()),
        ));
    }
    out
}

/// `[[listen]]`: names and addresses unique, `mode` only for a Unix socket, and on
/// Windows (`windows`) no Unix socket (tend binds TCP sockets only there).
fn check_listen(listen: &[Listen], windows: bool) -> Vec<Problem> {
    let mut out = Vec::new();
    let key = |i: usize, k: &str| {
        let mut p = at(&["listen"]);
        p.push(Seg::Index(i));
        p.push(Seg::Key(k.to_string()));
        p
    };
    for (i, l) in listen.iter().enumerate() {
        // At the second one: the first is where it belongs.
        if let Some(first) = listen[..i].iter().position(|o| o.name == l.name) {
            out.push((
                key(i, "name"),
                format!(
                    "two `[[listen]]` sockets are named `{}` (the first is number {})",
                    l.name,
                    first + 1
                ),
                Some("the child tells its sockets apart by name: give each its own".into()),
            ));
        }
        if let Some(first) = listen[..i]
            .iter()
            .position(|o| same_place(&o.address, &l.address))
        {
            out.push((
                key(i, "address"),
                format!(
                    "`{}` is also the address of `[[listen]]` number {}",
                    l.address,
                    first + 1
                ),
                Some("a socket can be bound once: remove one of them".into()),
            ));
        }
        match (&l.address, l.mode) {
            (SocketAddress::Tcp(_), Some(_)) => out.push((
                key(i, "mode"),
                "`mode` applies to a Unix socket (`unix:/path`) only".into(),
                Some("remove it: a TCP socket has no file".into()),
            )),
            (SocketAddress::Unix(_), _) if windows => out.push((
                key(i, "address"),
                format!("`{}`: tend holds TCP sockets only on Windows", l.address),
                Some("listen on an IP:PORT, e.g. \"127.0.0.1:8080\"".into()),
            )),
            _ => {}
        }
    }
    out
}

/// Whether two addresses would take the same socket: the same path, or the same port
/// where one of the IPs is the other or the wildcard of its family. Port 0 (any free
/// port) never clashes.
fn same_place(a: &SocketAddress, b: &SocketAddress) -> bool {
    match (a, b) {
        (SocketAddress::Unix(a), SocketAddress::Unix(b)) => a == b,
        (SocketAddress::Tcp(a), SocketAddress::Tcp(b)) => {
            a.port() != 0
                && a.port() == b.port()
                && a.is_ipv4() == b.is_ipv4()
                && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
        }
        _ => false,
    }
}

/// Whether systemd would read `text` at the end of a line as a line continuation
/// (trailing white space is dropped from a value, so it does not protect it).
fn ends_in_backslash(text: &str) -> bool {
    text.trim_end().ends_with('\\')
}

/// Problems across the services of one file: duplicate names, unknown dependencies,
/// dependency cycles. Each is reported against the index of the service it concerns.
pub(crate) fn check_set(specs: &[Spec]) -> Vec<(usize, KeyPath, String, Option<String>)> {
    let mut out = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in specs.iter().enumerate() {
        // At the second `name`: the first is where the name belongs.
        if index.insert(s.name.as_str(), i).is_some() {
            out.push((
                i,
                at(&["name"]),
                format!("two services are named `{}`", s.name),
                Some("service names must be unique within a file".into()),
            ));
        }
    }
    for (i, s) in specs.iter().enumerate() {
        for (j, d) in s.depends_on.iter().enumerate() {
            if !index.contains_key(d.as_str()) {
                let help = match did_you_mean(d.as_str(), index.keys().copied()) {
                    Some(m) => format!("did you mean `{m}`?"),
                    None => format!(
                        "services in this file: {}",
                        index.keys().copied().collect::<Vec<_>>().join(", ")
                    ),
                };
                let mut key = at(&["depends_on"]);
                key.push(Seg::Index(j));
                out.push((
                    i,
                    key,
                    format!(
                        "`{}` depends on `{d}`, which is not a service in this file",
                        s.name
                    ),
                    Some(help),
                ));
            }
        }
    }
    if out.is_empty() {
        if let Err(cycle) = start_order(specs) {
            let first = index.get(cycle[0].as_str()).copied().unwrap_or(0);
            out.push((
                first,
                at(&["depends_on"]),
                format!("dependency cycle: {}", cycle.join(" -> ")),
                Some("remove one of these depends_on entries".into()),
            ));
        }
    }
    // A socket is held once: two services cannot both listen there.
    for (i, s) in specs.iter().enumerate() {
        for (j, l) in s.listen.iter().enumerate() {
            let earlier = specs[..i].iter().find_map(|o| {
                o.listen
                    .iter()
                    .any(|ol| same_place(&ol.address, &l.address))
                    .then_some(o.name.as_str())
            });
            if let Some(other) = earlier {
                let mut key = at(&["listen"]);
                key.push(Seg::Index(j));
                key.push(Seg::Key("address".into()));
                out.push((
                    i,
                    key,
                    format!("`{}` is also an address of service `{other}`", l.address),
                    Some("a socket is held for one service: give each its own address".into()),
                ));
            }
        }
    }
    // One endpoint per supervisor: the file's, not a service's.
    for (i, s) in specs.iter().enumerate() {
        if s.metrics.is_some() {
            out.push((
                i,
                at(&["metrics"]),
                "`[metrics]` inside a service of a `[[service]]` file".into(),
                Some("a supervisor serves one /metrics for all its services: write one `[metrics]` table for the whole file (not `[service.metrics]`)".into()),
            ));
        }
    }
    out
}

/// The order to start services in: every service after the ones it depends on, and
/// otherwise in file order. `Err` holds a cycle, first name repeated at the end.
pub fn start_order(specs: &[Spec]) -> Result<Vec<usize>, Vec<String>> {
    let index: BTreeMap<&str, usize> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    // 0 = unvisited, 1 = on the current path, 2 = done
    let mut mark = vec![0u8; specs.len()];
    let mut order = Vec::with_capacity(specs.len());
    fn visit(
        i: usize,
        specs: &[Spec],
        index: &BTreeMap<&str, usize>,
        mark: &mut [u8],
        order: &mut Vec<usize>,
        path: &mut Vec<usize>,
    ) -> Result<(), Vec<String>> {
        match mark[i] {
            2 => return Ok(()),
            1 => {
                let from = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..]
                    .iter()
                    .map(|&p| specs[p].name.to_string())
                    .collect();
                cycle.push(specs[i].name.to_string());
                return Err(cycle);
            }
            _ => {}
        }
        mark[i] = 1;
        path.push(i);
        for d in &specs[i].depends_on {
            if let Some(&j) = index.get(d.as_str()) {
                visit(j, specs, index, mark, order, path)?;
            }
        }
        path.pop();
        mark[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..specs.len() {
        visit(i, specs, &index, &mut mark, &mut order, &mut Vec::new())?;
    }
    Ok(order)
}

/// On Windows (`windows`: where tend runs, so where `tend check`, `tend install` and
/// `tend run` check the spec) there is no local syslog socket: a stream sent to syslog
/// needs a `log.syslog` server over UDP or TCP, else every line would be dropped.
fn no_local_syslog(spec: &Spec, windows: bool) -> Vec<Problem> {
    use super::model::LogTarget;
    use crate::supervise::syslog::{parse_address, Destination};
    let log = &spec.log;
    if !windows {
        return Vec::new();
    }
    let hint = || {
        Some("set log.syslog = \"udp://HOST:514\" (or \"tcp://HOST:PORT\"), a syslog server".into())
    };
    match log.syslog.as_deref().map(parse_address) {
        None => [("stdout", log.stdout), ("stderr", log.stderr)]
            .into_iter()
            .filter(|(_, t)| *t == LogTarget::Syslog)
            .map(|(key, _)| {
                (
                    at(&["log", key]),
                    format!("`log.{key} = \"syslog\"` sends to the local /dev/log, which Windows does not have"),
                    hint(),
                )
            })
            .collect(),
        Some(Ok(Destination::Local(_))) => vec![(
            at(&["log", "syslog"]),
            "`log.syslog`: Windows has no local syslog socket (`unix://`)".into(),
            hint(),
        )],
        Some(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::LogTarget;

    /// Each `[[listen]]` problem is reported at the key it is about, in the table it
    /// is in.
    #[test]
    fn listen_tables() {
        let listen = |entries: &[(&str, &str, Option<&str>)]| -> Vec<Listen> {
            entries
                .iter()
                .map(|(n, a, m)| Listen {
                    name: crate::spec::FdName::new(n).unwrap(),
                    address: SocketAddress::parse(a).unwrap(),
                    mode: m.map(|m| crate::spec::Mode::parse(m).unwrap()),
                })
                .collect()
        };
        let show = |problems: Vec<Problem>| -> Vec<String> {
            problems
                .into_iter()
                .map(|(path, _, _)| {
                    path.iter()
                        .map(|p| match p {
                            Seg::Key(k) => k.clone(),
                            Seg::Index(i) => i.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .collect()
        };
        /// The `[[listen]]` tables (name, address, mode), on Windows or not, the
        /// keys with problems.
        type Case<'a> = (
            &'a [(&'a str, &'a str, Option<&'a str>)],
            bool,
            &'a [&'a str],
        );
        #[rustfmt::skip]
        let table: &[Case] = &[
            (&[("http", "127.0.0.1:8080", None), ("admin", "unix:/run/a.sock", Some("0660"))], false, &[]),
            (&[("http", "127.0.0.1:8080", None), ("http", "127.0.0.1:8081", None)], false, &["listen.1.name"]),
            (&[("a", "127.0.0.1:8080", None), ("b", "0.0.0.0:8080", None)], false, &["listen.1.address"]),
            (&[("a", "[::]:8080", None), ("b", "127.0.0.1:8080", None)], false, &[]),
            (&[("a", "127.0.0.1:0", None), ("b", "127.0.0.1:0", None)], false, &[]),
            (&[("a", "unix:/run/a.sock", None), ("b", "unix:/run/a.sock", None)], false, &["listen.1.address"]),
            (&[("a", "127.0.0.1:8080", Some("0600"))], false, &["listen.0.mode"]),
            (&[("a", "unix:/run/a.sock", None)], true, &["listen.0.address"]),
            (&[("a", "127.0.0.1:8080", None)], true, &[]),
        ];
        for (entries, windows, want) in table {
            let got = show(check_listen(&listen(entries), *windows));
            assert_eq!(got, *want, "{entries:?} windows={windows}");
        }
    }

    /// Windows has no /dev/log: a stream sent to syslog needs a server there; elsewhere
    /// the local socket is the default.
    #[test]
    fn syslog_on_windows_needs_a_server() {
        let spec = |stdout, stderr, syslog: Option<&str>| {
            let mut s: Spec = toml::from_str("name = \"w\"\ncommand = \"x\"\n").unwrap();
            s.log.stdout = stdout;
            s.log.stderr = stderr;
            s.log.syslog = syslog.map(str::to_string);
            s
        };
        use LogTarget::{File, Syslog};
        #[rustfmt::skip]
        let table: &[(LogTarget, LogTarget, Option<&str>, &[&str])] = &[
            (Syslog, File, None, &["log.stdout"]),
            (Syslog, Syslog, None, &["log.stdout", "log.stderr"]),
            (File, Syslog, Some("unix:///dev/log"), &["log.syslog"]),
            (Syslog, Syslog, Some("udp://10.0.0.1:514"), &[]),
            (File, Syslog, Some("tcp://logs:6514"), &[]),
            (File, File, None, &[]),
            // A bad address is the address check's to name.
            (Syslog, File, Some("udp://x"), &[]),
        ];
        for (out, err, syslog, want) in table {
            let s = spec(*out, *err, *syslog);
            let got: Vec<String> = no_local_syslog(&s, true)
                .into_iter()
                .map(|(path, msg, hint)| {
                    assert!(msg.contains("Windows"), "{msg}");
                    assert!(hint.unwrap().contains("udp://"));
                    path.iter()
                        .map(|p| match p {
                            Seg::Key(k) => k.clone(),
                            Seg::Index(i) => i.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .collect();
            assert_eq!(got, *want, "{out:?} {err:?} {syslog:?}");
            assert!(no_local_syslog(&s, false).is_empty(), "not on Unix");
        }
    }
}

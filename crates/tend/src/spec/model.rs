//! The spec's data model: what one service is. These types are both the TOML schema
//! (with serde defaults, and unknown keys rejected) and the resolved, validated spec
//! the rest of tend consumes. A `Spec` is only ever produced by [`super::load`], which
//! also runs the checks serde cannot express.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::values::{
    Duration, FdName, Limit, Mode, Percent, ServiceName, Signal, Size, SocketAddress,
};

/// One service: the program, how it runs, restarts, stops and logs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The service's name: a unit name, a Windows service name, file names.
    pub name: ServiceName,
    /// A human name, shown by service managers (defaults to `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// What the service does, one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The program: an absolute path, a path relative to the spec file's folder, or a
    /// name looked up on `PATH`.
    pub command: String,
    /// Arguments, one list item each. No shell ever interprets them.
    #[serde(default)]
    pub args: Vec<String>,
    /// The working directory (default: the spec file's folder for `tend up`, `/` for an
    /// installed service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<PathBuf>,
    /// Environment variables added to tend's own environment for the child.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A file of `KEY=VALUE` lines (secrets): it should be readable by its owner only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_file: Option<PathBuf>,
    /// The account the child runs as (Unix user name); default: tend's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The group the child runs as; default: the user's primary group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Other services of the same `tend.toml` that must be started first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ServiceName>,
    /// Sockets tend binds and holds, passed to every start of the child (systemd's
    /// `LISTEN_FDS` convention), so a restart refuses no connection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<Listen>,
    /// When and how quickly the child is restarted.
    #[serde(default)]
    pub restart: Restart,
    /// How the child is stopped.
    #[serde(default)]
    pub stop: Stop,
    /// How the child is told to re-read its configuration without a restart (`tend
    /// reload NAME`, `systemctl reload`); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<Reload>,
    /// Where the child's output goes.
    #[serde(default)]
    pub log: Log,
    /// How tend checks that the service works, not merely runs; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Serve the supervisor's Prometheus metrics (in a `[[service]]` file, one
    /// `[metrics]` table at the top of the file, for every service); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// Upgrades (`tend upgrade`, `tend rollback`): the keys a release must be signed
    /// with; without it, upgrades are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    /// What the child may use and how it is scheduled: memory, CPU share and cores,
    /// open files, locked memory, niceness, I/O class, OOM score, realtime policy.
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// systemd-only settings, used when installed as a systemd unit.
    #[serde(default, skip_serializing_if = "Systemd::is_empty")]
    pub systemd: Systemd,
    /// Windows-only settings: how the service is registered with the service control
    /// manager and how its child is run.
    #[serde(default, skip_serializing_if = "Windows::is_default")]
    pub windows: Windows,
}

/// `[[listen]]`: a socket tend binds when it prepares the service and keeps open for
/// its whole life; every start of the child gets it as a file descriptor from 3 (in
/// the order of the `[[listen]]` tables), named in `LISTEN_FDNAMES`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// The socket's name, as the child reads it from `LISTEN_FDNAMES`, e.g. `"http"`.
    pub name: FdName,
    /// `"127.0.0.1:8080"`, `"[::]:443"` or `"unix:/run/orders.sock"`.
    pub address: SocketAddress,
    /// A Unix socket's permission bits, e.g. `"0660"` (default: 0666 less tend's umask).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
}

/// When a Windows service starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WinStart {
    /// At boot (default).
    #[default]
    Auto,
    /// Shortly after boot, once the automatic services are up.
    DelayedAuto,
    /// Only when started (`tend start`, `sc start`, a dependent service).
    Manual,
    /// Never.
    Disabled,
}

/// How the child is asked to stop on Windows (before `stop.timeout` ends it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WinStop {
    /// A Ctrl-C event through the child's own hidden console: what Go's
    /// `os.Interrupt`, .NET and Rust console programs handle (default).
    #[default]
    CtrlC,
    /// `WM_CLOSE` to the child's top-level windows, for windowed programs.
    Close,
    /// No request: the process tree is terminated at once.
    Kill,
}

/// How the child's output is decoded on Windows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CodePage {
    /// The output is UTF-8 and is logged as is (default).
    #[default]
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    /// The output is in the console's OEM code page (e.g. 437, 936): it is converted
    /// to UTF-8, line by line.
    Oem,
}

/// What a custom service control code (128–255, `sc control NAME 128`) does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ControlAction {
    /// Stop the child gracefully and start it again.
    Restart,
    /// Reopen the log files.
    ReopenLogs,
    /// Tell the child to re-read its configuration (`[reload]`).
    Reload,
}

/// Windows service settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Windows {
    /// `auto` (default), `delayed-auto`, `manual` or `disabled`.
    pub start: WinStart,
    /// The account the service runs as: `virtual` (default: the per-service virtual
    /// account `NT SERVICE\NAME`), `local-service`, `network-service`,
    /// `local-system`, or a user (`DOMAIN\user`, `.\user`, a managed account
    /// `DOMAIN\name$`).
    pub account: String,
    /// For a user account: the environment variable that holds its password at
    /// install time (else `tend install` prompts for it). Never in the spec itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Windows services that must run first (e.g. `"Tcpip"`, `"MSSQLSERVER"`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    /// Recovery actions, the service control manager's backstop when tend itself
    /// fails or gives up: restart the service after each delay in turn (the last one
    /// repeats). Empty: none.
    pub recovery: Vec<Duration>,
    /// After this long without a failure the recovery sequence starts over.
    pub recovery_reset: Duration,
    /// How long Windows waits for the service at shutdown (preshutdown); default:
    /// the stop timeout plus a margin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preshutdown_timeout: Option<Duration>,
    /// How the child is asked to stop: `ctrl-c` (default), `close` or `kill`.
    pub stop: WinStop,
    /// Every child runs in a Job Object that kills the whole tree when tend exits.
    /// `false` lets processes the child starts outlive tend (a stop still ends them).
    pub kill_on_close: bool,
    /// How the output is decoded: `utf-8` (default) or `oem`.
    pub code_page: CodePage,
    /// Custom control codes (128–255) and what they do, e.g. `128 = "restart"`,
    /// `129 = "reopen-logs"` (`sc control NAME 128`), `130 = "reload"` (`[reload]`).
    /// `{}` maps none.
    pub controls: BTreeMap<String, ControlAction>,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            start: WinStart::Auto,
            account: "virtual".into(),
            password_env: None,
            dependencies: Vec::new(),
            recovery: vec![
                Duration::from_secs(5),
                Duration::from_secs(30),
                Duration::from_secs(60),
            ],
            recovery_reset: Duration::from_secs(86_400),
            preshutdown_timeout: None,
            stop: WinStop::CtrlC,
            kill_on_close: true,
            code_page: CodePage::Utf8,
            controls: BTreeMap::from([
                ("128".into(), ControlAction::Restart),
                ("129".into(), ControlAction::ReopenLogs),
            ]),
        }
    }
}

impl Windows {
    /// Whether nothing differs from the defaults.
    pub fn is_default(&self) -> bool {
        *self == Windows::default()
    }

    /// The action for custom control `code`, if the spec maps it.
    pub fn control_action(&self, code: u8) -> Option<ControlAction> {
        self.controls.get(&code.to_string()).copied()
    }
}

/// `[resources]`: limits and scheduling of the child, applied the native way by each
/// service manager (systemd unit keys, OpenRC's `rc_ulimit` and `rc_cgroup_*`) and by
/// `tend run` / `tend up` in the child before it starts. Nothing is set by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Resources {
    /// The most memory the service may use (a cgroup limit), e.g. `"512MiB"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_max: Option<Limit>,
    /// The most CPU time, as a share of one CPU (a cgroup limit): `"150%"` is one and
    /// a half CPUs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_max: Option<Percent>,
    /// The relative CPU weight against other services, 1 to 10000 (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_weight: Option<u32>,
    /// The most processes and threads (a cgroup limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks_max: Option<Limit>,
    /// The most open files (`RLIMIT_NOFILE`), e.g. `65536`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nofile: Option<Limit>,
    /// The most memory the child may lock (`RLIMIT_MEMLOCK`), e.g. `"unlimited"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memlock: Option<Limit>,
    /// The CPUs (numbered from 0) the child runs on, e.g. `[2, 3]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpu_affinity: Vec<u32>,
    /// The niceness, -20 (most favoured) to 19.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nice: Option<i32>,
    /// The I/O scheduling class: `idle`, `best-effort` or `realtime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_class: Option<IoClass>,
    /// The priority within `io_class` (`best-effort`, `realtime`), 0 (highest) to 7.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_priority: Option<u8>,
    /// Added to the kernel's OOM score, -1000 (never killed) to 1000 (killed first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adjust: Option<i32>,
    /// The CPU scheduling policy and, for `fifo` and `rr`, its priority (1 to 99).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<Scheduling>,
}

impl Resources {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }
}

/// An I/O scheduling class (`ioprio_set(2)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IoClass {
    /// Only when no other process needs the disk.
    Idle,
    /// The normal class, with a priority 0 to 7.
    BestEffort,
    /// Before every other class, with a priority 0 to 7 (needs root).
    Realtime,
}

/// A CPU scheduling policy (`sched_setscheduler(2)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SchedPolicy {
    /// The normal time-sharing policy (default).
    #[default]
    Other,
    /// For CPU-bound batch work: never preempts.
    Batch,
    /// Only when nothing else wants the CPU.
    Idle,
    /// Realtime, first in first out (needs root), with a priority 1 to 99.
    Fifo,
    /// Realtime, round robin (needs root), with a priority 1 to 99.
    Rr,
}

impl SchedPolicy {
    /// Whether it is a realtime policy, with a priority 1 to 99.
    pub fn realtime(self) -> bool {
        matches!(self, SchedPolicy::Fifo | SchedPolicy::Rr)
    }
}

/// `scheduling = { policy = "fifo", priority = 50 }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Scheduling {
    /// `other`, `batch`, `idle`, `fifo` or `rr`.
    pub policy: SchedPolicy,
    /// The realtime priority, 1 to 99 (`fifo`, `rr`); 0 for the other policies.
    pub priority: u32,
}

/// Escape hatch for systemd: extra keys for the generated unit, for what tend does not
/// model itself (resource limits, sandboxing, a watchdog).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Systemd {
    /// Extra `[Unit]` keys, e.g. `After = "postgresql.service"`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unit: BTreeMap<String, String>,
    /// Extra `[Service]` keys, e.g. `LimitNOFILE = "65536"` or `WatchdogSec = "30s"`
    /// (tend then sends watchdog pings). A key given here replaces tend's own.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub service: BTreeMap<String, String>,
}

impl Systemd {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.unit.is_empty() && self.service.is_empty()
    }
}

/// When to restart the child after it exits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Whatever the exit status.
    Always,
    /// Only when the exit is not a success (a non-success code, or killed by a signal).
    #[default]
    OnFailure,
    /// Never: when the child exits, the service has ended.
    Never,
}

/// Restart policy, backoff and limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Restart {
    /// `always`, `on-failure` (default) or `never`.
    pub policy: RestartPolicy,
    /// Delays between restarts.
    pub backoff: Backoff,
    /// At most this many restarts within `window`; one more and the service has
    /// `failed` (and `tend run` exits non-zero so the OS service manager can act).
    /// `0` means no limit.
    pub max_restarts: u32,
    /// The window for `max_restarts`.
    pub window: Duration,
    /// Exit codes that count as success (default `[0]`).
    pub success_codes: Vec<i32>,
    /// Exit codes after which the child is never restarted, whatever the policy (e.g. a
    /// configuration error that a restart cannot fix).
    pub no_restart_codes: Vec<i32>,
}

impl Default for Restart {
    fn default() -> Self {
        Restart {
            policy: RestartPolicy::OnFailure,
            backoff: Backoff::default(),
            max_restarts: 10,
            window: Duration::from_secs(120),
            success_codes: vec![0],
            no_restart_codes: Vec::new(),
        }
    }
}

/// Exponential backoff: the first restart is immediate, the next waits `initial`,
/// then each waits `factor` times longer, up to `max`. After the child has run for
/// `reset_after`, the sequence starts over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    /// The delay before the second restart in a row.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// How much longer each next delay is (at least 1.0).
    pub factor: f64,
    /// A run this long counts as stable and resets the backoff.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            factor: 2.0,
            reset_after: Duration::from_secs(10),
        }
    }
}

/// How the child is stopped: the graceful request, then after `timeout` the whole
/// process tree is killed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Stop {
    /// The signal that asks the child to stop (Unix; default `SIGTERM`).
    pub signal: Signal,
    /// How long to wait for a graceful exit before killing the tree.
    pub timeout: Duration,
    /// A stop hook instead of the signal (or Ctrl-C): `POST` to this `http://` URL,
    /// e.g. `"http://127.0.0.1:8080/shutdown"`. If the request fails (or gets no
    /// answer within half of `timeout`) the signal is sent after all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// A stop hook instead of the signal (or Ctrl-C): run this command (program and
    /// arguments, no shell), e.g. `["/opt/orders/orders", "drain"]`. If it cannot be
    /// run, fails, or takes more than half of `timeout`, the signal is sent after all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop {
            signal: Signal::Term,
            timeout: Duration::from_secs(10),
            http: None,
            command: Vec::new(),
        }
    }
}

/// `[reload]`: how the child is told to re-read its configuration, one of `signal`
/// or `command`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Reload {
    /// Send this signal to the child (Unix), e.g. `"SIGHUP"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
    /// Run this command (program and arguments, no shell) as the service's account
    /// with its environment, e.g. `["/opt/orders/orders", "reload"]`: the reload has
    /// worked when it exits 0. `TEND_PID` holds the child's pid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// A command that takes longer is killed and the reload has failed.
    pub timeout: Duration,
}

impl Default for Reload {
    fn default() -> Self {
        Reload {
            signal: None,
            command: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// What tend does when a service turns unhealthy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnUnhealthy {
    /// Stop it the normal way (its tree is killed after `stop.timeout`) and start it
    /// again, counted against the restart policy (default).
    #[default]
    Restart,
    /// Only report it (`tend status`, the journal, the Event Log, metrics).
    Report,
}

/// A health check: one of `http`, `tcp` or `command`, run every `interval`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Health {
    /// `GET` this `http://` or `https://` URL: healthy when it answers 2xx (or
    /// `expect_status`), e.g. `"http://127.0.0.1:8080/healthz"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Connect to this `HOST:PORT`: healthy when it accepts, e.g. `"127.0.0.1:5432"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    /// Run this command (program and arguments, no shell) as the service's account with
    /// its environment: healthy when it exits 0. Killed at `timeout`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Time between probes.
    pub interval: Duration,
    /// A probe that takes longer has failed.
    pub timeout: Duration,
    /// Failures during this grace period after a start do not count (until the first
    /// healthy probe; meanwhile probes run every second at most).
    pub start_period: Duration,
    /// Consecutive failures before the service is unhealthy (at least 1).
    pub retries: u32,
    /// `restart` (default) or `report`.
    pub on_unhealthy: OnUnhealthy,
    /// `http`: the status that counts as healthy (default: any 2xx).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    /// `http`: the answer's body must contain this text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect_body: Option<String>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            http: None,
            tcp: None,
            command: Vec::new(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            start_period: Duration::from_secs(0),
            retries: 3,
            on_unhealthy: OnUnhealthy::Restart,
            expect_status: None,
            expect_body: None,
        }
    }
}

/// `[update]`: how a service is upgraded to a signed release, and rolled back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Update {
    /// minisign public keys, each the base64 line of a `minisign.pub` (`RW...`): a
    /// release must be signed by one of them.
    pub public_keys: Vec<String>,
    /// Releases kept on disk, the current one included (at least 2: one to roll back
    /// to).
    pub keep: u32,
    /// A new release must be ready within this (its first healthy probe; without
    /// `[health]`, still running 3 s, or half of this if shorter, after its start), or
    /// tend rolls back.
    pub verify_within: Duration,
    /// The program's path inside a release (default: the file name of the program
    /// `command` runs, e.g. `orders.exe` for `C:\apps\orders`), e.g. `"bin/orders"`
    /// for an archive holding `bin/orders`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// A release channel the supervisor polls: the `http://`, `https://` or `file://`
    /// URL of a JSON manifest naming the release to run (version, url, size, sha256,
    /// signature). None by default: upgrades come by `tend upgrade` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// How often the channel is checked (plus up to a tenth at random, so that many
    /// devices do not poll at once).
    pub check_every: Duration,
    /// The most a channel's download takes, per second (it runs in the background).
    pub max_download_rate: Size,
}

impl Default for Update {
    fn default() -> Self {
        Update {
            public_keys: Vec::new(),
            keep: 3,
            verify_within: Duration::from_secs(60),
            program: None,
            channel: None,
            check_every: Duration::from_secs(3600),
            max_download_rate: Size(1 << 20),
        }
    }
}

/// Where one output stream goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogTarget {
    /// A rotating file in the log directory (default).
    #[default]
    File,
    /// tend's own stdout/stderr: under systemd that is the journal.
    Inherit,
    /// Discarded.
    Null,
    /// Each line as a message to syslog: the local `/dev/log`, or `log.syslog`
    /// (`udp://host:port`, `tcp://host:port`: RFC 5424).
    Syslog,
}

/// Rotation by time, in addition to rotation by size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RotateEvery {
    /// Only by size (default).
    #[default]
    Never,
    /// At the first write after each full hour (UTC).
    Hourly,
    /// At the first write after each midnight (UTC).
    Daily,
}

/// The child's output: targets, rotation, retention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// The log directory (default: tend's log directory for this service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Where stdout goes: `file`, `inherit`, `null` or `syslog`. Both streams that go
    /// to `file` share one file, `<name>.log`, in the order tend received their lines.
    pub stdout: LogTarget,
    /// Where stderr goes: `file`, `inherit`, `null` or `syslog`.
    pub stderr: LogTarget,
    /// Rotate a file when it reaches this size.
    pub max_size: Size,
    /// Also rotate hourly or daily.
    pub rotate: RotateEvery,
    /// How many rotated files to keep.
    pub keep: u32,
    /// Remove rotated files older than this (e.g. `"30d"`), whatever `keep` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Duration>,
    /// The most the log may take on disk, live file and rotated files together (e.g.
    /// `"1GB"`): the oldest rotated files are removed to stay under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_total: Option<Size>,
    /// Where `syslog` output goes: `"udp://host:port"`, `"tcp://host:port"` or a local
    /// socket `"unix:///path"` (default: the local `/dev/log`, on macOS
    /// `/var/run/syslog`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syslog: Option<String>,
    /// Compress rotated files with gzip (in the background).
    pub compress: bool,
    /// Prefix each line with an RFC 3339 timestamp.
    pub timestamps: bool,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            dir: None,
            stdout: LogTarget::File,
            stderr: LogTarget::File,
            max_size: Size(10_000_000),
            rotate: RotateEvery::Never,
            keep: 5,
            max_age: None,
            max_total: None,
            syslog: None,
            compress: false,
            timestamps: false,
        }
    }
}

impl Spec {
    /// The name service managers show.
    pub fn display_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(self.name.as_str())
    }
}

/// A `tend.toml` with several services, for `tend up`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSet {
    /// The services, each as in a single-service spec.
    pub service: Vec<Spec>,
    /// Serve the Prometheus metrics of every service of the file, on one address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
}

/// `[metrics]`: the supervisor serves `GET /metrics` (Prometheus text format, or
/// OpenMetrics when asked for) for its services.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// The address to listen on, `IP:PORT` (`localhost:PORT` for 127.0.0.1), e.g.
    /// `"127.0.0.1:9464"`; port 0 takes any free port (said at the start).
    pub listen: String,
}

/// `Display` for the spec's word-valued settings, spelled as a spec writes them
/// (`on-failure`, `delayed-auto`): what serde writes, so the two cannot disagree.
macro_rules! spelled_as_in_the_spec {
    ($($t:ty),* $(,)?) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match serde_json::to_value(self) {
                    Ok(serde_json::Value::String(s)) => f.write_str(&s),
                    _ => Err(std::fmt::Error),
                }
            }
        }
    )*};
}

spelled_as_in_the_spec!(
    WinStart,
    WinStop,
    CodePage,
    ControlAction,
    RestartPolicy,
    LogTarget,
    RotateEvery,
    OnUnhealthy,
    IoClass,
    SchedPolicy,
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value shows as the spec spells it, and that text reads back as the value
    /// in a spec.
    #[test]
    fn settings_display_as_the_spec_spells_them() {
        fn check<T>(values: &[(T, &str)])
        where
            T: std::fmt::Display + std::fmt::Debug + PartialEq + serde::de::DeserializeOwned,
        {
            for (v, word) in values {
                assert_eq!(v.to_string(), *word, "{v:?}");
                #[derive(Deserialize)]
                struct One<T> {
                    v: T,
                }
                let back: One<T> = toml::from_str(&format!("v = {:?}", v.to_string())).unwrap();
                assert_eq!(&back.v, v, "{word} reads back");
            }
        }
        check(&[
            (RestartPolicy::Always, "always"),
            (RestartPolicy::OnFailure, "on-failure"),
            (RestartPolicy::Never, "never"),
        ]);
        check(&[
            (WinStart::Auto, "auto"),
            (WinStart::DelayedAuto, "delayed-auto"),
            (WinStart::Manual, "manual"),
            (WinStart::Disabled, "disabled"),
        ]);
        check(&[
            (WinStop::CtrlC, "ctrl-c"),
            (WinStop::Close, "close"),
            (WinStop::Kill, "kill"),
        ]);
        check(&[(CodePage::Utf8, "utf-8"), (CodePage::Oem, "oem")]);
        check(&[
            (ControlAction::Restart, "restart"),
            (ControlAction::ReopenLogs, "reopen-logs"),
            (ControlAction::Reload, "reload"),
        ]);
        check(&[
            (LogTarget::File, "file"),
            (LogTarget::Inherit, "inherit"),
            (LogTarget::Null, "null"),
            (LogTarget::Syslog, "syslog"),
        ]);
        check(&[
            (OnUnhealthy::Restart, "restart"),
            (OnUnhealthy::Report, "report"),
        ]);
        check(&[
            (RotateEvery::Never, "never"),
            (RotateEvery::Hourly, "hourly"),
            (RotateEvery::Daily, "daily"),
        ]);
        let signals: Vec<(Signal, &str)> = Signal::ALL.iter().map(|s| (*s, s.name())).collect();
        check(&signals);
        assert_eq!(Signal::Term.to_string(), "SIGTERM");
    }
}

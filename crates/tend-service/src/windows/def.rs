//! What a service should look like, and how that compares with what the SCM reports.
//!
//! This half of the `windows` module is pure Rust with no Windows API in it: the
//! service definition ([`ServiceDef`] and its parts), the mapping of each part to the
//! values the SCM stores, and [`plan`], which compares a definition with the
//! configuration read back from the SCM and lists what must be written. Keeping it pure
//! lets `install` be idempotent by construction and lets the comparison be unit-tested
//! on any platform (the crate compiles this file into its Linux tests as well).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// `SERVICE_AUTO_START`, `SERVICE_DEMAND_START`, `SERVICE_DISABLED` and
/// `SERVICE_WIN32_OWN_PROCESS`, as stored by the SCM (checked against `windows-sys` at
/// compile time in the Windows build).
pub(crate) const AUTO_START: u32 = 2;
pub(crate) const DEMAND_START: u32 = 3;
pub(crate) const DISABLED: u32 = 4;
pub(crate) const OWN_PROCESS: u32 = 0x10;
/// `SC_ACTION_NONE`, `SC_ACTION_RESTART`, `SC_ACTION_REBOOT`.
pub(crate) const ACTION_NONE: i32 = 0;
pub(crate) const ACTION_RESTART: i32 = 1;
pub(crate) const ACTION_REBOOT: i32 = 2;
/// `INFINITE`: a failure count that is never reset.
pub(crate) const NEVER: u32 = u32::MAX;

/// A service as it should be registered with the SCM.
///
/// [`ServiceDef::new`] gives the defaults; set the public fields to change them:
///
/// ```no_run
/// use std::time::Duration;
/// use tend_service::windows::{FailurePolicy, ServiceDef, StartType};
///
/// let def = ServiceDef {
///     description: "Serves hello over HTTP".into(),
///     start: StartType::AutoDelayed,
///     failure: Some(FailurePolicy::restart(Duration::from_secs(5))),
///     args: vec!["run-service".into()],
///     ..ServiceDef::new("hello")
/// };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDef {
    /// The service (key) name: `sc start NAME`. At most 256 characters, no `/` or `\`.
    pub name: String,
    /// What service lists show. Defaults to the name.
    pub display_name: String,
    /// Free text; empty means none (and removes an existing one).
    pub description: String,
    pub start: StartType,
    /// Services (or, prefixed with `+`, load-order groups) that must run first.
    pub dependencies: Vec<String>,
    pub account: Account,
    /// Recovery actions; `None` means none (and removes existing ones).
    pub failure: Option<FailurePolicy>,
    /// How long the system waits for this service at shutdown once it has been sent
    /// `SERVICE_CONTROL_PRESHUTDOWN`; `None` leaves the system default alone.
    pub preshutdown_timeout: Option<Duration>,
    /// Arguments after the executable in the service's command line (`binPath`).
    pub args: Vec<String>,
}

impl ServiceDef {
    /// A definition with the defaults: display name = name, no description, automatic
    /// start, no dependencies, `LocalSystem`, no recovery actions, no arguments.
    pub fn new(name: impl Into<String>) -> ServiceDef {
        let name = name.into();
        ServiceDef {
            display_name: name.clone(),
            name,
            description: String::new(),
            start: StartType::Auto,
            dependencies: Vec::new(),
            account: Account::LocalSystem,
            failure: None,
            preshutdown_timeout: None,
            args: Vec::new(),
        }
    }
}

/// When the SCM starts the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartType {
    /// At boot (`SERVICE_AUTO_START`).
    Auto,
    /// Shortly after the other automatic services (`SERVICE_AUTO_START` plus the
    /// delayed-auto-start flag).
    AutoDelayed,
    /// Only when asked (`SERVICE_DEMAND_START`).
    Manual,
    /// Never (`SERVICE_DISABLED`).
    Disabled,
}

impl StartType {
    pub(crate) fn raw(self) -> u32 {
        match self {
            StartType::Auto | StartType::AutoDelayed => AUTO_START,
            StartType::Manual => DEMAND_START,
            StartType::Disabled => DISABLED,
        }
    }

    pub(crate) fn delayed(self) -> bool {
        self == StartType::AutoDelayed
    }

    /// The start type the SCM reports (`dwStartType` and the delayed-auto-start flag).
    /// The boot and system start types of drivers (0 and 1) read as [`StartType::Auto`],
    /// anything unknown as [`StartType::Manual`].
    pub(crate) fn from_raw(raw: u32, delayed: bool) -> StartType {
        match raw {
            AUTO_START if delayed => StartType::AutoDelayed,
            0..=AUTO_START => StartType::Auto,
            DISABLED => StartType::Disabled,
            _ => StartType::Manual,
        }
    }
}

impl StartType {
    /// The name [`FromStr`] takes: `auto`, `delayed-auto`, `manual`, `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            StartType::Auto => "auto",
            StartType::AutoDelayed => "delayed-auto",
            StartType::Manual => "manual",
            StartType::Disabled => "disabled",
        }
    }
}

impl fmt::Display for StartType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StartType {
    type Err = String;

    /// `auto`, `delayed-auto`, `manual` (or `demand`), `disabled`.
    fn from_str(s: &str) -> Result<StartType, String> {
        match s {
            "auto" => Ok(StartType::Auto),
            "delayed-auto" => Ok(StartType::AutoDelayed),
            "manual" | "demand" => Ok(StartType::Manual),
            "disabled" => Ok(StartType::Disabled),
            _ => Err(format!(
                "unknown start type {s:?} (auto, delayed-auto, manual, disabled)"
            )),
        }
    }
}

/// A service's current state, as the SCM reports it (`dwCurrentState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceState {
    /// `SERVICE_STOPPED`.
    Stopped,
    /// `SERVICE_START_PENDING`: started, not yet reported running.
    StartPending,
    /// `SERVICE_STOP_PENDING`: asked to stop, not yet stopped.
    StopPending,
    /// `SERVICE_RUNNING`.
    Running,
    /// `SERVICE_CONTINUE_PENDING`.
    ContinuePending,
    /// `SERVICE_PAUSE_PENDING`.
    PausePending,
    /// `SERVICE_PAUSED`.
    Paused,
}

impl ServiceState {
    /// Every state, in the order of their numbers (`SERVICE_STOPPED` = 1 … `SERVICE_PAUSED` = 7).
    const ALL: [ServiceState; 7] = [
        ServiceState::Stopped,
        ServiceState::StartPending,
        ServiceState::StopPending,
        ServiceState::Running,
        ServiceState::ContinuePending,
        ServiceState::PausePending,
        ServiceState::Paused,
    ];

    /// The state for a `dwCurrentState` value; `None` for a number Windows does not define.
    pub(crate) fn from_raw(raw: u32) -> Option<ServiceState> {
        let index = usize::try_from(raw.checked_sub(1)?).ok()?;
        Self::ALL.get(index).copied()
    }

    /// The `dwCurrentState` value (`SERVICE_STOPPED` = 1, …).
    pub(crate) fn raw(self) -> u32 {
        self as u32 + 1
    }

    /// A short lower-case name: `stopped`, `start-pending`, `stop-pending`, `running`,
    /// `continue-pending`, `pause-pending`, `paused`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Stopped => "stopped",
            ServiceState::StartPending => "start-pending",
            ServiceState::StopPending => "stop-pending",
            ServiceState::Running => "running",
            ServiceState::ContinuePending => "continue-pending",
            ServiceState::PausePending => "pause-pending",
            ServiceState::Paused => "paused",
        }
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The account the service runs as.
#[derive(Clone, PartialEq, Eq)]
pub enum Account {
    /// `LocalSystem`: all privileges on the machine, the machine's identity on the
    /// network. The SCM's default.
    LocalSystem,
    /// `NT AUTHORITY\LocalService`: minimal privileges, anonymous on the network.
    LocalService,
    /// `NT AUTHORITY\NetworkService`: minimal privileges, the machine's identity on the
    /// network.
    NetworkService,
    /// `NT SERVICE\<service name>`: a per-service virtual account (Windows 7 and later),
    /// which files and registry keys can be granted to individually.
    Virtual,
    /// A user (`DOMAIN\user`, `.\user` for a local one). The password is handed to the
    /// SCM and never stored or printed by this crate; `None` for a group managed service
    /// account (`DOMAIN\name$`).
    User {
        name: String,
        password: Option<String>,
    },
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::LocalSystem => f.write_str("LocalSystem"),
            Account::LocalService => f.write_str("LocalService"),
            Account::NetworkService => f.write_str("NetworkService"),
            Account::Virtual => f.write_str("Virtual"),
            Account::User { name, password } => f
                .debug_struct("User")
                .field("name", name)
                .field("password", &password.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

impl Account {
    /// The name the SCM stores (`lpServiceStartName`) for this account.
    pub fn start_name(&self, service: &str) -> String {
        match self {
            Account::LocalSystem => "LocalSystem".into(),
            Account::LocalService => r"NT AUTHORITY\LocalService".into(),
            Account::NetworkService => r"NT AUTHORITY\NetworkService".into(),
            Account::Virtual => format!(r"NT SERVICE\{service}"),
            Account::User { name, .. } => name.clone(),
        }
    }

    /// The password to pass with the account name: the built-in accounts take an empty
    /// one, virtual and managed accounts none (`NULL`).
    pub(crate) fn password(&self) -> Option<&str> {
        match self {
            Account::LocalSystem | Account::LocalService | Account::NetworkService => Some(""),
            Account::Virtual => None,
            Account::User { password, .. } => password.as_deref(),
        }
    }
}

/// Whether two `lpServiceStartName` values name the same account: case-insensitive,
/// and an empty name, `LocalSystem` and `.\LocalSystem` are all the local system.
pub fn same_account(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.to_lowercase();
        match s.as_str() {
            "" | r".\localsystem" | r"nt authority\system" => "localsystem".into(),
            _ => s,
        }
    }
    norm(a) == norm(b)
}

/// What the SCM does when the service fails (recovery actions).
///
/// A failure is the process ending without reporting `SERVICE_STOPPED`, and, when
/// `on_non_crash_failures` is set, also a stop reported with a non-zero exit code (which
/// is what [`run`](super::run) reports when the service returns an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Actions for the first, second, … failure; the last one repeats.
    pub actions: Vec<RecoveryAction>,
    /// After how long without failures the count starts again; `None`: never. Whole
    /// seconds.
    pub reset_after: Option<Duration>,
    /// Also act when the service stops with a non-zero exit code, not only on crashes
    /// (`SERVICE_CONFIG_FAILURE_ACTIONS_FLAG`).
    pub on_non_crash_failures: bool,
}

impl FailurePolicy {
    /// Restart after `delay` on every failure, reset the count after a day without
    /// failures, and treat an error exit code as a failure.
    pub fn restart(delay: Duration) -> FailurePolicy {
        FailurePolicy {
            actions: vec![RecoveryAction::Restart(delay); 3],
            reset_after: Some(Duration::from_secs(24 * 60 * 60)),
            on_non_crash_failures: true,
        }
    }

    /// The reset period and `(SC_ACTION type, delay in ms)` pairs as the SCM stores them.
    pub(crate) fn raw(&self) -> RawFailureActions {
        RawFailureActions {
            reset_period_secs: self
                .reset_after
                .map_or(NEVER, |d| u32::try_from(d.as_secs()).unwrap_or(NEVER)),
            actions: self.actions.iter().map(|a| a.raw()).collect(),
        }
    }
}

/// One recovery action. Running a command is not offered: it would need a second
/// command line to quote and keep in sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryAction {
    /// Do nothing.
    None,
    /// Start the service again after the delay (whole milliseconds).
    Restart(Duration),
    /// Reboot the machine after the delay (the installer needs `SeShutdownPrivilege`).
    Reboot(Duration),
}

impl RecoveryAction {
    fn raw(self) -> (i32, u32) {
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        match self {
            RecoveryAction::None => (ACTION_NONE, 0),
            RecoveryAction::Restart(d) => (ACTION_RESTART, ms(d)),
            RecoveryAction::Reboot(d) => (ACTION_REBOOT, ms(d)),
        }
    }
}

/// Failure actions in the SCM's terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RawFailureActions {
    pub reset_period_secs: u32,
    /// `(SC_ACTION type, delay in milliseconds)`.
    pub actions: Vec<(i32, u32)>,
}

/// A part of a service's configuration, as named in [`InstallOutcome::Updated`](super::InstallOutcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setting {
    ServiceType,
    DisplayName,
    Description,
    StartType,
    DelayedAutoStart,
    BinaryPath,
    Dependencies,
    Account,
    /// A password was given: it cannot be read back, so it is always written.
    Password,
    FailureActions,
    FailureActionsOnNonCrash,
    PreshutdownTimeout,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Setting::ServiceType => "service type",
            Setting::DisplayName => "display name",
            Setting::Description => "description",
            Setting::StartType => "start type",
            Setting::DelayedAutoStart => "delayed auto-start",
            Setting::BinaryPath => "binary path",
            Setting::Dependencies => "dependencies",
            Setting::Account => "account",
            Setting::Password => "password",
            Setting::FailureActions => "failure actions",
            Setting::FailureActionsOnNonCrash => "failure actions on non-crash failures",
            Setting::PreshutdownTimeout => "preshutdown timeout",
        })
    }
}

/// A service's configuration as read back from the SCM. The `Option` fields come from
/// `QueryServiceConfig2W`, which some SCMs cannot answer for some levels (Wine has no
/// failure actions): `None` means "unknown", not "empty".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Observed {
    pub service_type: u32,
    pub start_type: u32,
    pub binary_path: String,
    pub dependencies: Vec<String>,
    pub account: String,
    pub display_name: String,
    pub description: Option<String>,
    pub delayed_auto_start: Option<bool>,
    pub failure_actions: Option<RawFailureActions>,
    pub failure_on_non_crash: Option<bool>,
    pub preshutdown_timeout_ms: Option<u32>,
}

/// What `install` must write to turn [`Observed`] into the definition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Plan {
    /// Settings that differ (or, for [`Setting::Password`], are always written).
    pub changed: Vec<Setting>,
    /// Settings the SCM could not report but the definition asks for something other
    /// than the default: written again, and not reported as changes (there is no way to
    /// know whether they were).
    pub unverified: Vec<Setting>,
}

impl Plan {
    pub fn writes(&self, s: Setting) -> bool {
        self.changed.contains(&s) || self.unverified.contains(&s)
    }

    /// Records `setting` as changed when it `differs`; when that is unknown (`None`),
    /// as unverified if the definition wants a non-default value.
    fn check(&mut self, setting: Setting, differs: Option<bool>, wanted_non_default: bool) {
        match differs {
            Some(true) => self.changed.push(setting),
            Some(false) => {}
            None if wanted_non_default => self.unverified.push(setting),
            None => {}
        }
    }
}

/// Compares the definition (whose command line is `binary_path`) with what the SCM has.
pub(crate) fn plan(def: &ServiceDef, binary_path: &str, have: &Observed) -> Plan {
    let mut plan = Plan::default();
    plan.check(
        Setting::ServiceType,
        Some(have.service_type != OWN_PROCESS),
        true,
    );
    plan.check(
        Setting::DisplayName,
        Some(have.display_name != def.display_name),
        true,
    );
    plan.check(
        Setting::Description,
        have.description.as_ref().map(|d| *d != def.description),
        !def.description.is_empty(),
    );
    plan.check(
        Setting::StartType,
        Some(have.start_type != def.start.raw()),
        true,
    );
    // The flag only matters for automatic services; compare it only then, so a manual
    // service with a stale flag is not rewritten on every install.
    if def.start.raw() == AUTO_START {
        plan.check(
            Setting::DelayedAutoStart,
            have.delayed_auto_start.map(|d| d != def.start.delayed()),
            def.start.delayed(),
        );
    }
    plan.check(
        Setting::BinaryPath,
        Some(have.binary_path != binary_path),
        true,
    );
    let same_deps = have.dependencies.len() == def.dependencies.len()
        && have
            .dependencies
            .iter()
            .zip(&def.dependencies)
            .all(|(a, b)| a.eq_ignore_ascii_case(b));
    plan.check(Setting::Dependencies, Some(!same_deps), true);
    let account = def.account.start_name(&def.name);
    plan.check(
        Setting::Account,
        Some(!same_account(&have.account, &account)),
        true,
    );
    if matches!(
        def.account,
        Account::User {
            password: Some(_),
            ..
        }
    ) {
        plan.changed.push(Setting::Password);
    }
    let want_actions = def
        .failure
        .as_ref()
        .map(FailurePolicy::raw)
        .unwrap_or_default();
    plan.check(
        Setting::FailureActions,
        have.failure_actions
            .as_ref()
            .map(|a| !same_failure_actions(a, &want_actions)),
        def.failure.is_some(),
    );
    if let Some(policy) = &def.failure {
        plan.check(
            Setting::FailureActionsOnNonCrash,
            have.failure_on_non_crash
                .map(|f| f != policy.on_non_crash_failures),
            policy.on_non_crash_failures,
        );
    }
    if let Some(timeout) = def.preshutdown_timeout {
        plan.check(
            Setting::PreshutdownTimeout,
            have.preshutdown_timeout_ms
                .map(|ms| ms != duration_ms(timeout)),
            true,
        );
    }
    plan
}

/// The definition and executable that would register a service exactly as `have`
/// describes it, to put a registration back (an installer's rollback of an update).
/// The command line is split the way the SCM's programs split it; settings this SCM
/// could not report stay at "leave alone" (`None`, or an empty description, which
/// [`plan`] does not write over an unknown one). A user account's password cannot be
/// read back: the account comes back with `password: None`, which leaves the
/// password the SCM has when the registration is put back (so the caller must supply
/// it if the account changed since).
pub(crate) fn from_observed(name: &str, have: &Observed) -> (ServiceDef, String) {
    let mut argv = crate::cmdline::split_windows_command_line(&have.binary_path);
    let exe = if argv.is_empty() {
        String::new()
    } else {
        argv.remove(0)
    };
    let account = if same_account(&have.account, "LocalSystem") {
        Account::LocalSystem
    } else if same_account(&have.account, &Account::LocalService.start_name(name)) {
        Account::LocalService
    } else if same_account(&have.account, &Account::NetworkService.start_name(name)) {
        Account::NetworkService
    } else if same_account(&have.account, &Account::Virtual.start_name(name)) {
        Account::Virtual
    } else {
        Account::User {
            name: have.account.clone(),
            password: None,
        }
    };
    let failure = have.failure_actions.as_ref().and_then(|raw| {
        (!raw.actions.is_empty()).then(|| FailurePolicy {
            actions: raw
                .actions
                .iter()
                .map(|&(kind, ms)| {
                    let d = Duration::from_millis(u64::from(ms));
                    match kind {
                        ACTION_RESTART => RecoveryAction::Restart(d),
                        ACTION_REBOOT => RecoveryAction::Reboot(d),
                        _ => RecoveryAction::None,
                    }
                })
                .collect(),
            reset_after: (raw.reset_period_secs != NEVER)
                .then(|| Duration::from_secs(u64::from(raw.reset_period_secs))),
            on_non_crash_failures: have.failure_on_non_crash.unwrap_or(false),
        })
    });
    let def = ServiceDef {
        name: name.to_string(),
        display_name: have.display_name.clone(),
        description: have.description.clone().unwrap_or_default(),
        start: StartType::from_raw(have.start_type, have.delayed_auto_start.unwrap_or(false)),
        dependencies: have.dependencies.clone(),
        account,
        failure,
        preshutdown_timeout: have
            .preshutdown_timeout_ms
            .map(|ms| Duration::from_millis(u64::from(ms))),
        args: argv,
    };
    (def, exe)
}

/// No actions at all is the same whatever the reset period says.
fn same_failure_actions(a: &RawFailureActions, b: &RawFailureActions) -> bool {
    if a.actions.is_empty() && b.actions.is_empty() {
        return true;
    }
    a == b
}

pub(crate) fn duration_ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIN: &str = r#""C:\Program Files\x\x.exe" run-service"#;

    /// What the SCM reports right after `install` wrote `def`.
    fn observed(def: &ServiceDef) -> Observed {
        Observed {
            service_type: OWN_PROCESS,
            start_type: def.start.raw(),
            binary_path: BIN.into(),
            dependencies: def.dependencies.clone(),
            account: def.account.start_name(&def.name),
            display_name: def.display_name.clone(),
            description: Some(def.description.clone()),
            delayed_auto_start: Some(def.start.delayed()),
            failure_actions: Some(def.failure.as_ref().map(|f| f.raw()).unwrap_or_default()),
            failure_on_non_crash: Some(
                def.failure
                    .as_ref()
                    .is_some_and(|f| f.on_non_crash_failures),
            ),
            preshutdown_timeout_ms: Some(def.preshutdown_timeout.map_or(180_000, duration_ms)),
        }
    }

    fn full_def() -> ServiceDef {
        ServiceDef {
            description: "says hello".into(),
            start: StartType::AutoDelayed,
            dependencies: vec!["Tcpip".into(), "+NetworkProvider".into()],
            account: Account::Virtual,
            failure: Some(FailurePolicy::restart(Duration::from_secs(5))),
            preshutdown_timeout: Some(Duration::from_secs(30)),
            args: vec!["run-service".into()],
            ..ServiceDef::new("hello")
        }
    }

    #[test]
    fn a_registration_read_back_is_put_back_exactly() {
        // What the SCM has → the definition that writes it again: planning that
        // definition against the same registration writes nothing, and against the
        // registration an update left, writes back what the update changed.
        let plain = ServiceDef {
            args: vec!["run-service".into()],
            // (what the SCM reports when none was set: the system default)
            preshutdown_timeout: Some(Duration::from_secs(180)),
            ..ServiceDef::new("plain")
        };
        let user = ServiceDef {
            account: Account::User {
                name: r".\svc".into(),
                password: None,
            },
            start: StartType::Manual,
            ..full_def()
        };
        for def in [plain, full_def(), user] {
            let have = observed(&def);
            let (back, exe) = from_observed(&def.name, &have);
            assert_eq!(exe, r"C:\Program Files\x\x.exe");
            assert_eq!(back, def, "read back as written");
            assert_eq!(plan(&back, BIN, &have), Plan::default(), "{def:?}");
            let updated = observed(&ServiceDef {
                description: "changed".into(),
                start: StartType::Disabled,
                account: Account::LocalService,
                ..def.clone()
            });
            let undo = plan(&back, BIN, &updated);
            assert!(
                [Setting::Description, Setting::StartType, Setting::Account]
                    .iter()
                    .all(|s| undo.changed.contains(s)),
                "{undo:?}"
            );
        }
        // What this SCM could not report stays unknown: nothing is written over it.
        let have = Observed {
            description: None,
            failure_actions: None,
            failure_on_non_crash: None,
            preshutdown_timeout_ms: None,
            delayed_auto_start: None,
            ..observed(&full_def())
        };
        let (back, _) = from_observed("hello", &have);
        assert_eq!(back.failure, None);
        assert_eq!(back.preshutdown_timeout, None);
        assert_eq!(plan(&back, BIN, &have), Plan::default());
    }

    #[test]
    fn identical_config_plans_nothing() {
        for def in [ServiceDef::new("plain"), full_def()] {
            assert_eq!(plan(&def, BIN, &observed(&def)), Plan::default(), "{def:?}");
        }
    }

    #[test]
    fn each_difference_is_named() {
        let def = full_def();
        let base = observed(&def);
        type Change = Box<dyn Fn(&mut Observed)>;
        let cases: Vec<(Setting, Change)> = vec![
            (Setting::ServiceType, Box::new(|o| o.service_type = 0x20)),
            (
                Setting::DisplayName,
                Box::new(|o| o.display_name = "x".into()),
            ),
            (
                Setting::Description,
                Box::new(|o| o.description = Some(String::new())),
            ),
            (
                Setting::StartType,
                Box::new(|o| o.start_type = DEMAND_START),
            ),
            (
                Setting::DelayedAutoStart,
                Box::new(|o| o.delayed_auto_start = Some(false)),
            ),
            (
                Setting::BinaryPath,
                Box::new(|o| o.binary_path = r"C:\x.exe".into()),
            ),
            (
                Setting::Dependencies,
                Box::new(|o| {
                    o.dependencies.pop();
                }),
            ),
            (
                Setting::Account,
                Box::new(|o| o.account = "LocalSystem".into()),
            ),
            (
                Setting::FailureActions,
                Box::new(|o| o.failure_actions = Some(RawFailureActions::default())),
            ),
            (
                Setting::FailureActionsOnNonCrash,
                Box::new(|o| o.failure_on_non_crash = Some(false)),
            ),
            (
                Setting::PreshutdownTimeout,
                Box::new(|o| o.preshutdown_timeout_ms = Some(180_000)),
            ),
        ];
        for (setting, change) in cases {
            let mut have = base.clone();
            change(&mut have);
            let p = plan(&def, BIN, &have);
            assert_eq!(p.changed, vec![setting], "{setting}");
            assert!(p.unverified.is_empty());
        }
    }

    #[test]
    fn unreadable_settings_are_rewritten_only_when_wanted() {
        let def = full_def();
        let mut have = observed(&def);
        have.failure_actions = None;
        have.failure_on_non_crash = None;
        have.description = None;
        let p = plan(&def, BIN, &have);
        assert!(p.changed.is_empty());
        assert_eq!(
            p.unverified,
            vec![
                Setting::Description,
                Setting::FailureActions,
                Setting::FailureActionsOnNonCrash
            ]
        );
        assert!(p.writes(Setting::FailureActions));

        // Defaults need no writing when the SCM cannot say.
        let def = ServiceDef::new("plain");
        let mut have = observed(&def);
        have.failure_actions = None;
        have.description = None;
        have.delayed_auto_start = None;
        assert_eq!(plan(&def, BIN, &have), Plan::default());
    }

    #[test]
    fn accounts_compare_like_the_scm() {
        assert!(same_account("LocalSystem", ""));
        assert!(same_account(r".\LocalSystem", "localsystem"));
        assert!(same_account(
            r"nt authority\localservice",
            r"NT AUTHORITY\LocalService"
        ));
        assert!(!same_account(r"NT AUTHORITY\LocalService", "LocalSystem"));
        assert_eq!(Account::Virtual.start_name("hello"), r"NT SERVICE\hello");
        for t in [
            StartType::Auto,
            StartType::AutoDelayed,
            StartType::Manual,
            StartType::Disabled,
        ] {
            assert_eq!(t.to_string().parse::<StartType>(), Ok(t));
        }
        assert_eq!(Account::Virtual.password(), None);
        assert_eq!(Account::LocalService.password(), Some(""));
    }

    #[test]
    fn passwords_are_always_written_and_never_printed() {
        let def = ServiceDef {
            account: Account::User {
                name: r".\svc".into(),
                password: Some("hunter2".into()),
            },
            ..ServiceDef::new("u")
        };
        assert_eq!(
            plan(&def, BIN, &observed(&def)).changed,
            vec![Setting::Password]
        );
        let shown = format!("{def:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("redacted"),
            "{shown}"
        );
    }

    #[test]
    fn manual_services_ignore_the_delayed_flag() {
        let def = ServiceDef {
            start: StartType::Manual,
            ..ServiceDef::new("m")
        };
        let mut have = observed(&def);
        have.delayed_auto_start = Some(true);
        assert_eq!(plan(&def, BIN, &have), Plan::default());
    }

    #[test]
    fn failure_policy_encoding() {
        let raw = FailurePolicy::restart(Duration::from_millis(1500)).raw();
        assert_eq!(raw.reset_period_secs, 86_400);
        assert_eq!(raw.actions, vec![(ACTION_RESTART, 1500); 3]);
        let p = FailurePolicy {
            actions: vec![
                RecoveryAction::None,
                RecoveryAction::Reboot(Duration::from_secs(u64::MAX)),
            ],
            reset_after: None,
            on_non_crash_failures: false,
        };
        assert_eq!(
            p.raw(),
            RawFailureActions {
                reset_period_secs: NEVER,
                actions: vec![(ACTION_NONE, 0), (ACTION_REBOOT, u32::MAX)]
            }
        );
        // No actions is "no actions" whatever the stored reset period.
        assert!(same_failure_actions(
            &RawFailureActions {
                reset_period_secs: 5,
                actions: vec![]
            },
            &RawFailureActions::default()
        ));
    }

    #[test]
    fn start_types_read_back() {
        for start in [
            StartType::Auto,
            StartType::AutoDelayed,
            StartType::Manual,
            StartType::Disabled,
        ] {
            assert_eq!(StartType::from_raw(start.raw(), start.delayed()), start);
        }
        // The flag is meaningless unless the service starts automatically.
        assert_eq!(StartType::from_raw(DEMAND_START, true), StartType::Manual);
        assert_eq!(StartType::from_raw(DISABLED, true), StartType::Disabled);
        // Drivers' boot (0) and system (1) start.
        assert_eq!(StartType::from_raw(0, false), StartType::Auto);
        assert_eq!(StartType::from_raw(1, true), StartType::Auto);
        assert_eq!(StartType::from_raw(9, false), StartType::Manual);
    }

    #[test]
    fn service_states_map_to_the_scm_numbers() {
        let names: Vec<_> = (0..=8)
            .map(|raw| ServiceState::from_raw(raw).map(ServiceState::as_str))
            .collect();
        assert_eq!(
            names,
            [
                None,
                Some("stopped"),
                Some("start-pending"),
                Some("stop-pending"),
                Some("running"),
                Some("continue-pending"),
                Some("pause-pending"),
                Some("paused"),
                None
            ]
        );
        for state in ServiceState::ALL {
            assert_eq!(ServiceState::from_raw(state.raw()), Some(state));
        }
        assert_eq!(ServiceState::from_raw(u32::MAX), None);
        assert_eq!(ServiceState::StopPending.to_string(), "stop-pending");
    }

    #[test]
    fn start_types_parse() {
        assert_eq!("auto".parse(), Ok(StartType::Auto));
        assert_eq!("delayed-auto".parse(), Ok(StartType::AutoDelayed));
        assert_eq!("manual".parse(), Ok(StartType::Manual));
        assert_eq!("demand".parse(), Ok(StartType::Manual));
        assert_eq!("disabled".parse(), Ok(StartType::Disabled));
        assert!("boot".parse::<StartType>().is_err());
        assert_eq!(StartType::AutoDelayed.raw(), AUTO_START);
    }
}

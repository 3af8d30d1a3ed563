//! The service watchdog: how often systemd expects a `WATCHDOG=1` ping.
//!
//! With `WatchdogSec=` in the unit, systemd passes the timeout in `WATCHDOG_USEC` and
//! the process it is meant for in `WATCHDOG_PID`, and kills (or restarts) the service
//! when no ping arrives in time. This is `sd_watchdog_enabled(3)` without the option to
//! edit the environment.

use std::time::Duration;

/// The watchdog timeout systemd set for this process, or `None` when there is none.
///
/// This is the full timeout (`WATCHDOG_USEC`): ping with
/// [`Notifier::watchdog`](super::Notifier::watchdog) at least every **half** of it, as
/// `sd_watchdog_enabled(3)` recommends, to leave room for scheduling delays.
///
/// `None` also when `WATCHDOG_PID` is set and is not this process's pid: the timeout is
/// then meant for another process. A program started directly by systemd wants this
/// check; tend's supervisor does not (see [`watchdog_interval_any_pid`]).
pub fn watchdog_interval() -> Option<Duration> {
    parse_watchdog_env(
        std::process::id(),
        super::env_str("WATCHDOG_USEC").as_deref(),
        super::env_str("WATCHDOG_PID").as_deref(),
    )
}

/// Like [`watchdog_interval`], ignoring `WATCHDOG_PID`.
///
/// For a supervisor that is not the unit's main process itself, for example one that
/// runs as a child of it, or whose main pid systemd recorded before a re-exec: its own
/// pid differs from `WATCHDOG_PID`, yet it is the process that pings (with
/// `NotifyAccess=all` in the unit, so systemd accepts pings from any of the unit's
/// processes). The result is the full timeout: ping at half of it.
pub fn watchdog_interval_any_pid() -> Option<Duration> {
    parse_watchdog_env(
        std::process::id(),
        super::env_str("WATCHDOG_USEC").as_deref(),
        None,
    )
}

/// Interprets `WATCHDOG_USEC` and `WATCHDOG_PID` for the process `pid`: the full
/// timeout, or `None` when the watchdog is off or not meant for `pid`.
///
/// `None` when `watchdog_usec` is missing, is not a positive integer, or is
/// `u64::MAX` (systemd's "infinity"), and when `watchdog_pid` is present but is not a
/// number equal to `pid`. Pass `watchdog_pid: None` to accept any process.
///
/// ```
/// use std::time::Duration;
/// use tend_service::systemd::parse_watchdog_env;
/// assert_eq!(
///     parse_watchdog_env(7, Some("30000000"), Some("7")),
///     Some(Duration::from_secs(30))
/// );
/// assert_eq!(parse_watchdog_env(7, Some("30000000"), Some("8")), None);
/// ```
pub fn parse_watchdog_env(
    pid: u32,
    watchdog_usec: Option<&str>,
    watchdog_pid: Option<&str>,
) -> Option<Duration> {
    let usec: u64 = watchdog_usec?.parse().ok()?;
    if usec == 0 || usec == u64::MAX {
        return None;
    }
    if let Some(wanted) = watchdog_pid {
        if wanted.parse::<u32>().ok()? != pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_env_table() {
        let s = |secs| Some(Duration::from_secs(secs));
        let cases: &[(Option<&str>, Option<&str>, Option<Duration>)] = &[
            (None, None, None),
            (None, Some("100"), None),
            (Some("20000000"), None, s(20)),
            (Some("20000000"), Some("100"), s(20)),
            (Some("20000000"), Some("101"), None),
            (Some("20000000"), Some("x"), None),
            (Some("20000000"), Some(""), None),
            (Some("1500"), None, Some(Duration::from_micros(1500))),
            (Some("0"), None, None),
            (Some("-5"), None, None),
            (Some(""), None, None),
            (Some("1e6"), None, None),
            (Some(" 20"), None, None),
            (Some("18446744073709551615"), None, None),
            (Some("18446744073709551616"), None, None),
        ];
        for &(usec, wd_pid, want) in cases {
            assert_eq!(
                parse_watchdog_env(100, usec, wd_pid),
                want,
                "WATCHDOG_USEC={usec:?} WATCHDOG_PID={wd_pid:?}"
            );
        }
    }

    #[test]
    fn environment_readers_agree_with_the_parser() {
        // Read-only: compares against the current environment without editing it.
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        let me = std::process::id();
        assert_eq!(
            watchdog_interval(),
            parse_watchdog_env(me, usec.as_deref(), pid.as_deref())
        );
        assert_eq!(
            watchdog_interval_any_pid(),
            parse_watchdog_env(me, usec.as_deref(), None)
        );
    }
}

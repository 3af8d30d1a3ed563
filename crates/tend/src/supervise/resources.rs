//! `[resources]` under `tend run` / `tend up`: which of the spec's limits this
//! supervisor applies itself (in the child, before it execs: see `sys::spawn`), which
//! it leaves to the service manager it runs under, and the warnings for the rest, so
//! that no limit is ever dropped silently. Pure decisions; the system calls are in
//! `sys`.

use crate::spec::Resources;

/// Each `[resources]` key (dotted, as `tend check` points at it), and whether it is a
/// cgroup limit (of the whole service, applied by systemd or OpenRC to the service's
/// cgroup) rather than a property of the child process.
pub const KEYS: &[(&str, bool)] = &[
    ("resources.memory_max", true),
    ("resources.cpu_max", true),
    ("resources.cpu_weight", true),
    ("resources.tasks_max", true),
    ("resources.nofile", false),
    ("resources.memlock", false),
    ("resources.cpu_affinity", false),
    ("resources.nice", false),
    ("resources.io_class", false),
    ("resources.io_priority", false),
    ("resources.oom_score_adjust", false),
    ("resources.scheduling", false),
];

/// The dotted keys `r` sets.
pub fn set_keys(r: &Resources) -> Vec<&'static str> {
    let set = [
        r.memory_max.is_some(),
        r.cpu_max.is_some(),
        r.cpu_weight.is_some(),
        r.tasks_max.is_some(),
        r.nofile.is_some(),
        r.memlock.is_some(),
        !r.cpu_affinity.is_empty(),
        r.nice.is_some(),
        r.io_class.is_some(),
        r.io_priority.is_some(),
        r.oom_score_adjust.is_some(),
        r.scheduling.is_some(),
    ];
    KEYS.iter()
        .zip(set)
        .filter(|(_, set)| *set)
        .map(|((k, _), _)| *k)
        .collect()
}

/// Whether tend runs as a service of a manager that applies the cgroup limits to the
/// whole service itself: systemd (`INVOCATION_ID`) or OpenRC (`RC_SVCNAME`), from the
/// unit keys and `rc_cgroup_*` settings `tend install` wrote.
pub fn under_a_manager<K: AsRef<std::ffi::OsStr>, V>(env: &[(K, V)]) -> bool {
    env.iter()
        .any(|(k, _)| matches!(k.as_ref().to_str(), Some("INVOCATION_ID" | "RC_SVCNAME")))
}

/// The warnings for what `tend run` here will not apply of `r`: each key that is
/// neither among `applied` (what this platform's `sys::spawn` applies to the child)
/// nor a cgroup limit that the service manager tend runs under applies (`managed`).
pub fn not_applied(r: &Resources, applied: &[&str], managed: bool) -> Vec<(&'static str, String)> {
    set_keys(r)
        .into_iter()
        .filter(|k| !applied.contains(k))
        .filter(|k| !(managed && KEYS.iter().any(|(c, cgroup)| c == k && *cgroup)))
        .map(|k| {
            let cgroup = KEYS.iter().any(|(c, cgroup)| *c == k && *cgroup);
            let message = if cgroup {
                format!("`{k}` is not applied by `tend run` / `tend up` on this system: only a service installed with `tend install` (systemd, OpenRC) gets it")
            } else {
                format!("`{k}` is not applied by `tend run` / `tend up` on this system")
            };
            (k, message)
        })
        .collect()
}

/// Why `cpu_affinity` cannot be met on a machine with `cpus` CPUs (numbered from 0),
/// if it cannot.
pub fn affinity_problem(affinity: &[u32], cpus: usize) -> Option<String> {
    let missing: Vec<String> = affinity
        .iter()
        .filter(|c| **c as usize >= cpus)
        .map(u32::to_string)
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "`resources.cpu_affinity` names CPU {} but this machine has {cpus} CPU{} (0 to {})",
            missing.join(", "),
            if cpus == 1 { "" } else { "s" },
            cpus.saturating_sub(1)
        )
    })
}

/// Whether a child that ended with `exit` was killed by the OOM killer: it died of
/// SIGKILL and the `oom_kill` counter of the memory cgroup it ran in (its own, or the
/// one tend runs in, where a service manager set the limit) grew while it ran. A count
/// that cannot be read says nothing. (The counter of a cgroup shared with other
/// processes may have grown for one of them: the SIGKILL makes that unlikely.)
pub fn oom_killed(exit: super::policy::Exit, before: Option<u64>, after: Option<u64>) -> bool {
    // SIGKILL is 9 on every Unix (and an OOM kill is a Unix thing).
    exit == super::policy::Exit::Signal(9) && matches!((before, after), (Some(b), Some(a)) if a > b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Limit, Percent};

    #[test]
    fn affinity_beyond_the_cpus() {
        for (aff, cpus, want) in [
            (&[][..], 4, None),
            (&[0, 3][..], 4, None),
            (
                &[2, 4][..],
                4,
                Some("names CPU 4 but this machine has 4 CPUs (0 to 3)"),
            ),
            (
                &[1, 7][..],
                1,
                Some("names CPU 1, 7 but this machine has 1 CPU (0 to 0)"),
            ),
        ] {
            let got = affinity_problem(aff, cpus);
            match want {
                None => assert_eq!(got, None, "{aff:?}"),
                Some(w) => assert!(got.as_deref().is_some_and(|g| g.contains(w)), "{got:?}"),
            }
        }
    }

    #[test]
    fn what_is_not_applied_is_named() {
        let r = Resources {
            memory_max: Some(Limit(Some(1 << 20))),
            cpu_max: Some(Percent(50)),
            nofile: Some(Limit(Some(100))),
            nice: Some(5),
            ..Resources::default()
        };
        let keys = |applied: &[&str], managed| {
            not_applied(&r, applied, managed)
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        let unix = ["resources.nofile", "resources.nice"];
        assert_eq!(
            keys(&unix, false),
            ["resources.memory_max", "resources.cpu_max"]
        );
        assert!(keys(&unix, true).is_empty());
        // Windows applies none of them yet: the process ones are named under a manager too.
        assert_eq!(keys(&[], true), ["resources.nofile", "resources.nice"]);
        assert!(not_applied(&Resources::default(), &[], false).is_empty());
        assert_eq!(set_keys(&r).len(), 4);
    }

    #[test]
    fn a_service_manager_is_recognised() {
        assert!(under_a_manager(&[("INVOCATION_ID", "x")]));
        assert!(under_a_manager(&[("RC_SVCNAME", "orders")]));
        assert!(!under_a_manager(&[("HOME", "/root")]));
    }

    #[test]
    fn an_oom_kill_is_a_sigkill_while_the_counter_grew() {
        use crate::supervise::policy::Exit;
        for (exit, before, after, want) in [
            (Exit::Signal(9), Some(0), Some(1), true),
            (Exit::Signal(9), Some(4), Some(6), true),
            (Exit::Signal(9), Some(1), Some(1), false),
            (Exit::Signal(9), None, Some(1), false),
            (Exit::Signal(9), Some(0), None, false),
            (Exit::Signal(15), Some(0), Some(1), false),
            (Exit::Code(137), Some(0), Some(1), false),
        ] {
            assert_eq!(
                oom_killed(exit, before, after),
                want,
                "{exit:?} {before:?} {after:?}"
            );
        }
    }
}

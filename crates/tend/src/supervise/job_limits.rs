//! `[resources]` on Windows: the limits of the Job Object every child runs in (see
//! `sys::spawn`). A pure mapping, compiled everywhere so it is table-tested anywhere;
//! `sys/windows.rs` only copies it into `JOBOBJECT_EXTENDED_LIMIT_INFORMATION` and
//! `JOBOBJECT_CPU_RATE_CONTROL_INFORMATION`.
//!
//! - `memory_max`: the job's memory limit (`JobMemoryLimit`: the whole tree, like a
//!   cgroup's `memory.max`; a process that asks for more is refused the memory).
//! - `cpu_max`: a hard cap of the CPU rate, in 1/10000 of all the machine's CPUs (so
//!   `"150%"` on 4 CPUs is 3750); `cpu_weight` (1 to 10000, 100 the default, as
//!   systemd's) a weight 1 to 9 (5 the default) on a logarithmic scale. A job has one
//!   rate control: with both, `cpu_max` wins and `cpu_weight` is warned about.
//! - `tasks_max`: the most active processes (Windows counts processes, not threads).
//! - `cpu_affinity`: the job's affinity mask (CPUs 0 to 63, one processor group).
//! - `nice`: a priority class: -20 to -11 high, -10 to -1 above normal, 0 normal, 1 to
//!   10 below normal, 11 to 19 idle (never realtime).
//!
//! `nofile`, `memlock`, `io_class`, `io_priority`, `oom_score_adjust` and `scheduling`
//! have no Windows meaning: they are not in [`APPLIED`], so `tend run` warns that they
//! are not applied, each by name.

use crate::spec::Resources;

/// The `[resources]` keys a Job Object applies.
pub const APPLIED: &[&str] = &[
    "resources.memory_max",
    "resources.cpu_max",
    "resources.cpu_weight",
    "resources.tasks_max",
    "resources.cpu_affinity",
    "resources.nice",
];

/// `HIGH_PRIORITY_CLASS` and the others, as `SetPriorityClass` takes them.
pub const HIGH: u32 = 0x80;
/// `ABOVE_NORMAL_PRIORITY_CLASS`.
pub const ABOVE_NORMAL: u32 = 0x8000;
/// `NORMAL_PRIORITY_CLASS`.
pub const NORMAL: u32 = 0x20;
/// `BELOW_NORMAL_PRIORITY_CLASS`.
pub const BELOW_NORMAL: u32 = 0x4000;
/// `IDLE_PRIORITY_CLASS`.
pub const IDLE: u32 = 0x40;

/// A job's CPU rate control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuRate {
    /// At most this many 1/10000 of all the CPUs (1 to 10000).
    HardCap(u32),
    /// A weight, 1 to 9, against the other jobs.
    Weight(u32),
}

/// What a Job Object limits, from `[resources]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobLimits {
    /// `JobMemoryLimit`, bytes.
    pub job_memory: Option<u64>,
    /// `ActiveProcessLimit`.
    pub active_processes: Option<u32>,
    /// `Affinity`, a mask of CPUs.
    pub affinity: Option<u64>,
    /// `PriorityClass`.
    pub priority_class: Option<u32>,
    /// The CPU rate control.
    pub cpu: Option<CpuRate>,
}

impl JobLimits {
    /// Whether nothing is limited.
    pub fn is_empty(&self) -> bool {
        *self == JobLimits::default()
    }
}

/// The limits of `r` on a machine with `cpus` CPUs, and a warning (its key, why) for
/// each setting that cannot be applied as written.
pub fn job_limits(r: &Resources, cpus: usize) -> (JobLimits, Vec<(&'static str, String)>) {
    let mut warnings = Vec::new();
    let mut l = JobLimits {
        job_memory: r.memory_max.and_then(|m| m.0),
        active_processes: r
            .tasks_max
            .and_then(|t| t.0)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        priority_class: r.nice.map(priority_class),
        ..JobLimits::default()
    };
    if !r.cpu_affinity.is_empty() {
        let (inside, beyond): (Vec<u32>, Vec<u32>) = r.cpu_affinity.iter().partition(|c| **c < 64);
        if !beyond.is_empty() {
            warnings.push((
                "resources.cpu_affinity",
                format!(
                    "`resources.cpu_affinity`: CPU {:?} is beyond the 64 of one processor group, which a Job Object's affinity holds: left out",
                    beyond
                ),
            ));
        }
        if !inside.is_empty() {
            l.affinity = Some(inside.iter().fold(0u64, |m, c| m | 1 << c));
        }
    }
    l.cpu = match (r.cpu_max, r.cpu_weight) {
        (Some(max), weight) => {
            if weight.is_some() {
                warnings.push((
                    "resources.cpu_weight",
                    "`resources.cpu_weight` is not applied on Windows with `resources.cpu_max`: a Job Object has one CPU rate control, a cap or a weight".to_string(),
                ));
            }
            let all = u64::from(max.0) * 100 / cpus.max(1) as u64;
            Some(CpuRate::HardCap(all.clamp(1, 10_000) as u32))
        }
        (None, Some(w)) => Some(CpuRate::Weight(job_weight(w))),
        (None, None) => None,
    };
    (l, warnings)
}

/// The priority class of a niceness (-20 to 19).
pub fn priority_class(nice: i32) -> u32 {
    match nice {
        i32::MIN..=-11 => HIGH,
        -10..=-1 => ABOVE_NORMAL,
        0 => NORMAL,
        1..=10 => BELOW_NORMAL,
        _ => IDLE,
    }
}

/// A Job Object's weight (1 to 9, 5 the default) of a systemd-style CPU weight (1 to
/// 10000, 100 the default): two steps per tenfold.
pub fn job_weight(weight: u32) -> u32 {
    let steps = (f64::from(weight.max(1)) / 100.0).log10() * 2.0;
    (5.0 + steps).round().clamp(1.0, 9.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Limit, Percent};

    #[test]
    fn niceness_to_priority_class() {
        for (nice, class) in [
            (-20, HIGH),
            (-11, HIGH),
            (-10, ABOVE_NORMAL),
            (-1, ABOVE_NORMAL),
            (0, NORMAL),
            (1, BELOW_NORMAL),
            (10, BELOW_NORMAL),
            (11, IDLE),
            (19, IDLE),
        ] {
            assert_eq!(priority_class(nice), class, "nice {nice}");
        }
    }

    #[test]
    fn cpu_weight_to_job_weight() {
        for (w, job) in [
            (1, 1),
            (10, 3),
            (50, 4),
            (100, 5),
            (200, 6),
            (1000, 7),
            (10_000, 9),
        ] {
            assert_eq!(job_weight(w), job, "weight {w}");
        }
    }

    #[test]
    fn resources_to_job_limits() {
        let none = Resources::default();
        let all = Resources {
            memory_max: Some(Limit(Some(512 << 20))),
            cpu_max: Some(Percent(150)),
            cpu_weight: Some(1000),
            tasks_max: Some(Limit(Some(256))),
            cpu_affinity: vec![2, 3, 70],
            nice: Some(-5),
            nofile: Some(Limit(Some(65536))),
            ..Resources::default()
        };
        let weight_only = Resources {
            cpu_weight: Some(1000),
            memory_max: Some(Limit(None)),
            tasks_max: Some(Limit(None)),
            ..Resources::default()
        };
        let tiny = Resources {
            cpu_max: Some(Percent(1)),
            ..Resources::default()
        };
        let huge = Resources {
            cpu_max: Some(Percent(1000)),
            ..Resources::default()
        };
        for (r, cpus, want, warned) in [
            (&none, 4, JobLimits::default(), &[][..]),
            (
                &all,
                4,
                JobLimits {
                    job_memory: Some(512 << 20),
                    active_processes: Some(256),
                    affinity: Some(0b1100),
                    priority_class: Some(ABOVE_NORMAL),
                    cpu: Some(CpuRate::HardCap(3750)),
                },
                &["resources.cpu_affinity", "resources.cpu_weight"][..],
            ),
            (
                &weight_only,
                2,
                JobLimits {
                    cpu: Some(CpuRate::Weight(7)),
                    ..JobLimits::default()
                },
                &[][..],
            ),
            // 1% of one CPU of 200 is below the smallest rate: the smallest.
            (
                &tiny,
                200,
                JobLimits {
                    cpu: Some(CpuRate::HardCap(1)),
                    ..JobLimits::default()
                },
                &[][..],
            ),
            // More CPUs than the machine has: all of them.
            (
                &huge,
                2,
                JobLimits {
                    cpu: Some(CpuRate::HardCap(10_000)),
                    ..JobLimits::default()
                },
                &[][..],
            ),
        ] {
            let (got, warnings) = job_limits(r, cpus);
            assert_eq!(got, want, "{r:?} on {cpus} CPUs");
            let keys: Vec<&str> = warnings.iter().map(|(k, _)| *k).collect();
            assert_eq!(keys, warned, "{r:?}");
        }
        assert!(job_limits(&none, 1).0.is_empty());
    }

    /// Every key is either applied by the Job Object or warned about by `tend run`
    /// (it is not in [`APPLIED`]), and the ones applied are `[resources]` keys.
    #[test]
    fn applied_keys_are_resources_keys() {
        for k in APPLIED {
            assert!(
                crate::supervise::resources::KEYS
                    .iter()
                    .any(|(key, _)| key == k),
                "{k}"
            );
        }
        for no_meaning in [
            "resources.nofile",
            "resources.memlock",
            "resources.io_class",
            "resources.io_priority",
            "resources.oom_score_adjust",
            "resources.scheduling",
        ] {
            assert!(!APPLIED.contains(&no_meaning), "{no_meaning}");
        }
    }
}

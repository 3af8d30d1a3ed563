//! The cgroup limits of `[resources]` (`memory_max`, `cpu_max`, `cpu_weight`,
//! `tasks_max`) under `tend run` / `tend up`, and the OOM-kill counter that tells a
//! child killed by the OOM killer from one killed by a plain SIGKILL.
//!
//! Where: each controller where this host mounts it, cgroup v1 (its own hierarchy,
//! e.g. /sys/fs/cgroup/memory) or v2 (the unified hierarchy, when its
//! `cgroup.controllers` lists it). Under v1 the child's cgroup is
//! `<mount><tend's own cgroup>/tend/<service>-<tend's pid>.<n>` (v1 has no rule against
//! processes in inner cgroups, and the limits above tend's own still hold); under v2
//! it is `<mount>/tend/<service>-<tend's pid>.<n>` (`n` counts the children), with the controllers enabled in the
//! `cgroup.subtree_control` of the root and of `tend` (v2 allows no processes in a
//! cgroup that hands controllers down, so tend's own cgroup, where tend runs, cannot
//! be the parent). Creating it needs root (or write access to those folders); a
//! cgroup delegated to a user under v2 is not used yet. Under a service manager
//! (systemd, OpenRC) nothing is created: the manager applies the limits to the whole
//! service from the unit keys `tend install` wrote.
//!
//! When: the cgroup is made and its limits written in the parent before each spawn
//! ([`Cgroup::create`]), which also opens each hierarchy's `cgroup.procs`. The child
//! joins it in `pre_exec`, before the credential change, by a raw `write(2)` of `0`
//! (the writer itself) on those prepared descriptors (see `unix_resources`), so the
//! program runs no instruction outside its limits: moving it from the parent after
//! the spawn would leave a window in which it runs, allocates and forks unlimited
//! (and under v1 its children would stay behind). The cgroup is removed when the
//! child's tree is dropped, after what is left in it was killed.
//!
//! Every limit that is not applied is named in a warning: at prepare time (no
//! controller, no permission) and at spawn time (a write the kernel refused).

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::spec::Resources;

/// The `[resources]` keys applied through a cgroup.
pub const CGROUP_KEYS: &[&str] = &[
    "resources.memory_max",
    "resources.cpu_max",
    "resources.cpu_weight",
    "resources.tasks_max",
];

/// A cgroup hierarchy mounted on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted.
    pub mount: PathBuf,
    /// Its controllers under v1; `None` for the unified (v2) hierarchy.
    pub v1: Option<Vec<String>>,
}

/// The cgroup hierarchies mounted at their root, from `/proc/self/mountinfo`.
pub fn parse_mounts(mountinfo: &str) -> Vec<Hierarchy> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let (root, mount) = (*left.get(3)?, *left.get(4)?);
            let mut right = right.split(' ');
            let fstype = right.next()?;
            let opts = right.nth(1).unwrap_or("");
            if root != "/" {
                return None;
            }
            let v1 = match fstype {
                "cgroup2" => None,
                "cgroup" => Some(
                    opts.split(',')
                        .filter(|o| !o.contains('=') && !matches!(*o, "rw" | "ro"))
                        .map(str::to_string)
                        .collect(),
                ),
                _ => return None,
            };
            Some(Hierarchy {
                mount: PathBuf::from(mount),
                v1,
            })
        })
        .collect()
}

/// Tend's own cgroup in each hierarchy, from `/proc/self/cgroup`: the controllers
/// (empty for v2) and the path.
pub fn parse_own(proc_cgroup: &str) -> Vec<(Vec<String>, String)> {
    proc_cgroup
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            let ctrls = ctrls
                .split(',')
                .filter(|c| !c.is_empty() && !c.contains('='))
                .map(str::to_string)
                .collect();
            Some((ctrls, path.to_string()))
        })
        .collect()
}

/// The value of the `oom_kill` line of a `memory.events` (v2) or
/// `memory.oom_control` (v1) file.
pub fn parse_oom_kill(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
}

/// One cgroup of the child's, in one hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dir {
    /// The cgroup's folder.
    pub path: PathBuf,
    /// The `cgroup.subtree_control` files to enable `enable` in first, in order (v2).
    pub subtree_control: Vec<PathBuf>,
    /// The controllers to enable there, as written (`+memory +cpu`).
    pub enable: String,
    /// Each limit: its key, the file (in `path`) and the value, written in order.
    pub writes: Vec<(&'static str, &'static str, String)>,
    /// Whether this is the memory controller's cgroup, and its OOM-kill counter file.
    pub oom_file: Option<&'static str>,
}

/// The child's cgroups, planned before any spawn (`plan`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupPlan {
    /// One per hierarchy used.
    pub dirs: Vec<Dir>,
}

/// The controller a cgroup key needs.
fn controller(key: &str) -> &'static str {
    match key {
        "resources.memory_max" => "memory",
        "resources.tasks_max" => "pids",
        _ => "cpu",
    }
}

/// The files and values of `r`'s cgroup limits for `controller`, v1 or v2.
fn writes(r: &Resources, controller: &str, v2: bool) -> Vec<(&'static str, &'static str, String)> {
    let mut w = Vec::new();
    let unlimited = if v2 { "max" } else { "-1" };
    let num = |v: Option<u64>| v.map_or_else(|| unlimited.to_string(), |n| n.to_string());
    match controller {
        "memory" => {
            if let Some(m) = r.memory_max {
                let file = if v2 {
                    "memory.max"
                } else {
                    "memory.limit_in_bytes"
                };
                w.push(("resources.memory_max", file, num(m.0)));
            }
        }
        "pids" => {
            if let Some(t) = r.tasks_max {
                // v1's pids.max also reads "max" for no limit.
                let v = t.0.map_or_else(|| "max".to_string(), |n| n.to_string());
                w.push(("resources.tasks_max", "pids.max", v));
            }
        }
        _ => {
            // The quota over a period of 100ms: "150%" is 150ms of CPU time per 100ms.
            if let Some(p) = r.cpu_max {
                let quota = u64::from(p.0) * 1000;
                if v2 {
                    w.push(("resources.cpu_max", "cpu.max", format!("{quota} 100000")));
                } else {
                    w.push(("resources.cpu_max", "cpu.cfs_period_us", "100000".into()));
                    w.push(("resources.cpu_max", "cpu.cfs_quota_us", quota.to_string()));
                }
            }
            if let Some(wt) = r.cpu_weight {
                if v2 {
                    w.push(("resources.cpu_weight", "cpu.weight", wt.to_string()));
                } else {
                    // systemd's mapping: weight 100 is v1's default of 1024 shares.
                    let shares = (u64::from(wt) * 1024 / 100).max(2);
                    w.push(("resources.cpu_weight", "cpu.shares", shares.to_string()));
                }
            }
        }
    }
    w
}

/// Where `r`'s cgroup limits go for service `name` of the supervisor `pid`: one
/// [`Dir`] per hierarchy, and why each key that cannot be applied here cannot.
/// `v2_controllers` are those the unified hierarchy's root offers
/// (`cgroup.controllers`).
pub fn plan(
    r: &Resources,
    name: &str,
    pid: u32,
    mounts: &[Hierarchy],
    own: &[(Vec<String>, String)],
    v2_controllers: &[String],
) -> (CgroupPlan, Vec<(&'static str, String)>) {
    let keys: Vec<&'static str> = crate::supervise::resources::set_keys(r)
        .into_iter()
        .filter(|k| CGROUP_KEYS.contains(k))
        .collect();
    let leaf = format!("{name}-{pid}");
    let mut plan = CgroupPlan::default();
    let mut missing = Vec::new();
    let mut v2_dir: Option<Dir> = None;
    for key in keys {
        let ctrl = controller(key);
        let v1 = mounts
            .iter()
            .find(|h| h.v1.as_ref().is_some_and(|c| c.iter().any(|c| c == ctrl)));
        if let Some(h) = v1 {
            let own_path = own
                .iter()
                .find(|(c, _)| c.iter().any(|c| c == ctrl))
                .map_or("/", |(_, p)| p.as_str());
            let path = h
                .mount
                .join(own_path.trim_start_matches('/'))
                .join("tend")
                .join(&leaf);
            if let Some(d) = plan.dirs.iter_mut().find(|d| d.path == path) {
                for w in writes(r, ctrl, false) {
                    if w.0 == key && !d.writes.contains(&w) {
                        d.writes.push(w);
                    }
                }
            } else {
                plan.dirs.push(Dir {
                    path,
                    subtree_control: Vec::new(),
                    enable: String::new(),
                    writes: writes(r, ctrl, false)
                        .into_iter()
                        .filter(|w| w.0 == key)
                        .collect(),
                    oom_file: (ctrl == "memory").then_some("memory.oom_control"),
                });
            }
            continue;
        }
        let v2 = mounts.iter().find(|h| h.v1.is_none());
        match v2 {
            Some(h) if v2_controllers.iter().any(|c| c == ctrl) => {
                let d = v2_dir.get_or_insert_with(|| Dir {
                    path: h.mount.join("tend").join(&leaf),
                    subtree_control: vec![
                        h.mount.join("cgroup.subtree_control"),
                        h.mount.join("tend").join("cgroup.subtree_control"),
                    ],
                    enable: String::new(),
                    writes: Vec::new(),
                    oom_file: None,
                });
                let plus = format!("+{ctrl}");
                if !d.enable.split(' ').any(|c| c == plus) {
                    if !d.enable.is_empty() {
                        d.enable.push(' ');
                    }
                    d.enable.push_str(&plus);
                }
                for w in writes(r, ctrl, true) {
                    if w.0 == key && !d.writes.contains(&w) {
                        d.writes.push(w);
                    }
                }
                if ctrl == "memory" {
                    d.oom_file = Some("memory.events");
                }
            }
            _ => missing.push((
                key,
                format!(
                    "`{key}` is not applied by `tend run` / `tend up` here: this host mounts no cgroup `{ctrl}` controller (neither v1 nor in the v2 hierarchy)"
                ),
            )),
        }
    }
    plan.dirs.extend(v2_dir);
    (plan, missing)
}

/// [`plan`] for this host and process, and a warning for each key that cannot be
/// applied: also when the folders cannot be created (not root). `managed`: a
/// service manager applies the limits (nothing planned, nothing to warn of).
pub fn cgroup_plan(
    r: &Resources,
    name: &str,
    managed: bool,
) -> (CgroupPlan, Vec<(&'static str, String)>) {
    if managed
        || !CGROUP_KEYS
            .iter()
            .any(|k| crate::supervise::resources::set_keys(r).contains(k))
    {
        return (CgroupPlan::default(), Vec::new());
    }
    let mounts = parse_mounts(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
    let own = parse_own(&std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default());
    let v2_controllers: Vec<String> = mounts
        .iter()
        .find(|h| h.v1.is_none())
        .and_then(|h| std::fs::read_to_string(h.mount.join("cgroup.controllers")).ok())
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let (mut plan, mut missing) = plan(r, name, std::process::id(), &mounts, &own, &v2_controllers);
    plan.dirs.retain(|d| {
        // The nearest folder that exists must be writable for tend to create the rest.
        let existing = d.path.ancestors().find(|a| a.exists()).unwrap_or(Path::new("/"));
        if writable(existing) {
            return true;
        }
        for (key, _, _) in &d.writes {
            if !missing.iter().any(|(k, _)| k == key) {
                missing.push((
                    key,
                    format!(
                        "`{key}` is not applied by `tend run` / `tend up` here: creating a cgroup under {} needs root (or run it under a service manager, which applies it)",
                        existing.display()
                    ),
                ));
            }
        }
        false
    });
    (plan, missing)
}

fn writable(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// The child's cgroups, made for one spawn: their `cgroup.procs` descriptors for the
/// child to join, and the OOM-kill counter. Dropping it kills what is left in them and
/// removes them.
#[derive(Debug)]
pub struct Cgroup {
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each, open for writing (close-on-exec); given to the child.
    pub procs: Vec<OwnedFd>,
}

/// Where the OOM killer's kills are counted for a child, and the count at its start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OomWatch {
    /// `memory.events` or `memory.oom_control`.
    pub file: PathBuf,
    /// `oom_kill` when the child started.
    pub before: Option<u64>,
}

impl OomWatch {
    fn at(file: PathBuf) -> OomWatch {
        let before = read_oom(&file);
        OomWatch { file, before }
    }

    /// The counter now.
    pub fn now(&self) -> Option<u64> {
        read_oom(&self.file)
    }
}

fn read_oom(file: &Path) -> Option<u64> {
    parse_oom_kill(&std::fs::read_to_string(file).ok()?)
}

/// The OOM counter of the memory cgroup tend itself runs in (where a service manager
/// such as systemd sets `MemoryMax=` of the whole service).
pub fn own_oom_watch() -> Option<OomWatch> {
    // Tend's own cgroup does not change while it runs: found once.
    static FILE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let file = FILE.get_or_init(own_oom_file).clone()?;
    Some(OomWatch::at(file))
}

fn own_oom_file() -> Option<PathBuf> {
    let mounts = parse_mounts(&std::fs::read_to_string("/proc/self/mountinfo").ok()?);
    let own = parse_own(&std::fs::read_to_string("/proc/self/cgroup").ok()?);
    let file = if let Some(h) = mounts.iter().find(|h| {
        h.v1.as_ref()
            .is_some_and(|c| c.iter().any(|c| c == "memory"))
    }) {
        let p = own.iter().find(|(c, _)| c.iter().any(|c| c == "memory"))?;
        h.mount
            .join(p.1.trim_start_matches('/'))
            .join("memory.oom_control")
    } else {
        let h = mounts.iter().find(|h| h.v1.is_none())?;
        let p = own.iter().find(|(c, _)| c.is_empty())?;
        h.mount
            .join(p.1.trim_start_matches('/'))
            .join("memory.events")
    };
    file.exists().then_some(file)
}

impl Cgroup {
    /// Makes the cgroups of `plan`, writes their limits and opens their
    /// `cgroup.procs`; a warning for each limit not applied. The OOM watch of the
    /// memory cgroup, when there is one.
    pub fn create(plan: &CgroupPlan) -> (Option<Cgroup>, Option<OomWatch>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut cg = Cgroup {
            dirs: Vec::new(),
            procs: Vec::new(),
        };
        let mut oom = None;
        // Each child its own: the previous child's tree (and cgroup) may still be
        // dropped after its replacement started.
        static SPAWNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SPAWNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for d in &plan.dirs {
            remove_stale(&d.path);
            let mut leaf = d.path.clone().into_os_string();
            leaf.push(format!(".{n}"));
            let d = &Dir {
                path: PathBuf::from(leaf),
                ..d.clone()
            };
            let made = (|| -> io::Result<OwnedFd> {
                for sc in &d.subtree_control {
                    if let Some(parent) = sc.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    write_file(sc, &d.enable)?;
                }
                match std::fs::create_dir_all(&d.path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
                open_procs(&d.path.join("cgroup.procs"))
            })();
            let fd = match made {
                Ok(fd) => fd,
                Err(e) => {
                    let mut keys: Vec<&str> = d.writes.iter().map(|w| w.0).collect();
                    keys.dedup();
                    for k in keys {
                        warnings.push(format!(
                            "`{k}` not applied: cannot set up the cgroup {}: {}",
                            d.path.display(),
                            crate::text::io_error(&e)
                        ));
                    }
                    continue;
                }
            };
            let mut applied = false;
            for (key, file, value) in &d.writes {
                match write_file(&d.path.join(file), value) {
                    Ok(()) => applied = true,
                    Err(e) => warnings.push(format!(
                        "`{key}` not applied: writing {value} to {} failed: {}",
                        d.path.join(file).display(),
                        crate::text::io_error(&e)
                    )),
                }
            }
            if let Some(f) = d.oom_file {
                oom = Some(OomWatch::at(d.path.join(f)));
            }
            cg.dirs.push(d.path.clone());
            if applied {
                cg.procs.push(fd);
            }
        }
        let cg = (!cg.dirs.is_empty()).then_some(cg);
        (cg, oom, warnings)
    }

    /// The cgroup folders.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }
}

fn write_file(path: &Path, value: &str) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

fn open_procs(path: &Path) -> io::Result<OwnedFd> {
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    Ok(OwnedFd::from(f))
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.procs.clear();
        // At once where the kernel lets it; a cgroup whose last processes are still
        // exiting is retried on a thread of its own, off the supervisor's loop.
        let busy: Vec<PathBuf> = self.dirs.drain(..).filter(|d| !remove_once(d)).collect();
        if !busy.is_empty() {
            let _ = std::thread::Builder::new()
                .name("cgroup-rmdir".into())
                .spawn(move || busy.iter().for_each(|d| remove(d)));
        }
    }
}

/// The cgroups in `entries` (a `tend` folder's) that a supervisor of service `name`
/// left behind when it was killed: `<name>-<pid>.<n>` whose pid is not this one's
/// and is not `alive`.
pub fn stale(entries: &[String], name: &str, own: u32, alive: impl Fn(u32) -> bool) -> Vec<String> {
    entries
        .iter()
        .filter(|e| {
            e.strip_prefix(name)
                .and_then(|r| r.strip_prefix('-'))
                .and_then(|r| r.split_once('.'))
                .filter(|(_, n)| n.parse::<u64>().is_ok())
                .and_then(|(pid, _)| pid.parse::<u32>().ok())
                .is_some_and(|pid| pid != own && !alive(pid))
        })
        .cloned()
        .collect()
}

/// Removes the cgroups beside `leaf` (`…/tend/<name>-<pid>`, as planned) that an earlier
/// supervisor of the same service left when it was killed.
fn remove_stale(leaf: &Path) {
    let (Some(parent), Some(base)) = (leaf.parent(), leaf.file_name().and_then(|n| n.to_str()))
    else {
        return;
    };
    let Some((name, _)) = base.rsplit_once('-') else {
        return;
    };
    let Ok(dir) = std::fs::read_dir(parent) else {
        return;
    };
    let entries: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
    // Removed only when empty: nothing in them is killed (a supervisor of the same
    // name in another pid namespace looks dead from here; the guard of a killed one
    // has ended its tree already).
    for e in stale(&entries, name, std::process::id(), alive) {
        let _ = std::fs::remove_dir(parent.join(e));
    }
}

/// Kills what is left in cgroup `dir` and removes it, once: whether it is gone (or
/// was never there).
fn remove_once(dir: &Path) -> bool {
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        // SAFETY: plain system call.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    !matches!(std::fs::remove_dir(dir), Err(e) if e.raw_os_error() == Some(libc::EBUSY))
}

/// Kills what is left in cgroup `dir` (a process that left the child's process group
/// is still in it) and removes it; the kernel refuses while a process is still
/// exiting, so it tries for up to a second.
fn remove(dir: &Path) {
    for _ in 0..100 {
        if remove_once(dir) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Limit, Percent};

    const THIS_HOST: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const THIS_OWN: &str = "9:name=systemd:/\n8:pids:/\n4:memory:/api/x\n1:cpu:/\n0::/\n";
    const SYSTEMD: &str = "\
24 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
25 1 0:23 /sub /mnt/bound rw - cgroup2 cgroup2 rw
";

    fn r() -> Resources {
        Resources {
            memory_max: Some(Limit(Some(64 << 20))),
            cpu_max: Some(Percent(150)),
            cpu_weight: Some(50),
            tasks_max: Some(Limit(None)),
            nice: Some(5),
            ..Resources::default()
        }
    }

    #[test]
    fn mounts_and_own_cgroups_parse() {
        let m = parse_mounts(THIS_HOST);
        assert_eq!(m.len(), 5, "{m:?}");
        assert_eq!(m[0].v1.as_deref(), Some(&["cpu".to_string()][..]));
        assert_eq!(m[3].v1, Some(vec![]), "name=systemd holds no controller");
        assert_eq!(m[4].v1, None);
        let s = parse_mounts(SYSTEMD);
        assert_eq!(s.len(), 1, "a bound sub-folder is not a hierarchy's root");
        let own = parse_own(THIS_OWN);
        assert_eq!(own[2], (vec!["memory".to_string()], "/api/x".to_string()));
        assert_eq!(own[0].0, Vec::<String>::new());
        assert_eq!(own[4], (vec![], "/".to_string()));
    }

    #[test]
    fn oom_kill_counters_parse() {
        for (text, want) in [
            ("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", Some(3)),
            (
                "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n",
                Some(1),
            ),
            ("oom_kill_disable 0\nunder_oom 0\n", None),
            ("", None),
        ] {
            assert_eq!(parse_oom_kill(text), want, "{text:?}");
        }
    }

    #[test]
    fn v1_controllers_each_get_their_hierarchy_under_tends_own_cgroup() {
        let (p, missing) = plan(
            &r(),
            "web",
            7,
            &parse_mounts(THIS_HOST),
            &parse_own(THIS_OWN),
            &[],
        );
        assert!(missing.is_empty(), "{missing:?}");
        let paths: Vec<_> = p.dirs.iter().map(|d| d.path.to_str().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "/sys/fs/cgroup/memory/api/x/tend/web-7",
                "/sys/fs/cgroup/cpu/tend/web-7",
                "/sys/fs/cgroup/pids/tend/web-7",
            ]
        );
        let files = |i: usize| -> Vec<(&str, &str)> {
            p.dirs[i]
                .writes
                .iter()
                .map(|w| (w.1, w.2.as_str()))
                .collect()
        };
        assert_eq!(files(0), [("memory.limit_in_bytes", "67108864")]);
        assert_eq!(
            files(1),
            [
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "150000"),
                ("cpu.shares", "512")
            ]
        );
        assert_eq!(files(2), [("pids.max", "max")]);
        assert_eq!(p.dirs[0].oom_file, Some("memory.oom_control"));
        assert_eq!(p.dirs[1].oom_file, None);
        assert!(p.dirs.iter().all(|d| d.subtree_control.is_empty()));
    }

    #[test]
    fn v2_is_one_cgroup_with_the_controllers_enabled_above_it() {
        let ctrls: Vec<String> = ["cpu", "memory", "pids"].map(String::from).to_vec();
        let own = parse_own("0::/user.slice/session-1.scope\n");
        let (p, missing) = plan(&r(), "web", 7, &parse_mounts(SYSTEMD), &own, &ctrls);
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(p.dirs.len(), 1);
        let d = &p.dirs[0];
        assert_eq!(d.path, Path::new("/sys/fs/cgroup/tend/web-7"));
        assert_eq!(d.enable, "+memory +cpu +pids");
        assert_eq!(
            d.subtree_control,
            [
                Path::new("/sys/fs/cgroup/cgroup.subtree_control"),
                Path::new("/sys/fs/cgroup/tend/cgroup.subtree_control")
            ]
        );
        let files: Vec<(&str, &str)> = d.writes.iter().map(|w| (w.1, w.2.as_str())).collect();
        assert_eq!(
            files,
            [
                ("memory.max", "67108864"),
                ("cpu.max", "150000 100000"),
                ("cpu.weight", "50"),
                ("pids.max", "max")
            ]
        );
        assert_eq!(d.oom_file, Some("memory.events"));
    }

    #[test]
    fn a_controller_nowhere_is_named() {
        // This host's empty unified hierarchy and no pids under v1.
        let mounts: Vec<Hierarchy> = parse_mounts(THIS_HOST)
            .into_iter()
            .filter(|h| {
                h.v1.as_ref()
                    .is_none_or(|c| !c.contains(&"pids".to_string()))
            })
            .collect();
        let (p, missing) = plan(&r(), "web", 7, &mounts, &parse_own(THIS_OWN), &[]);
        assert_eq!(p.dirs.len(), 2);
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert_eq!(missing[0].0, "resources.tasks_max");
        assert!(
            missing[0].1.contains("no cgroup `pids` controller"),
            "{missing:?}"
        );
        // Nothing cgroup-wise set: nothing planned.
        let only_nice = Resources {
            nice: Some(1),
            ..Resources::default()
        };
        let (p, missing) = plan(&only_nice, "web", 7, &mounts, &[], &[]);
        assert!(p.dirs.is_empty() && missing.is_empty());
    }

    #[test]
    fn cgroups_of_dead_supervisors_of_the_same_service_are_stale() {
        let entries: Vec<String> = [
            "web-10.0",
            "web-11.3",
            "web-12.1",
            "web-api-13.0",
            "web-x.1",
            "web-10",
            "db-14.2",
            "web",
        ]
        .map(String::from)
        .to_vec();
        let alive = |pid| pid == 11;
        assert_eq!(stale(&entries, "web", 12, alive), ["web-10.0"]);
        assert_eq!(stale(&entries, "web-api", 12, alive), ["web-api-13.0"]);
        assert!(stale(&entries, "db", 14, alive).is_empty(), "its own");
    }
}

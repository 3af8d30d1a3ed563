//! What tend records about an install and how a spec looks once installed: shared by
//! the Unix backends and the Windows one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Layout;
use crate::spec::Spec;

/// What tend records about an install, next to the installed spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    /// The backend it was installed with.
    pub backend: String,
    /// The user tend created (and so may delete on purge); none if it existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_user: Option<String>,
    /// The group tend created; none if it existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_group: Option<String>,
    /// Directories tend created outside its own per-service ones (a custom `log.dir`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_dirs: Vec<PathBuf>,
    /// Windows: directories whose ACL grants the service's account access (recorded
    /// because some systems, such as Wine, cannot show such a grant when read back).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granted_dirs: Vec<PathBuf>,
    /// Windows: the account (`windows.account`) the directories were granted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Windows: tend granted `account` "Log on as a service" (it did not hold it), which
    /// `tend uninstall --purge` takes back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub granted_logon_right: bool,
    /// The tend binary the service runs.
    pub tend_bin: PathBuf,
    /// The files the backend wrote.
    pub files: Vec<PathBuf>,
    /// Unix: the install is under way. The record is written with this set before the
    /// install's first change, naming everything it is about to create, and rewritten
    /// without it by its last step; still set after an interrupted install, which a
    /// later install completes and `uninstall --purge` undoes. Absent in records of
    /// finished installs (and of older tends), which therefore load as finished.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

impl InstallRecord {
    /// The record's file text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// Reads an install record.
pub fn read_record(layout: &Layout, name: &str) -> Option<InstallRecord> {
    read_json(&layout.record_path(name))
}

/// Unix: where `tend uninstall NAME` without `--purge` keeps what tend created for the
/// service and left in place (its account, a custom log folder), so that a later
/// install takes them back as tend's and `tend uninstall NAME --purge` removes them.
/// Not an install record: `tend status` does not list the service.
pub fn kept_path(layout: &Layout, name: &str) -> PathBuf {
    super::join(&layout.spec_dir, &format!("{name}.kept.json"))
}

/// Reads what an uninstall without `--purge` kept (see [`kept_path`]).
pub fn read_kept(layout: &Layout, name: &str) -> Option<InstallRecord> {
    read_json(&kept_path(layout, name))
}

fn read_json(path: &Path) -> Option<InstallRecord> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// The spec as installed: relative paths made absolute (from the folder of the spec
/// file it came from), a dedicated account by default (Unix), and the working directory
/// defaulting to the service's state directory.
///
/// A Windows spec planned elsewhere (a dry run of a Windows install on Linux) is
/// resolved with Windows rules: `C:\logs` is absolute, `bin\app.exe` is relative, and
/// both separators count.
pub fn installed_spec(spec: &Spec, base: &Path, layout: &Layout) -> Spec {
    let mut s = spec.clone();
    let foreign_windows = layout.is_windows() && !cfg!(windows);
    let abs = |p: &Path| {
        if foreign_windows {
            windows_abs(base, p)
        } else {
            normalize(&if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            })
        }
    };
    let separators: &[char] = if foreign_windows {
        &['/', '\\']
    } else {
        &['/', std::path::MAIN_SEPARATOR]
    };
    if s.command.contains(separators) {
        s.command = abs(Path::new(&s.command)).display().to_string();
    }
    let reload = s.reload.as_mut().and_then(|r| r.command.first_mut());
    for hook in s.stop.command.first_mut().into_iter().chain(reload) {
        if hook.contains(separators) {
            *hook = abs(Path::new(hook.as_str())).display().to_string();
        }
    }
    s.working_dir = Some(
        s.working_dir
            .as_deref()
            .map_or_else(|| layout.state_dir(s.name.as_str()), abs),
    );
    s.env_file = s.env_file.as_deref().map(abs);
    s.log.dir = s.log.dir.as_deref().map(abs);
    // Unix: a dedicated account named after the service (on Windows the account is
    // `windows.account`, a per-service virtual account by default).
    if !layout.is_windows() && s.user.is_none() {
        s.user = Some(s.name.to_string());
    }
    s
}

/// `p` made absolute with Windows rules on another OS (a dry run of a Windows
/// install): a path with a drive or a UNC prefix is absolute, anything else is
/// relative to `base`; `.` and `..` are resolved and the separator is `\`.
fn windows_abs(base: &Path, p: &Path) -> PathBuf {
    let absolute = |t: &str| {
        let b = t.as_bytes();
        t.starts_with(r"\\")
            || (b.len() >= 3
                && b[0].is_ascii_alphabetic()
                && b[1] == b':'
                && matches!(b[2], b'\\' | b'/'))
    };
    let text = p.to_string_lossy();
    let full = if absolute(&text) {
        text.to_string()
    } else if text.starts_with(['/', '\\']) {
        // Rooted on the current drive: left as written.
        return p.to_path_buf();
    } else {
        format!(
            "{}\\{text}",
            base.to_string_lossy().trim_end_matches(['\\', '/'])
        )
    };
    if !absolute(&full) {
        return PathBuf::from(full);
    }
    let (prefix, rest) = match full.strip_prefix(r"\\") {
        Some(unc) => {
            let mut parts = unc.splitn(3, ['\\', '/']);
            let server = parts.next().unwrap_or_default();
            let share = parts.next().unwrap_or_default();
            (
                format!(r"\\{server}\{share}"),
                parts.next().unwrap_or_default().to_string(),
            )
        }
        None => (full[..2].to_string(), full[3..].to_string()),
    };
    let mut out: Vec<&str> = Vec::new();
    for c in rest.split(['\\', '/']) {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    PathBuf::from(format!("{prefix}\\{}", out.join("\\")))
}

/// The folder a spec file's relative paths are resolved against: its own (a Windows
/// spec file named elsewhere, in a dry run, by Windows rules).
pub fn spec_base(spec_file: &Path) -> PathBuf {
    if !cfg!(windows) && super::windows_style(spec_file) {
        let text = spec_file.to_string_lossy();
        let cut = text.rfind(['\\', '/']).unwrap_or(text.len());
        return PathBuf::from(&text[..cut]);
    }
    crate::supervise::prepare::spec_base(spec_file)
}

/// `a/b/../c/./d` as `a/c/d`, without touching the file system (an installed spec
/// shows plain absolute paths).
pub fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether two files exist and hold the same bytes (is the installed copy of tend this
/// binary?).
pub fn same_content(a: &Path, b: &Path) -> bool {
    std::fs::read(a)
        .ok()
        .zip(std::fs::read(b).ok())
        .is_some_and(|(a, b)| a == b)
}

/// The installed spec's file: where it came from (`spec_file`, with the profile it
/// was loaded with), then the resolved spec.
pub fn installed_text(
    spec: &Spec,
    spec_file: &Path,
    profile: Option<&str>,
) -> Result<String, super::InstallError> {
    let mut text = format!(
        "# Installed by tend from {}{}. `tend install` rewrites this file.\n",
        if !cfg!(windows) && super::windows_style(spec_file) {
            // A Windows path read elsewhere (a dry run): already as written.
            spec_file.to_path_buf()
        } else {
            std::path::absolute(spec_file).unwrap_or(spec_file.to_path_buf())
        }
        .display(),
        profile
            .map(|p| format!(" (profile {p})"))
            .unwrap_or_default()
    );
    // `[env]` values are expanded when a spec is loaded (`${NAME}`, `$$`), and the
    // installed copy is loaded again by `tend run`: its values, already expanded, are
    // written with every `$` as `$$`, so they load back as they are.
    let mut spec = spec.clone();
    for v in spec.env.values_mut() {
        *v = v.replace('$', "$$");
    }
    text.push_str(&toml::to_string(&spec).map_err(|e| {
        super::InstallError::Refused(format!("cannot write the resolved spec: {e}"))
    })?);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The installed copy of a spec loads back with the same `[env]` values, whatever
    /// dollars they hold after the first expansion (`5$`, `${X}` as text, `$$`).
    #[test]
    fn the_installed_spec_loads_back_with_the_same_env() {
        let original = "name = \"svc\"\ncommand = \"/bin/true\"\n[env]\nPRICE = \"5$$\"\nTEXT = \"$${X} and $$$$\"\nHOME_DIR = \"${H}/data\"\n";
        let opts = crate::spec::LoadOptions {
            env: vec![("H".into(), "/home/a$b".into())],
            ..Default::default()
        };
        let spec = crate::spec::load_str(Path::new("/s/svc.toml"), original, &opts)
            .unwrap()
            .services
            .remove(0);
        assert_eq!(spec.env["PRICE"], "5$");
        assert_eq!(spec.env["TEXT"], "${X} and $$");
        assert_eq!(spec.env["HOME_DIR"], "/home/a$b/data");
        let text = installed_text(&spec, Path::new("/s/svc.toml"), None).unwrap();
        // Loaded again with another environment, as `tend run` does under a manager.
        let other = crate::spec::LoadOptions {
            env: vec![("X".into(), "no".into()), ("H".into(), "no".into())],
            ..Default::default()
        };
        let again = crate::spec::load_str(Path::new("/etc/tend/svc.toml"), &text, &other)
            .unwrap()
            .services
            .remove(0);
        assert_eq!(again.env, spec.env);
    }

    #[test]
    fn windows_paths_are_resolved_with_windows_rules_anywhere() {
        let base = Path::new(r"C:\srv\web");
        for (path, want) in [
            (r"bin\app.exe", r"C:\srv\web\bin\app.exe"),
            (r"..\logs\.\x", r"C:\srv\logs\x"),
            (r"D:\logs", r"D:\logs"),
            (r"d:/a/../b", r"d:\b"),
            (r"\\server\share\logs\..\web", r"\\server\share\web"),
            (r"\rooted", r"\rooted"),
        ] {
            assert_eq!(
                windows_abs(base, Path::new(path)),
                PathBuf::from(want),
                "{path}"
            );
        }
        assert_eq!(
            spec_base(Path::new(r"C:\srv\web\web.toml")),
            PathBuf::from(r"C:\srv\web")
        );
    }

    #[test]
    fn records_without_pending_load_as_finished_and_pending_is_written_only_when_set() {
        // a record as tends before the write-ahead record wrote it
        let old = r#"{
  "backend": "systemd",
  "created_user": "web",
  "created_group": "web",
  "tend_bin": "/usr/local/bin/tend",
  "files": ["/etc/systemd/system/web.service"]
}"#;
        let r: InstallRecord = serde_json::from_str(old).unwrap();
        assert!(!r.pending);
        assert_eq!(r.created_user.as_deref(), Some("web"));
        assert!(!r.to_json().contains("pending"));
        let pending = InstallRecord {
            pending: true,
            ..r.clone()
        };
        assert!(pending.to_json().contains("\"pending\": true"));
        let back: InstallRecord = serde_json::from_str(&pending.to_json()).unwrap();
        assert_eq!(back, pending);
    }
}

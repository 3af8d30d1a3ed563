//! Spec text → `load` → the installed spec → every backend's rendering → read back
//! the way its service manager reads it (`tend::platform::parse_back`; a real plist
//! parser for launchd) → compared with what the spec means. A crash is a rendering
//! that the manager would read differently: a split path, an expanded `$`, a command
//! the shell would run, a key swallowed by a line continuation.
//!
//! Two input forms:
//! - spec text (TOML), where a line `#tend=PATH` sets tend's own install path;
//! - values separated by NUL bytes, written into a spec by the target (so that the
//!   fuzzer mutates values rather than TOML syntax): tend's path, description,
//!   working_dir, log.dir, display_name, user, group.
//!
//! tend's path defaults to `/usr/local/bin/tend`; as `tend install` does, a path that
//! `platform::check_tend_path` refuses is replaced by `/usr/local/bin/tend`.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use tend::platform::parse_back::{self, LaunchdJob, Meaning};
use tend::platform::{self, record::installed_spec, Layout};
use tend::spec::{load_str, LoadOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (text, tend_bin) = match input.split_once('\0') {
        Some((tend, values)) => (spec_from_values(values), Some(tend)),
        None => (
            input.to_string(),
            input.lines().find_map(|l| l.strip_prefix("#tend=")),
        ),
    };
    let tend_bin = tend_bin
        .map(PathBuf::from)
        .filter(|p| platform::check_tend_path(p).is_ok())
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin/tend"));
    let Ok(loaded) = load_str(
        Path::new("/srv/app/tend.toml"),
        &text,
        &LoadOptions::default(),
    ) else {
        return;
    };
    let layout = Layout::system(tend_bin);
    for spec in &loaded.services {
        let spec = installed_spec(spec, Path::new("/srv/app"), &layout);
        let m = Meaning::of(&spec, &layout);
        let name = spec.name.as_str();
        for backend in platform::BACKENDS {
            // Windows registers with the SCM, it renders no file.
            let Some(b) = platform::backend(backend) else {
                continue;
            };
            for file in b.render(&spec, &layout) {
                let r = match *backend {
                    "systemd" => parse_back::check_systemd(&file.content, &m, name),
                    "openrc" => parse_back::check_openrc(&file.content, &m, name),
                    "sysv" => parse_back::check_sysv(&file.content, &m, name),
                    "procd" => parse_back::check_procd(&file.content, &m, name),
                    "launchd" => launchd_job(&file.content)
                        .and_then(|job| parse_back::check_launchd(&job, &m, name)),
                    other => Err(format!("no read-back for {other}")),
                };
                if let Err(e) = r {
                    panic!(
                        "{backend} reads {} differently: {e}\n{}",
                        file.path.display(),
                        file.content
                    );
                }
            }
        }
    }
});

/// A spec with the NUL-separated `values` (description, working_dir, log.dir,
/// display_name, user, group; empty or missing ones are left out).
fn spec_from_values(values: &str) -> String {
    let mut text = String::from("name = \"svc\"\ncommand = \"/bin/svc\"\n");
    let mut log_dir = None;
    for (key, value) in [
        "description",
        "working_dir",
        "log.dir",
        "display_name",
        "user",
        "group",
    ]
    .into_iter()
    .zip(values.split('\0'))
    .filter(|(_, v)| !v.is_empty())
    {
        let quoted = toml_string(value);
        if key == "log.dir" {
            log_dir = Some(quoted);
        } else {
            text.push_str(&format!("{key} = {quoted}\n"));
        }
    }
    if let Some(d) = log_dir {
        text.push_str(&format!("[log]\ndir = {d}\n"));
    }
    text
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn launchd_job(text: &str) -> Result<LaunchdJob, String> {
    let v =
        plist::Value::from_reader_xml(text.as_bytes()).map_err(|e| format!("not a plist: {e}"))?;
    let d = v.as_dictionary().ok_or("not a dictionary")?;
    let s = |k: &str| d.get(k).and_then(|v| v.as_string()).map(str::to_string);
    let args = d
        .get("ProgramArguments")
        .and_then(|v| v.as_array())
        .ok_or("no ProgramArguments")?
        .iter()
        .map(|v| {
            v.as_string()
                .map(str::to_string)
                .ok_or("a non-string argument")
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LaunchdJob {
        label: s("Label").unwrap_or_default(),
        program_arguments: args,
        working_directory: s("WorkingDirectory"),
        standard_out_path: s("StandardOutPath"),
        standard_error_path: s("StandardErrorPath"),
        user_name: s("UserName"),
        group_name: s("GroupName"),
    })
}

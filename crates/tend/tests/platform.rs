//! Native artifacts: every backend's rendering, snapshot-tested, and the command lines
//! inside them parsed back by the real parsers (a shell, the systemd rules).

use std::path::{Path, PathBuf};

use tend::platform::{self, escape, Layout};
use tend::spec::{load_str, LoadOptions, Spec};

fn spec(text: &str) -> Spec {
    load_str(
        Path::new("/srv/orders/orders.toml"),
        text,
        &LoadOptions::default(),
    )
    .unwrap()
    .services
    .remove(0)
}

const FULL: &str = r#"
name = "orders"
description = "Order API: 100% uptime, costs $0"
command = "/opt/orders/orders"
args = ["--listen", "127.0.0.1:8080"]
user = "orders"
working_dir = "/var/lib/orders"
[stop]
timeout = "20s"
[log]
stdout = "inherit"
[systemd.unit]
After = "postgresql.service"
[systemd.service]
LimitNOFILE = "65536"
Restart = "always"
"#;

fn layouts() -> [Layout; 2] {
    [
        Layout::system(PathBuf::from("/usr/local/bin/tend")),
        Layout::system(PathBuf::from("/opt/my tools/tend $x%d")),
    ]
}

fn render(backend: &str, s: &Spec, layout: &Layout) -> String {
    let b = platform::backend(backend).unwrap();
    b.render(s, layout)
        .into_iter()
        .map(|a| {
            format!(
                "==> {} (mode {:o})\n{}",
                a.path.display(),
                a.mode,
                a.content
            )
        })
        .collect()
}

#[test]
fn snapshots() {
    let minimal = spec("name = \"mini\"\ncommand = \"/bin/mini\"\n");
    let full = spec(FULL);
    for backend in platform::BACKENDS {
        for (i, layout) in layouts().iter().enumerate() {
            insta::assert_snapshot!(
                format!("{backend}_full_{i}"),
                render(backend, &full, layout)
            );
        }
        insta::assert_snapshot!(
            format!("{backend}_minimal"),
            render(backend, &minimal, &layouts()[0])
        );
    }
}

#[test]
fn systemd_exec_start_parses_back_to_the_run_command() {
    let s = spec(FULL);
    for layout in layouts() {
        let unit = tend::platform::systemd::render_unit(&s, &layout);
        let line = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap();
        let argv = tend::platform::systemd::exec_argv(&s, &layout);
        assert_eq!(escape::systemd_split(line).unwrap(), argv, "{line}");
        assert_eq!(argv[1..3], ["run", "--no-guard"]);
    }
}

#[test]
fn init_scripts_are_valid_shell_and_their_command_args_split_right() {
    let s = spec(FULL);
    for backend in ["openrc", "sysv"] {
        for layout in layouts() {
            let text = render(backend, &s, &layout);
            let script = text.split_once('\n').unwrap().1;
            let check = std::process::Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(script)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{backend}: sh -n: {}\n{script}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    // openrc-run evaluates command_args with the shell: the words must be the run command.
    for layout in layouts() {
        let script = tend::platform::openrc::render_script(&s, &layout);
        let vars: String = script
            .lines()
            .filter(|l| l.starts_with("command"))
            .map(|l| format!("{l}\n"))
            .collect();
        let probe = format!(
            "{vars}eval \"set -- \\\"\\$command\\\" $command_args\"; printf '%s\\0' \"$@\""
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&probe)
            .output()
            .unwrap();
        let words: Vec<String> = out
            .stdout
            .split(|&b| b == 0)
            .map(|w| String::from_utf8_lossy(w).to_string())
            .collect();
        assert_eq!(&words[..words.len() - 1], layout.run_argv(&s), "{probe}");
    }
}

#[test]
fn detection_follows_the_running_manager() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(
        platform::detect(root.path()),
        if cfg!(target_os = "macos") {
            Some("launchd")
        } else {
            None
        }
    );
    std::fs::create_dir_all(root.path().join("run/openrc")).unwrap();
    assert_eq!(platform::detect(root.path()), Some("openrc"));
    std::fs::create_dir_all(root.path().join("run/systemd/system")).unwrap();
    assert_eq!(platform::detect(root.path()), Some("systemd"));
}

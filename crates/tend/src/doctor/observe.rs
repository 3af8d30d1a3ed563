//! What `tend doctor` observes of one service, in one place: its state (as `tend
//! status` read it), its spec, the program's file and folders, `ldd`, the ports. The
//! OS-specific looks are in `supervise/sys/*_doctor.rs`; the decisions are
//! [`super::diagnose`]'s.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};

use super::{
    binary_kind, probe_address, DiskFacts, Facts, FolderFacts, PortFacts, ProgramFacts, Sandbox,
    HEAD_LEN,
};
use crate::explain::Family;
use crate::platform::{self, Layout};
use crate::spec::{SocketAddress, Spec};
use crate::supervise::sys::Perm;
use crate::supervise::{state, sys};

/// What is known of a service before looking at its files: `tend status`'s view.
#[derive(Clone, Debug, Default)]
pub(crate) struct Known {
    /// Installed as a native service.
    pub(crate) installed: bool,
    /// The supervisor's view, from its state file.
    pub(crate) status: Option<state::Status>,
    /// Whether the supervisor of the state file still runs.
    pub(crate) supervisor_alive: bool,
    /// The installed unit differs from what its spec renders now.
    pub(crate) drift: Option<bool>,
    /// The state file read (or looked for): its folder is the service's state folder.
    pub(crate) state_file: Option<PathBuf>,
}

/// The first bytes of a file, for [`binary_kind`].
fn head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(HEAD_LEN);
    std::fs::File::open(path)
        .ok()?
        .take(HEAD_LEN as u64)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

/// The sandbox of the systemd unit installed for `spec`, if it is installed as one.
fn installed_sandbox(layout: &Layout, spec: &Spec) -> Option<Sandbox> {
    let name = spec.name.as_str();
    let rec = platform::record::read_record(layout, name)?;
    let backend = platform::backend(&rec.backend)?;
    let unit = backend
        .render(spec, layout)
        .into_iter()
        .find(|a| a.path.extension().is_some_and(|e| e == "service"))?;
    let text = std::fs::read_to_string(&unit.path).ok()?;
    let view = platform::parse_back::systemd::read(&text).ok()?;
    let key = |k: &str| view.keys.get(k).cloned().unwrap_or_default();
    Some(Sandbox {
        protect_system: key("Service.ProtectSystem"),
        protect_home: key("Service.ProtectHome"),
        read_write_paths: view.read_write_paths,
    })
}

/// The path and each folder above it, with owner and mode.
fn chain(path: &Path) -> Vec<(PathBuf, Option<Perm>)> {
    path.ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| {
            let perm = std::fs::metadata(p).ok().as_ref().and_then(sys::perm_of);
            (p.to_path_buf(), perm)
        })
        .collect()
}

/// Whether another process listens on `addr`: bound for a moment to find out (`None`
/// when the answer is unclear: no permission for a low port, an address not here).
fn tcp_in_use(addr: &str) -> (Option<bool>, u16) {
    let Some(sa) = addr.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return (None, 0);
    };
    let probe = |sa: SocketAddr| match TcpListener::bind(sa) {
        Ok(_) => Some(false),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Some(true),
        Err(_) => None,
    };
    (probe(sa), sa.port())
}

/// The facts of one port.
fn port_facts(what: String, address: String) -> PortFacts {
    let (in_use, port) = tcp_in_use(&address);
    let holder = in_use.filter(|u| *u).and_then(|_| sys::listener_of(port));
    PortFacts {
        what,
        address,
        in_use,
        holder,
    }
}

/// Observes what [`super::diagnose`] needs of service `spec` (or of a spec that could not be
/// read), with its state where it has any.
pub(crate) fn observe(
    row: Option<Known>,
    name: &str,
    spec_path: Option<PathBuf>,
    spec: Result<Option<Spec>, String>,
) -> Facts {
    let (spec, spec_error) = match spec {
        Ok(s) => (s, None),
        Err(e) => (None, Some(e)),
    };
    let row = row.unwrap_or_default();
    let live = row.supervisor_alive;
    let base = spec_path
        .as_ref()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let account = spec
        .as_ref()
        .map(|s| sys::account_ids(s.user.as_deref(), s.group.as_deref()));
    let program = spec.as_ref().map(|s| {
        let path_var = s
            .env
            .get("PATH")
            .map(std::ffi::OsString::from)
            .or_else(|| std::env::var_os("PATH"));
        let resolved =
            sys::resolve_command(&s.command, &base, path_var.as_deref()).map_err(|e| e.to_string());
        // As the service's account where the doctor may take it (root), else as its own.
        let who = account.as_ref().and_then(|a| a.as_ref().ok());
        let ldd_as = who
            .filter(|w| w.uid != 0 && sys::is_root())
            .map(|w| w.name.clone());
        let me = sys::account_ids(None, None).ok();
        let ldd_not_as = who
            .filter(|w| !sys::is_root() && me.as_ref().is_some_and(|m| m.uid != w.uid))
            .map(|w| w.name.clone());
        let lib_path = s.env.get("LD_LIBRARY_PATH").map(std::ffi::OsStr::new);
        let (chain, ldd, binary) = match &resolved {
            Ok(p) => (
                chain(p),
                sys::ldd(p, who, lib_path),
                head(p).map(|h| binary_kind(&h)),
            ),
            Err(_) => (Vec::new(), None, None),
        };
        ProgramFacts {
            command: s.command.clone(),
            resolved: Some(resolved),
            chain,
            ldd,
            ldd_as,
            ldd_not_as,
            binary,
        }
    });
    let working_dir = spec
        .as_ref()
        .and_then(|s| s.working_dir.clone())
        .map(|d| chain(&d))
        .unwrap_or_default();
    let mut ports = Vec::new();
    if let Some(s) = &spec {
        for l in &s.listen {
            if let SocketAddress::Tcp(a) = &l.address {
                let what = format!("[[listen]] {}", l.name);
                ports.push(if live {
                    PortFacts {
                        what,
                        address: a.to_string(),
                        in_use: Some(true),
                        holder: None,
                    }
                } else {
                    port_facts(what, a.to_string())
                });
            }
        }
        if let Some(h) = &s.health {
            if let Some(a) = probe_address(h.http.as_deref(), h.tcp.as_deref()) {
                ports.push(port_facts("[health]".to_string(), a));
            }
        }
    }
    // The folders the supervisor writes, and its account: the service's own when
    // installed (the service manager starts `tend run` as it), else whoever runs
    // `tend run` (taken to be who runs the doctor).
    let layout = Layout::system(PathBuf::new());
    let mut folders = Vec::new();
    let mut log_disk = None;
    let mut sandbox = None;
    let writer = spec.as_ref().map(|s| {
        let (state_dir, log_dir) = if row.installed {
            sandbox = installed_sandbox(&layout, s);
            (Some(layout.state_dir(s.name.as_str())), layout.log_dir(s))
        } else {
            (
                row.state_file
                    .as_ref()
                    .and_then(|f| f.parent())
                    .map(Path::to_path_buf),
                crate::supervise::logfile::log_dir(s, &base, &crate::supervise::default_log_dir()),
            )
        };
        folders.extend(state_dir.map(|d| FolderFacts {
            what: "state folder",
            chain: chain(&d),
            own: row.installed,
        }));
        log_disk = log_dir.ancestors().find(|d| d.exists()).and_then(|d| {
            sys::free_bytes(d).map(|free| DiskFacts {
                path: log_dir.clone(),
                free,
            })
        });
        folders.push(FolderFacts {
            what: "log folder",
            chain: chain(&log_dir),
            own: row.installed && s.log.dir.is_none(),
        });
        if row.installed {
            // Without `user` the service manager runs it as root.
            match s.user {
                Some(_) => account
                    .clone()
                    .unwrap_or_else(|| sys::account_ids(None, None)),
                None => sys::account_ids(Some("root"), None),
            }
        } else {
            sys::account_ids(None, None)
        }
    });
    Facts {
        name: name.to_string(),
        spec_path,
        spec_error,
        installed: row.installed,
        status: row.status,
        supervisor_alive: live,
        drift: row.drift,
        max_restarts: spec.as_ref().map(|s| s.restart.max_restarts),
        program,
        account,
        working_dir,
        ports,
        folders,
        writer,
        sandbox,
        log_disk,
        host_arch: std::env::consts::ARCH,
        root: sys::is_root(),
        family: Family::HOST,
    }
}

/// The spec of service `name` in the file at `path`.
pub(crate) fn load_spec(path: &Path, name: &str) -> Result<Option<Spec>, String> {
    let loaded = crate::spec::load_file(path, &crate::spec::LoadOptions::with_process_env())
        .map_err(|e| e.to_string())?;
    Ok(loaded
        .services
        .into_iter()
        .find(|s| s.name.as_str() == name))
}

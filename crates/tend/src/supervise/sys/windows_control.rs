//! The control channel on Windows: a named pipe per service, named after the state
//! folder and the service (two state folders never share a pipe), created with an ACL
//! that grants only SYSTEM, Administrators and the pipe's owner, refusing remote
//! clients, and as the first instance of its name (a pipe someone else created first
//! is an error, not a channel). Unix has the same names in `unix_control.rs`.

use std::ffi::c_void;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::net::windows::named_pipe::{
    ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions,
};
use windows_sys::Win32::Foundation::{LocalFree, ERROR_PIPE_BUSY};
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES};

/// Full access for SYSTEM, Administrators and the owner; nobody else; not inherited.
const OWNER_ONLY: &str = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)";

/// A service's control pipe, waiting for a client.
pub struct ControlListener {
    name: String,
    descriptor: SecurityDescriptor,
    server: NamedPipeServer,
}

/// A connection as the supervisor sees it.
pub type ControlStream = NamedPipeServer;

/// A connection as the client sees it.
pub type ControlClient = NamedPipeClient;

/// The file of the channel of `name` that a dead supervisor leaves behind: none (a
/// named pipe ends with its last handle).
pub fn control_file(_state_dir: &Path, _name: &str) -> Option<std::path::PathBuf> {
    None
}

/// The pipe of `name` for the state folder `state_dir`.
pub fn control_address(state_dir: &Path, name: &str) -> String {
    let dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    crate::supervise::control::pipe_name(&dir.to_string_lossy(), name)
}

/// A security descriptor made by `ConvertStringSecurityDescriptorToSecurityDescriptorW`,
/// freed with `LocalFree`.
struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

impl SecurityDescriptor {
    fn from_sddl(sddl: &str) -> io::Result<SecurityDescriptor> {
        let wide: Vec<u16> = sddl.encode_utf16().chain(Some(0)).collect();
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `wide` is a NUL-terminated UTF-16 string; `sd` receives a descriptor
        // that this value owns and frees.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SecurityDescriptor(sd))
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW,
        // freed once.
        unsafe { LocalFree(self.0) };
    }
}

/// A pipe instance of `name` with `descriptor`'s ACL.
fn create(name: &str, descriptor: &SecurityDescriptor, first: bool) -> io::Result<NamedPipeServer> {
    let mut sa = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    };
    // SAFETY: `sa` is a valid SECURITY_ATTRIBUTES for the duration of the call, and
    // its descriptor is alive (the pipe keeps its own copy of the ACL).
    unsafe {
        ServerOptions::new()
            .first_pipe_instance(first)
            .reject_remote_clients(true)
            .create_with_security_attributes_raw(
                name,
                &mut sa as *mut SECURITY_ATTRIBUTES as *mut c_void,
            )
    }
}

impl ControlListener {
    /// Opens the channel of `name` for the state folder `state_dir`.
    pub fn bind(state_dir: &Path, name: &str) -> io::Result<ControlListener> {
        let pipe = control_address(state_dir, name);
        let descriptor = SecurityDescriptor::from_sddl(OWNER_ONLY)?;
        let server = create(&pipe, &descriptor, true)?;
        Ok(ControlListener {
            name: pipe,
            descriptor,
            server,
        })
    }

    /// The next connection (the ACL already decided who may connect).
    pub async fn accept(&mut self) -> io::Result<(ControlStream, Result<(), String>)> {
        self.server.connect().await?;
        let next = create(&self.name, &self.descriptor, false)?;
        Ok((std::mem::replace(&mut self.server, next), Ok(())))
    }
}

/// Connects to the channel of `name` for the state folder `state_dir`; waits a little
/// while every instance is busy.
pub async fn control_connect(state_dir: &Path, name: &str) -> io::Result<ControlClient> {
    let pipe = control_address(state_dir, name);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match ClientOptions::new().open(&pipe) {
            Err(e)
                if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32)
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            r => return r,
        }
    }
}

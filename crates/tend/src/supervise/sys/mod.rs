//! Platform process control behind one set of names: `spawn` a contained child,
//! `request_stop` it gracefully, `kill_tree` after the timeout, `clean_up_after_exit`,
//! and the output pipe type the pumps read. Unix uses process groups and signals;
//! Windows uses Job Objects and console Ctrl-C.
#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

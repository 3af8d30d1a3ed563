//! Platform process control behind one set of names. Only Unix is implemented so far;
//! the Windows side (Job Objects, console Ctrl events) has its own module to come.
#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

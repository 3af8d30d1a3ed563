//! The Windows engine where there is no SCM: nothing is installed (so a dry run plans
//! a fresh install), and anything that would change the system says it needs Windows.

use std::path::Path;

use super::super::engine::InstallRequest;
use super::super::{InstallError, Layout, NativeStatus};
use super::Observed;
use crate::spec::Spec;

fn not_here(what: &str) -> InstallError {
    InstallError::not_here(what)
}

/// Nothing is installed: there is no SCM to ask.
pub fn observe(
    _spec: &Spec,
    _layout: &Layout,
    _copy_from: Option<&Path>,
) -> Result<Observed, InstallError> {
    Ok(Observed::default())
}

/// `tend install --backend windows`: only a dry run, anywhere but Windows.
pub fn install(
    r: &InstallRequest<'_>,
    out: &mut dyn std::io::Write,
) -> Result<super::super::engine::InstallOutcome, InstallError> {
    if !r.dry_run {
        return Err(InstallError::NotOnThisOs {
            what: "installing a Windows service".into(),
            dry_run_works: true,
        });
    }
    let current = std::env::current_exe().unwrap_or_default();
    let (tend_bin, copy) = super::tend_location(&current);
    let layout = Layout::windows(tend_bin);
    let (text, outcome) = super::super::engine::preview_outcome(
        r,
        super::BACKEND,
        &layout,
        copy.then_some(current.as_path()),
        super::super::engine::Seen::System,
    )?;
    let _ = out.write_all(text.as_bytes());
    Ok(outcome)
}

/// Never called: `tend control` exists only where there is a service control manager
/// (the engine has one name for it on every OS).
pub fn send_control_code(_name: &str, _code: u8) -> Result<String, InstallError> {
    Err(not_here("sending a control code to a Windows service"))
}

/// No SCM to ask.
pub fn query(_name: &str) -> Result<NativeStatus, InstallError> {
    Err(not_here("asking the Windows service control manager"))
}

/// No SCM to ask.
pub fn drifted(_spec: &Spec, _layout: &Layout) -> Option<bool> {
    None
}

//! Upgrades: verifying a release, putting it on disk beside the previous ones, and
//! switching a service to it (or back).
//!
//! - [`minisign`]: the signature check (minisign's format, its public keys).
//! - [`fetch`]: getting an artifact onto disk (a path, or an http(s) URL, resumable,
//!   size and sha256 checked).
//! - [`unpack`]: `.tar.gz` and `.zip` archives into a release folder.
//! - [`release`]: the releases of a service and which one is current.
//! - [`channel`]: a release channel's manifest, and what to do with it.
pub mod channel;
pub mod fetch;
pub mod minisign;
pub mod release;
pub mod unpack;

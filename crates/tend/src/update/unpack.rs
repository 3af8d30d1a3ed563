//! Archives into a release folder (in progress: a program file only).

use std::path::Path;

/// What an artifact is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A program file.
    Program,
    /// A `.tar.gz`.
    TarGz,
    /// A `.zip`.
    Zip,
}

/// What `path` holds, by its first bytes.
pub fn kind_of(path: &Path) -> Kind {
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut magic))
        .unwrap_or(0);
    match &magic[..n] {
        [0x1f, 0x8b, ..] => Kind::TarGz,
        [b'P', b'K', 3, 4] => Kind::Zip,
        _ => Kind::Program,
    }
}

/// Why an archive cannot be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// Not supported yet.
    #[error("{0} archives cannot be unpacked yet: give the program file")]
    Unsupported(&'static str),
}

/// What was unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unpacked {
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Unpacks `archive` into the new folder `into`.
pub fn unpack(_archive: &Path, kind: Kind, _into: &Path) -> Result<Unpacked, UnpackError> {
    Err(UnpackError::Unsupported(match kind {
        Kind::Zip => "zip",
        _ => "tar.gz",
    }))
}

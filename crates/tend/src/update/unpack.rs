//! `.tar.gz` and `.zip` artifacts into a release folder, safely.
//!
//! An archive comes from the network; what it holds is checked before anything is
//! written and again as it is written:
//!
//! - every entry's path is relative and stays inside: no absolute path, no drive or
//!   stream (`C:`, `a:b`), no `..` ([`entry_path`]);
//! - a symbolic link must point inside the folder, judged where it sits
//!   ([`link_stays_inside`]) and, once everything is written, where it really leads;
//!   a hard link must name a file already unpacked; nothing is written through a link;
//! - devices, fifos and sockets are refused;
//! - the entries and their bytes are capped ([`Limits`]), counted from the headers
//!   first and from what is really written then (a lying header is caught too).
//!
//! Files keep their executable bit (Unix; the others get `0644`, folders `0755`);
//! a single top-level folder (`app-1.2/…`) is stripped. Everything is written into a
//! temporary sibling of the destination, renamed into place at the end: a failure
//! leaves nothing behind.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// What an artifact is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A program file, used as it is.
    Program,
    /// A gzip-compressed tar archive.
    TarGz,
    /// A zip archive.
    Zip,
}

/// What an artifact is, by its first bytes (gzip's `1f 8b`, zip's `PK\3\4` or, for
/// an empty one, `PK\5\6`); when they say neither, by its name (`.tar.gz`, `.tgz`,
/// `.zip`: unpacking it then says what is wrong); else a program.
pub fn kind_of(path: &Path) -> Kind {
    let mut magic = [0u8; 4];
    let n = File::open(path)
        .and_then(|mut f| read_up_to(&mut f, &mut magic))
        .unwrap_or(0);
    match &magic[..n] {
        [0x1f, 0x8b, ..] => return Kind::TarGz,
        [b'P', b'K', 3, 4] | [b'P', b'K', 5, 6] => return Kind::Zip,
        _ => {}
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Kind::TarGz
    } else if name.ends_with(".zip") {
        Kind::Zip
    } else {
        Kind::Program
    }
}

/// Reads until `buf` is full or the file ends; how much came.
fn read_up_to(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            m => n += m,
        }
    }
    Ok(n)
}

/// The most an archive may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of file content, unpacked.
    pub max_bytes: u64,
    /// Entries (files, folders, links).
    pub max_entries: usize,
}

impl Default for Limits {
    /// 4 GiB in 100 000 entries.
    fn default() -> Limits {
        Limits {
            max_bytes: 4 << 30,
            max_entries: 100_000,
        }
    }
}

/// What was unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unpacked {
    /// Files and links written (not folders).
    pub files: usize,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Why an entry is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// An absolute path.
    #[error("is an absolute path")]
    Absolute,
    /// A `..` component.
    #[error("goes up with `..`")]
    ParentDir,
    /// A `:` (a drive `C:` or an NTFS stream on Windows).
    #[error("names a drive or stream (`:`)")]
    Colon,
    /// A NUL byte.
    #[error("contains a NUL byte")]
    Nul,
    /// A name that is not UTF-8.
    #[error("is not UTF-8")]
    NotUtf8,
    /// A symbolic link out of the folder.
    #[error("is a link to {0:?}, outside the folder")]
    LinkOutside(String),
    /// A hard link to something that is not a file unpacked before it.
    #[error("is a hard link to {0:?}, which is not a file unpacked before it")]
    HardLink(String),
    /// Its path goes through a symbolic link.
    #[error("would be written through the link {0:?}")]
    ThroughLink(String),
    /// A device, fifo or socket.
    #[error("is a {0}; only files, folders and links are unpacked")]
    Special(&'static str),
    /// A folder where a file is, or the other way round.
    #[error("conflicts with an earlier entry of the same name")]
    Conflict,
    /// A symbolic link on a system where tend does not make them.
    #[error("is a symbolic link; links in archives are not supported on this system")]
    LinkUnsupported,
}

/// Why unpacking failed. Nothing is left behind.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The destination exists.
    #[error("{} already exists; unpack into a new folder", .0.display())]
    Exists(PathBuf),
    /// [`Kind::Program`] is not unpacked.
    #[error("{} is a program, not an archive", .0.display())]
    NotAnArchive(PathBuf),
    /// The archive cannot be read as its kind.
    #[error("{}: cannot be read as a {kind}: {why}", archive.display())]
    Corrupt {
        /// The archive.
        archive: PathBuf,
        /// `.tar.gz` or `.zip`.
        kind: &'static str,
        /// What is wrong.
        why: String,
    },
    /// An entry that is not unpacked.
    #[error("{}: refused: the entry {name:?} {why}", archive.display())]
    Refused {
        /// The archive.
        archive: PathBuf,
        /// The entry's name as the archive writes it.
        name: String,
        /// Why.
        why: Refusal,
    },
    /// More entries than allowed.
    #[error("{}: holds more than {max} entries", archive.display())]
    TooManyEntries {
        /// The archive.
        archive: PathBuf,
        /// The limit.
        max: usize,
    },
    /// More bytes than allowed.
    #[error("{}: holds more than {max} bytes unpacked", archive.display())]
    TooBig {
        /// The archive.
        archive: PathBuf,
        /// The limit.
        max: u64,
    },
    /// A file operation failed.
    #[error("cannot {action} {}: {}", path.display(), crate::text::io_error(source))]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Unpacks `archive` (a [`Kind::TarGz`] or [`Kind::Zip`]) into `into`, which must not
/// exist, within the default [`Limits`].
///
/// It blocks (decompressing and writing): inside the supervisor, run it with
/// `tokio::task::spawn_blocking`.
pub fn unpack(archive: &Path, kind: Kind, into: &Path) -> Result<Unpacked, UnpackError> {
    unpack_with(archive, kind, into, &Limits::default())
}

/// [`unpack`] within `limits`.
pub fn unpack_with(
    archive: &Path,
    kind: Kind,
    into: &Path,
    limits: &Limits,
) -> Result<Unpacked, UnpackError> {
    let format: &mut dyn Format = match kind {
        Kind::Program => return Err(UnpackError::NotAnArchive(archive.to_path_buf())),
        Kind::TarGz => &mut TarGz(archive),
        Kind::Zip => &mut Zip::open(archive)?,
    };
    if fs::symlink_metadata(into).is_ok() {
        return Err(UnpackError::Exists(into.to_path_buf()));
    }
    // Everything is checked before anything is written.
    let listed = format.list()?;
    let refuse = |name: &str, why| UnpackError::Refused {
        archive: archive.to_path_buf(),
        name: name.to_string(),
        why,
    };
    if listed.len() > limits.max_entries {
        return Err(UnpackError::TooManyEntries {
            archive: archive.to_path_buf(),
            max: limits.max_entries,
        });
    }
    let mut declared = 0u64;
    let mut paths = Vec::with_capacity(listed.len());
    for e in &listed {
        if let What::Special(what) = e.what {
            return Err(refuse(&e.name, Refusal::Special(what)));
        }
        declared = declared.saturating_add(e.size);
        paths.push(entry_path(&e.name).map_err(|why| refuse(&e.name, why))?);
    }
    if declared > limits.max_bytes {
        return Err(UnpackError::TooBig {
            archive: archive.to_path_buf(),
            max: limits.max_bytes,
        });
    }
    let tops: Vec<(&[String], bool)> = paths
        .iter()
        .zip(&listed)
        .map(|(p, e)| (p.as_slice(), e.what == What::Dir))
        .collect();
    let strip = single_top(&tops);

    let mut temp = Temp::beside(into)?;
    let mut out = Writer {
        archive,
        root: temp.path.clone(),
        strip,
        limits,
        done: Unpacked { files: 0, bytes: 0 },
        links: Vec::new(),
    };
    format.extract(&mut out)?;
    out.check_links()?;
    fs::rename(&temp.path, into).map_err(io("rename into place", into))?;
    temp.kept = true;
    Ok(out.done)
}

/// The components of an entry's path (`/` and `\` both separate; `.` and empty ones
/// dropped: `./bin/app` is `bin/app`), or why it is refused.
pub fn entry_path(name: &str) -> Result<Vec<String>, Refusal> {
    if name.contains('\0') {
        return Err(Refusal::Nul);
    }
    if name.starts_with(['/', '\\']) {
        return Err(Refusal::Absolute);
    }
    let mut out = Vec::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(Refusal::ParentDir),
            p if p.contains(':') => return Err(Refusal::Colon),
            p => out.push(p.to_string()),
        }
    }
    Ok(out)
}

/// Whether a symbolic link at `at` (its path's components) pointing to `target`
/// stays inside the folder, judged by its text.
pub fn link_stays_inside(at: &[String], target: &str) -> Result<(), Refusal> {
    let outside = || Refusal::LinkOutside(target.to_string());
    if target.is_empty() || target.starts_with(['/', '\\']) || target.contains(':') {
        return Err(outside());
    }
    if target.contains('\0') {
        return Err(Refusal::Nul);
    }
    let mut depth = at.len().saturating_sub(1); // the link's folder
    for part in target.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => depth = depth.checked_sub(1).ok_or_else(outside)?,
            _ => depth += 1,
        }
    }
    Ok(())
}

/// The single top-level folder to strip, when every entry (its path, whether it is a
/// folder) lies in one, and that is a folder.
pub fn single_top(entries: &[(&[String], bool)]) -> Option<String> {
    let mut top: Option<&str> = None;
    for (path, is_dir) in entries {
        let Some(first) = path.first() else { continue };
        if path.len() == 1 && !is_dir {
            return None; // a file at the top
        }
        match top {
            None => top = Some(first),
            Some(t) if t == first => {}
            Some(_) => return None,
        }
    }
    top.map(str::to_string)
}

/// An entry as listed.
#[derive(Clone, Debug)]
struct Listed {
    name: String,
    what: What,
    size: u64,
}

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum What {
    Dir,
    File,
    Symlink,
    HardLink,
    /// A device, fifo, socket or a kind not unpacked (named).
    Special(&'static str),
}

/// An archive format: lists its entries, then writes them.
trait Format {
    fn list(&mut self) -> Result<Vec<Listed>, UnpackError>;
    fn extract(&mut self, out: &mut Writer) -> Result<(), UnpackError>;
}

/// A `.tar.gz`.
struct TarGz<'a>(&'a Path);

impl TarGz<'_> {
    fn open(&self) -> Result<tar::Archive<flate2::read::GzDecoder<BufReader<File>>>, UnpackError> {
        let f = File::open(self.0).map_err(io("read", self.0))?;
        Ok(tar::Archive::new(flate2::read::GzDecoder::new(
            BufReader::new(f),
        )))
    }

    fn corrupt(&self, e: &io::Error) -> UnpackError {
        UnpackError::Corrupt {
            archive: self.0.to_path_buf(),
            kind: ".tar.gz",
            why: crate::text::io_error(e),
        }
    }

    fn what(t: tar::EntryType) -> Option<What> {
        use tar::EntryType as T;
        Some(match t {
            T::Regular | T::Continuous => What::File,
            T::Directory => What::Dir,
            T::Symlink => What::Symlink,
            T::Link => What::HardLink,
            T::Char => What::Special("character device"),
            T::Block => What::Special("block device"),
            T::Fifo => What::Special("fifo"),
            T::GNUSparse => What::Special("sparse file"),
            // Headers the tar crate has not folded into the entry: nothing to write.
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => return None,
            _ => What::Special("entry of an unknown type"),
        })
    }

    fn name(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

impl Format for TarGz<'_> {
    fn list(&mut self) -> Result<Vec<Listed>, UnpackError> {
        let mut archive = self.open()?;
        let mut out = Vec::new();
        for entry in archive.entries().map_err(|e| self.corrupt(&e))? {
            let entry = entry.map_err(|e| self.corrupt(&e))?;
            let Some(what) = Self::what(entry.header().entry_type()) else {
                continue;
            };
            let name = Self::name(&entry.path_bytes());
            if std::str::from_utf8(&entry.path_bytes()).is_err() {
                return Err(UnpackError::Refused {
                    archive: self.0.to_path_buf(),
                    name,
                    why: Refusal::NotUtf8,
                });
            }
            let size = if what == What::File { entry.size() } else { 0 };
            out.push(Listed { name, what, size });
        }
        Ok(out)
    }

    fn extract(&mut self, out: &mut Writer) -> Result<(), UnpackError> {
        let mut archive = self.open()?;
        for entry in archive.entries().map_err(|e| self.corrupt(&e))? {
            let mut entry = entry.map_err(|e| self.corrupt(&e))?;
            let Some(what) = Self::what(entry.header().entry_type()) else {
                continue;
            };
            let name = Self::name(&entry.path_bytes());
            let link = entry.link_name_bytes().map(|b| Self::name(&b));
            match what {
                What::Dir => out.dir(&name)?,
                What::File => {
                    let exec = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
                    out.file(&name, exec, &mut entry)
                        .map_err(|e| e.or_corrupt(self))?;
                }
                What::Symlink => out.symlink(&name, link.as_deref().unwrap_or_default())?,
                What::HardLink => out.hard_link(&name, link.as_deref().unwrap_or_default())?,
                What::Special(s) => {
                    return Err(out.refuse(&name, Refusal::Special(s)));
                }
            }
        }
        Ok(())
    }
}

/// A `.zip`.
struct Zip<'a> {
    path: &'a Path,
    archive: zip::ZipArchive<BufReader<File>>,
}

impl<'a> Zip<'a> {
    fn open(path: &'a Path) -> Result<Zip<'a>, UnpackError> {
        let f = File::open(path).map_err(io("read", path))?;
        let archive =
            zip::ZipArchive::new(BufReader::new(f)).map_err(|e| Self::corrupt(path, &e))?;
        Ok(Zip { path, archive })
    }

    fn corrupt(path: &Path, e: &dyn std::fmt::Display) -> UnpackError {
        UnpackError::Corrupt {
            archive: path.to_path_buf(),
            kind: ".zip",
            why: e.to_string(),
        }
    }

    /// What an entry is by its Unix mode (when the archive has one) and name.
    fn what(f: &zip::read::ZipFile<'_, BufReader<File>>) -> What {
        match f.unix_mode().map(|m| m & 0o170000) {
            Some(0o020000) => What::Special("character device"),
            Some(0o060000) => What::Special("block device"),
            Some(0o010000) => What::Special("fifo"),
            Some(0o140000) => What::Special("socket"),
            _ if f.is_symlink() => What::Symlink,
            _ if f.is_dir() => What::Dir,
            _ => What::File,
        }
    }
}

impl Format for Zip<'_> {
    fn list(&mut self) -> Result<Vec<Listed>, UnpackError> {
        let mut out = Vec::new();
        for i in 0..self.archive.len() {
            let f = self
                .archive
                .by_index_raw(i)
                .map_err(|e| Self::corrupt(self.path, &e))?;
            let name = f.name().map_err(|e| Self::corrupt(self.path, &e))?;
            let what = Self::what(&f);
            let size = if what == What::File { f.size() } else { 0 };
            out.push(Listed {
                name: name.into_owned(),
                what,
                size,
            });
        }
        Ok(out)
    }

    fn extract(&mut self, out: &mut Writer) -> Result<(), UnpackError> {
        for i in 0..self.archive.len() {
            let mut f = self
                .archive
                .by_index(i)
                .map_err(|e| Self::corrupt(self.path, &e))?;
            let name = f
                .name()
                .map_err(|e| Self::corrupt(self.path, &e))?
                .into_owned();
            match Self::what(&f) {
                What::Dir => out.dir(&name)?,
                What::File => {
                    let exec = f.unix_mode().is_some_and(|m| m & 0o111 != 0);
                    let path = self.path;
                    out.file(&name, exec, &mut f)
                        .map_err(|e| e.or(|e| Self::corrupt(path, &crate::text::io_error(&e))))?;
                }
                What::Symlink => {
                    let mut target = Vec::new();
                    (&mut f)
                        .take(4096)
                        .read_to_end(&mut target)
                        .map_err(|e| Self::corrupt(self.path, &crate::text::io_error(&e)))?;
                    out.symlink(&name, &String::from_utf8_lossy(&target))?;
                }
                What::HardLink => unreachable!("zip has no hard links"),
                What::Special(s) => return Err(out.refuse(&name, Refusal::Special(s))),
            }
        }
        Ok(())
    }
}

/// Writing a file failed: reading the archive (it is damaged) or the file system.
enum FileError {
    Read(io::Error),
    Other(UnpackError),
}

impl FileError {
    fn or(self, corrupt: impl FnOnce(io::Error) -> UnpackError) -> UnpackError {
        match self {
            FileError::Read(e) => corrupt(e),
            FileError::Other(e) => e,
        }
    }

    fn or_corrupt(self, tar: &TarGz) -> UnpackError {
        self.or(|e| tar.corrupt(&e))
    }
}

impl From<UnpackError> for FileError {
    fn from(e: UnpackError) -> FileError {
        FileError::Other(e)
    }
}

/// Writes entries under the temporary root.
struct Writer<'a> {
    archive: &'a Path,
    root: PathBuf,
    /// The top-level folder stripped.
    strip: Option<String>,
    limits: &'a Limits,
    done: Unpacked,
    /// The symbolic links made (checked where they really lead at the end), with
    /// their entry names.
    links: Vec<(PathBuf, String)>,
}

impl Writer<'_> {
    fn refuse(&self, name: &str, why: Refusal) -> UnpackError {
        UnpackError::Refused {
            archive: self.archive.to_path_buf(),
            name: name.to_string(),
            why,
        }
    }

    /// The entry's path components after stripping (empty: the root itself).
    fn components(&self, name: &str) -> Result<Vec<String>, UnpackError> {
        let mut path = entry_path(name).map_err(|why| self.refuse(name, why))?;
        if let Some(top) = &self.strip {
            if path.first() == Some(top) {
                path.remove(0);
            } else if !path.is_empty() {
                // Listed in the same order: cannot happen, but never write outside.
                return Err(self.refuse(name, Refusal::Conflict));
            }
        }
        Ok(path)
    }

    /// Whether a folder above `path` is a symbolic link.
    fn through_link(&self, path: &[String]) -> bool {
        let mut at = self.root.clone();
        path[..path.len().saturating_sub(1)].iter().any(|part| {
            at.push(part);
            fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink())
        })
    }

    /// Makes the folders above `path` (refusing to go through a link) and clears
    /// what is at `path` unless it is a folder and `dir` is wanted; the full path.
    fn place(&self, name: &str, path: &[String], dir: bool) -> Result<PathBuf, UnpackError> {
        let mut at = self.root.clone();
        for (i, part) in path.iter().enumerate() {
            at.push(part);
            let last = i + 1 == path.len();
            match fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() && !last => {
                    return Err(self.refuse(name, Refusal::ThroughLink(path[..=i].join("/"))));
                }
                Ok(m) if m.is_dir() => {
                    if last && !dir {
                        return Err(self.refuse(name, Refusal::Conflict));
                    }
                }
                Ok(_) if !last => return Err(self.refuse(name, Refusal::Conflict)),
                Ok(_) => {
                    // A file or link of the same name came earlier: the later wins.
                    fs::remove_file(&at).map_err(io("replace", &at))?;
                    if dir {
                        make_dir(&at)?;
                    }
                }
                Err(_) if !last || dir => make_dir(&at)?,
                Err(_) => {}
            }
        }
        Ok(at)
    }

    fn dir(&mut self, name: &str) -> Result<(), UnpackError> {
        let path = self.components(name)?;
        self.place(name, &path, true)?;
        Ok(())
    }

    fn file(&mut self, name: &str, exec: bool, data: &mut dyn Read) -> Result<(), FileError> {
        let path = self.components(name)?;
        if path.is_empty() {
            return Err(self.refuse(name, Refusal::Conflict).into());
        }
        let at = self.place(name, &path, false)?;
        let mut out = create_new(&at, exec).map_err(io("create", &at))?;
        let left = self.limits.max_bytes.saturating_sub(self.done.bytes);
        let mut reader = data.take(left.saturating_add(1));
        let mut buf = vec![0u8; 64 * 1024];
        let mut wrote = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(FileError::Read)?;
            if n == 0 {
                break;
            }
            wrote += n as u64;
            if wrote > left {
                return Err(UnpackError::TooBig {
                    archive: self.archive.to_path_buf(),
                    max: self.limits.max_bytes,
                }
                .into());
            }
            io::Write::write_all(&mut out, &buf[..n]).map_err(io("write", &at))?;
        }
        self.done.bytes += wrote;
        self.done.files += 1;
        Ok(())
    }

    fn symlink(&mut self, name: &str, target: &str) -> Result<(), UnpackError> {
        let path = self.components(name)?;
        link_stays_inside(&path, target).map_err(|why| self.refuse(name, why))?;
        if path.is_empty() {
            return Err(self.refuse(name, Refusal::Conflict));
        }
        let at = self.place(name, &path, false)?;
        make_symlink(target, &at).map_err(|e| match e.kind() {
            io::ErrorKind::Unsupported => self.refuse(name, Refusal::LinkUnsupported),
            _ => UnpackError::Io {
                action: "create the link",
                path: at.clone(),
                source: e,
            },
        })?;
        self.links.push((at, name.to_string()));
        self.done.files += 1;
        Ok(())
    }

    fn hard_link(&mut self, name: &str, target: &str) -> Result<(), UnpackError> {
        let path = self.components(name)?;
        let bad = || self.refuse(name, Refusal::HardLink(target.to_string()));
        let to = self.components(target).map_err(|_| bad())?;
        let mut to_path = self.root.clone();
        to_path.extend(&to);
        // A file written before, reached without going through a link.
        if to.is_empty() || self.through_link(&to) {
            return Err(bad());
        }
        match fs::symlink_metadata(&to_path) {
            Ok(m) if m.is_file() => {}
            _ => return Err(bad()),
        }
        if path.is_empty() {
            return Err(self.refuse(name, Refusal::Conflict));
        }
        let at = self.place(name, &path, false)?;
        if fs::hard_link(&to_path, &at).is_err() {
            fs::copy(&to_path, &at).map_err(io("write", &at))?;
        }
        self.done.files += 1;
        Ok(())
    }

    /// Every link made leads inside the root, followed all the way (a chain of links,
    /// each fine by its text, can still lead out).
    fn check_links(&self) -> Result<(), UnpackError> {
        if self.links.is_empty() {
            return Ok(());
        }
        let root = fs::canonicalize(&self.root).map_err(io("read", &self.root))?;
        for (at, name) in &self.links {
            // A dangling link leads nowhere yet; its text was checked.
            if let Ok(real) = fs::canonicalize(at) {
                if !real.starts_with(&root) {
                    let target = fs::read_link(at).unwrap_or_default();
                    return Err(self.refuse(
                        name,
                        Refusal::LinkOutside(target.to_string_lossy().into_owned()),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn make_dir(at: &Path) -> Result<(), UnpackError> {
    fs::create_dir(at).map_err(io("create", at))?;
    set_mode(at, 0o755).map_err(io("set the mode of", at))
}

/// A new file (never through a link: it must not exist), `0755` when `exec` and
/// `0644` otherwise on Unix, whatever the umask (the service's account reads it).
fn create_new(at: &Path, exec: bool) -> io::Result<File> {
    let file = OpenOptions::new().write(true).create_new(true).open(at)?;
    set_mode(at, if exec { 0o755 } else { 0o644 })?;
    Ok(file)
}

#[cfg(unix)]
fn set_mode(at: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(at, fs::Permissions::from_mode(mode))
}

/// Windows: files have no mode bits (a program is one by its name).
#[cfg(not(unix))]
fn set_mode(_at: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn make_symlink(target: &str, at: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

/// Windows: making a link needs a privilege services rarely have, and whether it
/// points to a file or a folder must be known; archives with links are refused.
#[cfg(not(unix))]
fn make_symlink(_target: &str, _at: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// An [`UnpackError::Io`] maker for `map_err`.
fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> UnpackError {
    let path = path.to_path_buf();
    move |source| UnpackError::Io {
        action,
        path,
        source,
    }
}

/// The temporary sibling folder (entries are written into it with the top folder
/// already stripped), removed with what it holds unless renamed away.
struct Temp {
    path: PathBuf,
    /// Renamed into place: nothing to remove.
    kept: bool,
}

impl Temp {
    fn beside(into: &Path) -> Result<Temp, UnpackError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let parent = match into.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = into.file_name().unwrap_or_default().to_string_lossy();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!(".{name}.unpacking-{}-{n}", std::process::id()));
        fs::create_dir(&path).map_err(io("create", &path))?;
        let temp = Temp { path, kept: false };
        set_mode(&temp.path, 0o755).map_err(io("set the mode of", &temp.path))?;
        Ok(temp)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entry_paths_stay_relative_and_inside() {
        for (name, want) in [
            ("bin/app", Ok(&["bin", "app"][..])),
            ("./app-1.2/bin/app", Ok(&["app-1.2", "bin", "app"][..])),
            ("a//b/./c/", Ok(&["a", "b", "c"][..])),
            ("a\\b", Ok(&["a", "b"][..])),
            ("./", Ok(&[][..])),
            ("/etc/passwd", Err(Refusal::Absolute)),
            ("\\Windows\\x", Err(Refusal::Absolute)),
            ("../x", Err(Refusal::ParentDir)),
            ("a/../../x", Err(Refusal::ParentDir)),
            ("a/..", Err(Refusal::ParentDir)),
            ("a\\..\\..\\x", Err(Refusal::ParentDir)),
            ("C:/x", Err(Refusal::Colon)),
            ("C:x", Err(Refusal::Colon)),
            ("a/file:stream", Err(Refusal::Colon)),
            ("a\0b", Err(Refusal::Nul)),
        ] {
            assert_eq!(entry_path(name), want.map(parts), "{name:?}");
        }
    }

    #[test]
    fn links_are_judged_from_where_they_sit() {
        let out = |t: &str| Err(Refusal::LinkOutside(t.into()));
        for (at, target, want) in [
            (&["bin", "app"][..], "app-1.2", Ok(())),
            (&["bin", "app"], "../lib/app", Ok(())),
            (&["bin", "app"], "./x/../../lib", Ok(())),
            (&["app"], "..", out("..")),
            (&["bin", "app"], "../../etc/passwd", out("../../etc/passwd")),
            (&["bin", "app"], "../x/../../y", out("../x/../../y")),
            (&["app"], "/etc/passwd", out("/etc/passwd")),
            (&["app"], "\\\\server\\x", out("\\\\server\\x")),
            (&["app"], "C:\\x", out("C:\\x")),
            (&["app"], "", out("")),
            (&["a", "b", "c"], "../../x", Ok(())),
            (&["a", "b", "c"], "../../../x", out("../../../x")),
        ] {
            assert_eq!(
                link_stays_inside(&parts(at), target),
                want,
                "{at:?} -> {target}"
            );
        }
    }

    #[test]
    fn one_top_folder_is_stripped_and_only_then() {
        let p = |s: &[&str]| parts(s);
        let (a, ab, abc, b, x) = (
            p(&["a"]),
            p(&["a", "b"]),
            p(&["a", "b", "c"]),
            p(&["b"]),
            p(&[]),
        );
        for (entries, want) in [
            (vec![(&a[..], true), (&ab[..], false)], Some("a")),
            (vec![(&ab[..], false), (&abc[..], false)], Some("a")),
            (vec![(&x[..], true), (&ab[..], false)], Some("a")),
            (vec![(&a[..], true)], Some("a")),
            (vec![(&a[..], false)], None),
            (vec![(&ab[..], false), (&b[..], false)], None),
            (vec![(&ab[..], false), (&b[..], true)], None),
            (vec![], None),
        ] {
            assert_eq!(single_top(&entries).as_deref(), want, "{entries:?}");
        }
    }

    #[test]
    fn kinds_come_from_magic_bytes_then_names() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes, want) in [
            ("a.bin", &b"\x1f\x8b\x08\0"[..], Kind::TarGz),
            ("a.bin", b"PK\x03\x04rest", Kind::Zip),
            ("a.bin", b"PK\x05\x06", Kind::Zip),
            ("a.zip", b"\x7fELF", Kind::Zip),
            ("A.TGZ", b"", Kind::TarGz),
            ("a.tar.gz", b"#!", Kind::TarGz),
            ("app", b"\x7fELF\x02", Kind::Program),
            ("app.exe", b"MZ", Kind::Program),
            ("app.zip.exe", b"MZ", Kind::Program),
        ] {
            let path = dir.path().join(name);
            fs::write(&path, bytes).unwrap();
            assert_eq!(kind_of(&path), want, "{name} {bytes:?}");
        }
        assert_eq!(kind_of(&dir.path().join("missing.zip")), Kind::Zip);
    }
}

//! The small files the fixture leaves for tests to read: start stamps and
//! pid lists.
//!
//! Both are written so that a concurrent reader never sees half a record:
//! the stamp is replaced with a rename, the pid line goes in with a single
//! O_APPEND write.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `"<nanos>\n"` to `path` via `path.tmp` and a rename.
pub fn write_stamp(path: &Path, nanos: u64) -> io::Result<()> {
    let mut tmp = OsString::from(path.as_os_str());
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, format!("{nanos}\n"))?;
    fs::rename(&tmp, path)
}

/// Appends `"<pid>\n"` to `path` (created if missing) in one write call.
pub fn append_pid(path: &Path, pid: u32) -> io::Result<()> {
    let mut file = OpenOptions::new().append(true).create(true).open(path)?;
    let line = format!("{pid}\n");
    let written = file.write(line.as_bytes())?;
    if written != line.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write ({written} of {} bytes)", line.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tend-fixture-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn stamp_replaces_and_leaves_no_tmp() {
        let dir = scratch("stamp");
        let path = dir.join("stamp");
        write_stamp(&path, 5).unwrap();
        write_stamp(&path, 123456789).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "123456789\n");
        assert!(!dir.join("stamp.tmp").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn pids_accumulate() {
        let dir = scratch("pids");
        let path = dir.join("pids");
        append_pid(&path, 10).unwrap();
        append_pid(&path, 20).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "10\n20\n");
        fs::remove_dir_all(dir).unwrap();
    }
}

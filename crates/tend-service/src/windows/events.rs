//! The pure half of [`eventlog`](super::eventlog): event kinds, the registry layout of an
//! event source and the encoding of the strings an event carries.
//!
//! No Windows API in here, so the Linux tests cover it (the crate compiles this file
//! into its Linux tests as well).

/// The registry key (under `HKEY_LOCAL_MACHINE`) below which the Application log's
/// sources are registered.
pub(crate) const APPLICATION_SOURCES: &str =
    r"SYSTEM\CurrentControlSet\Services\EventLog\Application";
/// `EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE`.
pub(crate) const TYPES_SUPPORTED: u32 = 7;
/// The longest string `ReportEventW` accepts as one insert, in UTF-16 units.
pub(crate) const MAX_INSERT_UNITS: usize = 31_839;
/// The longest registry key name, in characters.
const MAX_KEY_NAME: usize = 255;

/// The kind (level) of an event: what the Event Viewer shows as its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `EVENTLOG_INFORMATION_TYPE`.
    Info,
    /// `EVENTLOG_WARNING_TYPE`.
    Warning,
    /// `EVENTLOG_ERROR_TYPE`.
    Error,
}

impl EventKind {
    /// The `wType` of `ReportEventW`.
    pub(crate) fn raw(self) -> u16 {
        match self {
            EventKind::Error => 1,
            EventKind::Warning => 2,
            EventKind::Info => 4,
        }
    }
}

/// The key of the source `source` below `HKEY_LOCAL_MACHINE`; an error when the name
/// cannot be a key name (empty, a `\`, a NUL, longer than 255 characters).
pub(crate) fn source_key(source: &str) -> Result<String, &'static str> {
    if source.is_empty() {
        return Err("is empty");
    }
    if source.contains(['\\', '\0']) {
        return Err("contains a backslash or a NUL");
    }
    if source.chars().count() > MAX_KEY_NAME {
        return Err("is longer than 255 characters");
    }
    Ok(format!(r"{APPLICATION_SOURCES}\{source}"))
}

/// A string as one insert of an event: UTF-16, NUL-terminated, cut at
/// [`MAX_INSERT_UNITS`] (never inside a surrogate pair); `None` when it contains a NUL
/// (which would end it early).
pub(crate) fn insert(s: &str) -> Option<Vec<u16>> {
    if s.contains('\0') {
        return None;
    }
    let mut out = Vec::with_capacity(s.len().min(MAX_INSERT_UNITS) + 1);
    for c in s.chars() {
        if out.len() + c.len_utf16() > MAX_INSERT_UNITS {
            break;
        }
        let mut units = [0u16; 2];
        out.extend_from_slice(c.encode_utf16(&mut units));
    }
    out.push(0);
    Some(out)
}

/// A string as the data of a `REG_SZ`/`REG_EXPAND_SZ` value: UTF-16LE with its NUL.
pub(crate) fn sz_bytes(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The string in a `REG_SZ`/`REG_EXPAND_SZ` value's data: up to the first NUL (the
/// registry does not guarantee one), an odd last byte ignored, invalid UTF-16 replaced.
pub(crate) fn sz_from_bytes(data: &[u8]) -> String {
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_the_report_types() {
        assert_eq!(EventKind::Error.raw(), 1);
        assert_eq!(EventKind::Warning.raw(), 2);
        assert_eq!(EventKind::Info.raw(), 4);
        assert_eq!(
            TYPES_SUPPORTED,
            u32::from(EventKind::Error.raw() | EventKind::Warning.raw() | EventKind::Info.raw())
        );
    }

    #[test]
    fn source_names_become_keys() {
        assert_eq!(
            source_key("tend").unwrap(),
            r"SYSTEM\CurrentControlSet\Services\EventLog\Application\tend"
        );
        assert!(source_key("my service 2").is_ok());
        assert!(source_key(&"é".repeat(255)).is_ok());
        for bad in ["", r"a\b", "a\0", &"x".repeat(256)] {
            assert!(source_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn inserts_are_terminated_and_bounded() {
        assert_eq!(insert("hé"), Some(vec![0x68, 0xE9, 0]));
        assert_eq!(insert(""), Some(vec![0]));
        assert_eq!(insert("a\0b"), None);
        let long = insert(&"x".repeat(MAX_INSERT_UNITS + 10)).unwrap();
        assert_eq!(long.len(), MAX_INSERT_UNITS + 1);
        assert_eq!(long.last(), Some(&0));
        // A character outside the BMP (two units) that would straddle the limit is left
        // out whole.
        let s = format!("{}😀", "x".repeat(MAX_INSERT_UNITS - 1));
        let cut = insert(&s).unwrap();
        assert_eq!(cut.len(), MAX_INSERT_UNITS);
        assert!(cut[..cut.len() - 1].iter().all(|&u| u == u16::from(b'x')));
        let s = format!("{}😀", "x".repeat(MAX_INSERT_UNITS - 2));
        assert_eq!(insert(&s).unwrap().len(), MAX_INSERT_UNITS + 1);
    }

    #[test]
    fn registry_strings_round_trip() {
        let path = r"C:\Program Files\tend\tend.exe";
        let bytes = sz_bytes(path);
        assert_eq!(bytes.len(), (path.len() + 1) * 2);
        assert_eq!(&bytes[bytes.len() - 2..], [0, 0]);
        assert_eq!(sz_from_bytes(&bytes), path);
        // Without the NUL, with junk after it, with an odd byte count.
        assert_eq!(sz_from_bytes(&bytes[..bytes.len() - 2]), path);
        let mut junk = bytes.clone();
        junk.extend([b'x', 0, 1]);
        assert_eq!(sz_from_bytes(&junk), path);
        assert_eq!(sz_from_bytes(&[]), "");
        assert_eq!(sz_from_bytes(&sz_bytes("😀é")), "😀é");
    }
}

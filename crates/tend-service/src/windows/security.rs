//! Security identifiers (SIDs) and access-control lists as bytes: the pure half of
//! [`acl`](super::acl).
//!
//! No Windows API in here: a [`Sid`] is built, printed (`S-1-5-18`), parsed and encoded
//! in Rust, the SID of a per-service virtual account is computed the way Windows defines
//! it (SHA-1 over the upper-cased service name, [`Sid::service`]) instead of asking a
//! system that may not know it (Wine does not), and a DACL read from a file is decoded
//! into [`Ace`]s here. Keeping it pure lets the Linux tests cover the encodings and the
//! comparisons that make `grant` and `restrict` idempotent (the crate compiles this file
//! into its Linux tests as well).

use std::fmt;
use std::str::FromStr;

/// `SECURITY_NT_AUTHORITY` (the `5` in `S-1-5-…`).
const NT_AUTHORITY: u64 = 5;
/// `SECURITY_SERVICE_ID_BASE_RID`: `S-1-5-80-…` are service SIDs.
const SERVICE_BASE_RID: u32 = 80;
/// `SID_MAX_SUB_AUTHORITIES`.
const MAX_SUB_AUTHORITIES: usize = 15;
/// `SID_REVISION`.
const SID_REVISION: u8 = 1;

/// `ACCESS_ALLOWED_ACE_TYPE`, `ACCESS_DENIED_ACE_TYPE`.
pub(crate) const ALLOWED_ACE: u8 = 0;
pub(crate) const DENIED_ACE: u8 = 1;
/// ACE flags: `OBJECT_INHERIT_ACE`, `CONTAINER_INHERIT_ACE`, `INHERIT_ONLY_ACE`,
/// `INHERITED_ACE`.
pub(crate) const OBJECT_INHERIT: u8 = 0x1;
pub(crate) const CONTAINER_INHERIT: u8 = 0x2;
pub(crate) const INHERIT_ONLY: u8 = 0x8;
pub(crate) const INHERITED: u8 = 0x10;

/// Read and execute: `FILE_GENERIC_READ | FILE_GENERIC_EXECUTE` (Explorer's "Read &
/// execute"; on a directory also "List folder contents").
pub(crate) const READ_MASK: u32 = 0x0012_00A9;
/// Read, execute, write and delete: `READ_MASK | FILE_GENERIC_WRITE | DELETE`
/// (Explorer's "Modify").
pub(crate) const MODIFY_MASK: u32 = 0x0013_01BF;
/// `FILE_ALL_ACCESS` (Explorer's "Full control").
pub(crate) const FULL_MASK: u32 = 0x001F_01FF;

/// A security identifier: the identity of a user, group or service in Windows ACLs.
///
/// Printed and parsed in the standard string form (`S-1-5-32-544`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Sid {
    /// The identifier authority (48 bits).
    authority: u64,
    /// At most [`MAX_SUB_AUTHORITIES`].
    sub: Vec<u32>,
}

impl Sid {
    /// `None` when the authority has more than 48 bits or there are more than 15
    /// sub-authorities (what a SID can hold).
    fn new(authority: u64, sub: &[u32]) -> Option<Sid> {
        (authority < 1 << 48 && sub.len() <= MAX_SUB_AUTHORITIES).then(|| Sid {
            authority,
            sub: sub.to_vec(),
        })
    }

    fn nt(sub: &[u32]) -> Sid {
        Sid {
            authority: NT_AUTHORITY,
            sub: sub.to_vec(),
        }
    }

    /// `S-1-5-18`, `NT AUTHORITY\SYSTEM` (`LocalSystem`).
    pub fn local_system() -> Sid {
        Sid::nt(&[18])
    }

    /// `S-1-5-19`, `NT AUTHORITY\LocalService`.
    pub fn local_service() -> Sid {
        Sid::nt(&[19])
    }

    /// `S-1-5-20`, `NT AUTHORITY\NetworkService`.
    pub fn network_service() -> Sid {
        Sid::nt(&[20])
    }

    /// `S-1-5-32-544`, `BUILTIN\Administrators`.
    pub fn administrators() -> Sid {
        Sid::nt(&[32, 544])
    }

    /// The SID of the service `name`'s virtual account `NT SERVICE\<name>`, computed
    /// the way Windows defines service SIDs: `S-1-5-80-` followed by the SHA-1 digest of
    /// the upper-cased name in UTF-16LE, read as five little-endian 32-bit numbers.
    ///
    /// Windows upper-cases each UTF-16 unit with its own table; this matches it for
    /// every character whose upper case is a single character (ASCII and most scripts),
    /// and leaves the others (such as `ß`) as they are, as Windows does.
    pub fn service(name: &str) -> Sid {
        let mut bytes = Vec::with_capacity(name.len() * 2);
        for c in name.chars() {
            let mut upper = c.to_uppercase();
            let c = match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            };
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                bytes.extend(unit.to_le_bytes());
            }
        }
        let digest = sha1(&bytes);
        let mut sub = vec![SERVICE_BASE_RID];
        sub.extend(
            digest
                .chunks_exact(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])),
        );
        Sid::nt(&sub)
    }

    /// The binary form Windows uses (`SID`): revision 1, the sub-authority count, the
    /// authority as 6 big-endian bytes, then each sub-authority little-endian.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 4 * self.sub.len());
        out.push(SID_REVISION);
        out.push(self.sub.len() as u8);
        out.extend(&self.authority.to_be_bytes()[2..]);
        for s in &self.sub {
            out.extend(s.to_le_bytes());
        }
        out
    }

    /// Decodes a binary SID at the start of `bytes`; `None` when it is cut short or not
    /// revision 1.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Sid> {
        let (&[revision, count], rest) = bytes.split_first_chunk::<2>()?;
        let (authority, rest) = rest.split_first_chunk::<6>()?;
        if revision != SID_REVISION {
            return None;
        }
        let mut be = [0u8; 8];
        be[2..].copy_from_slice(authority);
        let sub: Vec<u32> = rest
            .chunks_exact(4)
            .take(count.into())
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        if sub.len() != usize::from(count) {
            return None;
        }
        Sid::new(u64::from_be_bytes(be), &sub)
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Authorities of 2^32 and more are written in hex, as ConvertSidToStringSid does.
        if self.authority >> 32 == 0 {
            write!(f, "S-1-{}", self.authority)?;
        } else {
            write!(f, "S-1-0x{:012X}", self.authority)?;
        }
        for s in &self.sub {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({self})")
    }
}

impl FromStr for Sid {
    type Err = String;

    /// `S-1-<authority>-<sub>-…` (the authority in decimal, or hex with `0x`), case
    /// insensitive.
    fn from_str(s: &str) -> Result<Sid, String> {
        let bad = || format!("{s:?} is not a SID (S-1-5-…)");
        let mut parts = s.split('-');
        if !matches!(parts.next(), Some("S" | "s")) || parts.next() != Some("1") {
            return Err(bad());
        }
        let authority = match parts.next() {
            Some(a) => match a.strip_prefix("0x").or_else(|| a.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => a.parse(),
            }
            .map_err(|_| bad())?,
            None => return Err(bad()),
        };
        let sub = parts
            .map(|p| p.parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad())?;
        Sid::new(authority, &sub).ok_or_else(bad)
    }
}

/// What an account may do with a file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read and execute; list a directory (Explorer's "Read & execute").
    Read,
    /// Read, execute, write, create and delete (Explorer's "Modify"): not change
    /// permissions or take ownership.
    Modify,
}

impl Access {
    /// The access mask (`FILE_GENERIC_READ | FILE_GENERIC_EXECUTE`, plus
    /// `FILE_GENERIC_WRITE | DELETE` for [`Access::Modify`]).
    pub fn mask(self) -> u32 {
        match self {
            Access::Read => READ_MASK,
            Access::Modify => MODIFY_MASK,
        }
    }
}

/// Whether an access-control entry allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AceKind {
    /// `ACCESS_ALLOWED_ACE_TYPE`.
    Allow,
    /// `ACCESS_DENIED_ACE_TYPE`.
    Deny,
    /// Any other type (object, callback, audit … entries), by number; not decoded.
    Other(u8),
}

/// One access-control entry of a DACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    pub kind: AceKind,
    /// `OBJECT_INHERIT_ACE` (1), `CONTAINER_INHERIT_ACE` (2), `INHERIT_ONLY_ACE` (8),
    /// `INHERITED_ACE` (0x10), …
    pub flags: u8,
    /// The access mask (for [`AceKind::Other`], the 32 bits where allow and deny entries
    /// keep it).
    pub mask: u32,
    /// Whom the entry is for; `None` for [`AceKind::Other`].
    pub sid: Option<Sid>,
}

impl Ace {
    /// Inherited from a parent directory, not set on the object itself.
    pub fn inherited(&self) -> bool {
        self.flags & INHERITED != 0
    }

    /// Whether the entry governs access to the object itself (it is not inherit-only).
    pub fn applies_to_object(&self) -> bool {
        self.flags & INHERIT_ONLY == 0
    }

    /// Passed on to the files (object inherit) and subdirectories (container inherit)
    /// created below a directory.
    pub fn inheritable(&self) -> bool {
        self.flags & (OBJECT_INHERIT | CONTAINER_INHERIT) == OBJECT_INHERIT | CONTAINER_INHERIT
    }
}

/// A file's or directory's discretionary access-control list, as [`acl::dacl`](super::acl::dacl)
/// reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dacl {
    /// Protected: entries of the parent directory are not inherited
    /// (`SE_DACL_PROTECTED`).
    pub protected: bool,
    /// The entries in order; `None` for a null DACL, which lets everyone do everything.
    pub aces: Option<Vec<Ace>>,
}

impl Dacl {
    /// The rights the allow entries for `sid` give on the object itself (explicit and
    /// inherited, inherit-only ones left out), or `None` when there is no such entry.
    /// Deny entries are not subtracted. A null DACL gives everyone full control.
    pub fn allowed(&self, sid: &Sid) -> Option<u32> {
        let Some(aces) = &self.aces else {
            return Some(FULL_MASK);
        };
        aces.iter()
            .filter(|a| a.kind == AceKind::Allow && a.sid.as_ref() == Some(sid))
            .filter(|a| a.applies_to_object())
            .map(|a| a.mask)
            .reduce(|a, b| a | b)
    }

    /// Whether an explicit allow entry for `sid` gives at least `mask`, with at least
    /// the inheritance `flags` (`grant` has nothing to do then). A null DACL allows
    /// everything already.
    pub(crate) fn grants(&self, sid: &Sid, mask: u32, flags: u8) -> bool {
        let Some(aces) = &self.aces else {
            return true;
        };
        aces.iter().any(|a| {
            a.kind == AceKind::Allow
                && !a.inherited()
                && a.applies_to_object()
                && a.sid.as_ref() == Some(sid)
                && a.mask & mask == mask
                && a.flags & flags == flags
        })
    }

    /// Whether the DACL is protected and holds exactly the allow entries `want`
    /// (`(sid, mask)`, each with inheritance `flags`), in any order (`restrict` has
    /// nothing to do then).
    pub(crate) fn is_exactly(&self, want: &[(Sid, u32)], flags: u8) -> bool {
        let Some(aces) = self.aces.as_ref().filter(|_| self.protected) else {
            return false;
        };
        aces.len() == want.len()
            && want.iter().all(|(sid, mask)| {
                aces.iter().any(|a| {
                    a.kind == AceKind::Allow
                        && a.sid.as_ref() == Some(sid)
                        && a.mask == *mask
                        && a.flags == flags
                })
            })
    }
}

/// The allow entries of a restricted DACL: full control for SYSTEM and the
/// Administrators, `access` for `account` (once, when it is one of those two, with the
/// larger rights).
pub(crate) fn restricted_entries(account: &Sid, access: Access) -> Vec<(Sid, u32)> {
    let mut entries = vec![
        (Sid::local_system(), FULL_MASK),
        (Sid::administrators(), FULL_MASK),
    ];
    if !entries.iter().any(|(sid, _)| sid == account) {
        entries.push((account.clone(), access.mask()));
    }
    entries
}

/// Decodes an `ACL` (header, then its entries); `None` when the bytes are not a whole
/// ACL.
pub(crate) fn parse_acl(bytes: &[u8]) -> Option<Vec<Ace>> {
    let (header, _) = bytes.split_first_chunk::<8>()?;
    let size = usize::from(u16::from_le_bytes([header[2], header[3]]));
    let count = u16::from_le_bytes([header[4], header[5]]);
    let mut rest = bytes.get(8..size)?;
    let mut aces = Vec::with_capacity(count.into());
    for _ in 0..count {
        let (&[kind, flags, s0, s1], _) = rest.split_first_chunk::<4>()?;
        let ace_size = usize::from(u16::from_le_bytes([s0, s1]));
        let body = rest.get(4..ace_size)?;
        let (mask, sid) = body.split_first_chunk::<4>()?;
        let kind = match kind {
            ALLOWED_ACE => AceKind::Allow,
            DENIED_ACE => AceKind::Deny,
            other => AceKind::Other(other),
        };
        aces.push(Ace {
            kind,
            flags,
            mask: u32::from_le_bytes(*mask),
            sid: match kind {
                AceKind::Other(_) => None,
                _ => Some(Sid::from_bytes(sid)?),
            },
        });
        rest = &rest[ace_size..];
    }
    Some(aces)
}

/// SHA-1 (FIPS 180-4): all that service SIDs need of it.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend((data.len() as u64).wrapping_mul(8).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.into_iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (hi, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hi = hi.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, v) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&v.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_known_answers() {
        // FIPS 180 examples (one block, two blocks) and the empty message.
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        // Padding edge: 55 and 56 bytes (the length does or does not fit the block).
        assert_eq!(
            hex(&sha1(&[b'a'; 55])),
            "c1c8bbdc22796e28c0e15163d20899b65621d65a"
        );
        assert_eq!(
            hex(&sha1(&[b'a'; 56])),
            "c2db330f6083854c99d4b5bfb6e8f29f201be699"
        );
    }

    #[test]
    fn service_sids_match_windows() {
        // As Windows reports them (`sc showsid`, `whoami /groups`).
        assert_eq!(
            Sid::service("TrustedInstaller").to_string(),
            "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
        );
        assert_eq!(
            Sid::service("MSSQLSERVER").to_string(),
            "S-1-5-80-3880718306-3832830129-1677859214-2598158968-1052248003"
        );
        // The name is upper-cased first.
        assert_eq!(
            Sid::service("trustedinstaller"),
            Sid::service("TrustedInstaller")
        );
        assert_ne!(Sid::service("hello"), Sid::service("hello2"));
        // A character without a single-character upper case is kept as it is.
        assert_eq!(Sid::service("straße"), Sid::service("STRAßE"));
        assert_ne!(Sid::service("straße"), Sid::service("STRASSE"));
    }

    #[test]
    fn sids_print_and_parse() {
        for (sid, text) in [
            (Sid::local_system(), "S-1-5-18"),
            (Sid::local_service(), "S-1-5-19"),
            (Sid::network_service(), "S-1-5-20"),
            (Sid::administrators(), "S-1-5-32-544"),
        ] {
            assert_eq!(sid.to_string(), text);
            assert_eq!(text.parse::<Sid>(), Ok(sid.clone()));
            assert_eq!(Sid::from_bytes(&sid.to_bytes()), Some(sid));
        }
        let everyone: Sid = "s-1-1-0".parse().unwrap();
        assert_eq!(everyone.to_string(), "S-1-1-0");
        let big: Sid = "S-1-0x123456789ABC-7".parse().unwrap();
        assert_eq!(big.to_string(), "S-1-0x123456789ABC-7");
        for bad in [
            "",
            "S-1",
            "S-2-5-18",
            "X-1-5-18",
            "S-1-5-x",
            "S-1-5--18",
            "S-1-281474976710656-1",
            "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
            "S-1-5-4294967296",
        ] {
            assert!(bad.parse::<Sid>().is_err(), "{bad}");
        }
        // A SID with no sub-authorities (S-1-5) is valid.
        assert_eq!("S-1-5".parse::<Sid>().unwrap().to_bytes().len(), 8);
    }

    #[test]
    fn sid_binary_form() {
        let sid = Sid::administrators();
        assert_eq!(
            sid.to_bytes(),
            [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0]
        );
        let bytes = sid.to_bytes();
        assert_eq!(Sid::from_bytes(&bytes[..bytes.len() - 1]), None);
        let mut wrong_revision = bytes.clone();
        wrong_revision[0] = 2;
        assert_eq!(Sid::from_bytes(&wrong_revision), None);
        // Trailing bytes (the rest of an ACE) are ignored.
        let mut longer = bytes;
        longer.extend([9, 9, 9, 9]);
        assert_eq!(Sid::from_bytes(&longer), Some(sid));
    }

    /// An ACL as Windows lays it out.
    fn acl(aces: &[(u8, u8, u32, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (kind, flags, mask, sid) in aces {
            body.extend([*kind, *flags]);
            body.extend(((8 + sid.len()) as u16).to_le_bytes());
            body.extend(mask.to_le_bytes());
            body.extend(sid);
        }
        let mut out = vec![2, 0];
        out.extend(((8 + body.len()) as u16).to_le_bytes());
        out.extend((aces.len() as u16).to_le_bytes());
        out.extend([0, 0]);
        out.extend(body);
        out
    }

    #[test]
    fn acls_decode() {
        let svc = Sid::service("hello");
        let bytes = acl(&[
            (DENIED_ACE, 0, 0x1, Sid::local_service().to_bytes()),
            (ALLOWED_ACE, 0x3, MODIFY_MASK, svc.to_bytes()),
            (ALLOWED_ACE, 0x10, FULL_MASK, Sid::local_system().to_bytes()),
            (0x05, 0, 0x7, vec![0; 8]),
        ]);
        let aces = parse_acl(&bytes).unwrap();
        assert_eq!(aces.len(), 4);
        assert_eq!(aces[0].kind, AceKind::Deny);
        assert_eq!(aces[1].sid.as_ref(), Some(&svc));
        assert!(aces[1].inheritable() && !aces[1].inherited());
        assert!(aces[2].inherited() && !aces[2].inheritable());
        assert_eq!(aces[3].kind, AceKind::Other(5));
        assert_eq!(aces[3].sid, None);
        // Cut short anywhere: no answer rather than a wrong one.
        for len in 0..bytes.len() {
            assert_eq!(parse_acl(&bytes[..len]), None, "{len}");
        }
        // An empty ACL.
        assert_eq!(parse_acl(&acl(&[])), Some(vec![]));
    }

    fn ace(kind: AceKind, flags: u8, mask: u32, sid: Sid) -> Ace {
        Ace {
            kind,
            flags,
            mask,
            sid: Some(sid),
        }
    }

    #[test]
    fn allowed_rights_combine() {
        let svc = Sid::local_service();
        let dacl = Dacl {
            protected: false,
            aces: Some(vec![
                ace(AceKind::Allow, 0x10, 0x1, svc.clone()),
                ace(AceKind::Allow, 0, 0x2, svc.clone()),
                // Inherit-only: for children, not for the object.
                ace(AceKind::Allow, 0xB, 0x4, svc.clone()),
                ace(AceKind::Deny, 0, 0x8, svc.clone()),
                ace(AceKind::Allow, 0, 0x10, Sid::local_system()),
            ]),
        };
        assert_eq!(dacl.allowed(&svc), Some(0x3));
        assert_eq!(dacl.allowed(&Sid::administrators()), None);
        let null = Dacl {
            protected: false,
            aces: None,
        };
        assert_eq!(null.allowed(&svc), Some(FULL_MASK));
    }

    #[test]
    fn grants_needs_an_explicit_entry_with_the_rights_and_inheritance() {
        let svc = Sid::service("hello");
        let dir = OBJECT_INHERIT | CONTAINER_INHERIT;
        let with = |a: Ace| Dacl {
            protected: false,
            aces: Some(vec![
                ace(AceKind::Allow, 0, FULL_MASK, Sid::local_system()),
                a,
            ]),
        };
        assert!(
            with(ace(AceKind::Allow, dir, MODIFY_MASK, svc.clone())).grants(&svc, MODIFY_MASK, dir)
        );
        // More rights than asked for is enough; Modify includes Read.
        assert!(
            with(ace(AceKind::Allow, dir, MODIFY_MASK, svc.clone())).grants(&svc, READ_MASK, dir)
        );
        let not = [
            ace(AceKind::Allow, dir, READ_MASK, svc.clone()),
            ace(AceKind::Allow, 0, MODIFY_MASK, svc.clone()),
            ace(AceKind::Allow, dir | INHERITED, MODIFY_MASK, svc.clone()),
            ace(AceKind::Allow, dir | INHERIT_ONLY, MODIFY_MASK, svc.clone()),
            ace(AceKind::Deny, dir, MODIFY_MASK, svc.clone()),
            ace(AceKind::Allow, dir, MODIFY_MASK, Sid::local_service()),
        ];
        for a in not {
            assert!(!with(a.clone()).grants(&svc, MODIFY_MASK, dir), "{a:?}");
        }
        // A file's entry needs no inheritance flags.
        assert!(with(ace(AceKind::Allow, 0, READ_MASK, svc.clone())).grants(&svc, READ_MASK, 0));
    }

    #[test]
    fn restricted_dacls_compare_as_sets() {
        let svc = Sid::service("hello");
        let want = restricted_entries(&svc, Access::Read);
        assert_eq!(
            want,
            vec![
                (Sid::local_system(), FULL_MASK),
                (Sid::administrators(), FULL_MASK),
                (svc.clone(), READ_MASK)
            ]
        );
        let aces: Vec<Ace> = want
            .iter()
            .rev()
            .map(|(sid, mask)| ace(AceKind::Allow, 0, *mask, sid.clone()))
            .collect();
        let dacl = Dacl {
            protected: true,
            aces: Some(aces.clone()),
        };
        assert!(dacl.is_exactly(&want, 0));
        assert!(!dacl.is_exactly(&want, OBJECT_INHERIT | CONTAINER_INHERIT));
        let unprotected = Dacl {
            protected: false,
            ..dacl.clone()
        };
        assert!(!unprotected.is_exactly(&want, 0));
        let mut extra = aces.clone();
        extra.push(ace(AceKind::Allow, 0, READ_MASK, Sid::local_service()));
        let extra = Dacl {
            protected: true,
            aces: Some(extra),
        };
        assert!(!extra.is_exactly(&want, 0));
        let wider = restricted_entries(&svc, Access::Modify);
        assert!(!dacl.is_exactly(&wider, 0));
        // The system account is not listed twice.
        assert_eq!(
            restricted_entries(&Sid::local_system(), Access::Read).len(),
            2
        );
    }
}

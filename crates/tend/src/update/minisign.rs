//! Release signatures in minisign's format (<https://jedisct1.github.io/minisign/>):
//! what `minisign -S` writes, checked against the keys of `[update] public_keys`.
//!
//! The cryptography is the `minisign-verify` crate's (Ed25519 over the file's BLAKE2b
//! hash, then over the signature and its trusted comment); this file reads the key ids
//! (to say which key signed, or which was expected), streams the file through the
//! verifier, and reads a `version:` out of the trusted comment. Only prehashed
//! signatures are accepted (minisign's default since 0.8; `-l` legacy ones are
//! refused).

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use minisign_verify::{PublicKey, Signature};

/// A minisign public key from `[update] public_keys`.
#[derive(Clone, Debug)]
pub struct Key {
    /// Its id, as minisign prints it (`B9C1A58B20E04F06`).
    pub id: String,
    key: PublicKey,
}

/// Why a text is not a minisign public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not base64 of the right length.
    #[error("it is not the base64 of a 42-byte key")]
    Encoding,
    /// Not an Ed25519 key.
    #[error("its algorithm is not minisign's Ed25519")]
    Algorithm,
}

impl Key {
    /// Reads the base64 line of a `minisign.pub` (surrounding blanks ignored).
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        let text = text.trim();
        let bin = base64(text).ok_or(KeyError::Encoding)?;
        if bin.len() != 42 {
            return Err(KeyError::Encoding);
        }
        if &bin[..2] != b"Ed" {
            return Err(KeyError::Algorithm);
        }
        let key = PublicKey::from_base64(text).map_err(|_| KeyError::Encoding)?;
        Ok(Key {
            id: key_id(&bin[2..10]),
            key,
        })
    }
}

/// A signature that checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The id of the key that signed.
    pub key: String,
    /// The signature's trusted comment (signed too).
    pub trusted_comment: String,
}

impl Verified {
    /// The release's version named in the trusted comment (`version:1.4.2`, a word of
    /// its own among blanks), if any.
    pub fn version(&self) -> Option<&str> {
        version_in(&self.trusted_comment)
    }
}

/// Why an artifact's signature does not check out.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The signature file is not a minisign signature.
    #[error("{0} is not a minisign signature (4 lines: untrusted comment, signature, trusted comment, global signature)")]
    NotASignature(String),
    /// A legacy (`minisign -l`) signature.
    #[error("{0} is a legacy signature (minisign -l): sign again without -l")]
    Legacy(String),
    /// Signed with a key that is not in `public_keys`.
    #[error("{what} is signed with key {signed_by}, which is not in update.public_keys ({known})")]
    UnknownKey {
        /// The artifact.
        what: String,
        /// The key id in the signature.
        signed_by: String,
        /// The key ids allowed.
        known: String,
    },
    /// The signature does not match the file (altered, truncated, or another file's).
    #[error("the signature does not match {0}: the file was altered or truncated, or the signature is another file's")]
    Mismatch(String),
    /// The file could not be read.
    #[error("cannot read {what}: {error}")]
    Read {
        /// The file.
        what: String,
        /// Why.
        error: String,
    },
}

/// Checks that `file` is signed, per the minisign `signature` text, by one of `keys`.
/// `what` names the file in messages.
pub fn verify_file(
    file: &Path,
    signature: &str,
    keys: &[Key],
    what: &str,
) -> Result<Verified, VerifyError> {
    let sig_id = signature_key_id(signature)
        .ok_or_else(|| VerifyError::NotASignature(format!("the signature of {what}")))?;
    let sig = Signature::decode(signature)
        .map_err(|_| VerifyError::NotASignature(format!("the signature of {what}")))?;
    let Some(key) = keys.iter().find(|k| k.id == sig_id.id) else {
        return Err(VerifyError::UnknownKey {
            what: what.to_string(),
            signed_by: sig_id.id,
            known: keys
                .iter()
                .map(|k| k.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    if !sig_id.prehashed {
        return Err(VerifyError::Legacy(format!("the signature of {what}")));
    }
    let mut verifier = key
        .key
        .verify_stream(&sig)
        .map_err(|_| VerifyError::Mismatch(what.to_string()))?;
    let read_err = |e: io::Error| VerifyError::Read {
        what: what.to_string(),
        error: crate::text::io_error(&e),
    };
    let mut f = std::fs::File::open(file).map_err(read_err)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        verifier.update(&buf[..n]);
    }
    verifier
        .finalize()
        .map_err(|_| VerifyError::Mismatch(what.to_string()))?;
    Ok(Verified {
        key: key.id.clone(),
        trusted_comment: sig.trusted_comment().to_string(),
    })
}

/// What the second line of a signature says before any cryptography: the key id and
/// whether it is prehashed.
#[derive(Debug, PartialEq, Eq)]
struct SignatureId {
    id: String,
    prehashed: bool,
}

fn signature_key_id(signature: &str) -> Option<SignatureId> {
    let line = signature.lines().nth(1)?;
    let bin = base64(line.trim())?;
    if bin.len() != 74 {
        return None;
    }
    let prehashed = match &bin[..2] {
        b"ED" => true,
        b"Ed" => false,
        _ => return None,
    };
    Some(SignatureId {
        id: key_id(&bin[2..10]),
        prehashed,
    })
}

/// A key id as minisign prints it: the 8 bytes as a little-endian number in hex,
/// without leading zeros (`%PRIX64`, as in `minisign public key 5E8B8CC9F7601DDA`).
fn key_id(bytes: &[u8]) -> String {
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[..8]);
    format!("{:X}", u64::from_le_bytes(le))
}

/// The `version:` word of a trusted comment (minisign's own are `timestamp:...` and
/// `file:...`, tab-separated).
fn version_in(comment: &str) -> Option<&str> {
    comment
        .split([' ', '\t'])
        .find_map(|w| w.strip_prefix("version:"))
        .filter(|v| !v.is_empty())
}

/// Standard base64 with padding; `None` for anything else.
fn base64(text: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let b = text.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (n, chunk) in b.chunks(4).enumerate() {
        let last = n == b.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut acc = 0u32;
        for &c in &chunk[..4 - pad] {
            acc = acc << 6 | val(c)?;
        }
        acc <<= 6 * pad as u32;
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example key of the `[update]` docs (its secret half is not known: the real
    /// tool's keys and signatures are tested in tests/upgrade.rs).
    const PUBLIC: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

    #[test]
    fn base64_decodes_like_the_standard() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("aGVsbG8=", Some(b"hello")),
            ("aGVsbG8h", Some(b"hello!")),
            ("aGVsbA==", Some(b"hell")),
            ("", None),
            ("aGVsbG8", None),
            ("aGV=bG8h", None),
            ("aGVsbG8*", None),
            ("a===", None),
        ];
        for (text, want) in cases {
            assert_eq!(base64(text).as_deref(), *want, "{text}");
        }
    }

    #[test]
    fn a_key_reads_with_its_id_as_minisign_prints_it() {
        let k = Key::parse(PUBLIC).unwrap();
        // The 8 bytes after "Ed", a little-endian number in hex, no leading zeros
        // (tests/upgrade.rs compares with the comment of a minisign.pub that the real
        // tool wrote).
        let bin = base64(PUBLIC).unwrap();
        let expected: String = bin[2..10]
            .iter()
            .rev()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(k.id, expected.trim_start_matches('0'));
        assert_eq!(Key::parse(&format!("  {PUBLIC}\n")).unwrap().id, k.id);
        assert_eq!(key_id(&[0x0a, 0, 0, 0, 0, 0, 0, 0]), "A");
        assert_eq!(key_id(&[1, 2, 3, 4, 5, 6, 7, 0x0f]), "F07060504030201");
    }

    #[test]
    fn what_is_not_a_key() {
        let cases = [
            ("", KeyError::Encoding),
            ("RWQf6LRCGA9i53ml", KeyError::Encoding),
            ("untrusted comment: minisign public key", KeyError::Encoding),
            // 42 bytes, but not "Ed".
            (
                "AAAf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3",
                KeyError::Algorithm,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Key::parse(text).unwrap_err(), want, "{text:?}");
        }
    }

    #[test]
    fn the_version_of_a_trusted_comment() {
        let cases = [
            ("timestamp:1700000000\tfile:orders.tar.gz\thashed", None),
            ("version:1.4.2", Some("1.4.2")),
            ("timestamp:1 version:2.0.0-rc.1 file:x", Some("2.0.0-rc.1")),
            ("myversion:3", None),
            ("version:", None),
        ];
        for (comment, want) in cases {
            assert_eq!(version_in(comment), want, "{comment}");
        }
    }

    #[test]
    fn a_signature_line_names_its_key_and_mode() {
        // A made-up but well-formed second line: "ED" + 8 id bytes + 64 zero bytes.
        let mut bin = b"ED".to_vec();
        bin.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        bin.extend([0; 64]);
        let line = encode(&bin);
        let sig = format!(
            "untrusted comment: x\n{line}\ntrusted comment: y\n{}\n",
            encode(&[0; 64])
        );
        assert_eq!(
            signature_key_id(&sig),
            Some(SignatureId {
                id: "807060504030201".into(),
                prehashed: true
            })
        );
        bin[1] = b'd';
        let sig = format!("untrusted comment: x\n{}\n", encode(&bin));
        assert!(!signature_key_id(&sig).unwrap().prehashed);
        assert_eq!(signature_key_id("untrusted comment: x\nnot base64\n"), None);
    }

    /// Base64 for the tests (the decoder's inverse).
    fn encode(bin: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in bin.chunks(3) {
            let n = (c[0] as u32) << 16
                | (*c.get(1).unwrap_or(&0) as u32) << 8
                | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

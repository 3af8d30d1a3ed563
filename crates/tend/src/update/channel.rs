//! A release channel (`[update] channel`): a JSON manifest that names the release a
//! service should run, which the supervisor polls (`supervise::channel`).
//!
//! ```json
//! {
//!   "version": "1.4.2",
//!   "url": "orders-1.4.2.tar.gz",
//!   "size": 5242880,
//!   "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
//!   "signature": "untrusted comment: ...\nRUQ...\ntrusted comment: version:1.4.2\n...\n"
//! }
//! ```
//!
//! `url` may be relative to the manifest's; `signature` is the text of the artifact's
//! `.minisig`. The manifest itself is not trusted: the artifact is checked against
//! its size and sha256 while it downloads, and against the signature (with the spec's
//! keys) before anything changes, and the signed `version:` must be the manifest's.
//! What to do with a manifest is [`decide`]d here, purely.

use std::cmp::Ordering;

use serde::Deserialize;

use super::release::{check_id, Index};

/// The largest manifest read.
pub const MAX_MANIFEST: u64 = 64 * 1024;

/// A channel's manifest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The release's version (its id).
    pub version: String,
    /// Where the artifact is (absolute, or relative to the manifest's URL).
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its minisign signature (the text of the `.minisig` file).
    pub signature: String,
}

/// A manifest read and checked, with the artifact's URL resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The manifest.
    pub manifest: Manifest,
    /// The artifact's absolute URL.
    pub url: String,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

/// Reads the manifest `bytes` fetched from `from`.
pub fn parse(bytes: &[u8], from: &str) -> Result<Named, String> {
    let manifest: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| format!("the manifest {from} is not one tend reads: {e}"))?;
    check_id(&manifest.version).map_err(|e| format!("the manifest {from}: version {e}"))?;
    let sha256 = super::fetch::parse_sha256(&manifest.sha256).ok_or_else(|| {
        format!(
            "the manifest {from}: sha256 {:?} is not 64 hex digits",
            manifest.sha256
        )
    })?;
    if manifest.size == 0 {
        return Err(format!("the manifest {from}: size is 0"));
    }
    let url = resolve(from, &manifest.url)?;
    Ok(Named {
        manifest,
        url,
        sha256,
    })
}

/// `url` relative to `base` (an absolute URL stays as it is).
pub fn resolve(base: &str, url: &str) -> Result<String, String> {
    if url.starts_with("file://") && !base.starts_with("file://") {
        return Err(format!(
            "the artifact's url {url:?} is a local file, and the channel is not: a remote manifest names remote artifacts"
        ));
    }
    if ["http://", "https://", "file://"]
        .iter()
        .any(|s| url.starts_with(s))
    {
        return Ok(url.to_string());
    }
    if url.contains("://") || url.is_empty() {
        return Err(format!(
            "the artifact's url {url:?} is not http(s):// or file://"
        ));
    }
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| format!("{base:?} is not a URL"))?;
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    if let Some(abs) = url.strip_prefix('/') {
        // The same scheme and authority (none for file://).
        let authority = rest.split('/').next().unwrap_or("");
        return Ok(format!("{scheme}://{authority}/{abs}"));
    }
    let folder = match rest.rfind('/') {
        Some(i) => &rest[..=i],
        None => return Ok(format!("{scheme}://{rest}/{url}")),
    };
    Ok(format!("{scheme}://{folder}{url}"))
}

/// What the supervisor does with a channel's manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// It names the release the service runs.
    UpToDate,
    /// It names a release that was rolled back: not tried again until the channel
    /// names another.
    RolledBack,
    /// It names a release older than the newest the service has run, the current one
    /// or one before it (a downgrade is `tend rollback`'s or `tend upgrade`'s, by
    /// hand): a channel cannot take a service back to an old release, signed as it is.
    Older {
        /// The newest release it has run.
        newest: String,
    },
    /// Upgrade to it.
    Upgrade,
}

/// What to do with a channel that names `version`, for a service whose releases are
/// `index`.
pub fn decide(version: &str, index: &Index) -> Decision {
    if index.current.as_deref() == Some(version) {
        return Decision::UpToDate;
    }
    if index.rolled_back.iter().any(|r| r == version) {
        return Decision::RolledBack;
    }
    // Ids made of a hash (`tend upgrade` of an unversioned release) have no order.
    let newest = index
        .current
        .iter()
        .chain(index.previous.iter().flatten())
        .filter(|v| !v.starts_with("sha256-"))
        .max_by(|a, b| compare_versions(a, b));
    match newest {
        Some(newest) if compare_versions(version, newest) == Ordering::Less => Decision::Older {
            newest: newest.clone(),
        },
        _ => Decision::Upgrade,
    }
}

/// Orders versions the way people number releases: dot-, dash- and plus-separated
/// parts, numbers by value (`1.10` after `1.9`), other parts as text; a pre-release
/// (`2.0-rc.1`) before its release (`2.0`); `v1.2` as `1.2`.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (a_main, a_pre) = split_pre(a);
    let (b_main, b_pre) = split_pre(b);
    match compare_parts(a_main, b_main) {
        Ordering::Equal => match (a_pre, b_pre) {
            (None, None) => Ordering::Equal,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => compare_parts(x, y),
        },
        o => o,
    }
}

/// `1.2.3-rc.1+build.5` → (`1.2.3`, `Some("rc.1")`); build metadata is ignored.
fn split_pre(v: &str) -> (&str, Option<&str>) {
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    let v = v.split('+').next().unwrap_or(v);
    match v.split_once('-') {
        Some((main, pre)) => (main, Some(pre)),
        None => (v, None),
    }
}

fn compare_parts(a: &str, b: &str) -> Ordering {
    let mut a = a.split(['.', '-']);
    let mut b = b.split(['.', '-']);
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            // `1.2` before `1.2.1`.
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// A delay of up to a tenth of `every`, from `seed` (so many devices polling one
/// channel do not come at once).
pub fn jitter(every: std::time::Duration, seed: u64) -> std::time::Duration {
    let tenth = every.as_millis() as u64 / 10;
    if tenth == 0 {
        return std::time::Duration::ZERO;
    }
    // splitmix64: a well-spread number from any seed.
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    std::time::Duration::from_millis(z % (tenth + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_ordered_as_people_number_them() {
        use Ordering::*;
        let cases = [
            ("1.10", "1.9", Greater),
            ("1.2", "1.2.1", Less),
            ("2.0", "2.0", Equal),
            ("v2.0", "2.0", Equal),
            ("2.0-rc.1", "2.0", Less),
            ("2.0-rc.2", "2.0-rc.10", Less),
            ("2.0+build.5", "2.0", Equal),
            ("1.0-alpha", "1.0-beta", Less),
            ("10", "9", Greater),
            ("sha256-aaaa", "sha256-bbbb", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn what_a_manifest_leads_to() {
        let index = |current: Option<&str>, rolled: &[&str]| Index {
            current: current.map(str::to_string),
            previous: vec![None],
            rolled_back: rolled.iter().map(|s| s.to_string()).collect(),
            trial: None,
        };
        let cases = [
            ("1.0", index(None, &[]), Decision::Upgrade),
            ("1.0", index(Some("1.0"), &[]), Decision::UpToDate),
            ("1.1", index(Some("1.0"), &["1.1"]), Decision::RolledBack),
            ("1.2", index(Some("1.0"), &["1.1"]), Decision::Upgrade),
            (
                "0.9",
                index(Some("1.0"), &[]),
                Decision::Older {
                    newest: "1.0".into(),
                },
            ),
            // After a rollback to the spec's command, 2.0 having run: not 1.0.
            (
                "1.0",
                Index {
                    current: None,
                    previous: vec![Some("2.0".into())],
                    rolled_back: vec![],
                    trial: None,
                },
                Decision::Older {
                    newest: "2.0".into(),
                },
            ),
            // A hashed id has no order.
            (
                "1.0",
                index(Some("sha256-0123456789ab"), &[]),
                Decision::Upgrade,
            ),
        ];
        for (version, index, want) in cases {
            assert_eq!(decide(version, &index), want, "{version} {index:?}");
        }
    }

    #[test]
    fn artifact_urls_relative_to_the_manifest() {
        let base = "https://updates.example.com/orders/stable.json?x=1";
        let cases = [
            (
                "orders-1.2.tar.gz",
                Ok("https://updates.example.com/orders/orders-1.2.tar.gz"),
            ),
            ("/dl/o.tgz", Ok("https://updates.example.com/dl/o.tgz")),
            ("http://cdn.example.com/o", Ok("http://cdn.example.com/o")),
            ("ftp://x/o", Err(())),
            ("file:///dev/zero", Err(())),
            ("", Err(())),
        ];
        for (url, want) in cases {
            assert_eq!(
                resolve(base, url).map_err(|_| ()),
                want.map(str::to_string),
                "{url}"
            );
        }
        assert_eq!(
            resolve("file:///srv/channel/stable.json", "o-1.tar.gz").unwrap(),
            "file:///srv/channel/o-1.tar.gz"
        );
    }

    #[test]
    fn manifests_are_checked() {
        let good = r#"{"version":"1.2","url":"o-1.2","size":10,"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","signature":"x"}"#;
        let named = parse(good.as_bytes(), "http://h/c/stable.json").unwrap();
        assert_eq!(named.url, "http://h/c/o-1.2");
        for (bad, says) in [
            (good.replace("\"1.2\"", "\"../x\""), "version"),
            (good.replace("9f86", "zz86"), "sha256"),
            (good.replace("\"size\":10", "\"size\":0"), "size is 0"),
            (good.replace("\"url\"", "\"where\""), "not one tend reads"),
            ("[]".to_string(), "not one tend reads"),
        ] {
            let e = parse(bad.as_bytes(), "http://h/c/stable.json").unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn jitter_stays_within_a_tenth() {
        let every = std::time::Duration::from_secs(3600);
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let j = jitter(every, seed);
            assert!(j <= every / 10, "{j:?}");
            seen.insert(j.as_millis() / 3600);
        }
        assert!(seen.len() > 50, "spread over the range: {}", seen.len());
        assert_eq!(
            jitter(std::time::Duration::from_millis(5), 7),
            std::time::Duration::ZERO
        );
    }
}

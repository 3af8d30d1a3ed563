//! Value types of the spec that are written as human strings: durations (`"10s"`),
//! sizes (`"50MB"`), signals (`"SIGTERM"`) and service names. Each validates itself
//! while it is deserialized, so a bad value is reported at its own line and column.

use std::fmt;
use std::time::Duration as StdDuration;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written as a human string (`"500ms"`, `"10s"`, `"1m 30s"`, `"2h"`) or as a
/// whole number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub StdDuration);

impl Duration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration(StdDuration::from_secs(secs))
    }
    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(StdDuration::from_millis(ms))
    }
    /// The standard-library duration.
    pub fn get(self) -> StdDuration {
        self.0
    }
}

/// The longest duration a spec accepts: ten years is "never" for a service, and a cap
/// keeps every deadline computation far from overflowing.
pub const MAX_DURATION: StdDuration = StdDuration::from_secs(10 * 365 * 86_400);

fn capped(d: StdDuration) -> Result<StdDuration, String> {
    if d > MAX_DURATION {
        Err("durations are at most 10 years".into())
    } else {
        Ok(d)
    }
}

/// Parses `"10s"`, `"1m 30s"`, `"250ms"`; the error says what is accepted.
pub fn parse_duration(text: &str) -> Result<StdDuration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration: write e.g. \"10s\", \"500ms\" or \"1m 30s\"".into());
    }
    humantime::parse_duration(t).map_err(|e| {
        let hint = "write e.g. \"10s\", \"500ms\" or \"1m 30s\"";
        match e {
            // humantime reads "10" as a number whose unit is "".
            humantime::DurationError::UnknownUnit { unit, value, .. } if unit.is_empty() => {
                format!("{text:?} is not a duration: a duration needs a unit: write e.g. \"{value}s\" or \"{value}ms\"")
            }
            humantime::DurationError::UnknownUnit { unit, .. } => {
                format!("{text:?} is not a duration: unknown unit {unit:?}: {hint}")
            }
            humantime::DurationError::NumberOverflow => {
                format!("{text:?} is too long a duration: durations are at most 10 years")
            }
            _ => format!("{text:?} is not a duration: {hint}"),
        }
    })
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"10s\", \"500ms\" or \"1m 30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v)
                    .and_then(capped)
                    .map(Duration)
                    .map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                let secs =
                    u64::try_from(v).map_err(|_| E::custom("a duration cannot be negative"))?;
                self.visit_u64(secs)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                capped(StdDuration::from_secs(v))
                    .map(Duration)
                    .map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration: \"500ms\", \"10s\", \"1m 30s\", \"2h\", or whole seconds.",
            "anyOf": [
                {"type": "string", "pattern": "^\\s*[0-9]+\\s*[a-zA-Zµ]+(\\s*[0-9]+\\s*[a-zA-Zµ]+)*\\s*$"},
                {"type": "integer", "minimum": 0}
            ]
        })
    }
}

/// A size in bytes written as `"50MB"`, `"64MiB"`, `"1G"` or a whole number of bytes.
/// Decimal units (kB, MB, GB) are powers of 1000, binary ones (KiB, MiB, GiB) of 1024;
/// a bare `K`/`M`/`G` is binary, as in most operators' habits (`ulimit`, `dd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Size(pub u64);

/// Parses a human size; the error says what is accepted.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let hint = "write e.g. \"50MB\", \"64MiB\" or a number of bytes";
    if num.is_empty() {
        return Err(format!("invalid size {text:?}: {hint}"));
    }
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?} in {text:?}: {hint}")),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {text:?}: {hint}"))?;
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(format!("size {text:?} is too large"));
    }
    Ok(bytes as u64)
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, m) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if b >= m && b.is_multiple_of(m) {
                return write!(f, "{}{unit}", b / m);
            }
        }
        for (unit, m) in [("GB", 1_000_000_000u64), ("MB", 1_000_000), ("kB", 1000)] {
            if b >= m && b.is_multiple_of(m) {
                return write!(f, "{}{unit}", b / m);
            }
        }
        write!(f, "{b}B")
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"50MB\" or \"64MiB\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                parse_size(v).map(Size).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Size {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A size: \"50MB\" (10^6), \"64MiB\" (2^20), \"1G\", or a number of bytes.",
            "anyOf": [
                {"type": "string", "pattern": "^\\s*[0-9.]+\\s*([kKmMgGtT]i?[bB]?|[bB])?\\s*$"},
                {"type": "integer", "minimum": 0}
            ]
        })
    }
}

/// A resource limit: a number (`65536`), a size (`"64MiB"`, for memory), or
/// `"unlimited"` (`None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(pub Option<u64>);

impl Limit {
    /// Parses `"unlimited"` (or `"infinity"`), or a number or size as [`parse_size`] does.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "unlimited" | "infinity" => Ok(Limit(None)),
            _ => parse_size(text)
                .map(|n| Limit(Some(n)))
                .map_err(|e| format!("{e}, or \"unlimited\"")),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("unlimited"),
            Some(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for Limit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            None => s.serialize_str("unlimited"),
            Some(n) => s.serialize_u64(n),
        }
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, a size such as \"512MiB\", or \"unlimited\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Limit, E> {
                Limit::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Limit, E> {
                u64::try_from(v)
                    .map(|n| Limit(Some(n)))
                    .map_err(|_| E::custom("a limit cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Limit, E> {
                Ok(Limit(Some(v)))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Limit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Limit".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A limit: a number, a size such as \"512MiB\", or \"unlimited\".",
            "anyOf": [
                {"type": "string", "pattern": "^\\s*([0-9.]+\\s*([kKmMgGtT]i?[bB]?|[bB])?|unlimited|infinity)\\s*$"},
                {"type": "integer", "minimum": 0}
            ]
        })
    }
}

/// A share of one CPU in percent, written `"150%"` (one and a half CPUs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percent(pub u32);

impl Percent {
    /// Parses a whole number followed by `%`, above zero.
    pub fn parse(text: &str) -> Result<Self, String> {
        let n = text
            .trim()
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<u32>().ok())
            .ok_or_else(|| format!("{text:?} is not a percentage: write e.g. \"150%\""))?;
        if n == 0 {
            return Err(format!("{text:?}: the share must be above 0%"));
        }
        Ok(Percent(n))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Percent::parse(&s).map_err(de::Error::custom)
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A share of one CPU, e.g. \"150%\" for one and a half.",
            "type": "string",
            "pattern": "^\\s*[0-9]+\\s*%\\s*$"
        })
    }
}

/// A stop signal, by name. The portable names are the POSIX ones; on Windows the
/// graceful stop is a console Ctrl event instead (see the Windows backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Signal {
    /// Terminate: the conventional "please stop" (the default).
    #[serde(rename = "SIGTERM", alias = "TERM")]
    Term,
    /// Interrupt, as Ctrl-C in a terminal.
    #[serde(rename = "SIGINT", alias = "INT")]
    Int,
    /// Quit (often: stop and dump core or state).
    #[serde(rename = "SIGQUIT", alias = "QUIT")]
    Quit,
    /// Hang-up.
    #[serde(rename = "SIGHUP", alias = "HUP")]
    Hup,
    /// User signal 1.
    #[serde(rename = "SIGUSR1", alias = "USR1")]
    Usr1,
    /// User signal 2.
    #[serde(rename = "SIGUSR2", alias = "USR2")]
    Usr2,
    /// Kill at once: no graceful stop at all.
    #[serde(rename = "SIGKILL", alias = "KILL")]
    Kill,
}

impl Signal {
    /// Every stop signal a spec can name.
    pub const ALL: [Signal; 7] = [
        Signal::Term,
        Signal::Int,
        Signal::Quit,
        Signal::Hup,
        Signal::Usr1,
        Signal::Usr2,
        Signal::Kill,
    ];

    /// The conventional name, as a spec spells it: e.g. `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Term => "SIGTERM",
            Signal::Int => "SIGINT",
            Signal::Quit => "SIGQUIT",
            Signal::Hup => "SIGHUP",
            Signal::Usr1 => "SIGUSR1",
            Signal::Usr2 => "SIGUSR2",
            Signal::Kill => "SIGKILL",
        }
    }

    /// The Unix signal number.
    #[cfg(unix)]
    pub fn number(self) -> i32 {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Int => libc::SIGINT,
            Signal::Quit => libc::SIGQUIT,
            Signal::Hup => libc::SIGHUP,
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Usr2 => libc::SIGUSR2,
            Signal::Kill => libc::SIGKILL,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A service name: letters, digits, `-`, `_` and `.`, starting with a letter or digit,
/// at most 64 characters. It becomes a unit name, a Windows service name and file names,
/// so nothing that could be a path or need quoting is allowed. `tend` (in any case) is
/// reserved: the service managers write the supervisor's own output to `tend.log` in
/// the service's log folder, which would be the service's combined log.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ServiceName(String);

/// The service name that is not allowed (in any case): the stem of the supervisor's
/// own log file.
const RESERVED_NAME: &str = "tend";

impl ServiceName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, String> {
        let hint = "use letters, digits, '-', '_' and '.', starting with a letter or digit";
        let first_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if name.is_empty() {
            return Err(format!("the service name is empty: {hint}"));
        }
        if name.len() > 64 {
            return Err(format!(
                "the service name is longer than 64 characters: {hint}"
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(format!(
                "the service name {name:?} contains {bad:?}: {hint}"
            ));
        }
        if !first_ok {
            return Err(format!(
                "the service name {name:?} must start with a letter or digit"
            ));
        }
        if name.eq_ignore_ascii_case(RESERVED_NAME) {
            return Err(format!(
                "the service name {name:?} is reserved: tend writes its own log to `tend.log` in the log folder, which would be this service's log; choose another name"
            ));
        }
        Ok(ServiceName(name.to_string()))
    }
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the command line parses a NAME argument with (every verb that takes a service
/// name goes through this, so no path is ever built from an unchecked name).
impl std::str::FromStr for ServiceName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ServiceName::new(s)
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ServiceName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ServiceName::new(&s).map_err(de::Error::custom)
    }
}

impl JsonSchema for ServiceName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ServiceName".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Letters, digits, '-', '_' and '.', starting with a letter or digit; at most 64 characters; not `tend` (in any case).",
            "type": "string",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
            "not": { "pattern": "^[Tt][Ee][Nn][Dd]$" }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = [
            ("10s", 10_000),
            ("500ms", 500),
            ("1m 30s", 90_000),
            ("2h", 7_200_000),
            (" 1s ", 1000),
            ("0s", 0),
        ];
        for (text, ms) in ok {
            assert_eq!(parse_duration(text).unwrap().as_millis(), ms, "{text}");
        }
        for bad in ["", "10", "ten seconds", "10 parsecs", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad} should fail");
        }
        // A number without a unit is told so, not "unknown unit \"\"".
        let e = parse_duration("10").unwrap_err();
        assert!(e.contains("needs a unit") && e.contains("\"10s\""), "{e}");
        assert!(!e.contains("unknown unit"), "{e}");
    }

    #[test]
    fn sizes() {
        let ok = [
            ("50MB", 50_000_000),
            ("64MiB", 64 << 20),
            ("1G", 1 << 30),
            ("1.5kB", 1500),
            ("100", 100),
            ("100b", 100),
            ("2 GiB", 2 << 30),
        ];
        for (text, n) in ok {
            assert_eq!(parse_size(text).unwrap(), n, "{text}");
        }
        for bad in ["", "MB", "10 parsecs", "1..2MB", "-5MB"] {
            assert!(parse_size(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn size_display_round_trips() {
        for n in [0, 1, 999, 1000, 50_000_000, 64 << 20, 1 << 30, 1536] {
            let shown = Size(n).to_string();
            assert_eq!(parse_size(&shown).unwrap(), n, "{shown}");
        }
    }

    #[test]
    fn duration_display_round_trips() {
        for ms in [0, 1, 500, 1000, 90_000, 7_200_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&d.to_string()).unwrap(), d.0);
        }
    }

    #[test]
    fn service_names() {
        for ok in ["orders", "orders-api", "a.b_c", "9lives"] {
            assert!(ServiceName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../etc",
            "a/b",
            "a b",
            "-x",
            ".hidden",
            "ü",
            &"x".repeat(65),
        ] {
            assert!(ServiceName::new(bad).is_err(), "{bad}");
        }
        // tend's own log is `tend.log`: a service of that name would share it.
        for reserved in ["tend", "Tend", "TEND"] {
            let e = ServiceName::new(reserved).unwrap_err();
            assert!(e.contains("is reserved"), "{reserved}: {e}");
        }
        for ok in ["tend-web", "tend.x", "attend"] {
            assert!(ServiceName::new(ok).is_ok(), "{ok}");
        }
    }
}

/// An `http://` URL for a stop hook (or an `https://` one for a health check): where
/// to connect and what to ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    /// `https://`: the exchange goes through TLS (health checks only).
    pub tls: bool,
    /// Host name or address (without brackets for IPv6).
    pub host: String,
    /// Port (80 when not given).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpUrl {
    /// Parses `http://HOST[:PORT][/PATH]`.
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| "only http:// URLs are supported".to_string())?;
        Self::parse_rest(url, rest, false)
    }

    /// Parses `http://HOST[:PORT][/PATH]` or `https://HOST[:PORT][/PATH]`.
    pub fn parse_with_tls(url: &str) -> Result<HttpUrl, String> {
        match url.strip_prefix("https://") {
            Some(rest) => Self::parse_rest(url, rest, true),
            None => url
                .strip_prefix("http://")
                .ok_or_else(|| "only http:// and https:// URLs are supported".to_string())
                .and_then(|rest| Self::parse_rest(url, rest, false)),
        }
    }

    fn parse_rest(url: &str, rest: &str, tls: bool) -> Result<HttpUrl, String> {
        if url.chars().any(|c| c.is_control() || c == ' ') {
            return Err("it contains spaces or control characters".into());
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err("user names in the URL are not supported".into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| "an IPv6 address lacks its closing ']'".to_string())?;
            if !after.is_empty() && !after.starts_with(':') {
                return Err(format!("{after:?} follows the IPv6 address"));
            }
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => {
                    return Err("write an IPv6 address in brackets: http://[::1]:8080/".into())
                }
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err("it names no host".into());
        }
        // A fragment is the client's own: never sent.
        let path = path.split('#').next().unwrap_or("/");
        let path = if path.is_empty() { "/" } else { path };
        let port = match port {
            None if tls => 443,
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("{p:?} is not a port number"))?,
        };
        Ok(HttpUrl {
            tls,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

/// Parses `HOST:PORT` (`[::1]:5432` for an IPv6 address): the host without brackets
/// and the port.
pub fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    if text.chars().any(|c| c.is_control() || c == ' ') {
        return Err("it contains spaces or control characters".into());
    }
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| "an IPv6 address lacks its closing ']'".to_string())?;
        (h, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err("write an IPv6 address in brackets: [::1]:5432".into())
            }
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err("it names no host".into());
    }
    let port = port.ok_or_else(|| "it names no port".to_string())?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("{port:?} is not a port number"))?;
    Ok((host.to_string(), port))
}

/// Parses a listen address: `IP:PORT`, `[IPv6]:PORT`, or `localhost:PORT` (127.0.0.1).
/// Port 0 is any free port. A host name other than `localhost` is refused: what it
/// resolves to is not known before the supervisor runs.
pub fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Some(port) = text.strip_prefix("localhost:") {
        return port
            .parse::<u16>()
            .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)))
            .map_err(|_| format!("{port:?} is not a port number"));
    }
    if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
        return Ok(addr);
    }
    let (host, _) = match text.strip_suffix(":0") {
        Some(h) if !h.is_empty() => (h.to_string(), 0),
        _ => parse_host_port(text)?,
    };
    if host.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("{host:?} is not an IP address"));
    }
    Err("it is not an address to listen on".into())
}

#[cfg(test)]
mod listen_tests {
    use super::parse_listen;

    #[test]
    fn listen_addresses() {
        for (text, want) in [
            ("127.0.0.1:9464", "127.0.0.1:9464"),
            ("0.0.0.0:9464", "0.0.0.0:9464"),
            ("[::]:9464", "[::]:9464"),
            ("[::1]:0", "[::1]:0"),
            ("localhost:9464", "127.0.0.1:9464"),
        ] {
            assert_eq!(
                parse_listen(text).map(|a| a.to_string()),
                Ok(want.into()),
                "{text}"
            );
        }
        for (text, why) in [
            ("9464", "it names no port"),
            (":9464", "it names no host"),
            ("127.0.0.1", "it names no port"),
            ("127.0.0.1:99999", "\"99999\" is not a port number"),
            (
                "metrics.local:9464",
                "\"metrics.local\" is not an IP address",
            ),
            ("::1:9464", "write an IPv6 address in brackets: [::1]:5432"),
            ("localhost:x", "\"x\" is not a port number"),
            (
                "127.0.0.1 :9464",
                "it contains spaces or control characters",
            ),
        ] {
            assert_eq!(parse_listen(text), Err(why.to_string()), "{text}");
        }
    }
}

#[cfg(test)]
mod host_port_tests {
    use super::parse_host_port;

    #[test]
    fn host_and_port() {
        assert_eq!(
            parse_host_port("127.0.0.1:5432"),
            Ok(("127.0.0.1".into(), 5432))
        );
        assert_eq!(parse_host_port("[::1]:80"), Ok(("::1".into(), 80)));
        assert_eq!(parse_host_port("db.local:1"), Ok(("db.local".into(), 1)));
        for bad in [
            "127.0.0.1",
            ":80",
            "h:0",
            "h:x",
            "::1:80",
            "[::1",
            "h :1",
            "[::1]",
        ] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod http_url_tests {
    use super::HttpUrl;

    #[test]
    fn parses_the_forms_a_stop_hook_uses() {
        let u = HttpUrl::parse("http://127.0.0.1:8080/shutdown?now=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/shutdown?now=1")
        );
        let u = HttpUrl::parse("http://localhost").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("localhost", 80, "/")
        );
        let u = HttpUrl::parse("http://[::1]:9000/q").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 9000, "/q")
        );
        for bad in [
            "https://x/",
            "http://",
            "http://:80/",
            "http://h:0/",
            "http://h:x/",
            "http://a@h/",
            "http://h/a b",
            "ftp://h",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn health_checks_also_take_https() {
        let u = HttpUrl::parse_with_tls("https://example.org/healthz").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (true, "example.org", 443, "/healthz")
        );
        let u = HttpUrl::parse_with_tls("http://127.0.0.1:8080").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (false, 8080, "/"));
        let u = HttpUrl::parse_with_tls("http://[::1]:9000/q#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 9000, "/q")
        );
        for bad in [
            "ftp://h",
            "https://",
            "https://a@h/",
            "HTTP://h",
            "http://fe80::1/",
            "http://[::1]junk/",
        ] {
            assert!(HttpUrl::parse_with_tls(bad).is_err(), "{bad}");
        }
    }
}

/// The name of a socket tend holds for a service (`[[listen]] name`): it reaches the
/// child in `LISTEN_FDNAMES`, colon-separated, so it is what `sd_listen_fds_with_names`
/// accepts: 1 to 255 ASCII letters, digits, `_`, `-` and `.`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FdName(String);

impl FdName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, String> {
        let hint = "use letters, digits, '_', '-' and '.', e.g. \"http\"";
        if name.is_empty() {
            return Err(format!("the socket name is empty: {hint}"));
        }
        if name.len() > 255 {
            return Err(format!(
                "the socket name is longer than 255 characters: {hint}"
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            let why = if bad == ':' {
                " (LISTEN_FDNAMES separates the names with ':')"
            } else {
                ""
            };
            return Err(format!(
                "the socket name {name:?} contains {bad:?}{why}: {hint}"
            ));
        }
        Ok(FdName(name.to_string()))
    }
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FdName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FdName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FdName::new(&s).map_err(de::Error::custom)
    }
}

impl JsonSchema for FdName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FdName".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Letters, digits, '_', '-' and '.'; at most 255 characters.",
            "type": "string",
            "pattern": "^[A-Za-z0-9_.-]{1,255}$"
        })
    }
}

/// Where a socket tend holds listens: a TCP address (`"127.0.0.1:8080"`, `"[::]:443"`,
/// `"localhost:8080"`, port 0 for any free port) or a Unix socket (`"unix:/run/x.sock"`,
/// an absolute path).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SocketAddress {
    /// A TCP listener.
    Tcp(std::net::SocketAddr),
    /// A Unix stream socket at this absolute path.
    Unix(std::path::PathBuf),
}

impl SocketAddress {
    /// Parses a `[[listen]] address`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.strip_prefix("unix:") {
            Some(path) => {
                if path.is_empty() {
                    return Err("it names no path: write e.g. \"unix:/run/orders.sock\"".into());
                }
                if path.chars().any(char::is_control) {
                    return Err("the path contains control characters".into());
                }
                if !path.starts_with('/') {
                    return Err(format!(
                        "{path:?} is not an absolute path: write e.g. \"unix:/run/orders.sock\""
                    ));
                }
                // sun_path holds 108 bytes on Linux, NUL included (104 on the BSDs).
                if path.len() > 107 {
                    return Err(format!(
                        "the path is {} bytes long; a Unix socket path holds at most 107",
                        path.len()
                    ));
                }
                Ok(SocketAddress::Unix(path.into()))
            }
            None => parse_listen(text).map(SocketAddress::Tcp),
        }
    }
}

impl fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddress::Tcp(a) => write!(f, "{a}"),
            SocketAddress::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl Serialize for SocketAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SocketAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SocketAddress::parse(&s).map_err(de::Error::custom)
    }
}

impl JsonSchema for SocketAddress {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SocketAddress".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "IP:PORT (\"127.0.0.1:8080\", \"[::]:443\", \"localhost:8080\") or a Unix socket, \"unix:/run/orders.sock\".",
            "type": "string"
        })
    }
}

/// Permission bits written in octal (`"0660"`), for a Unix socket's file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Mode {
    /// Parses three or four octal digits, at most `0777`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let digits = text.strip_prefix("0o").unwrap_or(text);
        if !(3..=4).contains(&digits.len()) || !digits.chars().all(|c| ('0'..='7').contains(&c)) {
            return Err(format!(
                "{text:?} is not a mode: write octal permission bits, e.g. \"0660\""
            ));
        }
        let mode = u32::from_str_radix(digits, 8).map_err(|e| e.to_string())?;
        if mode > 0o777 {
            return Err(format!(
                "{text:?}: only permission bits (at most 0777) apply to a socket"
            ));
        }
        Ok(Mode(mode))
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Mode::parse(&s).map_err(de::Error::custom)
    }
}

impl JsonSchema for Mode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Mode".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Octal permission bits, e.g. \"0660\".",
            "type": "string",
            "pattern": "^(0o)?[0-7]{3,4}$"
        })
    }
}

#[cfg(test)]
mod listen_value_tests {
    use super::{FdName, Mode, SocketAddress};

    #[test]
    fn fd_names() {
        for ok in ["http", "admin-2", "a.b_c", "9", &"x".repeat(255)] {
            assert!(FdName::new(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "is empty"),
            ("a:b", "separates the names with ':'"),
            ("a b", "contains ' '"),
            ("ü", "contains 'ü'"),
            (&"x".repeat(256), "longer than 255"),
        ] {
            let e = FdName::new(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn socket_addresses() {
        for (text, shown) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("[::]:443", "[::]:443"),
            ("localhost:0", "127.0.0.1:0"),
            ("unix:/run/orders.sock", "unix:/run/orders.sock"),
        ] {
            let a = SocketAddress::parse(text).unwrap();
            assert_eq!(a.to_string(), shown, "{text}");
            // What it shows reads back as itself.
            assert_eq!(SocketAddress::parse(shown), Ok(a));
        }
        for (bad, why) in [
            ("unix:", "names no path"),
            ("unix:run/x.sock", "not an absolute path"),
            ("unix:/a\nb", "control characters"),
            (&format!("unix:/{}", "x".repeat(107)), "at most 107"),
            ("8080", "names no port"),
            ("example.org:80", "not an IP address"),
            ("tcp://127.0.0.1:80", "brackets"),
        ] {
            let e = SocketAddress::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn modes() {
        assert_eq!(Mode::parse("0660"), Ok(Mode(0o660)));
        assert_eq!(Mode::parse("600"), Ok(Mode(0o600)));
        assert_eq!(Mode::parse("0o666"), Ok(Mode(0o666)));
        assert_eq!(Mode(0o660).to_string(), "0660");
        for bad in ["", "66", "0999", "rw-rw----", "4777", "07777"] {
            assert!(Mode::parse(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod resource_value_tests {
    use super::{Limit, Percent};

    #[test]
    fn limits() {
        for (text, want) in [
            ("unlimited", Some(Limit(None))),
            ("Infinity", Some(Limit(None))),
            ("65536", Some(Limit(Some(65536)))),
            ("512MiB", Some(Limit(Some(512 << 20)))),
            ("1G", Some(Limit(Some(1 << 30)))),
            ("lots", None),
            ("-1", None),
            ("", None),
        ] {
            assert_eq!(Limit::parse(text).ok(), want, "{text:?}");
        }
        assert_eq!(Limit(None).to_string(), "unlimited");
        assert_eq!(Limit(Some(7)).to_string(), "7");
    }

    #[test]
    fn percentages() {
        for (text, want) in [
            ("150%", Some(150)),
            (" 50 % ", Some(50)),
            ("1%", Some(1)),
            ("0%", None),
            ("150", None),
            ("1.5%", None),
            ("-5%", None),
            ("%", None),
        ] {
            assert_eq!(Percent::parse(text).ok().map(|p| p.0), want, "{text:?}");
        }
        assert_eq!(Percent(150).to_string(), "150%");
    }
}

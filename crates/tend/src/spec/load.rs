//! Loading a spec: layers and precedence, then deserialization and validation.
//!
//! A service's settings come from up to four layers, each a TOML table:
//! the file, the selected `[profile.NAME]` table, `TEND_*` environment variables, and
//! `--set key=value` arguments (highest). Layers are deep-merged (tables merge, any
//! other value replaces), and every key remembers the layer and the place in that
//! layer's text it came from. Errors found later, by serde or by validation, carry a
//! key path; the provenance turns that path back into file, line and column.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::{Table, Value};

use super::error::{did_you_mean, edit_distance, Diagnostic, Location, SpecError};
use super::model::{ServiceSet, Spec};

/// Environment variables that configure tend itself, never spec keys.
const RESERVED_ENV: &[&str] = &[
    "TEND_PROFILE",
    "TEND_STATE_DIR",
    "TEND_LOG_DIR",
    "TEND_COLOR",
];

/// The top-level keys of a service spec (kept in step with the schema by a test).
pub(crate) const TOP_KEYS: &[&str] = &[
    "name",
    "display_name",
    "description",
    "command",
    "args",
    "working_dir",
    "env",
    "env_file",
    "user",
    "group",
    "depends_on",
    "listen",
    "restart",
    "stop",
    "reload",
    "log",
    "health",
    "metrics",
    "update",
    "resources",
    "systemd",
    "windows",
];

/// The top-level keys that hold tables.
const TABLE_KEYS: &[&str] = &[
    "env",
    "restart",
    "stop",
    "reload",
    "log",
    "health",
    "metrics",
    "update",
    "resources",
    "systemd",
    "windows",
];

/// Where the settings come from, beyond the file.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The profile to layer over the file (`[profile.NAME]`).
    pub profile: Option<String>,
    /// `--set key=value` overrides, in order (later wins).
    pub sets: Vec<String>,
    /// The process environment: `TEND_*` variables are settings, and `[env]` values
    /// may refer to any variable (`${HOME}`).
    pub env: Vec<(String, String)>,
    /// Also check every profile not selected, each layered over the file alone, and
    /// report its problems at its lines (`tend check`); none is applied.
    pub every_profile: bool,
}

impl LoadOptions {
    /// No profile and no overrides, with the process environment: a spec read as
    /// `tend run` reads it (its `[env]` may refer to `${HOME}`).
    pub fn with_process_env() -> LoadOptions {
        LoadOptions {
            env: std::env::vars().collect(),
            ..Default::default()
        }
    }
}

/// A loaded spec file.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The file it came from.
    pub path: PathBuf,
    /// Its services (one for a single-service spec).
    pub services: Vec<Spec>,
    /// Whether the file is a `[[service]]` list.
    pub multi: bool,
    /// `[metrics]`: the single service's, or the one table of a `[[service]]` file.
    pub metrics: Option<super::model::Metrics>,
    /// For each service, where its layers set the keys the checks of this machine
    /// are about.
    places: Vec<Places>,
}

/// Where the layers set some keys of one service (dotted): at a line of the file (its
/// base or a profile), an override (no line), or nowhere (`None`: the default).
type Places = BTreeMap<String, Option<Location>>;

/// The keys the checks of this machine (`tend run`'s, before it starts) are about.
const MACHINE_KEYS: &[&str] = &[
    "command",
    "working_dir",
    "env_file",
    "user",
    "group",
    "stop.command",
    "stop.http",
    "reload.command",
    "resources.memory_max",
    "resources.cpu_max",
    "resources.cpu_weight",
    "resources.tasks_max",
    "resources.nofile",
    "resources.memlock",
    "resources.cpu_affinity",
    "resources.nice",
    "resources.io_class",
    "resources.io_priority",
    "resources.oom_score_adjust",
    "resources.scheduling",
];

/// Reads and loads the spec at `path`.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Loaded, SpecError> {
    load_file_or_salvage(path, opts).map_err(|f| f.error)
}

/// Loads `text`, which came from `path` (used in messages and for `depends_on` checks;
/// nothing is read from disk).
pub fn load_str(path: &Path, text: &str, opts: &LoadOptions) -> Result<Loaded, SpecError> {
    load_str_or_salvage(path, text, opts).map_err(|f| f.error)
}

/// One service of a spec in error, read as far as it could be: a default in place of
/// each value in error, a stand-in for a required value missing or wrong. Enough to
/// run the checks of this machine on the rest (`tend check` reports every problem in
/// one run), as long as the keys it does not [`trust`](Salvaged::trusts) are left out.
#[derive(Clone, Debug)]
pub struct Salvaged {
    /// Its place among the file's services.
    pub index: usize,
    /// The service as read.
    pub spec: Spec,
    /// In a `[[service]]` file, its name as the file writes it (`service #N`, from 1,
    /// when it has none).
    pub service: Option<String>,
    /// The dotted keys whose value is not the spec's: in error, or stood in for.
    in_error: Vec<String>,
    /// Where the layers set the keys of the checks of this machine.
    places: Places,
}

impl Salvaged {
    /// Every service of a spec that loaded, every key trusted.
    pub fn all_of(loaded: &Loaded) -> Vec<Salvaged> {
        loaded
            .services
            .iter()
            .enumerate()
            .map(|(index, spec)| Salvaged {
                index,
                spec: spec.clone(),
                service: loaded.multi.then(|| spec.name.to_string()),
                in_error: Vec::new(),
                places: loaded.places.get(index).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// Where the layer that set `key` (dotted, one the checks of this machine are
    /// about) sets it: a line of the file or of a profile in it, or an override (line
    /// 0); `None` when no layer set it.
    pub fn place(&self, key: &str) -> Option<Location> {
        self.places.get(key).cloned().flatten()
    }

    /// Whether `key` (dotted, `stop.command`) holds what the spec says: neither it, a
    /// table above it nor a value within it was in error.
    pub fn trusts(&self, key: &str) -> bool {
        let within = |long: &str, short: &str| {
            long == short
                || long
                    .strip_prefix(short)
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        };
        !self
            .in_error
            .iter()
            .any(|e| within(e, key) || within(key, e))
    }
}

/// Why a spec could not be loaded, and what could still be read of it.
#[derive(Debug)]
pub struct Failed {
    /// Every problem, in the order of the file.
    pub error: SpecError,
    /// Whether the file is a `[[service]]` list.
    pub multi: bool,
    /// The services that could be read in spite of the problems (none when the file
    /// could not be read or is not TOML).
    pub salvaged: Vec<Salvaged>,
}

impl Failed {
    fn only(error: SpecError) -> Failed {
        Failed {
            error,
            multi: false,
            salvaged: Vec::new(),
        }
    }
}

/// [`load_file`], and when the spec has problems, what could be read of it.
pub fn load_file_or_salvage(path: &Path, opts: &LoadOptions) -> Result<Loaded, Failed> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        Failed::only(SpecError::Read {
            path: path.to_path_buf(),
            source,
        })
    })?;
    load_str_or_salvage(path, &text, opts)
}

/// [`load_str`], and when the spec has problems, what could be read of it.
pub fn load_str_or_salvage(path: &Path, text: &str, opts: &LoadOptions) -> Result<Loaded, Failed> {
    let file = SourceText {
        origin: path.display().to_string(),
        text: text.to_string(),
        is_file: true,
    };
    let doc = DeTable::parse(text).map_err(|e| {
        let loc = e.span().map(|s| Location::in_text(&file.origin, text, s));
        Failed::only(SpecError::invalid(
            path,
            vec![Diagnostic {
                message: format!("invalid TOML: {}", e.message().trim()),
                location: loc,
                help: Some("see https://toml.io for the syntax".into()),
                key: None,
                service: None,
            }],
        ))
    })?;
    let table: Table = toml::from_str(text).map_err(|e| Failed::only(invalid(path, &file, e)))?;
    let mut sources = vec![file];
    let mut diags = Vec::new();

    let multi = table.contains_key("service");
    // A `[[service]]` file's `[metrics]`: one for all its services.
    let mut top_metrics = None;
    if let (true, Some(value)) = (multi, table.get("metrics")) {
        match super::validate::read_top_metrics(value) {
            Ok(m) => top_metrics = Some(m),
            Err(problems) => {
                for (p, msg, help) in problems {
                    let at_key = msg.starts_with("unknown key");
                    let o = Origin {
                        source: 0,
                        path: p.clone(),
                    };
                    let mut d = diag_at(&sources, &doc, o, msg, help, at_key);
                    d.key = Some(show_path(&p));
                    diags.push(d);
                }
            }
        }
    }
    let services: Vec<(KeyPath, Table)> = if multi {
        for key in table.keys().filter(|k| *k != "service" && *k != "metrics") {
            diags.push(diag_at(
                &sources,
                &doc,
                Origin {
                    source: 0,
                    path: vec![Seg::Key(key.clone())],
                },
                format!("unknown top-level key `{key}` in a file of `[[service]]` tables"),
                Some("put service settings inside a `[[service]]` table".into()),
                true,
            ));
        }
        match table.get("service") {
            Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_table) => {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        v.as_table()
                            .map(|t| (vec![Seg::Key("service".into()), Seg::Index(i)], t.clone()))
                    })
                    .collect()
            }
            _ => {
                diags.push(diag_at(
                    &sources,
                    &doc,
                    Origin {
                        source: 0,
                        path: vec![Seg::Key("service".into())],
                    },
                    "`service` must be a list of tables, written `[[service]]`".into(),
                    None,
                    false,
                ));
                Vec::new()
            }
        }
    } else {
        vec![(Vec::new(), table)]
    };

    if let Some(p) = &opts.profile {
        let defined: BTreeSet<&str> = services
            .iter()
            .filter_map(|(_, t)| t.get("profile").and_then(Value::as_table))
            .flat_map(|t| t.keys().map(String::as_str))
            .collect();
        if !defined.contains(p.as_str()) {
            let help = if defined.is_empty() {
                "this file defines no `[profile.NAME]` tables".to_string()
            } else {
                let list: Vec<_> = defined.iter().copied().collect();
                match did_you_mean(p, list.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? defined: {}", list.join(", ")),
                    None => format!("defined profiles: {}", list.join(", ")),
                }
            };
            diags.push(Diagnostic {
                message: format!("profile `{p}` is not defined in {}", path.display()),
                location: None,
                help: Some(help),
                key: None,
                service: None,
            });
        }
    }

    let names: Vec<Option<String>> = services
        .iter()
        .map(|(_, t)| t.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    // What a `TEND_*` variable must start with to be a setting: a key of the spec, or
    // in a `[[service]]` file a service name.
    let firsts: Vec<String> = if multi {
        names.iter().flatten().map(|n| env_key(n)).collect()
    } else {
        TOP_KEYS.iter().map(|k| k.to_string()).collect()
    };
    let overrides = parse_overrides(opts, &firsts, &mut sources, &mut diags);
    if multi {
        for o in &overrides {
            let target = o.keys.first().map(String::as_str).unwrap_or("");
            if o.keys.len() < 2 && !o.from_env {
                diags.push(Diagnostic {
                    message: format!("override `{}` names a service but no setting", o.keys.join(".")),
                    location: Some(Location::of_override(&sources[o.source].origin, o.source)),
                    help: Some(format!("in a `[[service]]` file write SERVICE.KEY=VALUE, e.g. `{target}.restart.policy=always`")),
                    key: None,
                    service: None,
                });
                continue;
            }
            if !names
                .iter()
                .any(|n| n.as_deref() == Some(target) || env_match(o, n))
            {
                let known: Vec<&str> = names.iter().flatten().map(String::as_str).collect();
                let help = match did_you_mean(target, known.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? in a `[[service]]` file an override starts with the service name, e.g. `{s}.restart.policy=always`"),
                    None => format!("in a `[[service]]` file an override starts with the service name; services: {}", known.join(", ")),
                };
                diags.push(Diagnostic {
                    message: format!(
                        "override `{}` names no service of this file",
                        o.keys.join(".")
                    ),
                    location: Some(Location::of_override(&sources[o.source].origin, o.source)),
                    help: Some(help),
                    key: None,
                    service: None,
                });
            }
        }
    }

    // Every service is read to the end, each problem set aside, so that one run reports
    // them all; the cross-service checks need every service and its real name.
    let mut specs = Vec::new();
    let mut salvaged = Vec::new();
    let mut whole = true;
    // How a problem names its service in a file of several: by its name, or by its
    // place when it has none (`service #2`).
    let labels: Vec<Option<String>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| multi.then(|| n.clone().unwrap_or_else(|| format!("service #{}", i + 1))))
        .collect();
    for (index, ((prefix, table), name)) in services.into_iter().zip(&names).enumerate() {
        let first = diags.len();
        let others = if opts.every_profile {
            profile_problems(
                &prefix,
                &table,
                opts.profile.as_deref(),
                multi,
                name,
                &sources,
                &doc,
            )
        } else {
            Vec::new()
        };
        let (mut merged, layer_problems) = layer_service(
            &prefix,
            table,
            opts.profile.as_deref(),
            &overrides,
            multi,
            name,
        );
        for (p, msg, help) in layer_problems {
            let o = Origin {
                source: 0,
                path: [prefix.clone(), p.clone()].concat(),
            };
            let mut d = diag_at(&sources, &doc, o, msg, help, true);
            d.key = Some(show_path(&p));
            diags.push(d);
        }
        for (p, msg, help) in expand_env_table(&mut merged.value, &opts.env) {
            let mut d = diag_at(&sources, &doc, merged.origin_of(&p), msg, help, false);
            d.key = Some(show_path(&p));
            diags.push(d);
        }
        let read = deserialize_all(&merged, &sources, &doc);
        diags.extend(read.diagnostics);
        match read.spec {
            Some(spec) => {
                for (p, msg, help) in super::validate::check(&spec) {
                    if read.stand_ins.iter().any(|s| p.starts_with(s)) {
                        continue;
                    }
                    let o = merged.origin_of(&p);
                    let mut d = diag_at(&sources, &doc, o, msg, help, false);
                    d.key = Some(show_path(&p));
                    diags.push(d);
                }
                if read
                    .stand_ins
                    .iter()
                    .any(|s| s.first() == Some(&Seg::Key("name".into())))
                {
                    whole = false;
                }
                let in_error = diags[first..]
                    .iter()
                    .filter_map(|d| d.key.clone())
                    .chain(read.stand_ins.iter().map(|s| show_path(s)))
                    .collect();
                salvaged.push(Salvaged {
                    index,
                    spec: spec.clone(),
                    service: labels[index].clone(),
                    in_error,
                    places: places_of(&merged, &sources, &doc),
                });
                specs.push(spec);
            }
            None => whole = false,
        }
        // A profile's problems are not the service's: its keys in error are trusted.
        diags.extend(others);
        if multi {
            for d in &mut diags[first..] {
                d.service = labels[index].clone();
            }
        }
    }
    if whole && multi {
        for (i, key, msg, help) in super::validate::check_set(&specs) {
            let o = Origin {
                source: 0,
                path: [vec![Seg::Key("service".into()), Seg::Index(i)], key.clone()].concat(),
            };
            let mut d = diag_at(&sources, &doc, o, msg, help, false);
            d.key = Some(show_path(&key));
            d.service = labels[i].clone();
            diags.push(d);
        }
    }
    if !diags.is_empty() {
        return Err(Failed {
            error: SpecError::invalid(path, diags),
            multi,
            salvaged,
        });
    }
    let metrics = if multi {
        top_metrics
    } else {
        specs.first().and_then(|s| s.metrics.clone())
    };
    Ok(Loaded {
        path: path.to_path_buf(),
        metrics,
        services: specs,
        multi,
        places: salvaged.into_iter().map(|s| s.places).collect(),
    })
}

/// The problems of each profile of one service but `selected` (applied already), each
/// layered over the file alone: those of the values the profile sets, at its lines,
/// their key named `profile.NAME.KEY`.
fn profile_problems(
    prefix: &[Seg],
    table: &Table,
    selected: Option<&str>,
    multi: bool,
    name: &Option<String>,
    sources: &[SourceText],
    doc: &toml::Spanned<DeTable<'_>>,
) -> Vec<Diagnostic> {
    let Some(Value::Table(profiles)) = table.get("profile") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pname in profiles.keys().filter(|p| Some(p.as_str()) != selected) {
        let mut here = prefix.to_vec();
        here.extend([Seg::Key("profile".into()), Seg::Key(pname.clone())]);
        let ours = |o: &Origin| o.source == 0 && o.path.starts_with(&here);
        let key = |p: &str| format!("profile.{pname}.{p}");
        let (merged, _) = layer_service(prefix, table.clone(), Some(pname), &[], multi, name);
        let read = deserialize_all(&merged, sources, doc);
        for (mut d, o) in read.diagnostics.into_iter().zip(&read.origins) {
            if ours(o) {
                d.key = d.key.as_deref().map(key);
                out.push(d);
            }
        }
        let Some(spec) = read.spec else {
            continue;
        };
        for (p, msg, help) in super::validate::check(&spec) {
            let o = merged.origin_of(&p);
            if read.stand_ins.iter().any(|s| p.starts_with(s)) || !ours(&o) {
                continue;
            }
            let mut d = diag_at(sources, doc, o, msg, help, false);
            d.key = Some(key(&show_path(&p)));
            out.push(d);
        }
    }
    out
}

/// Where the layers of `merged` set each of [`MACHINE_KEYS`].
fn places_of(merged: &Merged, sources: &[SourceText], doc: &toml::Spanned<DeTable<'_>>) -> Places {
    MACHINE_KEYS
        .iter()
        .map(|key| {
            let path: KeyPath = key.split('.').map(|k| Seg::Key(k.to_string())).collect();
            let origin = merged.origin_of(&path);
            let place = match sources.get(origin.source) {
                Some(src) if src.is_file => {
                    let (span, complete) = walk_span(doc, &origin.path, false);
                    span.filter(|_| complete)
                        .map(|span| Location::in_text(&src.origin, &src.text, span))
                }
                Some(src) => Some(Location::of_override(&src.origin, origin.source)),
                None => None,
            };
            (key.to_string(), place)
        })
        .collect()
}

/// The JSON Schema of a spec file (single service, or a `[[service]]` list), for editors.
pub fn schema() -> serde_json::Value {
    let mut single = serde_json::to_value(schemars::schema_for!(Spec)).unwrap_or_default();
    let profile = serde_json::json!({
        "description": "Profiles layered over the base settings, selected with --profile NAME or TEND_PROFILE. Each holds any of the service's keys except `name`.",
        "type": "object",
        "additionalProperties": { "type": "object" }
    });
    if let Some(props) = single
        .pointer_mut("/properties")
        .and_then(|p| p.as_object_mut())
    {
        props.insert("profile".into(), profile);
    }
    let mut set = serde_json::to_value(schemars::schema_for!(ServiceSet)).unwrap_or_default();
    // `$ref`s point at the root's `$defs`: hoist both halves' definitions there.
    let mut defs = serde_json::Map::new();
    for half in [&mut single, &mut set] {
        if let Some(obj) = half.as_object_mut() {
            obj.remove("$schema");
            obj.remove("title");
            if let Some(serde_json::Value::Object(d)) = obj.remove("$defs") {
                defs.extend(d);
            }
        }
    }
    // In a [[service]] list, each item is a full service spec (profiles included).
    defs.insert("Spec".into(), single.clone());
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tend spec",
        "description": "A tend service spec: one service, or several as [[service]] tables.",
        "oneOf": [single, set],
        "$defs": defs,
    })
}

// ---------------------------------------------------------------- paths and origins

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

pub(crate) type KeyPath = Vec<Seg>;

/// A key path as `a.b[2].c`.
pub(crate) fn show_path(p: &[Seg]) -> String {
    let mut s = String::new();
    for seg in p {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Where a value came from: a source, and its key path within that source's text.
#[derive(Clone, Debug)]
struct Origin {
    source: usize,
    path: KeyPath,
}

struct SourceText {
    origin: String,
    text: String,
    is_file: bool,
}

/// A merged table and, per key path, which layer set it.
struct Merged {
    value: Table,
    origins: BTreeMap<KeyPath, Origin>,
}

impl Merged {
    /// The origin of `path`: the longest recorded prefix, extended by the rest.
    fn origin_of(&self, path: &[Seg]) -> Origin {
        for n in (0..=path.len()).rev() {
            if let Some(o) = self.origins.get(&path[..n]) {
                let mut p = o.path.clone();
                p.extend_from_slice(&path[n..]);
                return Origin {
                    source: o.source,
                    path: p,
                };
            }
        }
        Origin {
            source: 0,
            path: path.to_vec(),
        }
    }

    /// Deep-merges `src` (from `origin`) over the table at `at`.
    fn overlay(&mut self, at: &[Seg], src: Table, origin: &Origin) {
        let mut dst = &mut self.value;
        for (i, seg) in at.iter().enumerate() {
            if let Seg::Key(k) = seg {
                if !matches!(dst.get(k), Some(Value::Table(_))) {
                    // A table this layer creates belongs to this layer.
                    self.origins.insert(at[..=i].to_vec(), origin.clone());
                }
                dst = match dst
                    .entry(k.clone())
                    .or_insert_with(|| Value::Table(Table::new()))
                {
                    Value::Table(t) => t,
                    other => {
                        *other = Value::Table(Table::new());
                        match other {
                            Value::Table(t) => t,
                            _ => unreachable!("just made a table"),
                        }
                    }
                };
            }
        }
        let mut records = Vec::new();
        merge_into(dst, src, at, &origin.path, &mut records);
        for (p, sp) in records {
            self.origins.retain(|k, _| !k.starts_with(&p));
            self.origins.insert(
                p,
                Origin {
                    source: origin.source,
                    path: sp,
                },
            );
        }
    }
}

fn merge_into(
    dst: &mut Table,
    src: Table,
    at: &[Seg],
    src_at: &[Seg],
    records: &mut Vec<(KeyPath, KeyPath)>,
) {
    for (k, v) in src {
        let mut p = at.to_vec();
        p.push(Seg::Key(k.clone()));
        let mut sp = src_at.to_vec();
        sp.push(Seg::Key(k.clone()));
        match (dst.get_mut(&k), v) {
            (Some(Value::Table(d)), Value::Table(s)) => merge_into(d, s, &p, &sp, records),
            (_, v) => {
                records.push((p, sp));
                dst.insert(k, v);
            }
        }
    }
}

// ---------------------------------------------------------------- overrides

/// One `--set` or `TEND_*` override.
struct Override {
    source: usize,
    keys: Vec<String>,
    value: Value,
    /// From the environment: keys were upper-cased, so service names match loosely.
    from_env: bool,
}

impl Override {
    /// An override whose messages name `origin` (the `--set` argument or variable).
    fn new(
        sources: &mut Vec<SourceText>,
        origin: String,
        keys: Vec<String>,
        raw: &str,
        from_env: bool,
    ) -> Override {
        sources.push(SourceText {
            origin,
            text: String::new(),
            is_file: false,
        });
        Override {
            source: sources.len() - 1,
            keys,
            value: override_value(raw),
            from_env,
        }
    }
}

fn env_match(o: &Override, name: &Option<String>) -> bool {
    o.from_env && name.as_ref().is_some_and(|n| env_key(n) == o.keys[0])
}

fn env_key(name: &str) -> String {
    name.to_ascii_lowercase().replace(['-', '.'], "_")
}

fn parse_overrides(
    opts: &LoadOptions,
    firsts: &[String],
    sources: &mut Vec<SourceText>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Override> {
    let mut out = Vec::new();
    let mut env: Vec<&(String, String)> = opts
        .env
        .iter()
        .filter(|(k, _)| k.starts_with("TEND_") && !RESERVED_ENV.contains(&k.as_str()))
        .collect();
    env.sort();
    for (k, v) in env {
        // The value is not echoed: it may be a secret.
        let origin = format!("environment variable {k}");
        let mut keys: Vec<String> = Vec::new();
        let mut in_env_table = false;
        for part in k["TEND_".len()..].split("__") {
            // Names of variables in [env] keep their case; every other key is lower case.
            keys.push(if in_env_table {
                part.to_string()
            } else {
                part.to_ascii_lowercase()
            });
            in_env_table = part.eq_ignore_ascii_case("env");
        }
        if keys.iter().any(String::is_empty) {
            diags.push(Diagnostic {
                message: format!("cannot read the environment variable {k} as a spec key"),
                location: None,
                help: Some(
                    "write nested keys with a double underscore, e.g. TEND_RESTART__POLICY=always"
                        .into(),
                ),
                key: None,
                service: None,
            });
            continue;
        }
        // A variable that starts with no setting's name, nor nearly one, is somebody
        // else's (TEND_HOME, a script's TEND_BIN): not ours to reject.
        let first = keys[0].as_str();
        // A typo is one edit away (two in a long word): TEND_RESTRT__POLICY is an error
        // with a suggestion, TEND_HOME is not ours.
        let near = |f: &String| edit_distance(first, f) <= if first.len() >= 7 { 2 } else { 1 };
        // A setting's key where a `[[service]]` file wants a service name
        // (TEND_RESTART__POLICY) is kept, to be refused as `--set restart.policy` is.
        let setting = keys.len() >= 2 && TOP_KEYS.contains(&first);
        if !firsts.iter().any(near) && !setting {
            continue;
        }
        // TEND_ENV=production or TEND_LOG=debug name a table with a plain value: some
        // other program's variable, not a setting (tables are set key by key).
        if keys.len() == 1 && TABLE_KEYS.contains(&first) {
            continue;
        }
        out.push(Override::new(sources, origin, keys, v, true));
    }
    for s in &opts.sets {
        let origin = format!("--set {s}");
        let Some((key, raw)) = s.split_once('=') else {
            diags.push(Diagnostic {
                message: format!("`--set {s}` has no `=`"),
                location: None,
                help: Some("write --set key=value, e.g. --set restart.policy=always".into()),
                key: None,
                service: None,
            });
            continue;
        };
        let keys: Vec<String> = key
            .trim()
            .split('.')
            .map(|k| k.trim().to_string())
            .collect();
        if keys.iter().any(String::is_empty) {
            diags.push(Diagnostic {
                message: format!("`--set {s}` has an empty key"),
                location: None,
                help: Some("write dotted keys, e.g. --set log.max_size=100MB".into()),
                key: None,
                service: None,
            });
            continue;
        }
        out.push(Override::new(sources, origin, keys, raw, false));
    }
    out
}

/// An override's value: TOML if it reads as a TOML value (`true`, `3`, `["a", "b"]`),
/// otherwise the text itself.
fn override_value(raw: &str) -> Value {
    let raw = raw.trim();
    toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

// ---------------------------------------------------------------- layering

type LayerError = (KeyPath, String, Option<String>);

/// Builds one service's merged table: file, profile, environment, `--set`; and the
/// problems of its profiles (a profile in error is left out, or the key in error).
fn layer_service(
    prefix: &[Seg],
    mut table: Table,
    profile: Option<&str>,
    overrides: &[Override],
    multi: bool,
    name: &Option<String>,
) -> (Merged, Vec<LayerError>) {
    let mut problems: Vec<LayerError> = Vec::new();
    let profiles = table.remove("profile");
    let mut merged = Merged {
        value: Table::new(),
        origins: BTreeMap::new(),
    };
    merged.origins.insert(
        Vec::new(),
        Origin {
            source: 0,
            path: prefix.to_vec(),
        },
    );
    merged.overlay(
        &[],
        table,
        &Origin {
            source: 0,
            path: prefix.to_vec(),
        },
    );
    let mut profiles = match profiles {
        None => Table::new(),
        Some(Value::Table(t)) => t,
        Some(_) => {
            problems.push((
                vec![Seg::Key("profile".into())],
                "`profile` must be a table of profiles, e.g. `[profile.prod]`".into(),
                None,
            ));
            Table::new()
        }
    };
    for (pname, p) in profiles.iter_mut() {
        let here = vec![Seg::Key("profile".into()), Seg::Key(pname.clone())];
        let Value::Table(pt) = p else {
            problems.push((
                here,
                format!("profile `{pname}` must be a table"),
                Some(format!("write `[profile.{pname}]` followed by keys")),
            ));
            continue;
        };
        for forbidden in ["name", "profile"] {
            if pt.remove(forbidden).is_some() {
                let mut at = here.clone();
                at.push(Seg::Key(forbidden.into()));
                problems.push((
                    at,
                    format!("a profile cannot set `{forbidden}`"),
                    Some("profiles change settings of the same service; remove this key".into()),
                ));
            }
        }
    }
    if let Some(Value::Table(pt)) = profile.and_then(|p| profiles.get(p)) {
        let mut src = prefix.to_vec();
        src.extend([
            Seg::Key("profile".into()),
            Seg::Key(profile.unwrap_or_default().into()),
        ]);
        merged.overlay(
            &[],
            pt.clone(),
            &Origin {
                source: 0,
                path: src,
            },
        );
    }
    for o in overrides {
        let keys: &[String] = if multi {
            let target = &o.keys[0];
            if name.as_deref() != Some(target.as_str()) && !env_match(o, name) {
                continue;
            }
            &o.keys[1..]
        } else {
            &o.keys
        };
        if keys.is_empty() {
            continue;
        }
        let (last, parents) = keys.split_last().unwrap_or((&keys[0], &[]));
        let at: KeyPath = parents.iter().map(|k| Seg::Key(k.clone())).collect();
        let mut t = Table::new();
        t.insert(last.clone(), o.value.clone());
        merged.overlay(
            &at,
            t,
            &Origin {
                source: o.source,
                path: Vec::new(),
            },
        );
    }
    // Values in [env] are strings; let `PORT = 8080` mean what it says.
    if let Some(Value::Table(env)) = merged.value.get_mut("env") {
        for (_, v) in env.iter_mut() {
            match v {
                Value::Integer(i) => *v = Value::String(i.to_string()),
                Value::Float(f) => *v = Value::String(f.to_string()),
                Value::Boolean(b) => *v = Value::String(b.to_string()),
                _ => {}
            }
        }
    }
    (merged, problems)
}

/// Expands the string values of `table`'s `[env]` (see [`super::expand`]) with the
/// process environment `environ` (names compared without case on Windows, as there);
/// returns the problems, each at its key.
fn expand_env_table(table: &mut Table, environ: &[(String, String)]) -> Vec<LayerError> {
    let Some(Value::Table(env)) = table.get_mut("env") else {
        return Vec::new();
    };
    let strings: BTreeMap<String, String> = env
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    let lookup = |name: &str| {
        environ
            .iter()
            .find(|(k, _)| {
                if cfg!(windows) {
                    k.eq_ignore_ascii_case(name)
                } else {
                    k == name
                }
            })
            .map(|(_, v)| v.clone())
    };
    let (expanded, errors) = super::expand::expand_env(&strings, &lookup);
    for (k, v) in expanded {
        env.insert(k, Value::String(v));
    }
    errors
        .into_iter()
        .map(|(k, e)| {
            let help = Some(e.help().to_string());
            (
                vec![Seg::Key("env".into()), Seg::Key(k)],
                e.to_string(),
                help,
            )
        })
        .collect()
}

/// What reading one service's merged table gave: the spec (with a default in place of
/// each value in error, and a stand-in for a required one), and every problem found.
struct Read {
    spec: Option<Spec>,
    diagnostics: Vec<Diagnostic>,
    /// Where the value of each of `diagnostics` came from.
    origins: Vec<Origin>,
    /// Keys whose value is a stand-in: checks of them would only repeat a problem
    /// already reported.
    stand_ins: Vec<KeyPath>,
}

/// What stands in for a required key that is missing or wrong (a valid name and a
/// program), so the rest of the service can be read and checked.
const STAND_IN: &str = "stand-in";

/// Reads `merged` as a [`Spec`], reporting every problem, not only the first: serde
/// stops at the first, so each round sets the value in error aside (its default takes
/// its place; a required key gets a stand-in) and reads again, until the rest reads.
fn deserialize_all(
    merged: &Merged,
    sources: &[SourceText],
    doc: &toml::Spanned<DeTable<'_>>,
) -> Read {
    let mut table = merged.value.clone();
    let mut out = Read {
        spec: None,
        diagnostics: Vec::new(),
        origins: Vec::new(),
        stand_ins: Vec::new(),
    };
    let mut set_aside: Vec<KeyPath> = Vec::new();
    // Each round removes a key or adds a stand-in that was not there, so the rounds
    // are bounded by the keys; the cap only guards against a serde surprise.
    for _ in 0..1000 {
        let e = match serde_path_to_error::deserialize::<_, Spec>(Value::Table(table.clone())) {
            Ok(spec) => {
                out.spec = Some(spec);
                return out;
            }
            Err(e) => e,
        };
        let path: KeyPath = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                _ => None,
            })
            .collect();
        // toml appends "in `a.b`" on a line of its own; the location says that better.
        let full = e.inner().to_string();
        let msg = full
            .split("\nin `")
            .next()
            .unwrap_or(&full)
            .trim()
            .to_string();
        if let Some(field) = msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            let mut at = path.clone();
            at.push(Seg::Key(field.to_string()));
            if out.stand_ins.contains(&at) {
                return out;
            }
            // A required key whose value was wrong has been reported already, and so
            // has one misspelt (`comand`: the unknown key's help names it).
            let misspelt = set_aside.iter().any(|p| {
                p.len() == at.len()
                    && p[..p.len() - 1] == at[..at.len() - 1]
                    && matches!(p.last(), Some(Seg::Key(k)) if did_you_mean(k, [field]).is_some())
            });
            if !set_aside.contains(&at) && !misspelt {
                let (message, help, at_key) = explain_serde(&msg, &path, None, None);
                let mut d = diag_at(sources, doc, merged.origin_of(&path), message, help, at_key);
                d.key = Some(show_path(&at));
                out.diagnostics.push(d);
                out.origins.push(merged.origin_of(&path));
            }
            if !insert_at(&mut table, &at, Value::String(STAND_IN.into())) {
                return out;
            }
            out.stand_ins.push(at);
            continue;
        }
        let value = value_at(&table, &path).cloned();
        let written = written_at(sources, doc, &merged.origin_of(&path));
        let (message, help, at_key) =
            explain_serde(&msg, &path, value.as_ref(), written.as_deref());
        let mut d = diag_at(sources, doc, merged.origin_of(&path), message, help, at_key);
        d.key = Some(show_path(&path));
        out.diagnostics.push(d);
        out.origins.push(merged.origin_of(&path));
        // An item of a list sets the whole list aside: the later items' places would
        // shift.
        let keys = path
            .iter()
            .rposition(|s| matches!(s, Seg::Key(_)))
            .map_or(0, |i| i + 1);
        let aside = path[..keys].to_vec();
        if aside.is_empty() || !remove_at(&mut table, &aside) {
            return out;
        }
        set_aside.push(aside);
    }
    out
}

/// The value at `origin` as the spec file writes it (`1e3`), when it is in the file.
fn written_at(
    sources: &[SourceText],
    doc: &toml::Spanned<DeTable<'_>>,
    origin: &Origin,
) -> Option<String> {
    let src = sources.get(origin.source).filter(|s| s.is_file)?;
    let (span, complete) = walk_span(doc, &origin.path, false);
    let text = src.text.get(span.filter(|_| complete)?)?.trim();
    (!text.is_empty() && !text.contains('\n')).then(|| text.to_string())
}

/// The value at `path` in `table`.
fn value_at<'a>(table: &'a Table, path: &[Seg]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let Seg::Key(k) = first else {
        return None;
    };
    let mut v = table.get(k)?;
    for seg in rest {
        v = match (seg, v) {
            (Seg::Key(k), Value::Table(t)) => t.get(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// The table that holds the last key of `path`, and that key.
fn parent_mut<'a>(table: &'a mut Table, path: &[Seg]) -> Option<(&'a mut Table, String)> {
    let (Seg::Key(last), parents) = path.split_last()? else {
        return None;
    };
    let mut t = table;
    for seg in parents {
        match seg {
            Seg::Key(k) => t = t.get_mut(k)?.as_table_mut()?,
            Seg::Index(_) => return None,
        }
    }
    Some((t, last.clone()))
}

/// Removes the key at `path`; whether it was there.
fn remove_at(table: &mut Table, path: &[Seg]) -> bool {
    parent_mut(table, path).is_some_and(|(t, k)| t.remove(&k).is_some())
}

/// Sets the key at `path` (its table exists); whether it could.
fn insert_at(table: &mut Table, path: &[Seg], value: Value) -> bool {
    if path.len() == 1 {
        if let Seg::Key(k) = &path[0] {
            table.insert(k.clone(), value);
            return true;
        }
    }
    parent_mut(table, path).is_some_and(|(t, k)| {
        t.insert(k, value);
        true
    })
}

/// Rewords a serde message in the spec's terms; for an unknown key, adds the likely
/// intended one. `value` is the value in error, when there is one, and `written` how
/// the file writes it.
fn explain_serde(
    msg: &str,
    path: &[Seg],
    value: Option<&Value>,
    written: Option<&str>,
) -> (String, Option<String>, bool) {
    let msg = msg.trim();
    let place = if path.len() > 1 {
        let parent = show_path(&path[..path.len() - 1]);
        format!(" in [{parent}]")
    } else {
        String::new()
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let help = match did_you_mean(field, candidates.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if candidates.is_empty() => "remove this key".to_string(),
            None => format!("expected one of: {}", candidates.join(", ")),
        };
        return (format!("unknown key `{field}`{place}"), Some(help), true);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let (variant, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let help = match did_you_mean(variant, candidates.iter().copied()) {
            Some(s) => format!("did you mean \"{s}\"?"),
            None => format!("expected one of: {}", in_schema_order(path, &candidates)),
        };
        let key = show_path(path);
        return (
            format!("`{key}` cannot be \"{variant}\""),
            Some(help),
            false,
        );
    }
    if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        let full = if path.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", show_path(path))
        };
        return (
            format!("missing required key `{full}`"),
            Some(format!("add `{field} = ...` to the spec")),
            false,
        );
    }
    let key = show_path(path);
    // serde's "invalid type: string \"5\", expected u32": said in the spec's words,
    // from the schema, with the value as it is written.
    let is_type_error = (msg.starts_with("invalid type: ") || msg.starts_with("invalid value: "))
        && msg.contains(", expected ");
    if is_type_error && !key.is_empty() {
        let node = schema_at(path);
        let exit_code = matches!(path, [.., Seg::Key(k), Seg::Index(_)] if k.ends_with("_codes"));
        let expected = if exit_code {
            "an exit code, a whole number from 0 to 255".to_string()
        } else {
            node.as_ref()
                .and_then(expectation)
                .unwrap_or_else(|| "another kind of value".to_string())
        };
        // A number as written (`1e3`, `1000.0`): TOML keeps no trace of how.
        let found = match (value, written) {
            (Some(Value::Float(_) | Value::Integer(_)), Some(w)) => w.to_string(),
            _ => value.map_or_else(|| "this".to_string(), describe),
        };
        if key == "command" {
            if let Some(Value::Array(items)) = value {
                return command_as_list(items);
            }
        }
        let in_list = matches!(path.last(), Some(Seg::Index(_)));
        let help = match (value, node.as_ref().and_then(|n| kind(n))) {
            (Some(Value::String(_)), Some("integer" | "boolean")) if in_list => {
                Some("write it without quotes".to_string())
            }
            (Some(Value::String(s)), Some("integer")) if s.trim().parse::<i64>().is_ok() => Some(
                format!("write it without quotes: {} = {}", last_key(path), s.trim()),
            ),
            (Some(Value::Float(f)), Some("integer"))
                if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e18 =>
            {
                Some(if in_list {
                    format!("write a whole number: {}", *f as i64)
                } else {
                    format!("write a whole number: {} = {}", last_key(path), *f as i64)
                })
            }
            (Some(Value::String(s)), Some("boolean")) if matches!(s.trim(), "true" | "false") => {
                Some(format!(
                    "write it without quotes: {} = {}",
                    last_key(path),
                    s.trim()
                ))
            }
            (_, Some("array")) => Some(format!(
                "write a list, e.g. {} = {}",
                last_key(path),
                list_example(node.as_ref())
            )),
            (_, Some("object")) => Some(format!(
                "write `[{key}]` on a line of its own, followed by its keys"
            )),
            _ => None,
        };
        return (
            format!("`{key}` must be {expected}, not {found}"),
            help,
            false,
        );
    }
    // Our own messages (durations, sizes, names) end with what to write instead.
    let (what, help) = match msg
        .split_once(": write ")
        .map(|(w, h)| (w, format!("write {h}")))
        .or_else(|| {
            msg.split_once(": use ")
                .map(|(w, h)| (w, format!("use {h}")))
        }) {
        Some((w, h)) => (w, Some(h)),
        None => (msg, None),
    };
    if key.is_empty() {
        (what.to_string(), help, false)
    } else {
        (format!("invalid value for `{key}`: {what}"), help, false)
    }
}

/// The words a key takes, in the order of the schema (`SIGTERM, SIGINT, ...`), then the
/// other spellings serde accepts, in the order of the word each shortens (`also TERM,
/// INT, ...`). serde lists names and aliases in no useful order.
fn in_schema_order(path: &[Seg], candidates: &[&str]) -> String {
    let words: Vec<String> = schema_at(path)
        .and_then(|n| n.get("oneOf").and_then(|a| a.as_array()).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.get("const").and_then(|c| c.as_str()))
        .filter(|w| candidates.contains(w))
        .map(str::to_string)
        .collect();
    if words.is_empty() {
        return candidates.join(", ");
    }
    let mut others: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|c| !words.iter().any(|w| w == c))
        .collect();
    others.sort_by_key(|o| {
        (
            words
                .iter()
                .position(|w| w.ends_with(o))
                .unwrap_or(usize::MAX),
            o.to_string(),
        )
    });
    let mut out = words.join(", ");
    if !others.is_empty() {
        out.push_str(&format!("; also {}", others.join(", ")));
    }
    out
}

/// The most common mistake: `command = ["/bin/sh", "-c", "x"]`. The program and its
/// arguments are two keys; say so with the two lines to write.
fn command_as_list(items: &[Value]) -> (String, Option<String>, bool) {
    let words: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
    let help = match words.as_deref() {
        Some([program, args @ ..]) => {
            let args: Vec<Value> = args.iter().map(|a| Value::String(a.to_string())).collect();
            format!(
                "arguments go in `args`: write command = {} and args = {}",
                Value::String(program.to_string()),
                Value::Array(args)
            )
        }
        _ => "arguments go in `args`, e.g. command = \"/bin/sh\" and args = [\"-c\", \"...\"]"
            .to_string(),
    };
    (
        "`command` is one program (a path or a name on PATH), not a list".to_string(),
        Some(help),
        false,
    )
}

/// The last key of `path`, as written on its line.
fn last_key(path: &[Seg]) -> String {
    path.iter()
        .rev()
        .find_map(|s| match s {
            Seg::Key(k) => Some(k.clone()),
            Seg::Index(_) => None,
        })
        .unwrap_or_default()
}

/// A value as a person wrote it: `-1`, `"abc"`, `a list`.
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            let more = if short.len() < s.len() { "..." } else { "" };
            format!("the text {:?}", format!("{short}{more}"))
        }
        Value::Integer(i) => i.to_string(),
        // With its decimal point or exponent, as TOML writes a float: `1000.0`, not
        // `1000`, which would read as the whole number asked for.
        Value::Float(f) if f.is_nan() => "nan".to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => format!("the date {d}"),
        Value::Array(_) => "a list".to_string(),
        Value::Table(_) => "a table".to_string(),
    }
}

/// The schema of the key at `path` of a service, `$ref`s resolved.
fn schema_at(path: &[Seg]) -> Option<serde_json::Value> {
    let root = schema();
    let defs = root.get("$defs")?.clone();
    let resolve = |n: &serde_json::Value| -> serde_json::Value {
        match n.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => defs[r.trim_start_matches("#/$defs/")].clone(),
            None => n.clone(),
        }
    };
    let mut node = resolve(&root["oneOf"][0]);
    for seg in path {
        let next = match seg {
            Seg::Key(k) => node
                .get("properties")
                .and_then(|p| p.get(k))
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?,
            Seg::Index(_) => node.get("items")?,
        };
        node = resolve(next);
        // `Option<T>`: the `T`.
        let inner = node
            .get("anyOf")
            .and_then(|a| a.as_array())
            .and_then(|alts| {
                let some: Vec<_> = alts
                    .iter()
                    .filter(|a| a.get("type").and_then(|t| t.as_str()) != Some("null"))
                    .collect();
                (some.len() == 1 && some.len() < alts.len()).then(|| resolve(some[0]))
            });
        if let Some(inner) = inner {
            node = inner;
        }
    }
    Some(node)
}

/// The JSON type of a schema node (`integer`, `array`, ...), `null` aside.
fn kind(node: &serde_json::Value) -> Option<&str> {
    match node.get("type")? {
        serde_json::Value::String(t) => Some(t),
        serde_json::Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).find(|t| *t != "null"),
        _ => None,
    }
}

/// What a key of this schema takes, in the spec's words.
fn expectation(node: &serde_json::Value) -> Option<String> {
    let desc = node
        .get("description")
        .and_then(|d| d.as_str())
        .unwrap_or("");
    if desc.starts_with("A duration") {
        return Some("a duration such as \"10s\", \"500ms\" or \"1m 30s\"".into());
    }
    if desc.starts_with("A size") {
        return Some("a size such as \"50MB\" or \"64MiB\", or a number of bytes".into());
    }
    if let Some(alts) = node.get("oneOf").and_then(|a| a.as_array()) {
        let words: Vec<String> = alts
            .iter()
            .filter_map(|a| a.get("const").and_then(|c| c.as_str()))
            .map(|w| format!("\"{w}\""))
            .collect();
        if !words.is_empty() && words.len() == alts.len() {
            return Some(one_of(&words));
        }
    }
    Some(match kind(node)? {
        "integer" => whole_number(node.get("format").and_then(|f| f.as_str())),
        "number" => "a number, such as 2.0".into(),
        "boolean" => "true or false".into(),
        "string" if desc.starts_with("Letters, digits") => {
            "a name of letters, digits, '-', '_' and '.' in quotes".into()
        }
        "string" => "a string in quotes".into(),
        "array" => {
            let item = node.get("items").and_then(kind);
            match item {
                Some("string") => "a list of strings".into(),
                Some("integer") => "a list of whole numbers".into(),
                _ => "a list".into(),
            }
        }
        "object" => "a table".into(),
        _ => return None,
    })
}

/// `"a", "b" or "c"`.
fn one_of(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [head @ .., last] => format!("one of {} or {last}", head.join(", ")),
    }
}

/// A whole number in the range of a schema integer format (`uint32`, `int32`).
fn whole_number(format: Option<&str>) -> String {
    let range = match format {
        Some("uint8") => Some((0, u8::MAX as i128)),
        Some("uint16") => Some((0, u16::MAX as i128)),
        Some("uint32") => Some((0, u32::MAX as i128)),
        Some("uint64") => Some((0, i64::MAX as i128)),
        Some("int8") => Some((i8::MIN as i128, i8::MAX as i128)),
        Some("int16") => Some((i16::MIN as i128, i16::MAX as i128)),
        Some("int32") => Some((i32::MIN as i128, i32::MAX as i128)),
        _ => None,
    };
    match range {
        Some((lo, hi)) => format!("a whole number from {lo} to {hi}"),
        None => "a whole number".into(),
    }
}

/// An example list for a key of this schema.
fn list_example(node: Option<&serde_json::Value>) -> &'static str {
    match node.and_then(|n| n.get("items")).and_then(kind) {
        Some("integer") => "[0, 1]",
        _ if node
            .and_then(|n| n.get("items"))
            .and_then(|i| i.get("description"))
            .and_then(|d| d.as_str())
            .is_some_and(|d| d.starts_with("A duration")) =>
        {
            "[\"5s\", \"30s\"]"
        }
        _ => "[\"--listen\", \"127.0.0.1:8080\"]",
    }
}

fn invalid(path: &Path, file: &SourceText, e: toml::de::Error) -> SpecError {
    // One location: the error's own span (a value TOML could parse but not hold, such as
    // an integer beyond 64 bits), or none when it has none.
    let raw = e.message().trim();
    let (message, help) = if raw.contains("integer") && raw.contains("i128") {
        (
            "this integer is too large".to_string(),
            Some("integers in a spec must fit in 64 bits (at most 9223372036854775807)".into()),
        )
    } else {
        (format!("invalid TOML: {raw}"), None)
    };
    SpecError::invalid(
        path,
        vec![Diagnostic {
            message,
            location: e
                .span()
                .map(|span| Location::in_text(&file.origin, &file.text, span)),
            help,
            key: None,
            service: None,
        }],
    )
}

/// A diagnostic at `origin`; `at_key` marks the key rather than its value.
fn diag_at(
    sources: &[SourceText],
    doc: &toml::Spanned<DeTable<'_>>,
    origin: Origin,
    message: String,
    help: Option<String>,
    at_key: bool,
) -> Diagnostic {
    let src = &sources[origin.source];
    let location = if src.is_file {
        let span = find_span(doc, &origin.path, at_key).unwrap_or(0..0);
        Some(Location::in_text(&src.origin, &src.text, span))
    } else {
        Some(Location::of_override(&src.origin, origin.source))
    };
    Diagnostic {
        message,
        location,
        help,
        key: None,
        service: None,
    }
}

/// The span of the deepest existing part of `path` in the parsed document.
fn find_span(
    doc: &toml::Spanned<DeTable<'_>>,
    path: &[Seg],
    at_key: bool,
) -> Option<std::ops::Range<usize>> {
    walk_span(doc, path, at_key).0
}

/// The span of the deepest part of `path` found in `doc`, and whether all of it was.
fn walk_span(
    doc: &toml::Spanned<DeTable<'_>>,
    path: &[Seg],
    at_key: bool,
) -> (Option<std::ops::Range<usize>>, bool) {
    let mut found = 0;
    let mut span = None;
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    let mut array: Option<&[toml::Spanned<DeValue<'_>>]> = None;
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let value = match (seg, table, array) {
            (Seg::Key(k), Some(t), _) => match t
                .iter()
                .find(|(key, _)| key.get_ref().as_ref() == k.as_str())
            {
                Some((key, v)) => {
                    span = Some(if last && at_key { key.span() } else { v.span() });
                    v
                }
                None => break,
            },
            (Seg::Index(n), _, Some(a)) => match a.get(*n) {
                Some(v) => {
                    span = Some(v.span());
                    v
                }
                None => break,
            },
            _ => break,
        };
        found += 1;
        table = None;
        array = None;
        match value.get_ref() {
            DeValue::Table(t) => table = Some(t),
            DeValue::Array(a) => array = Some(a.as_ref()),
            _ => {}
        }
    }
    (span, found == path.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn top_keys_match_the_schema() {
        let schema = super::schema();
        let mut props: Vec<String> = schema["oneOf"][0]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "profile")
            .cloned()
            .collect();
        props.sort();
        let mut keys: Vec<String> = super::TOP_KEYS.iter().map(|k| k.to_string()).collect();
        keys.sort();
        assert_eq!(keys, props);
    }
}

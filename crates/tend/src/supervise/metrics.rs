//! The supervisor's metrics: `GET /metrics` in the Prometheus text format, or in
//! OpenMetrics when the scraper asks for it (`Accept: application/openmetrics-text`),
//! for every service of the supervisor (`[metrics] listen`, `--metrics ADDR`).
//!
//! The metrics live in a `prometheus-client` registry. Most are kept current by an
//! [`Observer`] of each service (up, health, restarts, exits, start time, probe
//! durations); what only the system knows (the process tree's CPU time and resident
//! memory, the uptime) and the log sinks' counters are read when a scrape comes, on the
//! supervisor's thread, at most once per [`SAMPLE_EVERY`] (back-to-back scrapes share
//! a sample). The HTTP server is the smallest that does the job: a task per connection,
//! at most [`MAX_CONNECTIONS`] at once, a request head of at most [`MAX_HEAD`] bytes
//! within [`HEAD_LIMIT`], the whole exchange within [`EXCHANGE_LIMIT`], `Connection:
//! close`; idle or slow clients cost a scrape at most [`HEAD_LIMIT`], and the services
//! nothing.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::event::{Ended, Event, Run, Start};
use super::policy::{signal_name, Exit};
use super::pump::{SharedSink, Sink};
use super::service::{Observer, ServiceSetup};
use super::state::{now_ms, HealthState, Status};
use super::sys;

/// The largest request head read; a longer one is answered 431.
pub const MAX_HEAD: usize = 8 * 1024;

/// The longest a connection may take, from its accept to the last byte of the answer.
pub const EXCHANGE_LIMIT: Duration = Duration::from_secs(5);

/// The longest a client may take to send its request head.
pub const HEAD_LIMIT: Duration = Duration::from_secs(1);

/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 4;

/// How long a sample of the processes' usage serves further scrapes.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// The upper bounds of the probe duration histogram's buckets, in seconds.
pub const PROBE_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The health states, as the `state` label of `tend_service_health` names them.
const HEALTH_STATES: [HealthState; 3] = [
    HealthState::Starting,
    HealthState::Healthy,
    HealthState::Unhealthy,
];

/// A series' labels: `service` first, then what the metric adds.
type Labels = Vec<(&'static str, String)>;

/// Seconds as a floating-point gauge.
type Seconds = Gauge<f64, AtomicU64>;

fn probe_histogram() -> Histogram {
    Histogram::new(PROBE_BUCKETS)
}

/// The metric families, shared with the registry (each is a handle to its values).
struct Families {
    up: Family<Labels, Gauge>,
    paused: Family<Labels, Gauge>,
    health: Family<Labels, Gauge>,
    restarts: Family<Labels, Counter>,
    exits: Family<Labels, Counter>,
    start_time: Family<Labels, Seconds>,
    uptime: Family<Labels, Seconds>,
    cpu: Family<Labels, Counter<f64, AtomicU64>>,
    resident: Family<Labels, Gauge>,
    log_written: Family<Labels, Counter>,
    log_dropped: Family<Labels, Counter>,
    probe_duration: Family<Labels, Histogram, fn() -> Histogram>,
    probes: Family<Labels, Counter>,
}

/// What the scrape remembers of a service between two samples.
#[derive(Debug, Default)]
struct Sampled {
    /// The current child and when it started (ms since the epoch).
    pid: Option<i32>,
    started_at_ms: Option<u64>,
    /// The child whose tree was last measured, and its CPU seconds then.
    cpu_seen: Option<(i32, f64)>,
    /// Bytes written and lines dropped so far, per stream (stdout, stderr).
    written: [u64; 2],
    dropped: [u64; 2],
}

/// What the metrics watch of one service.
pub struct Watched {
    /// Its name (the `service` label).
    pub name: String,
    /// Whether it has health checks (`[health]`): the health series exist.
    pub health: bool,
    /// Where its stdout and stderr go when that is a log file or syslog (not the
    /// console's sinks, which count nothing).
    pub log_files: [Option<SharedSink>; 2],
}

impl Watched {
    /// What the metrics watch of the service of `setup`.
    pub fn of(setup: &ServiceSetup) -> Watched {
        Watched::sinks(
            setup.spec.name.to_string(),
            setup.spec.health.is_some(),
            [&setup.stdout, &setup.stderr],
        )
    }

    /// What the metrics watch of a service named `name` whose stdout and stderr go to
    /// `sinks`: those that count what they write (a file, syslog).
    fn sinks(name: String, health: bool, sinks: [&Option<SharedSink>; 2]) -> Watched {
        let counted = |s: &Option<SharedSink>| {
            s.as_ref()
                .filter(|s| matches!(&*s.borrow(), Sink::File(..) | Sink::Syslog(_)))
                .cloned()
        };
        Watched {
            name,
            health,
            log_files: sinks.map(counted),
        }
    }
}

struct Service {
    name: String,
    /// Its stdout and stderr sinks (when written to files or sent to syslog).
    sinks: [Option<SharedSink>; 2],
    sampled: RefCell<Sampled>,
}

/// The metrics of one supervisor's services.
pub struct Metrics {
    registry: Registry,
    families: Families,
    services: Vec<Service>,
    /// The last reading of the process trees: when, of which children, what.
    usage: RefCell<Option<UsageSample>>,
}

/// A reading of the services' process trees ([`sys::tree_usage`]).
struct UsageSample {
    at: std::time::Instant,
    pids: Vec<i32>,
    usages: Vec<Option<sys::TreeUsage>>,
}

/// The exposition formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

fn service(name: &str) -> Labels {
    vec![("service", name.to_string())]
}

fn with(name: &str, key: &'static str, value: &str) -> Labels {
    vec![("service", name.to_string()), (key, value.to_string())]
}

impl Metrics {
    /// The metrics of `services`, each series that is known in advance created at
    /// once (at zero), so a dashboard has them from the first scrape.
    pub fn new(services: impl IntoIterator<Item = Watched>) -> Metrics {
        let families = Families {
            up: Family::default(),
            paused: Family::default(),
            health: Family::default(),
            restarts: Family::default(),
            exits: Family::default(),
            start_time: Family::default(),
            uptime: Family::default(),
            cpu: Family::default(),
            resident: Family::default(),
            log_written: Family::default(),
            log_dropped: Family::default(),
            probe_duration: Family::new_with_constructor(probe_histogram as fn() -> Histogram),
            probes: Family::default(),
        };
        let f = &families;
        let mut registry = Registry::default();
        let build: Family<Labels, Gauge> = Family::default();
        build
            .get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_string())])
            .set(1);
        registry.register(
            "tend_build_info",
            "The tend supervisor's version (always 1)",
            build,
        );
        registry.register(
            "tend_service_up",
            "1 while the service's child process runs, else 0",
            f.up.clone(),
        );
        registry.register(
            "tend_service_paused",
            "1 while the service's child is paused (`tend pause`: its process tree frozen), else 0",
            f.paused.clone(),
        );
        registry.register(
            "tend_service_health",
            "The service's health state ([health]): 1 for the current state, 0 for the others; all 0 while no child runs",
            f.health.clone(),
        );
        registry.register(
            "tend_service_restarts",
            "Starts of the service's child after its first (after an exit, a failed health check or a restart request)",
            f.restarts.clone(),
        );
        registry.register(
            "tend_service_exits",
            "Ends of the service's child processes, by exit code (label code), signal (label signal) or the OOM killer (reason=\"oom-kill\")",
            f.exits.clone(),
        );
        registry.register(
            "tend_service_start_time_seconds",
            "When the current (or last) child started, in seconds since the Unix epoch",
            f.start_time.clone(),
        );
        registry.register(
            "tend_service_uptime_seconds",
            "How long the current child has run, in seconds (0 while none runs)",
            f.uptime.clone(),
        );
        registry.register(
            "tend_service_cpu_seconds",
            "CPU time (user and system) of the service's process trees, in seconds, sampled at each scrape",
            f.cpu.clone(),
        );
        registry.register(
            "tend_service_resident_memory_bytes",
            "Resident memory of the current child's whole process tree, in bytes",
            f.resident.clone(),
        );
        registry.register(
            "tend_service_log_written_bytes",
            "Bytes of the service's output written to its log file, or sent to syslog (the messages' bytes), by stream",
            f.log_written.clone(),
        );
        registry.register(
            "tend_service_log_dropped_lines",
            "Lines of the service's output that could not be written to its log file (a full disk) or sent to syslog (a full queue, the server down), by stream",
            f.log_dropped.clone(),
        );
        registry.register(
            "tend_service_probe_duration_seconds",
            "How long the service's health probes took, in seconds",
            f.probe_duration.clone(),
        );
        registry.register(
            "tend_service_probes",
            "Health probes of the service, by result (ok or failed)",
            f.probes.clone(),
        );
        let services = services
            .into_iter()
            .map(|w| {
                let name = w.name.as_str();
                let me = service(name);
                f.up.get_or_create_owned(&me).set(0);
                f.paused.get_or_create_owned(&me).set(0);
                f.restarts.get_or_create_owned(&me);
                f.start_time.get_or_create_owned(&me);
                f.uptime.get_or_create_owned(&me);
                f.cpu.get_or_create_owned(&me);
                f.resident.get_or_create_owned(&me);
                for (stream, sink) in ["stdout", "stderr"].iter().zip(&w.log_files) {
                    if sink.is_some() {
                        f.log_written
                            .get_or_create_owned(&with(name, "stream", stream));
                        f.log_dropped
                            .get_or_create_owned(&with(name, "stream", stream));
                    }
                }
                if w.health {
                    for st in HEALTH_STATES {
                        f.health
                            .get_or_create_owned(&with(name, "state", st.as_str()));
                    }
                    f.probe_duration.get_or_create_owned(&me);
                    for result in ["ok", "failed"] {
                        f.probes.get_or_create_owned(&with(name, "result", result));
                    }
                }
                Service {
                    name: w.name,
                    sinks: w.log_files,
                    sampled: RefCell::default(),
                }
            })
            .collect();
        Metrics {
            registry,
            families,
            services,
            usage: RefCell::new(None),
        }
    }

    /// The observer that keeps the metrics of service `i` (of the setups given to
    /// [`Metrics::new`]) current.
    pub fn observer(self: &Rc<Self>, i: usize) -> Box<dyn Observer> {
        Box::new(ServiceObserver {
            metrics: self.clone(),
            i,
        })
    }

    /// The exposition in `format`, once what is read at a scrape has been read.
    pub fn render(&self, format: Format) -> String {
        self.sample(now_ms());
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let _ = match format {
            Format::Prometheus => prometheus_text::encode(&mut out, &self.registry),
            Format::OpenMetrics => text::encode(&mut out, &self.registry),
        };
        out
    }

    /// Service `i` changed: `status` after `event`.
    fn record(&self, i: usize, status: &Status, event: &Event) {
        let (f, svc) = (&self.families, &self.services[i]);
        let me = service(&svc.name);
        f.up.get_or_create(&me).set(i64::from(status.pid.is_some()));
        f.paused
            .get_or_create(&me)
            .set(i64::from(status.state == super::state::State::Paused));
        if let Event::Started { start, .. } = event {
            if !matches!(start, Start::First) {
                f.restarts.get_or_create(&me).inc();
            }
        }
        if let Some(run) = ended_run(event) {
            let (key, value) = exit_label(run);
            f.exits.get_or_create(&with(&svc.name, key, &value)).inc();
        }
        if let Some(ms) = status.started_at_ms {
            f.start_time.get_or_create(&me).set(ms as f64 / 1000.0);
        }
        let current = status.pid.and(status.health.as_ref()).map(|h| h.state);
        for st in HEALTH_STATES {
            let labels = with(&svc.name, "state", st.as_str());
            if let Some(g) = f.health.get(&labels) {
                g.set(i64::from(current == Some(st)));
            }
        }
        let mut s = svc.sampled.borrow_mut();
        s.pid = status.pid;
        s.started_at_ms = status.started_at_ms;
    }

    /// A probe of service `i` ended after `took` (its result in `status`).
    fn probed(&self, i: usize, status: &Status, took: Duration) {
        let (f, svc) = (&self.families, &self.services[i]);
        f.probe_duration
            .get_or_create(&service(&svc.name))
            .observe(took.as_secs_f64());
        let ok = status
            .health
            .as_ref()
            .and_then(|h| h.last_probe.as_ref())
            .is_some_and(|p| p.ok);
        let result = if ok { "ok" } else { "failed" };
        f.probes
            .get_or_create(&with(&svc.name, "result", result))
            .inc();
    }

    /// Reads what only the system and the sinks know, at `now` (ms since the epoch).
    fn sample(&self, now: u64) {
        let f = &self.families;
        // One pass over the system's processes for every service.
        let pids: Vec<i32> = self
            .services
            .iter()
            .map(|svc| svc.sampled.borrow().pid.unwrap_or(-1))
            .collect();
        let usages = self.usages(pids);
        for (svc, usage) in self.services.iter().zip(usages) {
            let me = service(&svc.name);
            let mut s = svc.sampled.borrow_mut();
            let uptime = match (s.pid, s.started_at_ms) {
                (Some(_), Some(at)) => now.saturating_sub(at) as f64 / 1000.0,
                _ => 0.0,
            };
            f.uptime.get_or_create(&me).set(uptime);
            let usage = s.pid.zip(usage);
            let resident = usage.map_or(0, |(_, u)| u.resident_bytes);
            f.resident
                .get_or_create(&me)
                .set(i64::try_from(resident).unwrap_or(i64::MAX));
            if let Some((pid, u)) = usage {
                let more = cpu_added(s.cpu_seen, pid, u.cpu_seconds);
                if more > 0.0 {
                    f.cpu.get_or_create(&me).inc_by(more);
                }
                s.cpu_seen = Some((pid, u.cpu_seconds));
            }
            for (k, (stream, sink)) in ["stdout", "stderr"].iter().zip(&svc.sinks).enumerate() {
                // A pump never holds its sink across an await; `try_` all the same.
                let Some(sink) = sink.as_ref().and_then(|s| s.try_borrow().ok()) else {
                    continue;
                };
                let labels = with(&svc.name, "stream", stream);
                let (written, dropped) = (sink.written(), sink.dropped().lines);
                f.log_written
                    .get_or_create(&labels)
                    .inc_by(written.saturating_sub(s.written[k]));
                f.log_dropped
                    .get_or_create(&labels)
                    .inc_by(dropped.saturating_sub(s.dropped[k]));
                s.written[k] = s.written[k].max(written);
                s.dropped[k] = s.dropped[k].max(dropped);
            }
        }
    }
}

impl Metrics {
    /// The usage of the trees of `pids`: the last reading if it is of the same
    /// children and younger than [`SAMPLE_EVERY`], else a new one (one pass over
    /// `/proc`).
    fn usages(&self, pids: Vec<i32>) -> Vec<Option<sys::TreeUsage>> {
        let now = std::time::Instant::now();
        let mut last = self.usage.borrow_mut();
        if let Some(u) = last.as_ref() {
            if u.pids == pids && now.saturating_duration_since(u.at) < SAMPLE_EVERY {
                return u.usages.clone();
            }
        }
        let usages = sys::tree_usage(&pids);
        *last = Some(UsageSample {
            at: now,
            pids,
            usages: usages.clone(),
        });
        usages
    }
}

/// The CPU seconds to add to the service's counter for a sample of `now` seconds of
/// the tree of child `pid`, the last sample being `seen`: what it grew by since, all
/// of it for a new child, nothing when it shrank (a process of the tree ended without
/// being waited for by another of it: its time left the tree).
fn cpu_added(seen: Option<(i32, f64)>, pid: i32, now: f64) -> f64 {
    let before = match seen {
        Some((p, secs)) if p == pid => secs,
        _ => 0.0,
    };
    (now - before).max(0.0)
}

/// The child run whose end `event` reports, if it reports one (each run's end is
/// reported by exactly one event).
fn ended_run(event: &Event) -> Option<&Run> {
    fn ended(e: &Ended) -> Option<&Run> {
        match e {
            Ended::Exited(run) => Some(run),
            Ended::Unhealthy { stopped, .. } => Some(&stopped.run),
            Ended::NotStarted(_) => None,
        }
    }
    match event {
        Event::Restarting { ended: e, .. }
        | Event::Exited { ended: e, .. }
        | Event::GaveUp { ended: e, .. }
        | Event::Started {
            start: Start::AtOnce(e),
            ..
        }
        | Event::CannotStart {
            start: Start::AtOnce(e),
            ..
        } => ended(e),
        Event::Started {
            start: Start::OnRequest(stopped),
            ..
        }
        | Event::CannotStart {
            start: Start::OnRequest(stopped),
            ..
        }
        | Event::Stopped(stopped) => Some(&stopped.run),
        _ => None,
    }
}

/// The label of an exit in `tend_service_exits_total`: `code="1"`,
/// `signal="SIGKILL"`, or `reason="oom-kill"` for a child the OOM killer killed.
fn exit_label(run: &Run) -> (&'static str, String) {
    if run.oom_killed {
        return ("reason", "oom-kill".to_string());
    }
    match run.exit {
        Exit::Code(c) => ("code", c.to_string()),
        Exit::Signal(s) => ("signal", signal_name(s)),
    }
}

/// Keeps the metrics of one service current.
struct ServiceObserver {
    metrics: Rc<Metrics>,
    i: usize,
}

impl Observer for ServiceObserver {
    fn changed(&mut self, status: &Status, event: &Event) {
        self.metrics.record(self.i, status, event);
    }

    fn probed(&mut self, status: &Status, took: Duration) {
        self.metrics.probed(self.i, status, took);
    }
}

// ---------------------------------------------------------------- HTTP

/// Binds the metrics listener (before any service starts: an address in use stops
/// the supervisor from starting).
pub fn bind(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    let std = std::net::TcpListener::bind(addr)?;
    std.set_nonblocking(true)?;
    TcpListener::from_std(std)
}

/// Serves `GET /metrics` on `listener` until the task is dropped (and with it the
/// connections' tasks): each connection in a task of its own, at most
/// [`MAX_CONNECTIONS`] at once (inside a `LocalSet`: the metrics are the supervisor
/// thread's).
pub async fn serve(listener: TcpListener, metrics: Rc<Metrics>) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        // A slot first: beyond the cap, clients wait in the listen queue.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                let metrics = metrics.clone();
                connections.spawn_local(async move {
                    let _ = tokio::time::timeout(EXCHANGE_LIMIT, exchange(stream, &metrics)).await;
                    drop(slot);
                });
            }
            // Out of file descriptors, most likely: wait rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Reads one request on `stream` (its head within [`HEAD_LIMIT`]) and answers it.
async fn exchange(mut stream: TcpStream, metrics: &Metrics) -> io::Result<()> {
    let Ok(request) = tokio::time::timeout(HEAD_LIMIT, read_head(&mut stream)).await else {
        return Ok(());
    };
    let Some(request) = request? else {
        return Ok(());
    };
    let answer = respond(request, |format| metrics.render(format));
    stream.write_all(&answer).await?;
    stream.shutdown().await
}

/// Reads a request head; `None` if the client closed the connection first.
async fn read_head(stream: &mut TcpStream) -> io::Result<Option<Result<Request, Refusal>>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
        match parse_head(&head) {
            Head::Partial if head.len() < MAX_HEAD => {}
            Head::Partial => return Ok(Some(Err(Refusal::TooLarge))),
            Head::Bad => return Ok(Some(Err(Refusal::Bad))),
            Head::Complete(r) => return Ok(Some(Ok(r))),
        }
    }
}

/// A request head as far as it was read.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// Its end (an empty line) has not come yet.
    Partial,
    /// Not HTTP/1.x.
    Bad,
    /// Read to its end.
    Complete(Request),
}

/// What the server needs of a request.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    /// The path, without the query.
    path: String,
    /// The `Accept` header's value, if any.
    accept: Option<String>,
}

/// A request refused before it is routed.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    Bad,
    TooLarge,
}

/// Reads a request head: the request line and the `Accept` header.
fn parse_head(bytes: &[u8]) -> Head {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| bytes.windows(2).position(|w| w == b"\n\n"));
    let Some(end) = end else {
        return Head::Partial;
    };
    let Ok(text) = std::str::from_utf8(&bytes[..end]) else {
        return Head::Bad;
    };
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (first.next(), first.next(), first.next(), first.next())
    else {
        return Head::Bad;
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Head::Bad;
    }
    let accept = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("accept")
            .then(|| value.trim().to_string())
    });
    Head::Complete(Request {
        method: method.to_string(),
        path: target.split('?').next().unwrap_or(target).to_string(),
        accept,
    })
}

/// The format a scraper asks for in its `Accept` header: OpenMetrics when it accepts
/// `application/openmetrics-text` at least as much as `text/plain` (Prometheus asks
/// for it first), else the Prometheus text format.
fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Prometheus;
    };
    let mut best_om = 0.0_f64;
    let mut best_text = 0.0_f64;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let kind = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(1.0);
        match kind.as_str() {
            "application/openmetrics-text" => best_om = best_om.max(q),
            "text/plain" | "text/*" | "*/*" => best_text = best_text.max(q),
            _ => {}
        }
    }
    if best_om > 0.0 && best_om >= best_text {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    }
}

/// The whole answer to `request`: status line, headers and body (`render` makes the
/// exposition, only for a `GET /metrics`).
fn respond(request: Result<Request, Refusal>, render: impl FnOnce(Format) -> String) -> Vec<u8> {
    let plain = "text/plain; charset=utf-8";
    let (status, content_type, body, head_only, allow) = match request {
        Err(Refusal::Bad) => (
            "400 Bad Request",
            plain,
            "bad request\n".to_string(),
            false,
            false,
        ),
        Err(Refusal::TooLarge) => (
            "431 Request Header Fields Too Large",
            plain,
            "request head too large\n".to_string(),
            false,
            false,
        ),
        Ok(r) if r.path != "/metrics" => (
            "404 Not Found",
            plain,
            "not found: tend serves its metrics at /metrics\n".to_string(),
            r.method == "HEAD",
            false,
        ),
        Ok(r) if r.method != "GET" && r.method != "HEAD" => (
            "405 Method Not Allowed",
            plain,
            "method not allowed: GET /metrics\n".to_string(),
            false,
            true,
        ),
        Ok(r) => {
            let format = negotiate(r.accept.as_deref());
            (
                "200 OK",
                format.content_type(),
                render(format),
                r.method == "HEAD",
                false,
            )
        }
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if allow {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(&body);
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, accept: Option<&str>) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            accept: accept.map(str::to_string),
        }
    }

    #[test]
    fn request_heads() {
        #[rustfmt::skip]
        let table: &[(&[u8], Head)] = &[
            (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", Head::Complete(req("GET", "/metrics", None))),
            (b"GET /metrics?x=1 HTTP/1.0\r\naccept:  application/openmetrics-text \r\n\r\n",
                Head::Complete(req("GET", "/metrics", Some("application/openmetrics-text")))),
            (b"HEAD / HTTP/1.1\n\n", Head::Complete(req("HEAD", "/", None))),
            (b"GET /metrics HTTP/1.1\r\nHost: x\r\n", Head::Partial),
            (b"", Head::Partial),
            (b"GET /metrics\r\n\r\n", Head::Bad),
            (b"GET /metrics SPDY/3\r\n\r\n", Head::Bad),
            (b"GET metrics HTTP/1.1\r\n\r\n", Head::Bad),
            (b"GET /a b HTTP/1.1\r\n\r\n", Head::Bad),
            (b"GET /\xff HTTP/1.1\r\n\r\n", Head::Bad),
        ];
        for (bytes, want) in table {
            assert_eq!(
                &parse_head(bytes),
                want,
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn formats_asked_for() {
        // What Prometheus 2.x sends first, then other scrapers and people.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        #[rustfmt::skip]
        let table = [
            (None, Format::Prometheus),
            (Some(prometheus), Format::OpenMetrics),
            (Some("text/plain;version=0.0.4;q=1,*/*;q=0.1"), Format::Prometheus),
            (Some("*/*"), Format::Prometheus),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            (Some("Application/OpenMetrics-Text; version=1.0.0"), Format::OpenMetrics),
            (Some("text/plain, application/openmetrics-text;q=0.5"), Format::Prometheus),
            (Some("application/openmetrics-text;q=0"), Format::Prometheus),
            (Some("application/json"), Format::Prometheus),
        ];
        for (accept, want) in table {
            assert_eq!(negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn answers() {
        let text = |r| String::from_utf8(respond(r, |f| format!("body in {f:?}\n"))).unwrap();
        let ok = text(Ok(req("GET", "/metrics", None)));
        assert_eq!(
            ok,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 19\r\nConnection: close\r\n\r\nbody in Prometheus\n"
        );
        let om = text(Ok(req(
            "GET",
            "/metrics",
            Some("application/openmetrics-text"),
        )));
        assert!(om.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"), "{om}");
        assert!(om.ends_with("\r\n\r\nbody in OpenMetrics\n"), "{om}");
        let head = text(Ok(req("HEAD", "/metrics", None)));
        assert!(
            head.ends_with("Content-Length: 19\r\nConnection: close\r\n\r\n"),
            "{head}"
        );
        for (r, status) in [
            (Ok(req("GET", "/", None)), "404 Not Found"),
            (Ok(req("GET", "/metrics/", None)), "404 Not Found"),
            (Ok(req("POST", "/metrics", None)), "405 Method Not Allowed"),
            (Err(Refusal::Bad), "400 Bad Request"),
            (
                Err(Refusal::TooLarge),
                "431 Request Header Fields Too Large",
            ),
        ] {
            let got = text(r);
            assert!(got.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{got}");
            assert!(!got.contains("body in"), "no exposition: {got}");
        }
        assert!(text(Ok(req("PUT", "/metrics", None))).contains("\r\nAllow: GET, HEAD\r\n"));
    }

    #[test]
    fn cpu_seconds_added_at_each_sample() {
        #[rustfmt::skip]
        let table = [
            (None, 42, 1.5, 1.5),              // the first sample of a child: all of it
            (Some((42, 1.5)), 42, 2.0, 0.5),   // grown since
            (Some((42, 2.0)), 42, 1.0, 0.0),   // shrank (a process left the tree)
            (Some((42, 2.0)), 43, 0.25, 0.25), // a new child: all of its own
        ];
        for (seen, pid, now, want) in table {
            assert_eq!(cpu_added(seen, pid, now), want, "{seen:?} {pid} {now}");
        }
    }

    #[test]
    fn each_end_of_a_child_is_one_exit() {
        use super::super::event::{StopBy, StopEnd, Stopped};
        let run = |exit| Run {
            pid: 42,
            exit,
            ran: Duration::from_secs(1),
            stderr: Vec::new(),
            oom_killed: false,
        };
        let stopped = Stopped {
            run: run(Exit::Signal(15)),
            how: StopEnd::Gracefully {
                took: Duration::from_millis(5),
            },
        };
        let table: Vec<(Event, Option<Exit>)> = vec![
            (
                Event::Started {
                    pid: 43,
                    start: Start::First,
                },
                None,
            ),
            (
                Event::Started {
                    pid: 43,
                    start: Start::AtOnce(Ended::Exited(run(Exit::Code(1)))),
                },
                Some(Exit::Code(1)),
            ),
            (
                Event::Restarting {
                    ended: Ended::Exited(run(Exit::Signal(9))),
                    delay: Duration::from_secs(1),
                },
                Some(Exit::Signal(9)),
            ),
            (
                Event::Started {
                    pid: 43,
                    start: Start::OnRequest(stopped.clone()),
                },
                Some(Exit::Signal(15)),
            ),
            (Event::Stopped(stopped.clone()), Some(Exit::Signal(15))),
            (
                Event::Restarting {
                    ended: Ended::Unhealthy {
                        result: "probe failed".into(),
                        stopped,
                    },
                    delay: Duration::ZERO,
                },
                Some(Exit::Signal(15)),
            ),
            (
                Event::StoppedWhileWaiting {
                    by: Some(StopBy::Supervisor),
                },
                None,
            ),
        ];
        for (event, want) in table {
            assert_eq!(ended_run(&event).map(|r| r.exit), want, "{event:?}");
        }
        assert_eq!(exit_label(&run(Exit::Code(3))), ("code", "3".to_string()));
        let mut oom = run(Exit::Signal(9));
        assert_eq!(exit_label(&oom), ("signal", "SIGKILL".to_string()));
        oom.oom_killed = true;
        assert_eq!(exit_label(&oom), ("reason", "oom-kill".to_string()));
    }

    fn status(pid: Option<i32>, health: Option<(HealthState, bool)>) -> Status {
        use super::super::state::{Health, Probe, State};
        Status {
            supervisor_pid: 1,
            pid,
            started_at_ms: pid.map(|_| 1_700_000_000_000),
            since_ms: 0,
            health: health.map(|(state, ok)| Health {
                state,
                since_ms: 0,
                failures: 0,
                last_probe: Some(Probe {
                    at_ms: 0,
                    ok,
                    took_ms: 0,
                    result: String::new(),
                }),
                last_error: None,
            }),
            ..Status::new("web", State::Running, "web.toml".into())
        }
    }

    /// Clients holding connections open without a word do not keep a scrape waiting,
    /// and their connections are closed after [`HEAD_LIMIT`].
    #[test]
    fn idle_connections_do_not_hold_up_a_scrape() {
        use std::io::{Read as _, Write as _};
        use std::time::Instant;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = listener.local_addr().unwrap();
            let metrics = Rc::new(Metrics::new([Watched::sinks(
                "web".into(),
                false,
                [&None, &None],
            )]));
            let _server = tokio::task::spawn_local(serve(listener, metrics));
            // The blocking client runs on a thread of its own: the server has this one.
            let client = tokio::task::spawn_blocking(move || {
                let idle: Vec<std::net::TcpStream> = (1..MAX_CONNECTIONS)
                    .map(|_| std::net::TcpStream::connect(addr).unwrap())
                    .collect();
                let began = Instant::now();
                let mut scrape = std::net::TcpStream::connect(addr).unwrap();
                scrape
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                scrape
                    .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut answer = String::new();
                scrape.read_to_string(&mut answer).unwrap();
                let took = began.elapsed();
                // The idle connections are closed by the server: end of file.
                let closed_by = Instant::now() + Duration::from_secs(30);
                for mut c in idle {
                    c.set_read_timeout(Some(closed_by - Instant::now()))
                        .unwrap();
                    assert_eq!(c.read(&mut [0u8; 16]).unwrap(), 0, "closed");
                }
                (answer, took)
            });
            let (answer, took) = client.await.unwrap();
            assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
            assert!(
                answer.contains("tend_service_up{service=\"web\"} 0"),
                "{answer}"
            );
            assert!(
                took < HEAD_LIMIT,
                "the scrape waited {took:?} behind idle connections"
            );
        });
    }

    /// Back-to-back scrapes share one reading of the processes.
    #[cfg(unix)]
    #[test]
    fn a_sample_serves_scrapes_for_a_while() {
        let metrics = Metrics::new([Watched::sinks("web".into(), false, [&None, &None])]);
        // This test's process group (tree_usage measures a child's group).
        let me = nix::unistd::getpgrp().as_raw();
        let first = metrics.usages(vec![me]);
        let at = metrics.usage.borrow().as_ref().unwrap().at;
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(first[0].is_some(), "this process group is measured");
        }
        let again = metrics.usages(vec![me]);
        assert_eq!(again, first);
        assert_eq!(
            metrics.usage.borrow().as_ref().unwrap().at,
            at,
            "not read again"
        );
        // Another child: read at once.
        metrics.usages(vec![-1]);
        assert_ne!(metrics.usage.borrow().as_ref().unwrap().at, at);
    }

    /// A stream sent to syslog has its log series: lines a full queue refused are
    /// counted as dropped, the messages that went out as bytes written.
    #[test]
    fn a_stream_sent_to_syslog_has_its_log_series() {
        use super::super::logfile::Stream;
        use super::super::syslog::{Destination, Sender, SyslogSink};
        // stderr: a queue of one message that nobody empties.
        let (stuck, _unsent) = Sender::unemptied(Destination::Udp("127.0.0.1:9".into()), 1);
        let mut e = SyslogSink::new(stuck, "web".into(), Stream::Err);
        e.write(b"one\ntwo\nthree\n");
        let err: SharedSink = Rc::new(RefCell::new(Sink::Syslog(e)));
        // stdout: a server that receives.
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dest = Destination::Udp(server.local_addr().unwrap().to_string());
        let mut o = SyslogSink::new(Sender::start(dest), "web".into(), Stream::Out);
        o.write(b"hello\n");
        let out: SharedSink = Rc::new(RefCell::new(Sink::Syslog(o)));
        let metrics = Metrics::new([Watched::sinks(
            "web".into(),
            false,
            [&Some(out.clone()), &Some(err)],
        )]);
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 9000];
        let n = server.recv(&mut buf).unwrap();
        // The thread counts a message sent after sending it: poll, with a deadline.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while out.borrow().written() < n as u64 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        let text = metrics.render(Format::Prometheus);
        for line in [
            "tend_service_log_dropped_lines_total{service=\"web\",stream=\"stderr\"} 2".to_string(),
            "tend_service_log_dropped_lines_total{service=\"web\",stream=\"stdout\"} 0".to_string(),
            "tend_service_log_written_bytes_total{service=\"web\",stream=\"stderr\"} 0".to_string(),
            format!(
                "tend_service_log_written_bytes_total{{service=\"web\",stream=\"stdout\"}} {n}"
            ),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
    }

    /// The observer's view of a service's life, as a scrape renders it: a start,
    /// probes (the histogram), a kill and a restart, the health state, the bytes
    /// written to its log file; a service without health checks has no health series.
    #[test]
    fn the_observer_keeps_the_series_current() {
        use super::super::logfile::{CombinedLog, Retention, RotateConfig, Stream};
        use crate::spec::RotateEvery;
        let dir = tempfile::tempdir().unwrap();
        let file = CombinedLog::open(RotateConfig {
            dir: dir.path().to_path_buf(),
            stem: "web".into(),
            max_size: 1 << 20,
            every: RotateEvery::Never,
            retention: Retention {
                keep: 1,
                ..Default::default()
            },
            compress: false,
            timestamps: false,
        })
        .unwrap();
        let log = Rc::new(RefCell::new(file));
        let sink: SharedSink = Rc::new(RefCell::new(Sink::File(log.clone(), Stream::Out)));
        let metrics = Rc::new(Metrics::new([
            Watched {
                name: "web".into(),
                health: true,
                log_files: [Some(sink.clone()), None],
            },
            Watched {
                name: "db".into(),
                health: false,
                log_files: [None, None],
            },
        ]));
        let mut web = metrics.observer(0);
        // No process has this pid: its tree has no usage.
        let (first, second) = (999_999_998, 999_999_999);
        let starting = Some((HealthState::Starting, false));
        web.changed(
            &status(Some(first), starting),
            &Event::Started {
                pid: first,
                start: Start::First,
            },
        );
        web.probed(
            &status(Some(first), Some((HealthState::Healthy, true))),
            Duration::from_millis(3),
        );
        web.probed(
            &status(Some(first), Some((HealthState::Unhealthy, false))),
            Duration::from_secs(2),
        );
        let killed = Ended::Exited(Run {
            pid: first,
            exit: Exit::Signal(9),
            ran: Duration::from_secs(5),
            stderr: Vec::new(),
            oom_killed: false,
        });
        web.changed(
            &status(Some(second), starting),
            &Event::Started {
                pid: second,
                start: Start::AtOnce(killed),
            },
        );
        // Tagged in the combined log: "out hello\n".
        log.borrow_mut().write(Stream::Out, b"hello\n");
        let text = metrics.render(Format::Prometheus);
        for line in [
            "tend_service_up{service=\"web\"} 1",
            "tend_service_up{service=\"db\"} 0",
            "tend_service_restarts_total{service=\"web\"} 1",
            "tend_service_restarts_total{service=\"db\"} 0",
            "tend_service_exits_total{service=\"web\",signal=\"SIGKILL\"} 1",
            "tend_service_health{service=\"web\",state=\"starting\"} 1",
            "tend_service_health{service=\"web\",state=\"healthy\"} 0",
            "tend_service_health{service=\"web\",state=\"unhealthy\"} 0",
            "tend_service_probes_total{service=\"web\",result=\"ok\"} 1",
            "tend_service_probes_total{service=\"web\",result=\"failed\"} 1",
            "tend_service_probe_duration_seconds_bucket{service=\"web\",le=\"0.005\"} 1",
            "tend_service_probe_duration_seconds_bucket{service=\"web\",le=\"1\"} 1",
            "tend_service_probe_duration_seconds_bucket{service=\"web\",le=\"2.5\"} 2",
            "tend_service_probe_duration_seconds_count{service=\"web\"} 2",
            "tend_service_probe_duration_seconds_sum{service=\"web\"} 2.003",
            "tend_service_start_time_seconds{service=\"web\"} 1700000000.0",
            "tend_service_resident_memory_bytes{service=\"web\"} 0",
            "tend_service_log_written_bytes_total{service=\"web\",stream=\"stdout\"} 10",
            "tend_service_log_dropped_lines_total{service=\"web\",stream=\"stdout\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
        for absent in [
            "tend_service_health{service=\"db\"",
            "stream=\"stderr\"",
            "tend_service_probes_total{service=\"db\"",
        ] {
            assert!(!text.contains(absent), "{absent} in:\n{text}");
        }
        // A second scrape adds only what was written since.
        log.borrow_mut().write(Stream::Out, b"again\n");
        let text = metrics.render(Format::Prometheus);
        assert!(
            text.contains(
                "tend_service_log_written_bytes_total{service=\"web\",stream=\"stdout\"} 20\n"
            ),
            "{text}"
        );
        // No child: down, and no health state.
        web.changed(
            &status(None, starting),
            &Event::StoppedWhileWaiting { by: None },
        );
        let text = metrics.render(Format::Prometheus);
        assert!(
            text.contains("tend_service_up{service=\"web\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("tend_service_uptime_seconds{service=\"web\"} 0.0\n"),
            "{text}"
        );
        assert!(
            text.contains("tend_service_health{service=\"web\",state=\"starting\"} 0\n"),
            "{text}"
        );
    }
}

//! `tend top`: a live view of the services on this host — the rows of `tend status`
//! (installed services and those of `tend run` / `tend up`) with the CPU and memory of
//! their process trees and the last line of their logs — with keys to restart, stop
//! and start the selected service (what `tend restart|stop|start NAME` do) and to
//! follow its log (what `tend logs -f NAME` prints).
//!
//! The screen is a pure function of what is known ([`view`]); this file gathers it,
//! reads keys and runs the actions, each in a thread of its own, so the view stays
//! live while a restart waits for the service to run.

mod usage;
mod view;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::widgets::TableState;

use super::control::{act, Failed};
use super::exit;
use super::status::{self, Row};
use crate::platform::{Layout, Verb};
use crate::supervise::{self, state};
use usage::{last_log_line, visible, Sampler};
use view::{Facts, LogPane, Note, View};

/// Arguments of `tend top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// How often the view is refreshed (and over which CPU use is measured).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Print one frame as text and exit (needs no terminal; takes one interval, to
    /// measure CPU use).
    #[arg(long)]
    pub once: bool,
    /// Where the state files of `tend run` / `tend up` are (default: /var/lib/tend as
    /// root, else ~/.local/state/tend).
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// The shortest refresh interval.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// How many lines of a followed log are kept.
const LOG_LINES: usize = 2000;

/// `tend top`.
pub fn top(a: TopArgs) -> u8 {
    let dir = a.state_dir.unwrap_or_else(supervise::default_state_dir);
    if let Err(e) = state::names(&dir) {
        errln!(
            "error: cannot read {}: {}",
            dir.display(),
            crate::text::io_error(&e)
        );
        errln!("  = help: the state folder is chosen with --state-dir (or TEND_STATE_DIR)");
        return exit::ERROR;
    }
    let interval = a.interval.max(MIN_INTERVAL);
    let mut app = App::new(dir, interval);
    if a.once {
        return once(&mut app);
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        errln!("error: `tend top` needs a terminal (its output or input is not one)");
        errln!("  = help: `tend status` (or `tend status --json`) shows the same services for a script; `tend top --once` prints one frame");
        return exit::ERROR;
    }
    install_panic_hook();
    let mut tty = match Tty::enter() {
        Ok(t) => t,
        Err(e) => {
            restore();
            errln!(
                "error: cannot set up the terminal: {}",
                crate::text::io_error(&e)
            );
            return exit::ERROR;
        }
    };
    let result = app.run(&mut tty.terminal, &stop_requests());
    drop(tty);
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            errln!("error: {}", crate::text::io_error(&e));
            exit::ERROR
        }
    }
}

/// `--once`: one frame, as text, as wide as the terminal (160 columns without one).
fn once(app: &mut App) -> u8 {
    app.refresh();
    std::thread::sleep(app.interval);
    app.refresh();
    let width = terminal::size().map_or(160, |(w, _)| w).max(40);
    let height = app.rows.len() as u16 + 4;
    let mut t = match ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)) {
        Ok(t) => t,
        Err(e) => {
            errln!("error: {e}");
            return exit::ERROR;
        }
    };
    let view = app.view();
    let mut state = TableState::default();
    let _ = t.draw(|f| view::draw(f, &view, &mut state));
    let buf = t.backend().buffer();
    // The title and the table: not the key help.
    for y in 0..height.saturating_sub(2) {
        let line: String = (0..width).map(|x| buf[(x, y)].symbol()).collect();
        let line = line.trim_end();
        if !line.is_empty() {
            outln!("{line}");
        }
    }
    exit::OK
}

/// Quit requests from the OS: the signals that would end `tend top` (SIGTERM, SIGINT,
/// SIGQUIT, SIGHUP, SIGUSR1; a `kill` from elsewhere, a closed terminal) or the console
/// events on Windows, caught so that the terminal is restored first. Listened to in a
/// thread of its own, as the supervisor listens ([`supervise::sys::listen_os`]);
/// without it they keep their default action. A loop that has not quit a second after
/// such a request is ended from this thread.
fn stop_requests() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let (req_tx, mut requests) = tokio::sync::mpsc::unbounded_channel();
            if supervise::sys::listen_os(req_tx).is_err() {
                return;
            }
            while let Some(r) = requests.recv().await {
                if matches!(r, supervise::Request::Ignored(_)) {
                    continue;
                }
                if tx.send(()).is_err() {
                    return;
                }
                // The loop quits within a quarter of a second, unless it cannot: after
                // a hangup crossterm's reader spins on the dead terminal and never
                // returns (crossterm-rs/crossterm#793). Then tend top ends here.
                tokio::time::sleep(Duration::from_secs(1)).await;
                restore();
                std::process::exit(exit::ERROR.into());
            }
        });
    });
    rx
}

/// The terminal in raw mode on its alternate screen; restored when dropped.
struct Tty {
    terminal: ratatui::DefaultTerminal,
}

impl Tty {
    fn enter() -> std::io::Result<Tty> {
        ENTERED.store(true, Ordering::SeqCst);
        terminal::enable_raw_mode()?;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )?;
        let terminal =
            ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))?;
        Ok(Tty { terminal })
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        restore();
    }
}

/// Whether the terminal was set up and not restored since.
static ENTERED: AtomicBool = AtomicBool::new(false);

/// Leaves raw mode and the alternate screen and shows the cursor, once: leaving the
/// alternate screen again would move the cursor back over what was printed since (a
/// panic's message, restored by the hook, then again as the stack unwinds).
fn restore() {
    if !ENTERED.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

/// A panic restores the terminal before its message is printed (panics abort: no
/// destructor runs).
fn install_panic_hook() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
}

/// What the user asked for and awaits an answer to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Asked {
    verb: Verb,
    row: Key,
}

/// A row's identity across refreshes: its name and state file (an installed service
/// and a `tend run` of one with the same name are two rows).
type Key = (String, PathBuf);

/// A followed log: `tend logs -f NAME` as a child process.
struct Follow {
    child: Child,
    lines: Arc<Mutex<VecDeque<String>>>,
    title: String,
    back: usize,
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct App {
    dir: PathBuf,
    layout: Layout,
    interval: Duration,
    sampler: Sampler,
    rows: Vec<(Row, Facts)>,
    table: TableState,
    note: Note,
    asked: Option<Asked>,
    /// The action running, and where its result comes.
    running: Option<mpsc::Receiver<Result<String, Failed>>>,
    follow: Option<Follow>,
}

impl App {
    fn new(dir: PathBuf, interval: Duration) -> App {
        App {
            dir,
            layout: Layout::system(PathBuf::new()),
            interval,
            sampler: Sampler::new(),
            rows: Vec::new(),
            table: TableState::default(),
            note: Note::default(),
            asked: None,
            running: None,
            follow: None,
        }
    }

    /// Gathers the rows again, keeping the selected row selected.
    fn refresh(&mut self) {
        let selected = self.selected().map(|(r, _)| key(r));
        let now = state::now_ms();
        let rows = status::rows(&self.layout, &self.dir, &[], now);
        let pids: Vec<i32> = rows.iter().filter_map(child_pid).collect();
        let usage = self.sampler.sample(&pids);
        self.rows = rows
            .into_iter()
            .map(|r| {
                let u = child_pid(&r)
                    .and_then(|p| usage.get(&p).copied())
                    .unwrap_or_default();
                let f = facts(&r, u);
                (r, f)
            })
            .collect();
        let at = selected
            .and_then(|k| self.rows.iter().position(|(r, _)| key(r) == k))
            .or(self.table.selected())
            .map(|i| i.min(self.rows.len().saturating_sub(1)))
            .or((!self.rows.is_empty()).then_some(0));
        self.table.select(at.filter(|_| !self.rows.is_empty()));
    }

    fn selected(&self) -> Option<&(Row, Facts)> {
        self.table.selected().and_then(|i| self.rows.get(i))
    }

    fn view(&self) -> View {
        let n = self.rows.len();
        View {
            title: format!(
                "tend top · {n} service{} · {} · every {}",
                if n == 1 { "" } else { "s" },
                self.dir.display(),
                crate::supervise::event::show_duration(self.interval)
            ),
            rows: self.rows.iter().map(|(_, f)| f.clone()).collect(),
            empty: format!(
                "no services (none installed, no state in {})",
                self.dir.display()
            ),
            note: self.note.clone(),
            log: self.follow.as_ref().map(|f| LogPane {
                title: f.title.clone(),
                lines: f.lines.lock().map(|l| l.clone()).unwrap_or_default(),
                back: f.back,
            }),
        }
    }

    /// Refreshes, draws and handles keys until a key or `stop` says to quit.
    fn run(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        stop: &mpsc::Receiver<()>,
    ) -> std::io::Result<()> {
        let mut next = Instant::now();
        let mut dirty = true;
        loop {
            if stop.try_recv().is_ok() {
                return Ok(());
            }
            if Instant::now() >= next || self.take_answer() {
                self.refresh();
                next = Instant::now() + self.interval;
                dirty = true;
            }
            // (A followed log may have new lines.)
            if dirty || self.follow.is_some() {
                let view = self.view();
                terminal.draw(|f| view::draw(f, &view, &mut self.table))?;
                dirty = false;
            }
            // Quicker while something comes in between refreshes; a stop request is
            // seen within a quarter of a second.
            let wait = if self.running.is_some() || self.follow.is_some() {
                Duration::from_millis(100)
            } else {
                Duration::from_millis(250)
            };
            if !event::poll(wait.min(next.saturating_duration_since(Instant::now())))? {
                continue;
            }
            dirty = true;
            if let Event::Key(k) = event::read()? {
                if k.kind != KeyEventKind::Release && !self.key(k) {
                    return Ok(());
                }
            }
        }
    }

    /// Shows the answer of the action under way in the status line, once it has come;
    /// whether it has.
    fn take_answer(&mut self) -> bool {
        let Some(done) = self.running.as_ref().and_then(answer) else {
            return false;
        };
        self.running = None;
        self.note = match done {
            Ok(msg) => Note {
                text: one_line(&msg),
                error: false,
            },
            Err(f) => Note {
                text: one_line(&format!(
                    "error: {}{}",
                    f.error,
                    f.help.map(|h| format!(" (help: {h})")).unwrap_or_default()
                )),
                error: true,
            },
        };
        true
    }

    /// Handles a key; false: quit.
    fn key(&mut self, k: KeyEvent) -> bool {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return false;
        }
        if let Some(asked) = self.asked.take() {
            if k.code == KeyCode::Char('y') {
                self.start(asked.verb, &asked.row);
            } else {
                self.note = Note {
                    text: format!("{} `{}`: cancelled", verb_word(asked.verb), asked.row.0),
                    error: false,
                };
            }
            return true;
        }
        if self.follow.is_some() {
            self.log_key(k);
            return true;
        }
        match k.code {
            KeyCode::Char('q') | KeyCode::Esc => return false,
            KeyCode::Up | KeyCode::Char('k') => self.table.select_previous(),
            KeyCode::Down | KeyCode::Char('j')
                if self
                    .table
                    .selected()
                    .is_some_and(|i| i + 1 < self.rows.len()) =>
            {
                self.table.select_next();
            }
            KeyCode::Home | KeyCode::Char('g') => self.table.select_first(),
            KeyCode::End | KeyCode::Char('G') => {
                self.table.select(self.rows.len().checked_sub(1));
            }
            KeyCode::Char('r') => self.ask(Verb::Restart),
            KeyCode::Char('s') => self.ask(Verb::Stop),
            KeyCode::Char('S' | 't') => {
                if let Some((r, _)) = self.selected() {
                    let row = key(r);
                    self.start(Verb::Start, &row);
                }
            }
            KeyCode::Char('l') | KeyCode::Enter => self.open_log(),
            _ => {}
        }
        true
    }

    /// Asks to confirm `verb` on the selected service.
    fn ask(&mut self, verb: Verb) {
        let Some((r, _)) = self.selected() else {
            return;
        };
        if self.running.is_some() {
            self.note = busy();
            return;
        }
        let row = key(r);
        self.note = Note {
            text: format!("{} `{}`? (y/n)", verb_word(verb), row.0),
            error: false,
        };
        self.asked = Some(Asked { verb, row });
    }

    /// Starts `verb` on the row `row` in a thread of its own.
    fn start(&mut self, verb: Verb, row: &Key) {
        if self.running.is_some() {
            self.note = busy();
            return;
        }
        let Some((r, _)) = self.rows.iter().find(|(r, _)| key(r) == *row) else {
            self.note = Note {
                text: format!("`{}` is gone", row.0),
                error: true,
            };
            return;
        };
        let (name, installed) = (r.name.clone(), r.installed);
        // A `tend run` service's state folder (its supervisor's channel is there).
        let dir = r
            .state_file
            .parent()
            .map_or_else(|| self.dir.clone(), Path::to_path_buf);
        let layout = self.layout.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(act(&name, verb, installed, &dir, &layout));
        });
        self.running = Some(rx);
        self.note = Note {
            text: format!("{} `{}`…", verb_doing(verb), row.0),
            error: false,
        };
    }

    /// Follows the selected service's log in a pane: `tend logs -f NAME`, run as a
    /// child whose output is read line by line.
    fn open_log(&mut self) {
        let Some((r, _)) = self.selected() else {
            return;
        };
        let name = r.name.clone();
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("tend"));
        let mut cmd = Command::new(exe);
        cmd.args(["logs", "-f", "-n", "200", &name])
            .arg("--state-dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                self.note = Note {
                    text: format!(
                        "error: cannot run `tend logs`: {}",
                        crate::text::io_error(&e)
                    ),
                    error: true,
                };
                return;
            }
        };
        let lines = Arc::new(Mutex::new(VecDeque::new()));
        let out = child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>);
        let err = child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>);
        for pipe in [out, err].into_iter().flatten() {
            let lines = lines.clone();
            std::thread::spawn(move || read_lines(pipe, &lines));
        }
        self.follow = Some(Follow {
            child,
            lines,
            title: format!("tend logs -f {name} "),
            back: 0,
        });
    }

    fn log_key(&mut self, k: KeyEvent) {
        let Some(f) = self.follow.as_mut() else {
            return;
        };
        let len = f.lines.lock().map(|l| l.len()).unwrap_or(0);
        match k.code {
            KeyCode::Esc | KeyCode::Char('q' | 'l') | KeyCode::Enter => self.follow = None,
            KeyCode::Up | KeyCode::Char('k') => f.back = (f.back + 1).min(len),
            KeyCode::Down | KeyCode::Char('j') => f.back = f.back.saturating_sub(1),
            KeyCode::PageUp => f.back = (f.back + 10).min(len),
            KeyCode::PageDown => f.back = f.back.saturating_sub(10),
            KeyCode::End | KeyCode::Char('G') => f.back = 0,
            _ => {}
        }
    }
}

/// Reads `pipe` line by line into `lines` (the last [`LOG_LINES`]), until it ends.
fn read_lines(pipe: Box<dyn std::io::Read + Send>, lines: &Mutex<VecDeque<String>>) {
    let mut r = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        let line = visible(&String::from_utf8_lossy(&buf));
        let Ok(mut l) = lines.lock() else { return };
        l.push_back(line);
        if l.len() > LOG_LINES {
            l.pop_front();
        }
    }
}

/// The answer of the action under way, once there is one.
fn answer(rx: &mpsc::Receiver<Result<String, Failed>>) -> Option<Result<String, Failed>> {
    match rx.try_recv() {
        Ok(done) => Some(done),
        Err(mpsc::TryRecvError::Empty) => None,
        Err(mpsc::TryRecvError::Disconnected) => Some(Err(Failed {
            error: "the action ended without an answer".into(),
            help: None,
        })),
    }
}

/// `text` on one line, as the terminal should show it (a service's message may hold
/// what it wrote, escape sequences included).
fn one_line(text: &str) -> String {
    visible(&text.replace('\n', " "))
}

fn busy() -> Note {
    Note {
        text: "another action is under way".into(),
        error: true,
    }
}

fn verb_word(v: Verb) -> &'static str {
    match v {
        Verb::Start => "start",
        Verb::Stop => "stop",
        Verb::Restart => "restart",
    }
}

fn verb_doing(v: Verb) -> &'static str {
    match v {
        Verb::Start => "starting",
        Verb::Stop => "stopping",
        Verb::Restart => "restarting",
    }
}

fn key(r: &Row) -> Key {
    (r.name.clone(), r.state_file.clone())
}

/// The child's pid, while its supervisor runs.
fn child_pid(r: &Row) -> Option<i32> {
    r.status
        .as_ref()
        .filter(|_| r.supervisor_alive)
        .and_then(|s| s.pid)
}

/// What `tend top` shows of `r`.
fn facts(r: &Row, usage: usage::Usage) -> Facts {
    let s = r.status.as_ref();
    Facts {
        name: r.name.clone(),
        service: r.native.as_ref().map(|n| n.active.clone()),
        state: r.state_word().map(str::to_string),
        health: r.health().map(|h| h.state.as_str().to_string()),
        pid: child_pid(r),
        uptime_ms: r.uptime_ms,
        restarts: s.map(|s| s.restarts),
        usage,
        last_line: s
            .and_then(|s| s.log.as_ref())
            .and_then(|place| last_log_line(&r.name, place)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(app: &mut App, c: KeyCode) -> bool {
        app.key(KeyEvent::new(c, KeyModifiers::NONE))
    }

    /// A `tend top` of a state folder where `api` and `db` were stopped and their
    /// supervisors have ended, with no installed service.
    fn app() -> (tempfile::TempDir, App) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state");
        for name in ["api", "db"] {
            state::write_status(
                &dir,
                &state::Status {
                    supervisor_pid: 0,
                    since_ms: 0,
                    ..state::Status::new(
                        name,
                        state::State::Stopped,
                        format!("/srv/{name}.toml").into(),
                    )
                },
            )
            .unwrap();
        }
        let mut app = App::new(dir, Duration::from_secs(1));
        app.layout = Layout {
            spec_dir: root.path().join("etc"),
            state_root: root.path().join("lib"),
            ..Layout::unix(PathBuf::new())
        };
        app.refresh();
        (root, app)
    }

    fn selected(app: &App) -> Option<&str> {
        app.selected().map(|(r, _)| r.name.as_str())
    }

    #[test]
    fn the_selection_moves_within_the_rows_and_stays_on_its_row() {
        let (_root, mut app) = app();
        assert_eq!(selected(&app), Some("api"));
        for (k, want) in [
            (KeyCode::Char('j'), "db"),
            (KeyCode::Down, "db"),
            (KeyCode::Char('k'), "api"),
            (KeyCode::Up, "api"),
            (KeyCode::Char('G'), "db"),
            (KeyCode::Char('g'), "api"),
            (KeyCode::Down, "db"),
        ] {
            assert!(press(&mut app, k));
            assert_eq!(selected(&app), Some(want), "after {k:?}");
        }
        // A new row before it: the selection stays on db.
        std::fs::copy(
            state::state_path(&app.dir, "api"),
            state::state_path(&app.dir, "aaa"),
        )
        .unwrap();
        app.refresh();
        assert_eq!(selected(&app), Some("db"));
        // Its row gone: the last row.
        std::fs::remove_file(state::state_path(&app.dir, "db")).unwrap();
        app.refresh();
        assert_eq!(selected(&app), Some("api"));
    }

    /// `r` and `s` ask first; anything but `y` cancels; `y` runs the action (here on a
    /// service no supervisor runs any longer) and its error reaches the status line.
    #[test]
    fn stop_and_restart_ask_first_and_the_answer_reaches_the_status_line() {
        let (_root, mut app) = app();
        for (k, verb) in [
            (KeyCode::Char('r'), "restart"),
            (KeyCode::Char('s'), "stop"),
        ] {
            assert!(press(&mut app, k));
            assert_eq!(app.note.text, format!("{verb} `api`? (y/n)"));
            assert!(press(&mut app, KeyCode::Char('n')));
            assert_eq!(app.note.text, format!("{verb} `api`: cancelled"));
            assert!(app.running.is_none() && app.asked.is_none());
        }
        // Cancelled by q too, which then does not quit.
        assert!(press(&mut app, KeyCode::Char('s')));
        assert!(press(&mut app, KeyCode::Char('q')));
        assert_eq!(app.note.text, "stop `api`: cancelled");

        assert!(press(&mut app, KeyCode::Char('s')));
        assert!(press(&mut app, KeyCode::Char('y')));
        assert_eq!(app.note.text, "stopping `api`…");
        assert!(app.running.is_some());
        // Another action meanwhile is refused.
        assert!(press(&mut app, KeyCode::Char('r')));
        assert!(app.asked.is_none());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !app.take_answer() {
            assert!(Instant::now() < deadline, "no answer");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(app.note.error);
        assert!(
            app.note
                .text
                .starts_with("error: `api` is not installed (no "),
            "{}",
            app.note.text
        );
        assert!(
            app.note.text.contains("(help: run it with"),
            "{}",
            app.note.text
        );
        assert!(!app.note.text.contains('\n'));
    }

    #[test]
    fn q_esc_and_ctrl_c_quit() {
        let (_root, mut app) = app();
        assert!(!press(&mut app, KeyCode::Char('q')));
        assert!(!press(&mut app, KeyCode::Esc));
        assert!(!app.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(press(&mut app, KeyCode::Char('c')));
    }

    #[test]
    fn messages_are_shown_on_one_line_without_escape_sequences() {
        assert_eq!(
            one_line("failed: \x1b[31mboom\x1b[0m\n  = help: x"),
            "failed: ?[31mboom?[0m   = help: x"
        );
    }
}

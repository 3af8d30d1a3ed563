//! What `tend top` shows, as a pure function of what it knows: the cells of a row
//! ([`cells`]) and the whole screen ([`draw`]), so both are tested on a
//! [`ratatui::backend::TestBackend`] without a terminal.

use std::collections::VecDeque;
use std::time::Duration;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, HighlightSpacing, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::usage::Usage;
use crate::supervise::event::show_duration;

/// The columns.
pub const HEADER: [&str; 10] = [
    "NAME",
    "SERVICE",
    "STATE",
    "HEALTH",
    "PID",
    "UPTIME",
    "RESTARTS",
    "CPU",
    "MEM",
    "LAST LOG LINE",
];

/// Right-aligned: the numbers.
const RIGHT: [bool; 10] = [
    false, false, false, false, true, true, true, true, true, false,
];

/// What is known of one service, as `tend top` shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub name: String,
    /// The service manager's state, when installed.
    pub service: Option<String>,
    /// As `tend status` shows it (`running`, `stale`, ...).
    pub state: Option<String>,
    pub health: Option<String>,
    pub pid: Option<i32>,
    pub uptime_ms: Option<u64>,
    pub restarts: Option<u64>,
    pub usage: Usage,
    pub last_line: Option<String>,
}

/// The cells of a row, in [`HEADER`]'s order (`-` for what is not known).
pub fn cells(f: &Facts) -> [String; 10] {
    let dash = || "-".to_string();
    [
        f.name.clone(),
        f.service.clone().unwrap_or_else(dash),
        f.state.clone().unwrap_or_else(dash),
        f.health.clone().unwrap_or_else(dash),
        f.pid.map_or_else(dash, |p| p.to_string()),
        f.uptime_ms
            .map_or_else(dash, |ms| show_duration(Duration::from_secs(ms / 1000))),
        f.restarts.map_or_else(dash, |r| r.to_string()),
        f.usage.cpu.map_or_else(dash, |c| format!("{c:.1}%")),
        f.usage.rss.map_or_else(dash, show_bytes),
        f.last_line.clone().unwrap_or_else(dash),
    ]
}

/// `512K`, `1.5M`, `2.0G`: memory in binary units, short.
pub fn show_bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let b = b as f64;
    if b < K * K {
        format!("{:.0}K", b / K)
    } else if b < K * K * K {
        format!("{:.1}M", b / K / K)
    } else {
        format!("{:.1}G", b / K / K / K)
    }
}

/// A service's log, followed in a pane under the table.
#[derive(Debug, Default)]
pub struct LogPane {
    /// Whose, and how it is read.
    pub title: String,
    /// Its last lines, oldest first.
    pub lines: VecDeque<String>,
    /// How many lines up from the end the view is (0: it follows).
    pub back: usize,
}

/// A message in the status line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub error: bool,
}

/// Everything on the screen.
#[derive(Debug, Default)]
pub struct View {
    /// The top line.
    pub title: String,
    pub rows: Vec<Facts>,
    /// What to say when there are no rows.
    pub empty: String,
    pub note: Note,
    pub log: Option<LogPane>,
}

/// The key help, at the bottom.
pub const KEYS: &str = "↑↓/jk select · r restart · s stop · S/t start · l/⏎ log · q quit";
/// The key help while the log pane is open.
pub const LOG_KEYS: &str = "↑↓/PgUp/PgDn scroll · End follow · l/Esc close · Ctrl-C quit";

/// Draws `view` on `frame`; `table` holds the selection (and the table's scroll).
pub fn draw(frame: &mut Frame, view: &View, table: &mut TableState) {
    let [title, body, note, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(
        Paragraph::new(view.title.as_str()).style(Style::new().add_modifier(Modifier::BOLD)),
        title,
    );
    let (list, pane) = match &view.log {
        Some(_) => {
            let [l, p] =
                Layout::vertical([Constraint::Percentage(40), Constraint::Fill(1)]).areas(body);
            (l, Some(p))
        }
        None => (body, None),
    };
    draw_table(frame, view, table, list);
    if let (Some(log), Some(area)) = (&view.log, pane) {
        draw_log(frame, log, area);
    }
    let style = if view.note.error {
        Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
    } else {
        Style::new()
    };
    frame.render_widget(Paragraph::new(view.note.text.as_str()).style(style), note);
    let help = if view.log.is_some() { LOG_KEYS } else { KEYS };
    frame.render_widget(
        Paragraph::new(help).style(Style::new().add_modifier(Modifier::DIM)),
        keys,
    );
}

fn draw_table(frame: &mut Frame, view: &View, table: &mut TableState, area: Rect) {
    if view.rows.is_empty() {
        frame.render_widget(Paragraph::new(view.empty.as_str()), area);
        return;
    }
    let cells: Vec<[String; 10]> = view.rows.iter().map(cells).collect();
    let mut widths = HEADER.map(|h| h.chars().count() as u16);
    for c in &cells {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(cell.chars().count() as u16);
        }
    }
    let row = |c: [&str; 10]| {
        Row::new(c.into_iter().enumerate().map(|(i, s)| {
            let line = Line::from(s.to_string());
            Cell::from(if RIGHT[i] { line.right_aligned() } else { line })
        }))
    };
    let constraints = widths.iter().enumerate().map(|(i, &w)| {
        if i + 1 == widths.len() {
            Constraint::Fill(1)
        } else {
            Constraint::Length(w)
        }
    });
    let t = Table::new(
        cells.iter().map(|c| row(c.each_ref().map(String::as_str))),
        constraints,
    )
    .header(row(HEADER).style(Style::new().add_modifier(Modifier::BOLD)))
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .highlight_symbol("> ")
    .highlight_spacing(HighlightSpacing::Always);
    frame.render_stateful_widget(t, area, table);
}

fn draw_log(frame: &mut Frame, log: &LogPane, area: Rect) {
    let block = Block::new().borders(Borders::TOP).title(Span::styled(
        log.title.as_str(),
        Style::new().add_modifier(Modifier::BOLD),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    // Scrolled back at most to the first lines.
    let back = log.back.min(log.lines.len().saturating_sub(height));
    let end = log.lines.len() - back;
    let start = end.saturating_sub(height);
    let lines: Vec<Line> = log
        .lines
        .range(start..end)
        .map(|l| Line::from(l.as_str()))
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    /// The screen's lines, trailing spaces cut, after drawing `view` on a
    /// `width`×`height` terminal with row `selected` selected.
    pub fn screen(view: &View, selected: Option<usize>, width: u16, height: u16) -> Vec<String> {
        let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
        let mut state = TableState::default().with_selected(selected);
        t.draw(|f| draw(f, view, &mut state)).unwrap();
        let buf = t.backend().buffer();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect()
    }

    fn api() -> Facts {
        Facts {
            name: "api".into(),
            service: None,
            state: Some("running".into()),
            health: Some("healthy".into()),
            pid: Some(4242),
            uptime_ms: Some(125_000),
            restarts: Some(3),
            usage: Usage {
                cpu: Some(12.345),
                rss: Some(3 * 1024 * 1024 / 2),
            },
            last_line: Some("GET /healthz 200".into()),
        }
    }

    #[test]
    fn unknowns_are_dashes_and_numbers_are_short() {
        assert_eq!(
            cells(&api()),
            [
                "api",
                "-",
                "running",
                "healthy",
                "4242",
                "2m 5s",
                "3",
                "12.3%",
                "1.5M",
                "GET /healthz 200"
            ]
        );
        assert_eq!(
            cells(&Facts {
                name: "x".into(),
                ..Facts::default()
            }),
            ["x", "-", "-", "-", "-", "-", "-", "-", "-", "-"]
        );
        for (b, shown) in [
            (0, "0K"),
            (512 * 1024, "512K"),
            (1024 * 1024, "1.0M"),
            (5 * 1024 * 1024 * 1024 / 2, "2.5G"),
        ] {
            assert_eq!(show_bytes(b), shown);
        }
    }

    #[test]
    fn the_screen_has_a_title_the_table_a_note_and_the_keys() {
        let worker = Facts {
            name: "worker".into(),
            service: Some("active".into()),
            state: Some("stopped".into()),
            restarts: Some(0),
            ..Facts::default()
        };
        let view = View {
            title: "tend top · 2 services · /srv/state · every 1s".into(),
            rows: vec![api(), worker],
            note: Note {
                text: "`api` is running (pid 4243)".into(),
                error: false,
            },
            ..View::default()
        };
        assert_eq!(
            screen(&view, Some(1), 110, 7),
            [
                "tend top · 2 services · /srv/state · every 1s",
                "  NAME   SERVICE STATE   HEALTH   PID UPTIME RESTARTS   CPU  MEM LAST LOG LINE",
                "  api    -       running healthy 4242  2m 5s        3 12.3% 1.5M GET /healthz 200",
                "> worker active  stopped -          -      -        0     -    - -",
                "",
                "`api` is running (pid 4243)",
                KEYS,
            ]
        );
    }

    #[test]
    fn no_rows_says_so() {
        let view = View {
            title: "tend top".into(),
            empty: "no services (none installed, no state in /srv/state)".into(),
            ..View::default()
        };
        assert_eq!(
            screen(&view, None, 60, 4)[1],
            "no services (none installed, no state in /srv/state)"
        );
    }

    /// The log pane shows the last lines that fit, or earlier ones when scrolled back.
    #[test]
    fn the_log_pane_follows_the_end_unless_scrolled_back() {
        let mut view = View {
            title: "tend top".into(),
            rows: vec![api()],
            log: Some(LogPane {
                title: "tend logs -f api".into(),
                lines: (1..=20).map(|i| format!("line {i}")).collect(),
                back: 0,
            }),
            ..View::default()
        };
        let s = screen(&view, Some(0), 90, 12);
        assert_eq!(s[0], "tend top");
        assert!(s[1].starts_with("  NAME"), "{s:#?}");
        assert!(s[2].starts_with("> api"), "{s:#?}");
        // Rows 5..10: the pane, its title on its top border, then 4 lines.
        assert_eq!(s[3], "");
        assert!(s[5].starts_with("tend logs -f api─"), "{s:#?}");
        assert_eq!(&s[6..10], ["line 17", "line 18", "line 19", "line 20"]);
        assert_eq!(s[10], "");
        assert_eq!(s[11], LOG_KEYS);
        view.log.as_mut().unwrap().back = 3;
        let s = screen(&view, Some(0), 90, 12);
        assert_eq!(&s[6..10], ["line 14", "line 15", "line 16", "line 17"]);
        // Scrolled back past the beginning: the first lines.
        view.log.as_mut().unwrap().back = 100;
        let s = screen(&view, Some(0), 90, 12);
        assert_eq!(&s[6..10], ["line 1", "line 2", "line 3", "line 4"]);
    }
}

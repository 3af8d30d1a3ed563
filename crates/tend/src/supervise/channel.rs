//! The pull channel (`[update] channel`): a task per service that checks the
//! channel's manifest every `check_every` (plus a random tenth), downloads the release
//! it names in the background (resumable, at most `max_download_rate`, its size and
//! sha256 checked), and hands it to the supervisor's loop as an `upgrade` request:
//! the same signature check, health gate and rollback as `tend upgrade`. What to do
//! with a manifest is [`crate::update::channel::decide`]'s: a release that was rolled
//! back is not tried again until the channel names another one, and one whose
//! signature was refused is not downloaded again while the manifest stays the same.
//! `tend update check|apply NAME` ask the task to check now ([`PollNow`]).

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use super::control::{self, Answer, Done, Upgrade, Verb};
use crate::spec::Spec;
use crate::update::channel::{self as manifest, Decision, Named};
use crate::update::fetch;
use crate::update::release::{Index, Store};

/// A request to check the channel now (`tend update check|apply NAME`).
pub(super) struct PollNow {
    /// Upgrade if the channel names a release to upgrade to (else only say).
    pub(super) apply: bool,
    /// The answer lines.
    pub(super) reply: mpsc::UnboundedSender<Answer>,
}

/// What a poller needs.
struct Poller {
    index: usize,
    name: String,
    channel: String,
    every: Duration,
    rate: u64,
    store: Store,
    commands: mpsc::UnboundedSender<control::Command>,
    /// The manifest whose release was refused (its signature, its content): not
    /// downloaded again while the channel names it.
    refused: Option<(String, [u8; 32])>,
    /// What the last check by the timer said: the log gets a line when that changes,
    /// not every `check_every`.
    last_said: Option<String>,
}

/// Starts the poller of service `index` when its spec has a channel; returns where to
/// ask it to check now.
pub(super) fn spawn(
    index: usize,
    spec: &Spec,
    state_dir: &std::path::Path,
    commands: mpsc::UnboundedSender<control::Command>,
) -> Option<mpsc::UnboundedSender<PollNow>> {
    let update = spec.update.as_ref()?;
    let channel = update.channel.clone()?;
    let (tx, rx) = mpsc::unbounded_channel();
    let poller = Poller {
        index,
        name: spec.name.to_string(),
        channel,
        every: update.check_every.get(),
        rate: update.max_download_rate.0,
        store: Store::of(state_dir, spec.name.as_str()),
        commands,
        refused: None,
        last_said: None,
    };
    say!(
        "tend: {}: channel: {} checked every {} (and now)",
        poller.name,
        poller.channel,
        super::event::show_duration(poller.every)
    );
    tokio::task::spawn_local(poller.run(rx));
    Some(tx)
}

/// A seed for the jitter that differs between processes and services.
fn seed(index: usize) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32) ^ index as u64
}

impl Poller {
    /// Checks soon after the start, then every `every` plus jitter; and when asked.
    async fn run(mut self, mut asked: mpsc::UnboundedReceiver<PollNow>) {
        let mut next = tokio::time::Instant::now()
            + Duration::from_secs(1)
            + manifest::jitter(self.every, seed(self.index));
        let mut open = true;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {
                    let said = self.poll(true).await;
                    if self.last_said.as_ref() != Some(&said.message) {
                        say!("tend: {}: channel: {}", self.name, said.message);
                        self.last_said = Some(said.message);
                    }
                    next = tokio::time::Instant::now()
                        + self.every
                        + manifest::jitter(self.every, seed(self.index));
                }
                p = asked.recv(), if open => match p {
                    Some(PollNow { apply, reply }) => {
                        let done = self.poll_for(apply, &reply).await;
                        let _ = reply.send(Answer::Done(done));
                    }
                    // Nobody can ask any more: the timer goes on.
                    None => open = false,
                },
            }
        }
    }

    /// How long a download may go without a byte: a check should not hang for much
    /// longer than its period.
    fn stall(&self) -> Duration {
        self.every
            .clamp(Duration::from_secs(5), Duration::from_secs(30))
    }

    /// A check by the timer: the outcome, for the log.
    async fn poll(&mut self, apply: bool) -> Done {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let done = self.poll_for(apply, &tx).await;
        drop(tx);
        while rx.try_recv().is_ok() {}
        done
    }

    /// Checks the channel; with `apply`, upgrades to what it names when that is the
    /// decision. Progress goes to `reply`.
    async fn poll_for(&mut self, apply: bool, reply: &mpsc::UnboundedSender<Answer>) -> Done {
        let named = match self.manifest().await {
            Ok(n) => n,
            Err(e) => return Done::new(false, None, e),
        };
        let version = named.manifest.version.clone();
        let index = match self.store.index() {
            Ok(i) => i,
            Err(e) => return Done::new(false, None, crate::text::io_error(&e)),
        };
        match manifest::decide(&version, &index) {
            Decision::UpToDate => {
                return Done::new(true, None, format!("release {version} is current"))
            }
            Decision::RolledBack => {
                return Done::new(
                    true,
                    None,
                    format!("release {version} was rolled back: waiting for the channel to name another"),
                )
            }
            Decision::Older { newest } => {
                return Done::new(
                    true,
                    None,
                    format!("the channel names release {version}, older than release {newest}, which `{}` has run: not downgraded (`tend upgrade` or `tend rollback` do it by hand)", self.name),
                )
            }
            Decision::Upgrade => {}
        }
        if self.refused.as_ref() == Some(&(version.clone(), named.sha256)) {
            return Done::new(
                false,
                None,
                format!("release {version} was refused: waiting for the channel to name another"),
            );
        }
        if !apply {
            return Done::new(
                true,
                None,
                format!(
                    "the channel names release {version} ({} bytes); `{}` runs {}: `tend update apply {}` upgrades it",
                    named.manifest.size,
                    self.name,
                    crate::supervise::event::release_name(index.current.as_deref()),
                    self.name
                ),
            );
        }
        self.apply(named, &index, reply).await
    }

    /// Fetches and reads the manifest.
    async fn manifest(&self) -> Result<Named, String> {
        let incoming = self.store.incoming();
        std::fs::create_dir_all(&incoming).map_err(|e| {
            format!(
                "cannot create {}: {}",
                incoming.display(),
                crate::text::io_error(&e)
            )
        })?;
        let dest = incoming.join(".channel-manifest.json");
        let _ = std::fs::remove_file(&dest);
        let _ = std::fs::remove_file(fetch::part_path(&dest));
        let opts = fetch::Options {
            stall: self.stall(),
            max_size: manifest::MAX_MANIFEST,
            ..Default::default()
        };
        let got = fetch::download(&self.channel, &dest, &fetch::Expect::default(), &opts)
            .await
            .map_err(|e| format!("cannot read the channel: {e}"));
        let bytes = got.and_then(|d| {
            std::fs::read(&d.path)
                .map_err(|e| format!("cannot read the channel: {}", crate::text::io_error(&e)))
        });
        let _ = std::fs::remove_file(&dest);
        let _ = std::fs::remove_file(fetch::part_path(&dest));
        manifest::parse(&bytes?, &self.channel)
    }

    /// Downloads the release `named` and asks the loop to upgrade to it.
    async fn apply(
        &mut self,
        named: Named,
        index: &Index,
        reply: &mpsc::UnboundedSender<Answer>,
    ) -> Done {
        let version = named.manifest.version.clone();
        let dest: PathBuf = self.store.incoming().join(format!("channel-{version}"));
        let _ = reply.send(Answer::Progress {
            progress: format!(
                "the channel names release {version} (`{}` runs {}): downloading {} ({} bytes)",
                self.name,
                crate::supervise::event::release_name(index.current.as_deref()),
                named.url,
                named.manifest.size
            ),
        });
        let opts = fetch::Options {
            progress: fetch::Progress::None,
            max_bytes_per_sec: Some(self.rate),
            stall: self.stall(),
            ..Default::default()
        };
        let expect = fetch::Expect {
            size: Some(named.manifest.size),
            sha256: Some(named.sha256),
        };
        if let Err(e) = fetch::download(&named.url, &dest, &expect, &opts).await {
            return Done::new(
                false,
                None,
                format!(
                    "the download of release {version} failed: {e}; tried again at the next check"
                ),
            );
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let sent = self.commands.send(control::Command {
            index: self.index,
            verb: Verb::Upgrade,
            upgrade: Some(Upgrade {
                artifact: dest.clone(),
                signature: named.manifest.signature.clone(),
                source: named.url.clone(),
                version: Some(version.clone()),
                dry_run: false,
                signed_as_named: true,
            }),
            reply: tx,
        });
        let done = if sent.is_err() {
            Done::new(false, None, "the supervisor is stopping every service")
        } else {
            loop {
                match rx.recv().await {
                    Some(Answer::Done(d)) => break d,
                    Some(a @ Answer::Progress { .. }) => {
                        let _ = reply.send(a);
                    }
                    Some(Answer::Accepted { .. }) => {}
                    None => break Done::new(false, None, "the supervisor ended before answering"),
                }
            }
        };
        let _ = std::fs::remove_file(&dest);
        // Refused for what it is (its signature, its content): not fetched again while
        // the channel names it. (A release that failed its check is in the index's
        // rolled back list instead.)
        if done.refused {
            self.refused = Some((version, named.sha256));
        }
        done
    }
}

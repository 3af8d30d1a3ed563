//! The signals that ask the service to shut down gracefully.
//!
//! SIGTERM (what tend and most supervisors send) and SIGINT on Unix; Ctrl-C
//! on Windows. Handlers are installed up front by [`Shutdown::install`], so
//! a signal that arrives as soon as the service reports it is listening is
//! already caught rather than killing the process. Under the Windows service
//! control manager the stop requests come from the SCM instead
//! ([`Shutdown::from_service`]).

use std::io;

/// Installed shutdown signal handlers.
pub struct Shutdown {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(windows)]
    source: WindowsSource,
}

#[cfg(windows)]
enum WindowsSource {
    CtrlC(tokio::signal::windows::CtrlC),
    /// Names of the SCM's stop requests, forwarded from its control handler.
    Service(tokio::sync::mpsc::UnboundedReceiver<&'static str>),
}

impl Shutdown {
    /// Installs the handlers; must run inside the tokio runtime.
    pub fn install() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Shutdown {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(windows)]
        {
            Ok(Shutdown {
                source: WindowsSource::CtrlC(tokio::signal::windows::ctrl_c()?),
            })
        }
        #[cfg(not(any(unix, windows)))]
        {
            Ok(Shutdown {})
        }
    }

    /// Stop requests from the Windows service control manager, by name.
    #[cfg(windows)]
    pub fn from_service(requests: tokio::sync::mpsc::UnboundedReceiver<&'static str>) -> Self {
        Shutdown {
            source: WindowsSource::Service(requests),
        }
    }

    /// Resolves with the signal's name when one arrives.
    pub async fn wait(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(windows)]
        {
            match &mut self.source {
                WindowsSource::CtrlC(ctrl_c) => {
                    ctrl_c.recv().await;
                    "Ctrl-C"
                }
                // A closed channel means the SCM is gone: stop as well.
                WindowsSource::Service(requests) => requests
                    .recv()
                    .await
                    .unwrap_or("service control manager gone"),
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            std::future::pending().await
        }
    }
}

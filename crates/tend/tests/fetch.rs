//! Upgrade artifacts onto disk: `download()` against a real HTTP server on 127.0.0.1
//! (ranges, a truncated body, a stall, redirects, a 404), and `unpack()` against
//! archives built here, by the system's `tar` and `zip` and by hand (malicious ones:
//! `..`, absolute paths, links leading out, devices).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tend::update::fetch::{self as f, Expect, FetchError, Options};
use tend::update::unpack::{self as u, Kind, Limits, Refusal, UnpackError};

/// What the test server answers on a path.
#[derive(Clone)]
enum Reply {
    /// The body, honouring `Range: bytes=N-` when `ranges`; chunked when `chunked`.
    Data {
        body: Arc<Vec<u8>>,
        ranges: bool,
        chunked: bool,
    },
    /// Announces the whole body but sends `after` bytes of it and closes.
    Truncate { body: Arc<Vec<u8>>, after: usize },
    /// Announces the whole body, sends `after` bytes of it, then nothing (until the
    /// client hangs up).
    Stall { body: Arc<Vec<u8>>, after: usize },
    /// A redirect with this code and `Location`.
    Redirect(u16, String),
    /// 404.
    NotFound,
}

/// A server on 127.0.0.1: each path has its replies, used in turn (the last one
/// again and again); every request head is logged.
struct Server {
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(routes: Vec<(&str, Vec<Reply>)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let routes: HashMap<String, Vec<Reply>> = routes
            .into_iter()
            .map(|(p, r)| (p.to_string(), r))
            .collect();
        let routes = Arc::new(Mutex::new(routes));
        let l = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (routes, log) = (routes.clone(), l.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &routes, &log);
                });
            }
        });
        Server { port, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(
    mut stream: TcpStream,
    routes: &Mutex<HashMap<String, Vec<Reply>>>,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    log.lock().unwrap().push(head.clone());
    let path = head.split(' ').nth(1).unwrap_or_default().to_string();
    let from: Option<usize> = head
        .lines()
        .find_map(|l| l.strip_prefix("Range: bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok());
    let reply = {
        let mut routes = routes.lock().unwrap();
        match routes.get_mut(&path) {
            Some(r) if r.len() > 1 => r.remove(0),
            Some(r) => r[0].clone(),
            None => Reply::NotFound,
        }
    };
    match reply {
        Reply::Data {
            body,
            ranges,
            chunked,
        } => {
            let len = body.len();
            match from.filter(|_| ranges) {
                Some(n) if n >= len => write!(
                    stream,
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\n\r\n"
                )?,
                Some(n) => {
                    write!(
                        stream,
                        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {n}-{}/{len}\r\nContent-Length: {}\r\n\r\n",
                        len - 1,
                        len - n
                    )?;
                    stream.write_all(&body[n..])?;
                }
                None if chunked => {
                    write!(stream, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?;
                    for piece in body.chunks(7777) {
                        write!(stream, "{:x}\r\n", piece.len())?;
                        stream.write_all(piece)?;
                        stream.write_all(b"\r\n")?;
                    }
                    stream.write_all(b"0\r\n\r\n")?;
                }
                None => {
                    write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n")?;
                    stream.write_all(&body)?;
                }
            }
        }
        Reply::Truncate { body, after } => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body[..after])?;
        }
        Reply::Stall { body, after } => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body[..after])?;
            stream.flush()?;
            // Silent until the client hangs up.
            let mut sink = [0u8; 64];
            while reader.read(&mut sink)? > 0 {}
        }
        Reply::Redirect(code, to) => write!(
            stream,
            "HTTP/1.1 {code} Moved\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n"
        )?,
        Reply::NotFound => write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"
        )?,
    }
    stream.flush()
}

/// Bytes that differ everywhere (a misplaced range shows in the hash).
fn artifact(len: usize) -> Arc<Vec<u8>> {
    Arc::new(
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
            .collect(),
    )
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    std::fs::write(&p, bytes).unwrap();
    f::sha256_file(&p).unwrap()
}

fn expect(body: &[u8]) -> Expect {
    Expect {
        size: Some(body.len() as u64),
        sha256: Some(sha(body)),
    }
}

fn opts() -> Options {
    Options {
        stall: Duration::from_secs(10),
        ..Options::default()
    }
}

fn data(body: &Arc<Vec<u8>>, ranges: bool) -> Reply {
    Reply::Data {
        body: body.clone(),
        ranges,
        chunked: false,
    }
}

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

mod fetch {
    use super::*;

    #[tokio::test]
    async fn fetch_downloads_checks_and_renames() {
        let body = artifact(300_000);
        let s = Server::start(vec![
            ("/a.tar.gz", vec![data(&body, true)]),
            (
                "/chunked",
                vec![Reply::Data {
                    body: body.clone(),
                    ranges: false,
                    chunked: true,
                }],
            ),
        ]);
        let dir = tempfile::tempdir().unwrap();
        for path in ["/a.tar.gz", "/chunked"] {
            let dest = dir.path().join(&path[1..]);
            let got = f::download(&s.url(path), &dest, &expect(&body), &opts())
                .await
                .unwrap();
            assert_eq!(
                (got.path.as_path(), got.size, got.sha256),
                (dest.as_path(), body.len() as u64, sha(&body))
            );
            assert_eq!(std::fs::read(&dest).unwrap(), *body, "{path}");
            assert!(!f::part_path(&dest).exists());
        }
        let req = &s.requests()[0];
        assert!(req.starts_with("GET /a.tar.gz HTTP/1.1\r\n"), "{req}");
        assert!(!req.contains("Range"), "{req}");
    }

    #[tokio::test]
    async fn fetch_resumes_a_truncated_download_with_a_range() {
        let body = artifact(200_000);
        let s = Server::start(vec![(
            "/a",
            vec![
                Reply::Truncate {
                    body: body.clone(),
                    after: 70_000,
                },
                data(&body, true),
            ],
        )]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a");
        let e = f::download(&s.url("/a"), &dest, &expect(&body), &opts())
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                FetchError::Truncated {
                    received: 70_000,
                    ..
                }
            ),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains(&s.url("/a")) && msg.contains("after 70000 of 200000 bytes"),
            "{msg}"
        );
        assert_eq!(
            std::fs::metadata(f::part_path(&dest)).unwrap().len(),
            70_000
        );
        assert!(!dest.exists());

        let got = f::download(&s.url("/a"), &dest, &expect(&body), &opts())
            .await
            .unwrap();
        assert_eq!(got.sha256, sha(&body));
        assert_eq!(std::fs::read(&dest).unwrap(), *body);
        let reqs = s.requests();
        assert!(reqs[1].contains("\r\nRange: bytes=70000-\r\n"), "{reqs:?}");
    }

    #[tokio::test]
    async fn fetch_starts_over_when_the_server_ignores_the_range_or_cannot_satisfy_it() {
        let body = artifact(50_000);
        let s = Server::start(vec![
            ("/plain", vec![data(&body, false)]),
            ("/ranged", vec![data(&body, true)]),
        ]);
        let dir = tempfile::tempdir().unwrap();
        // A `.part` of something else: the server answers 200, the file restarts.
        let dest = dir.path().join("plain");
        std::fs::write(f::part_path(&dest), vec![b'x'; 1000]).unwrap();
        let got = f::download(&s.url("/plain"), &dest, &expect(&body), &opts())
            .await
            .unwrap();
        assert_eq!(got.sha256, sha(&body));
        assert!(s.requests()[0].contains("Range: bytes=1000-"));

        // A `.part` longer than the file: 416, then a clean full download.
        let dest = dir.path().join("ranged");
        std::fs::write(f::part_path(&dest), vec![b'x'; 60_000]).unwrap();
        let got = f::download(&s.url("/ranged"), &dest, &Expect::default(), &opts())
            .await
            .unwrap();
        assert_eq!((got.size, got.sha256), (50_000, sha(&body)));
        let reqs = s.requests();
        assert!(reqs[1].contains("Range: bytes=60000-"), "{reqs:?}");
        assert!(!reqs[2].contains("Range"), "{reqs:?}");
    }

    #[tokio::test]
    async fn fetch_a_complete_part_is_checked_without_downloading_it_again() {
        let body = artifact(30_000);
        let s = Server::start(vec![("/a", vec![data(&body, true)])]);
        let dir = tempfile::tempdir().unwrap();
        // The size is known: no request at all.
        let dest = dir.path().join("a");
        std::fs::write(f::part_path(&dest), &*body).unwrap();
        let got = f::download(&s.url("/a"), &dest, &expect(&body), &opts())
            .await
            .unwrap();
        assert_eq!((got.size, got.sha256), (30_000, sha(&body)));
        assert!(s.requests().is_empty());
        // Unknown: the server says 416 with the same total.
        let dest = dir.path().join("b");
        std::fs::write(f::part_path(&dest), &*body).unwrap();
        let got = f::download(&s.url("/a"), &dest, &Expect::default(), &opts())
            .await
            .unwrap();
        assert_eq!((got.size, got.sha256), (30_000, sha(&body)));
        assert_eq!(s.requests().len(), 1);
        assert!(s.requests()[0].contains("Range: bytes=30000-"));
    }

    #[tokio::test]
    async fn fetch_a_stall_is_an_error_naming_the_url_and_the_bytes() {
        let body = artifact(100_000);
        let s = Server::start(vec![(
            "/slow",
            vec![Reply::Stall {
                body: body.clone(),
                after: 4096,
            }],
        )]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("slow");
        let started = Instant::now();
        let o = Options {
            stall: Duration::from_millis(300),
            ..opts()
        };
        let e = f::download(&s.url("/slow"), &dest, &Expect::default(), &o)
            .await
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300));
        let msg = e.to_string();
        assert!(
            matches!(e, FetchError::Stalled { received: 4096, .. }),
            "{e:?}"
        );
        assert!(
            msg.starts_with(&format!(
                "GET {}: stalled: no data for 300ms after 4096 bytes",
                s.url("/slow")
            )),
            "{msg}"
        );
        assert_eq!(std::fs::read(f::part_path(&dest)).unwrap(), body[..4096]);

        // A server that accepts (the kernel does) and never answers: the head stalls.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/a", silent.local_addr().unwrap());
        let e = f::download(&url, &dir.path().join("b"), &Expect::default(), &o)
            .await
            .unwrap_err();
        assert!(
            matches!(e, FetchError::Stalled { received: 0, .. }),
            "{e:?}"
        );
        assert!(
            e.to_string().starts_with(&format!("GET {url}: stalled")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn fetch_follows_redirects_up_to_five_and_refuses_leaving_http() {
        let body = artifact(10_000);
        let s0 = Server::start(vec![("/final", vec![data(&body, true)])]);
        let s = Server::start(vec![
            ("/a", vec![Reply::Redirect(302, "/b".into())]),
            ("/b", vec![Reply::Redirect(301, "c".into())]),
            ("/c", vec![Reply::Redirect(308, s0.url("/final"))]),
            ("/loop", vec![Reply::Redirect(307, "/loop".into())]),
            (
                "/file",
                vec![Reply::Redirect(303, "file:///etc/passwd".into())],
            ),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let got = f::download(&s.url("/a"), &dir.path().join("a"), &expect(&body), &opts())
            .await
            .unwrap();
        assert_eq!(got.sha256, sha(&body));

        let e = f::download(
            &s.url("/loop"),
            &dir.path().join("l"),
            &Expect::default(),
            &opts(),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, FetchError::TooManyRedirects { .. }), "{e:?}");
        let loops = s
            .requests()
            .iter()
            .filter(|r| r.starts_with("GET /loop "))
            .count();
        assert_eq!(loops, 6, "the first request and 5 redirects");

        let e = f::download(
            &s.url("/file"),
            &dir.path().join("f"),
            &Expect::default(),
            &opts(),
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("\"file:///etc/passwd\" is refused: it leaves HTTP"),
            "{e}"
        );
        assert_eq!(names(dir.path()), ["a"]);
    }

    #[tokio::test]
    async fn fetch_a_404_names_the_status_and_leaves_nothing() {
        let s = Server::start(vec![]);
        let dir = tempfile::tempdir().unwrap();
        let e = f::download(
            &s.url("/nope"),
            &dir.path().join("x"),
            &Expect::default(),
            &opts(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "GET {}: answered \"HTTP/1.1 404 Not Found\"",
                s.url("/nope")
            )
        );
        assert!(names(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn fetch_a_wrong_hash_or_size_removes_the_part_and_names_both() {
        let body = artifact(20_000);
        let s = Server::start(vec![("/a", vec![data(&body, true)])]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a");
        let wrong = [7u8; 32];
        let e = f::download(
            &s.url("/a"),
            &dest,
            &Expect {
                size: None,
                sha256: Some(wrong),
            },
            &opts(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: sha256 mismatch: expected {}, got {}; the download was removed",
                s.url("/a"),
                f::hex(&wrong),
                f::hex(&sha(&body))
            )
        );
        assert!(names(dir.path()).is_empty());

        let e = f::download(
            &s.url("/a"),
            &dest,
            &Expect {
                size: Some(19_999),
                sha256: None,
            },
            &opts(),
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("size mismatch: expected 19999 bytes, got 20000"),
            "{e}"
        );
        assert!(names(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn fetch_max_size_caps_the_body_announced_or_not() {
        let body = artifact(20_000);
        let s = Server::start(vec![
            ("/a", vec![data(&body, true)]),
            (
                "/chunked",
                vec![Reply::Data {
                    body: body.clone(),
                    ranges: false,
                    chunked: true,
                }],
            ),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let o = Options {
            max_size: 10_000,
            ..opts()
        };
        for path in ["/a", "/chunked"] {
            let e = f::download(&s.url(path), &dir.path().join("x"), &Expect::default(), &o)
                .await
                .unwrap_err();
            assert!(
                matches!(e, FetchError::TooLarge { max: 10_000, .. }),
                "{path}: {e:?}"
            );
            assert!(names(dir.path()).is_empty(), "{path}");
        }
    }

    #[tokio::test]
    async fn fetch_max_bytes_per_sec_bounds_the_rate() {
        let body = artifact(64 * 1024);
        let s = Server::start(vec![("/a", vec![data(&body, true)])]);
        let dir = tempfile::tempdir().unwrap();
        let o = Options {
            max_bytes_per_sec: Some(128 * 1024),
            ..opts()
        };
        let started = Instant::now();
        f::download(&s.url("/a"), &dir.path().join("a"), &expect(&body), &o)
            .await
            .unwrap();
        // 64 KiB at 128 KiB/s: half a second at least.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(450), "{took:?}");
    }

    #[tokio::test]
    async fn fetch_file_urls_copy_and_check() {
        let dir = tempfile::tempdir().unwrap();
        let body = artifact(5000);
        let from = dir.path().join("my artifact.zip");
        std::fs::write(&from, &*body).unwrap();
        let url = format!("file://{}", from.display()).replace(' ', "%20");
        let dest = dir.path().join("copy");
        let got = f::download(&url, &dest, &expect(&body), &opts())
            .await
            .unwrap();
        assert_eq!(
            (got.size, std::fs::read(&dest).unwrap()),
            (5000, body.to_vec())
        );
        let e = f::download(&url, &dir.path().join("c2"), &expect(&body[1..]), &opts())
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Size { .. }), "{e:?}");
        assert!(!dir.path().join("c2.part").exists());
    }

    #[tokio::test]
    async fn fetch_https_goes_through_tls_or_says_it_cannot() {
        // A plain HTTP server: a TLS handshake with it fails (with the feature), or the
        // build says it has no HTTPS.
        let s = Server::start(vec![]);
        let url = format!("https://127.0.0.1:{}/a", s.port);
        let dir = tempfile::tempdir().unwrap();
        let e = f::download(&url, &dir.path().join("a"), &Expect::default(), &opts())
            .await
            .unwrap_err();
        if cfg!(feature = "https") {
            assert!(matches!(e, FetchError::Tls { .. }), "{e:?}");
        } else {
            assert!(e.to_string().contains("built without HTTPS"), "{e}");
        }
        assert!(names(dir.path()).is_empty());
    }
}

mod unpack {
    use super::*;

    /// A tar entry built by hand (names and links written raw: the tar crate's
    /// builder refuses the malicious ones).
    enum E<'a> {
        File(&'a str, &'a [u8], u32),
        Dir(&'a str),
        Sym(&'a str, &'a str),
        Hard(&'a str, &'a str),
        Char(&'a str),
    }

    fn tar_gz(path: &Path, entries: &[E]) {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(gz);
        for e in entries {
            let mut h = tar::Header::new_gnu();
            let (name, data, link): (&str, &[u8], Option<&str>) = match e {
                E::File(n, d, mode) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    (n, d, None)
                }
                E::Dir(n) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    (n, b"", None)
                }
                E::Sym(n, t) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    (n, b"", Some(t))
                }
                E::Hard(n, t) => {
                    h.set_entry_type(tar::EntryType::Link);
                    (n, b"", Some(t))
                }
                E::Char(n) => {
                    h.set_entry_type(tar::EntryType::Char);
                    (n, b"", None)
                }
            };
            h.set_size(data.len() as u64);
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(t) = link {
                h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
            }
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }

    fn run(cmd: &mut std::process::Command) {
        let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert!(out.status.success(), "{cmd:?}: {out:?}");
    }

    /// `app-1.2/` with an executable, a plain file and a link to the executable.
    fn release_folder(dir: &Path) -> PathBuf {
        let top = dir.join("app-1.2");
        std::fs::create_dir_all(top.join("bin")).unwrap();
        std::fs::create_dir_all(top.join("share")).unwrap();
        std::fs::write(top.join("bin/app"), b"#!/bin/sh\necho hi\n").unwrap();
        std::fs::write(top.join("share/readme"), b"read me").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let exec = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(top.join("bin/app"), exec).unwrap();
            std::os::unix::fs::symlink("bin/app", top.join("app")).unwrap();
        }
        top
    }

    #[cfg(unix)]
    fn assert_release(into: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(into.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(names(into), ["app", "bin", "share"]);
        assert_eq!(mode("bin/app") & 0o111, 0o111);
        assert_eq!(mode("share/readme") & 0o111, 0);
        assert_eq!(
            std::fs::read_link(into.join("app")).unwrap(),
            Path::new("bin/app")
        );
        assert_eq!(
            std::fs::read(into.join("app")).unwrap(),
            b"#!/bin/sh\necho hi\n"
        );
    }

    #[cfg(unix)]
    #[test]
    fn unpack_tar_gz_from_the_tar_tool_strips_the_top_folder_and_keeps_modes() {
        let dir = tempfile::tempdir().unwrap();
        release_folder(dir.path());
        let archive = dir.path().join("app.tar.gz");
        run(std::process::Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(dir.path())
            .arg("app-1.2"));
        assert_eq!(u::kind_of(&archive), Kind::TarGz);
        let into = dir.path().join("releases/1.2");
        std::fs::create_dir(dir.path().join("releases")).unwrap();
        let done = u::unpack(&archive, Kind::TarGz, &into).unwrap();
        assert_eq!((done.files, done.bytes), (3, 18 + 7));
        assert_release(&into);
        assert_eq!(
            names(&dir.path().join("releases")),
            ["1.2"],
            "no temporary folder left"
        );
        // Into an existing folder: refused.
        let e = u::unpack(&archive, Kind::TarGz, &into).unwrap_err();
        assert!(matches!(e, UnpackError::Exists(_)), "{e:?}");
    }

    #[cfg(unix)]
    #[test]
    fn unpack_zip_from_the_zip_tool_strips_the_top_folder_and_keeps_modes() {
        let dir = tempfile::tempdir().unwrap();
        release_folder(dir.path());
        let archive = dir.path().join("app.zip");
        // -y: links stored as links.
        run(std::process::Command::new("zip")
            .arg("-qry")
            .arg(&archive)
            .arg("app-1.2")
            .current_dir(dir.path()));
        assert_eq!(u::kind_of(&archive), Kind::Zip);
        let into = dir.path().join("1.2");
        let done = u::unpack(&archive, Kind::Zip, &into).unwrap();
        assert_eq!((done.files, done.bytes), (3, 18 + 7));
        assert_release(&into);
    }

    #[test]
    fn unpack_keeps_the_layout_without_a_single_top_folder() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar.gz");
        tar_gz(
            &archive,
            &[
                E::Dir("./"),
                E::File("./app", b"x", 0o755),
                E::File("./conf/app.toml", b"y", 0o644),
            ],
        );
        let into = dir.path().join("out");
        u::unpack(&archive, Kind::TarGz, &into).unwrap();
        assert_eq!(names(&into), ["app", "conf"]);
    }

    /// Unpacking `archive` fails with `want`, and leaves nothing beside it.
    fn refused(archive: &Path, kind: Kind, want: Refusal) {
        let into = archive.with_file_name("out");
        let e = u::unpack(archive, kind, &into).unwrap_err();
        match &e {
            UnpackError::Refused { why, .. } => assert_eq!(why, &want, "{e}"),
            _ => panic!("{}: {e:?}", archive.display()),
        }
        let name = archive.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(names(archive.parent().unwrap()), [name], "{e}");
    }

    /// A folder holding only `a.tar.gz` made of `entries`.
    fn malicious(entries: &[E]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar.gz");
        tar_gz(&archive, entries);
        (dir, archive)
    }

    #[test]
    fn unpack_refuses_paths_going_out() {
        let (_d, a) = malicious(&[E::File("ok", b"x", 0o644), E::File("../evil", b"x", 0o644)]);
        refused(&a, Kind::TarGz, Refusal::ParentDir);
        let (_d, a) = malicious(&[E::File("top/../../evil", b"x", 0o644)]);
        refused(&a, Kind::TarGz, Refusal::ParentDir);
        let (_d, a) = malicious(&[E::File("/tmp/tend-evil", b"x", 0o644)]);
        refused(&a, Kind::TarGz, Refusal::Absolute);
        assert!(!Path::new("/tmp/tend-evil").exists());
    }

    #[test]
    fn unpack_refuses_links_leading_out_and_writing_through_links() {
        let (_d, a) = malicious(&[E::Sym("etc", "../../etc"), E::File("x", b"x", 0o644)]);
        refused(&a, Kind::TarGz, Refusal::LinkOutside("../../etc".into()));
        let (_d, a) = malicious(&[E::Sym("passwd", "/etc/passwd")]);
        refused(&a, Kind::TarGz, Refusal::LinkOutside("/etc/passwd".into()));
        // Each fine by its text; together `e` is the folder above.
        #[cfg(unix)]
        {
            let (_d, a) = malicious(&[
                E::Sym("d", "."),
                E::Sym("e", "d/.."),
                E::File("x", b"x", 0o644),
            ]);
            refused(&a, Kind::TarGz, Refusal::LinkOutside("d/..".into()));
            let (_d, a) = malicious(&[
                E::Dir("sub"),
                E::Sym("lnk", "sub"),
                E::File("lnk/evil", b"x", 0o644),
            ]);
            refused(&a, Kind::TarGz, Refusal::ThroughLink("lnk".into()));
        }
        let (_d, a) = malicious(&[E::Hard("h", "../../etc/passwd")]);
        refused(
            &a,
            Kind::TarGz,
            Refusal::HardLink("../../etc/passwd".into()),
        );
        let (_d, a) = malicious(&[E::Hard("h", "later"), E::File("later", b"x", 0o644)]);
        refused(&a, Kind::TarGz, Refusal::HardLink("later".into()));
    }

    #[cfg(unix)]
    #[test]
    fn unpack_hard_links_to_earlier_files_and_replaces_duplicates_without_following_them() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"keep").unwrap();
        let archive = dir.path().join("a.tar.gz");
        tar_gz(
            &archive,
            &[
                E::File("app", b"bin", 0o755),
                E::Hard("app2", "app"),
                // A link inside, then a file of the same name: the file replaces the
                // link (it is not written through it).
                E::Sym("conf", "app"),
                E::File("conf", b"new", 0o644),
            ],
        );
        let into = dir.path().join("out");
        u::unpack(&archive, Kind::TarGz, &into).unwrap();
        assert_eq!(std::fs::read(into.join("app2")).unwrap(), b"bin");
        assert_eq!(std::fs::read(into.join("conf")).unwrap(), b"new");
        assert_eq!(std::fs::read(into.join("app")).unwrap(), b"bin");
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
    }

    #[test]
    fn unpack_refuses_devices() {
        let (_d, a) = malicious(&[E::File("ok", b"x", 0o644), E::Char("dev/null")]);
        refused(&a, Kind::TarGz, Refusal::Special("character device"));
    }

    #[test]
    fn unpack_caps_entries_and_bytes_and_leaves_nothing() {
        let (d, a) = malicious(&[
            E::File("a", &[1; 600], 0o644),
            E::File("b", &[2; 600], 0o644),
            E::Dir("c"),
        ]);
        let into = d.path().join("out");
        let e = u::unpack_with(
            &a,
            Kind::TarGz,
            &into,
            &Limits {
                max_bytes: 1000,
                max_entries: 10,
            },
        )
        .unwrap_err();
        assert!(matches!(e, UnpackError::TooBig { max: 1000, .. }), "{e:?}");
        let e = u::unpack_with(
            &a,
            Kind::TarGz,
            &into,
            &Limits {
                max_bytes: 10_000,
                max_entries: 2,
            },
        )
        .unwrap_err();
        assert!(
            matches!(e, UnpackError::TooManyEntries { max: 2, .. }),
            "{e:?}"
        );
        assert_eq!(names(d.path()), ["a.tar.gz"]);
        u::unpack_with(
            &a,
            Kind::TarGz,
            &into,
            &Limits {
                max_bytes: 1200,
                max_entries: 3,
            },
        )
        .unwrap();
    }

    #[test]
    fn unpack_a_damaged_archive_fails_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.tar.gz");
        let files: Vec<Vec<u8>> = (0..20).map(|i| artifact(5000 + i).to_vec()).collect();
        let entries: Vec<(String, &[u8])> = files
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("f{i}"), d.as_slice()))
            .collect();
        let es: Vec<E> = entries.iter().map(|(n, d)| E::File(n, d, 0o644)).collect();
        tar_gz(&good, &es);
        let bytes = std::fs::read(&good).unwrap();
        std::fs::remove_file(&good).unwrap();
        let archive = dir.path().join("a.tar.gz");
        std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
        let e = u::unpack(&archive, Kind::TarGz, &dir.path().join("out")).unwrap_err();
        assert!(matches!(e, UnpackError::Corrupt { .. }), "{e:?}");
        assert_eq!(names(dir.path()), ["a.tar.gz"]);

        std::fs::write(&archive, b"PK\x03\x04 not really").unwrap();
        let e = u::unpack(&archive, Kind::Zip, &dir.path().join("out")).unwrap_err();
        assert!(e.to_string().contains("cannot be read as a .zip"), "{e}");
        assert_eq!(names(dir.path()), ["a.tar.gz"]);
    }

    #[test]
    fn unpack_refuses_malicious_zips() {
        use zip::write::SimpleFileOptions;
        for (name, want) in [
            ("../evil", Refusal::ParentDir),
            ("/abs/evil", Refusal::Absolute),
            ("a\\..\\..\\evil", Refusal::ParentDir),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let archive = dir.path().join("a.zip");
            let mut z = zip::ZipWriter::new(std::fs::File::create(&archive).unwrap());
            z.start_file("ok", SimpleFileOptions::default()).unwrap();
            z.write_all(b"x").unwrap();
            z.start_file(name, SimpleFileOptions::default()).unwrap();
            z.write_all(b"x").unwrap();
            z.finish().unwrap();
            refused(&archive, Kind::Zip, want);
        }
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.zip");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&archive).unwrap());
        z.add_symlink("up", "../..", SimpleFileOptions::default())
            .unwrap();
        z.finish().unwrap();
        refused(&archive, Kind::Zip, Refusal::LinkOutside("../..".into()));
    }

    #[test]
    fn unpack_a_program_is_not_an_archive() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("app");
        std::fs::write(&p, b"\x7fELF").unwrap();
        assert_eq!(u::kind_of(&p), Kind::Program);
        let e = u::unpack(&p, Kind::Program, &dir.path().join("out")).unwrap_err();
        assert!(matches!(e, UnpackError::NotAnArchive(_)), "{e:?}");
    }
}

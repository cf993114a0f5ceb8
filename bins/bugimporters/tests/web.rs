//! The accounts through the real binaries: the first admin from `customs user add` (password
//! on standard input), `bugimporters serve` on a loopback port, a login over HTTP (the cookie
//! `Secure` under an https `--public-url`), `/customs/` with the session, and the throttle on
//! the real peer address.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn exe(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_bugimporters")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test --workspace` (it builds every binary)",
        path.display()
    );
    path
}

/// One HTTP/1.1 request over a fresh connection: the head (status line and headers) and the
/// body.
fn http(addr: SocketAddr, request: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    Ok((head.to_owned(), body.to_owned()))
}

fn login(addr: SocketAddr, name: &str, password: &str) -> String {
    let body = format!("name={name}&password={password}&next=%2Fcustoms%2F");
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http(addr, &request).unwrap().0
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_first_admin_from_the_cli_logs_in_to_serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("host.db").display());
    let mut add = Command::new(exe("customs"))
        .args(["--db", &db, "user", "add", "root", "--role", "admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .unwrap();
    assert!(add.wait().unwrap().success());

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listen = addr.to_string();
    let spool = dir.path().join("spool");
    let _serve = Serve(
        Command::new(exe("bugimporters"))
            .args(["serve", "--db", &db, "--listen", &listen, "--poll", "0.2"])
            .args(["--public-url", "https://bugs.example.org/"])
            .arg("--spool")
            .arg(&spool)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let get_healthz = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    while http(addr, &get_healthz).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let head = login(addr, "root", "correct+horse+battery");
    assert!(head.starts_with("HTTP/1.1 303"), "{head}");
    assert!(head.contains("location: /customs/"), "{head}");
    let cookie_line = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: bugimporters_session=")
        })
        .unwrap_or_else(|| panic!("{head}"));
    for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie_line.contains(part), "{cookie_line}");
    }
    let cookie = cookie_line
        .split_once(": ")
        .unwrap()
        .1
        .split(';')
        .next()
        .unwrap();
    let page = format!(
        "GET /customs/ HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    );
    let (head, body) = http(addr, &page).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains(r#"<span class="user">root</span>"#), "{body}");
    assert!(body.contains(r#"<option value="trac">"#), "{body}");

    // Five failures from this address (the peer's, as the server sees it), each for another
    // name, lock the address out: root's right password is refused from here.
    for i in 0..5 {
        let head = login(addr, &format!("guess{i}"), "wrong+password+here");
        assert!(head.starts_with("HTTP/1.1 422"), "{head}");
    }
    let head = login(addr, "root", "correct+horse+battery");
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
}

//! A real SMTP server on 127.0.0.1 for the email tests (mailin-embedded): lettre holds a whole SMTP
//! conversation with it (EHLO, MAIL FROM, RCPT TO, DATA), and the test reads what was delivered. It can be
//! told to refuse the next messages, temporarily (451) or for good (550).

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use mailin_embedded::response::{INTERNAL_ERROR, NO_MAILBOX, OK};
use mailin_embedded::{Handler, Response, Server};

/// One delivered email: its envelope recipients and raw RFC 5322 text.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub to: Vec<String>,
    pub raw: String,
}

impl Delivered {
    /// A header's value (unfolded), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or("");
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(v) = value.as_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if value.is_some() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.eq_ignore_ascii_case(name) {
                    value = Some(v.trim().to_string());
                }
            }
        }
        value
    }

    /// The body, with quoted-printable soft line breaks and `=XX` escapes undone.
    pub fn body(&self) -> String {
        let body = self.raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let joined = body.replace("=\r\n", "");
        let mut out = Vec::new();
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    }
}

/// What the server does with the next messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// 451: try again later.
    RefuseForNow,
    /// 550: no such mailbox.
    RefuseForGood,
}

#[derive(Default)]
struct Shared {
    delivered: Vec<Delivered>,
    refusals: usize,
    mode: Option<Mode>,
}

#[derive(Clone)]
struct MailHandler {
    shared: Arc<Mutex<Shared>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for MailHandler {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, _from: &str) -> Response {
        self.to.clear();
        self.data.clear();
        OK
    }

    /// Refusals come at RCPT TO, as greylisting (451) and unknown mailboxes (550) do. (mailin stays in its
    /// DATA state after a refusal at the end of DATA, so a refusal there would swallow the client's QUIT.)
    fn rcpt(&mut self, to: &str) -> Response {
        let mut shared = self.shared.lock().unwrap();
        match shared.mode {
            Some(Mode::RefuseForGood) => {
                shared.refusals += 1;
                NO_MAILBOX
            }
            Some(Mode::RefuseForNow) => {
                shared.refusals += 1;
                INTERNAL_ERROR
            }
            _ => {
                self.to.push(to.to_string());
                OK
            }
        }
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mut shared = self.shared.lock().unwrap();
        let raw = String::from_utf8_lossy(&self.data).to_string();
        shared.delivered.push(Delivered { to: std::mem::take(&mut self.to), raw });
        OK
    }
}

/// A running SMTP server; it lives until the test process ends.
pub struct SmtpServer {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared { mode: Some(Mode::Accept), ..Default::default() }));
        let handler = MailHandler { shared: shared.clone(), to: Vec::new(), data: Vec::new() };
        let mut server = Server::new(handler);
        server.with_name("smtp.test").with_num_threads(2).with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpServer { port, shared }
    }

    /// The `--smtp-url` that reaches it (plain SMTP on the loopback address).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.lock().unwrap().mode = Some(mode);
    }

    pub fn delivered(&self) -> Vec<Delivered> {
        self.shared.lock().unwrap().delivered.clone()
    }

    /// Messages delivered to `address`.
    pub fn to(&self, address: &str) -> Vec<Delivered> {
        self.delivered().into_iter().filter(|d| d.to.iter().any(|t| t.eq_ignore_ascii_case(address))).collect()
    }

    pub fn refusals(&self) -> usize {
        self.shared.lock().unwrap().refusals
    }
}

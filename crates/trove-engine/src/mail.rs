//! Mail out of Trove (email verification and password-reset links): the [`Mailer`] trait, a
//! [`LogMailer`] that writes each mail to the log (development), and an [`SmtpMailer`]: a small
//! SMTP client over `std::net` and rustls that upgrades with `STARTTLS` (and refuses a server
//! that cannot), or speaks TLS from the first byte, logs in with `AUTH PLAIN`, and gives every
//! read and write the configured time limit. The password is never logged or shown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::ServerName;
use trove_clock::SharedClock;
use trove_config::{MailConfig, MailTransport, SmtpConfig, SmtpTls};

use crate::EngineError;

/// Sends one plain-text mail.
pub trait Mailer: Send + Sync {
    /// Delivers `body` to `to`, or says why it could not.
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), EngineError>;
}

/// The mailer `mail:` asks for; `clock` dates the mail.
pub fn mailer(config: &MailConfig, clock: SharedClock) -> Result<Arc<dyn Mailer>, EngineError> {
    Ok(match (config.transport, &config.smtp) {
        (MailTransport::Log, _) => Arc::new(LogMailer),
        (MailTransport::Smtp, Some(smtp)) => Arc::new(SmtpMailer::new(smtp, &config.from)?.with_clock(clock)),
        (MailTransport::Smtp, None) => {
            return Err(EngineError::BadRequest("mail.transport is smtp but mail.smtp is missing".into()));
        }
    })
}

/// Writes mail to the log instead of sending it: for development, where the links are read
/// from the log.
#[derive(Debug, Default)]
pub struct LogMailer;

impl Mailer for LogMailer {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), EngineError> {
        tracing::info!(to, subject, body, "mail (mail.transport: log; set mail.transport: smtp to send it)");
        Ok(())
    }
}

/// Sends through an SMTP server.
pub struct SmtpMailer {
    host: String,
    port: u16,
    tls: SmtpTls,
    login: Option<(String, String)>,
    from: String,
    timeout: Duration,
    tls_config: Arc<rustls::ClientConfig>,
    /// Dates the mail (the `Date:` header).
    clock: SharedClock,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.login.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

fn failed(what: impl std::fmt::Display) -> EngineError {
    EngineError::MailFailed(format!("cannot send mail: {what}"))
}

/// A connection, plain or TLS.
enum Conn {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>>),
}

impl Conn {
    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        let data = format!("{line}\r\n");
        match self {
            Conn::Plain(r) => r.get_mut().write_all(data.as_bytes()),
            Conn::Tls(r) => {
                let s = r.get_mut();
                s.write_all(data.as_bytes())?;
                s.flush()
            }
        }
    }

    /// One reply: its code and its lines' text.
    fn reply(&mut self) -> Result<(u16, String), EngineError> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = match self {
                Conn::Plain(r) => r.read_line(&mut line),
                Conn::Tls(r) => r.read_line(&mut line),
            }
            .map_err(|e| failed(format!("the server stopped answering ({e})")))?;
            if n == 0 {
                return Err(failed("the server closed the connection"));
            }
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| failed(format!("not an SMTP reply: {line:?}")))?;
            text.push_str(line.get(4..).unwrap_or_default().trim_end());
            text.push(' ');
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text.trim_end().to_string()));
            }
        }
    }

    /// Sends a command and expects a reply with one of the codes.
    fn command(&mut self, line: &str, shown: &str, expect: &[u16]) -> Result<String, EngineError> {
        self.write_line(line).map_err(|e| failed(format!("cannot write to the server ({e})")))?;
        let (code, text) = self.reply()?;
        if expect.contains(&code) {
            Ok(text)
        } else {
            Err(failed(format!("the server answered {shown} with {code} {text}")))
        }
    }
}

impl SmtpMailer {
    /// Checks the settings and prepares TLS (the built-in roots plus `ca_file`, see
    /// [`trove_http::tls`]).
    pub fn new(config: &SmtpConfig, from: &str) -> Result<SmtpMailer, EngineError> {
        let tls_config = trove_http::tls::client_config(config.ca_file.as_deref(), "mail.smtp.ca_file")
            .map_err(EngineError::BadRequest)?;
        Ok(SmtpMailer {
            host: config.host.clone(),
            port: config.port,
            tls: config.tls,
            login: config.username.clone().map(|u| (u, config.password.clone().unwrap_or_default())),
            from: from.to_string(),
            timeout: Duration::from_secs(config.timeout_s.max(1)),
            tls_config,
            clock: trove_clock::system(),
        })
    }

    /// Dates mail by `clock` instead of the system's.
    pub fn with_clock(mut self, clock: SharedClock) -> SmtpMailer {
        self.clock = clock;
        self
    }

    fn connect(&self) -> Result<TcpStream, EngineError> {
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| failed(format!("mail.smtp.host {} does not resolve ({e})", self.host)))?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.timeout) {
                Ok(s) => {
                    s.set_read_timeout(Some(self.timeout)).ok();
                    s.set_write_timeout(Some(self.timeout)).ok();
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(failed(format!(
            "cannot connect to {}:{} ({}); check mail.smtp.host and port",
            self.host,
            self.port,
            last.map(|e| e.to_string()).unwrap_or_else(|| "no address".into())
        )))
    }

    fn tls(&self, tcp: TcpStream) -> Result<Conn, EngineError> {
        let name = ServerName::try_from(self.host.clone())
            .map_err(|_| failed(format!("mail.smtp.host {} is not a valid TLS server name", self.host)))?;
        let conn = rustls::ClientConnection::new(self.tls_config.clone(), name)
            .map_err(|e| failed(format!("TLS set-up ({e})")))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        // Finish the handshake now, so a refused certificate is reported as such.
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock).map_err(|e| {
                failed(format!(
                    "TLS with {} failed ({e}); if the server uses a private CA, set mail.smtp.ca_file",
                    self.host
                ))
            })?;
        }
        Ok(Conn::Tls(Box::new(BufReader::new(stream))))
    }

    fn message(&self, to: &str, subject: &str, body: &str) -> String {
        let date = time::OffsetDateTime::from_unix_timestamp_nanos(self.clock.now_ms() as i128 * 1_000_000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc2822).ok())
            .unwrap_or_default();
        let mut out = format!(
            "From: {}\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
            self.from
        );
        for line in body.lines() {
            // Dot-stuffing: a line starting with `.` gets another.
            if line.starts_with('.') {
                out.push('.');
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        out
    }
}

/// The address inside `Name <addr>`, or the whole string.
fn address(from: &str) -> &str {
    match (from.find('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => &from[a + 1..b],
        _ => from.trim(),
    }
}

impl SmtpMailer {
    /// Connects, greets, upgrades to TLS and logs in as a send would, then says goodbye
    /// without sending anything (`trove doctor`). Says what it reached.
    pub fn check(&self) -> Result<String, EngineError> {
        let mut conn = self.session()?;
        let _ = conn.command("QUIT", "QUIT", &[221]);
        let how = match self.tls {
            SmtpTls::Starttls => "STARTTLS",
            SmtpTls::Implicit => "TLS",
            SmtpTls::None => "no TLS",
        };
        let login = if self.login.is_some() { ", logged in" } else { "" };
        Ok(format!("{}:{} answers ({how}{login})", self.host, self.port))
    }

    /// A connection ready for `MAIL FROM`: greeted, upgraded as configured, logged in.
    fn session(&self) -> Result<Conn, EngineError> {
        let tcp = self.connect()?;
        let mut conn = match self.tls {
            SmtpTls::Implicit => self.tls(tcp)?,
            _ => Conn::Plain(BufReader::new(tcp)),
        };
        let (code, text) = conn.reply()?;
        if code != 220 {
            return Err(failed(format!("the server greeted with {code} {text}")));
        }
        let ehlo = "EHLO trove.localdomain";
        let features = conn.command(ehlo, "EHLO", &[250])?;
        if self.tls == SmtpTls::Starttls {
            if !features.to_ascii_uppercase().contains("STARTTLS") {
                return Err(failed(format!(
                    "{} does not offer STARTTLS; use mail.smtp.tls: implicit on its TLS port, or none for a local relay",
                    self.host
                )));
            }
            conn.command("STARTTLS", "STARTTLS", &[220])?;
            let Conn::Plain(reader) = conn else { unreachable!("STARTTLS runs on the plain connection") };
            conn = self.tls(reader.into_inner())?;
            conn.command(ehlo, "EHLO", &[250])?;
        }
        if let Some((user, password)) = &self.login {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
            conn.command(&format!("AUTH PLAIN {token}"), "AUTH", &[235])
                .map_err(|e| EngineError::MailFailed(format!("{e}; check mail.smtp.username and password")))?;
        }
        Ok(conn)
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), EngineError> {
        if to.contains(['\r', '\n', '<', '>']) || subject.contains(['\r', '\n']) {
            return Err(EngineError::BadRequest(
                "a mail address or subject holds a line break or angle bracket".into(),
            ));
        }
        let mut conn = self.session()?;
        conn.command(&format!("MAIL FROM:<{}>", address(&self.from)), "MAIL FROM", &[250])?;
        conn.command(&format!("RCPT TO:<{to}>"), "RCPT TO", &[250, 251])?;
        conn.command("DATA", "DATA", &[354])?;
        let message = self.message(to, subject, body);
        conn.command(&format!("{message}."), "the message", &[250])?;
        let _ = conn.command("QUIT", "QUIT", &[221]);
        let _ = match &mut conn {
            Conn::Plain(r) => r.read(&mut [0u8; 1]),
            Conn::Tls(r) => r.read(&mut [0u8; 1]),
        };
        Ok(())
    }
}

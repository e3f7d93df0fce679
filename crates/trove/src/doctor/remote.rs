//! The `embedder` check (and the network steps the `chat` check shares, [`reach`]): every REST embedder the configuration uses (`llm:` when a vault or the
//! default uses it, each entry of `embedders:`), probed the way the troubleshooting guides go,
//! one step at a time so a failure names the step: the proxy in effect, DNS ("Name or service
//! not known"), the TCP connection ("connection refused", "timed out"), the proxy tunnel (407),
//! TLS (unknown issuer, expired, wrong host name, expiring soon), then one tiny embeddings
//! request (401/403, unknown model, 429, a vector size other than configured). Every step has
//! a timeout.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use trove_config::{LlmConfig, Workspace};
use trove_embed::{EmbedError, Embedder, RestEmbedder, RestOptions};

use super::{EXPIRY_WARNING, Outcome, Status, fail, ok, skip, warn};

/// The longest any one network step may take.
const STEP: Duration = Duration::from_secs(5);

/// The `embedder` check over every REST embedder in use.
pub fn embedders(ws: &Workspace) -> Outcome {
    let config = &ws.config;
    let mut profiles: Vec<(String, &LlmConfig)> = Vec::new();
    if config.llm_in_use() {
        profiles.push(("llm".into(), &config.llm));
    }
    profiles.extend(config.embedders.iter().map(|(name, llm)| (format!("embedders.{name}"), llm)));
    if profiles.is_empty() {
        return skip("no REST embedder is configured (the built-in model is checked by `model`)");
    }
    in_parallel(&profiles, |_, llm| probe(&trove_engine::rest_options(llm)))
}

/// `probe` run over every `(label, section)` at once, its outcomes combined: the worst status,
/// each finding and fix labelled when there are several.
pub(super) fn in_parallel(
    profiles: &[(String, &LlmConfig)],
    probe: impl Fn(&str, &LlmConfig) -> Outcome + Sync,
) -> Outcome {
    let outcomes: Vec<(String, Outcome)> = std::thread::scope(|scope| {
        let probe = &probe;
        let running: Vec<_> =
            profiles.iter().map(|(label, llm)| (label.clone(), scope.spawn(move || probe(label, llm)))).collect();
        running
            .into_iter()
            .map(|(label, h)| {
                let outcome = h.join().unwrap_or_else(|_| fail("the probe crashed", "report this as a bug"));
                (label, outcome)
            })
            .collect()
    });
    let status = outcomes.iter().map(|(_, (s, _, _))| *s).max().unwrap_or(Status::Ok);
    let labelled = outcomes.len() > 1;
    let name = |label: &str, text: &str| if labelled { format!("{label}: {text}") } else { text.to_string() };
    let found: Vec<String> = outcomes.iter().map(|(l, (_, f, _))| name(l, f)).collect();
    let fixes: Vec<String> = outcomes.iter().filter_map(|(l, (_, _, x))| x.as_ref().map(|x| name(l, x))).collect();
    (status, found.join("; "), (!fixes.is_empty()).then(|| fixes.join(" / ")))
}

/// An API reached: connected (and its TLS verified); what the report says about the way.
pub(super) struct Reached {
    /// Milliseconds to connect.
    pub connect_ms: f64,
    /// Whether the API speaks HTTPS (and its certificate was verified).
    pub https: bool,
    /// ` via proxy P`, or nothing.
    pub route: String,
    /// Warnings found on the way (a certificate expiring soon).
    pub notes: Vec<Outcome>,
}

impl Reached {
    /// `outcome`, or the worst note when that is worse.
    pub fn with_notes(self, outcome: Outcome) -> Outcome {
        self.notes.into_iter().fold(outcome, |worst, note| if note.0 > worst.0 { note } else { worst })
    }
}

/// Where a URL points.
struct Target {
    https: bool,
    host: String,
    port: u16,
}

fn target(url: &str) -> Option<Target> {
    let (scheme, rest) = url.split_once("://")?;
    let https = match scheme {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']')?;
            (h.to_string(), after.strip_prefix(':').map(str::parse).transpose().ok()?)
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.parse().ok()?)),
            None => (authority.to_string(), None),
        },
    };
    if host.is_empty() {
        return None;
    }
    Some(Target { https, host, port: port.unwrap_or(if https { 443 } else { 80 }) })
}

/// One REST embedder, step by step.
fn probe(opts: &RestOptions) -> Outcome {
    let reached = match reach(&opts.base_url, opts.proxy.as_deref(), opts.ca_file.as_deref(), opts.api_key.as_deref()) {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };

    // One tiny request.
    let mut request = opts.clone();
    request.max_retries = 0;
    request.timeout = opts.timeout.min(Duration::from_secs(10));
    let embedder = match RestEmbedder::new(request) {
        Ok(e) => e,
        Err(e) => return fail(e.to_string(), "fix the setting named"),
    };
    let started = Instant::now();
    let answer = embedder.embed(&["trove doctor"]);
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let outcome = match answer {
        Ok(v) => ok(format!(
            "{} at {}{}: {}-dimensional vectors in {took:.0} ms (connect {:.0} ms{})",
            opts.model,
            opts.base_url,
            reached.route,
            v.first().map_or(0, Vec::len),
            reached.connect_ms,
            if reached.https { ", TLS verified" } else { "" }
        )),
        Err(e) => request_failure(&e, opts),
    };
    reached.with_notes(outcome)
}

/// The network steps to the API at `base_url`, each with its time limit: its key's secret
/// (`api_key`), the `proxy`, DNS, TCP, the proxy's tunnel, TLS (trusting `ca_file` beside the
/// built-in roots). The first that fails is the outcome.
pub(super) fn reach(
    base_url: &str,
    proxy: Option<&str>,
    ca_file: Option<&Path>,
    api_key: Option<&str>,
) -> Result<Reached, Outcome> {
    if let Some(reference) = api_key.and_then(trove_config::secrets::parse_reference) {
        return Err(fail(
            format!("api_key is `{reference}`, which does not open"),
            "see `trove doctor --only secrets` for why, and store the secret",
        ));
    }
    let Some(api) = target(base_url) else {
        return Err(fail(format!("base_url `{base_url}` is not an http(s) URL"), "write it like https://host/v1"));
    };
    let via = match proxy {
        Some(p) => match target(p) {
            Some(t) => Some(t),
            None => {
                return Err(fail(format!("the proxy `{p}` is not an http(s) URL"), "fix HTTPS_PROXY / HTTP_PROXY"));
            }
        },
        None => None,
    };
    let hop = via.as_ref().unwrap_or(&api);
    let what = if via.is_some() { "the proxy" } else { "the API" };
    let route = match proxy {
        Some(p) => format!(" via proxy {p}"),
        None => String::new(),
    };

    // DNS.
    let addrs = match within(STEP, {
        let (host, port) = (hop.host.clone(), hop.port);
        move || (host.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<SocketAddr>>())
    }) {
        None => {
            return Err(fail(
                format!("resolving {} ({what}) took over {} s", hop.host, STEP.as_secs()),
                "the DNS server does not answer: check /etc/resolv.conf and the network",
            ));
        }
        Some(Err(e)) => {
            return Err(fail(
                format!("{} ({what}): Name or service not known ({e})", hop.host),
                if via.is_some() {
                    "fix the host in HTTPS_PROXY / HTTP_PROXY, or its DNS entry".to_string()
                } else {
                    "check the host name in base_url for typos, and DNS; a network that only reaches the internet through a proxy needs HTTPS_PROXY".to_string()
                },
            ));
        }
        Some(Ok(a)) if a.is_empty() => {
            return Err(fail(format!("{} ({what}) has no address", hop.host), "check its DNS entry"));
        }
        Some(Ok(a)) => a,
    };

    // TCP.
    let started = Instant::now();
    let mut stream = match connect(&addrs) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(fail(
                format!("{}:{} ({what}): connection refused", hop.host, hop.port),
                "nothing listens there: start the service (e.g. `ollama serve`, the vLLM/TEI server) or fix the port in base_url",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            return Err(fail(
                format!("{}:{} ({what}): connection timed out after {} s", hop.host, hop.port, STEP.as_secs()),
                "a firewall drops the packets, the address is wrong, or this network reaches the API only through a proxy (HTTPS_PROXY)",
            ));
        }
        Err(e) => {
            return Err(fail(
                format!("{}:{} ({what}): {e}", hop.host, hop.port),
                "check the address and the network route to it",
            ));
        }
    };
    let connect_ms = started.elapsed().as_secs_f64() * 1000.0;
    let _ = stream.set_read_timeout(Some(STEP));
    let _ = stream.set_write_timeout(Some(STEP));

    // The proxy's tunnel (HTTPS through a proxy).
    if via.is_some()
        && api.https
        && let Err(outcome) = tunnel(&mut stream, &api)
    {
        return Err(outcome);
    }

    // TLS.
    let mut notes = Vec::new();
    if api.https {
        match handshake(stream, &api, ca_file) {
            Ok(Some(days)) if days < EXPIRY_WARNING.whole_days() => {
                notes.push(warn(
                    format!("{}'s certificate expires in {days} day(s)", api.host),
                    "the provider must renew it (or your TLS-inspecting proxy its CA) before requests fail with `certificate has expired`",
                ));
            }
            Ok(_) => {}
            Err(outcome) => return Err(outcome),
        }
    }
    Ok(Reached { connect_ms, https: api.https, route, notes })
}

/// Connects to the first address that accepts within the step's time.
fn connect(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, STEP) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// `CONNECT host:port` through the proxy.
fn tunnel(stream: &mut TcpStream, api: &Target) -> Result<(), Outcome> {
    let request = format!("CONNECT {0}:{1} HTTP/1.1\r\nHost: {0}:{1}\r\n\r\n", api.host, api.port);
    let mut line = String::new();
    let read = stream.write_all(request.as_bytes()).and_then(|()| {
        let mut reader = BufReader::new(&mut *stream);
        reader.read_line(&mut line)?;
        // The rest of the proxy's answer, up to the blank line.
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
                break;
            }
        }
        Ok(())
    });
    if let Err(e) = read {
        return Err(fail(
            format!("the proxy did not answer CONNECT {}:{} ({e})", api.host, api.port),
            "check that HTTPS_PROXY names a working HTTP proxy",
        ));
    }
    let status = line.split_whitespace().nth(1).unwrap_or("");
    match status {
        "200" => Ok(()),
        "407" => Err(fail(
            format!("the proxy requires authentication (407) for {}:{}", api.host, api.port),
            "put the proxy credentials in the URL: HTTPS_PROXY=http://user:password@proxy:port",
        )),
        _ => Err(fail(
            format!("the proxy refused CONNECT {}:{}: {}", api.host, api.port, line.trim_end()),
            "the proxy does not allow this destination: ask its operator, or list the host in NO_PROXY if it is reachable directly",
        )),
    }
}

/// Verifies the API's certificate as requests will (the built-in roots plus the CA bundle of
/// `tls.ca_file`); returns the days until it expires.
fn handshake(stream: TcpStream, api: &Target, ca_file: Option<&Path>) -> Result<Option<i64>, Outcome> {
    let config = trove_http::tls::client_config(ca_file, "tls.ca_file").map_err(|e| {
        fail(e, "point it at the PEM bundle of the CA that signed the server's certificate".to_string())
    })?;
    let name = ServerName::try_from(api.host.clone())
        .map_err(|_| fail(format!("`{}` is not a valid TLS server name", api.host), "fix the host in base_url"))?;
    let conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| fail(format!("TLS setup failed: {e}"), "report this as a bug"))?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut sock_err = None;
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            sock_err = Some(e);
            break;
        }
    }
    if let Some(e) = sock_err {
        return Err(tls_failure(&e, api, ca_file));
    }
    let days = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| trove_server::tls::validity(c))
        .map(|(_, not_after)| (not_after - time::OffsetDateTime::now_utc()).whole_days());
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok(days)
}

fn tls_failure(e: &std::io::Error, api: &Target, ca_file: Option<&Path>) -> Outcome {
    use rustls::CertificateError as C;
    let cert = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).and_then(|r| match r {
        rustls::Error::InvalidCertificate(c) => Some(c),
        _ => None,
    });
    let host = &api.host;
    match cert {
        Some(C::Expired | C::ExpiredContext { .. }) => fail(
            format!("{host}: certificate has expired"),
            "the server's certificate must be renewed (by its operator); until then requests fail",
        ),
        Some(C::NotValidYet | C::NotValidYetContext { .. }) => fail(
            format!("{host}: the certificate is not valid yet"),
            "check this machine's clock (timedatectl), or the server's certificate dates",
        ),
        Some(C::NotValidForName | C::NotValidForNameContext { .. }) => fail(
            format!("{host}: hostname doesn't match the certificate"),
            "use the host name the certificate was issued for in base_url (not an IP address or alias)",
        ),
        Some(C::UnknownIssuer | C::BadSignature | C::UnknownRevocationStatus | C::InvalidPurpose) => fail(
            format!("{host}: SSL certificate verify failed ({e})"),
            if ca_file.is_some() {
                "tls.ca_file does not hold the CA that signed this certificate: use that CA's PEM bundle"
            } else {
                "the server (or a TLS-inspecting proxy) uses a private CA: set tls.ca_file to its PEM bundle"
            },
        ),
        _ if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => fail(
            format!("{host}:{}: the TLS handshake got no answer within {} s", api.port, STEP.as_secs()),
            "the port accepts connections but does not speak TLS: is base_url's scheme (https) or port wrong?",
        ),
        _ => fail(
            format!("{host}:{}: TLS failed ({e})", api.port),
            "check that the port speaks HTTPS (http:// in base_url for a plain server)",
        ),
    }
}

/// Runs `f` on its own thread; `None` when it takes longer than `limit` (the thread is left to
/// finish on its own: DNS lookups cannot be cancelled).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("doctor-dns".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    rx.recv_timeout(limit).ok()
}

/// What the embeddings request's failure means.
fn request_failure(e: &EmbedError, opts: &RestOptions) -> Outcome {
    match e {
        EmbedError::ProviderUnauthorized { status, .. } => fail(
            format!("{} {}", status, if *status == 401 { "Unauthorized" } else { "Forbidden" }),
            if *status == 401 {
                "the API key is missing, wrong or expired: set api_key (e.g. ${OPENAI_API_KEY}) to a valid key"
            } else {
                "the key is valid but may not use this model or deployment: grant it access, or use another key"
            },
        ),
        EmbedError::ProviderRejected { status: 404, .. } => fail(
            format!("404 Not Found for model `{}` at {}", opts.model, opts.base_url),
            "the model (Azure: the deployment) does not exist there, or base_url lacks its path (e.g. /v1): fix models.embeddings or base_url",
        ),
        EmbedError::ProviderUnavailable { last, .. } if last.starts_with("HTTP 429") => warn(
            format!("429 Too Many Requests: {last}"),
            "the provider limits this key: lower rate_limits.rpm / tpm / concurrency, or raise the quota",
        ),
        EmbedError::ProviderUnavailable { last, .. } if last.starts_with("no answer within") => fail(
            format!("{}: connected, but {last}", opts.base_url),
            "the service accepts connections but does not answer: it is overloaded or hung, or the port belongs to something else",
        ),
        EmbedError::Dimension { got, want, .. } => fail(
            format!("the model answers {got}-dimensional vectors, embeddings.vector_size is {want}"),
            format!("set embeddings.vector_size to {got}, or pick the model you meant"),
        ),
        other => fail(other.to_string(), "see the message for the setting to fix"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_scheme_host_and_port() {
        let t = target("https://api.openai.com/v1").unwrap();
        assert!(t.https && t.host == "api.openai.com" && t.port == 443);
        let t = target("http://user:pw@proxy.corp:3128").unwrap();
        assert!(!t.https && t.host == "proxy.corp" && t.port == 3128);
        let t = target("http://[::1]:11434/api").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 11434));
        assert!(target("ftp://x").is_none() && target("https://").is_none() && target("http://h:port").is_none());
    }
}

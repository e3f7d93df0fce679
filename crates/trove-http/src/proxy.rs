//! Which proxy a request should go through, from the conventional environment variables
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, in either case), so every remote
//! client of Trove (REST embedders, Confluence, JIRA) reads them the same way.

/// The proxy a request to `url` should use according to the environment (`var` looks a
/// variable up): `HTTPS_PROXY` for https and `HTTP_PROXY` for http URLs (either case), else
/// `ALL_PROXY`; none when the host matches `NO_PROXY` (`*`, a host name, or a domain suffix
/// with or without a leading dot; a `:port` on an entry is ignored).
pub fn proxy_from_env(url: &str, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let get = |names: &[&str]| names.iter().find_map(|n| var(n).filter(|v| !v.trim().is_empty()));
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?.rsplit('@').next()?;
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| h.trim_start_matches('[')).unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    }
    .to_ascii_lowercase();
    if let Some(no_proxy) = get(&["NO_PROXY", "no_proxy"]) {
        for entry in no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                return None;
            }
            let entry = entry.split(':').next().unwrap_or(entry).trim_start_matches('.').to_ascii_lowercase();
            if host == entry || host.ends_with(&format!(".{entry}")) {
                return None;
            }
        }
    }
    let names: &[&str] = if scheme.eq_ignore_ascii_case("https") {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    get(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn proxy_follows_scheme_and_no_proxy() {
        let vars = [
            ("HTTPS_PROXY", "http://secure:3128"),
            ("http_proxy", "http://plain:3128"),
            ("NO_PROXY", "localhost,.internal.example, corp.example:8443"),
        ];
        assert_eq!(proxy_from_env("https://api.openai.com/v1", env(&vars)).as_deref(), Some("http://secure:3128"));
        assert_eq!(proxy_from_env("http://ollama.lan:11434", env(&vars)).as_deref(), Some("http://plain:3128"));
        assert_eq!(proxy_from_env("http://localhost:11434", env(&vars)), None);
        assert_eq!(proxy_from_env("https://a.internal.example/v1", env(&vars)), None);
        assert_eq!(proxy_from_env("https://internal.example/v1", env(&vars)), None);
        assert_eq!(proxy_from_env("https://corp.example/v1", env(&vars)), None);
        assert_eq!(proxy_from_env("https://notcorp.example/v1", env(&vars)).as_deref(), Some("http://secure:3128"));
        assert_eq!(proxy_from_env("https://user:pw@localhost/v1", env(&vars)), None);
        assert_eq!(
            proxy_from_env("https://x.example", env(&[("ALL_PROXY", "http://all:1")])).as_deref(),
            Some("http://all:1")
        );
        assert_eq!(proxy_from_env("https://x.example", env(&[("ALL_PROXY", "http://all:1"), ("no_proxy", "*")])), None);
        assert_eq!(proxy_from_env("https://x.example", env(&[])), None);
    }
}

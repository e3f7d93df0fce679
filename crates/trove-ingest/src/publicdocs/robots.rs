//! `robots.txt` as the public-docs crawler reads it (RFC 9309): the group of the crawler's
//! product token (the user agent up to its `/`) when there is one, else the `*` group; within
//! it, the longest matching `Allow` or `Disallow` rule decides (`Allow` on a tie), `*` matches
//! any run of characters and a final `$` anchors the end. `Crawl-delay` (not in the RFC, but
//! common) is kept so the crawler can slow down to it.

/// The rules that apply to this crawler.
#[derive(Debug, Clone, Default)]
pub struct Robots {
    /// (allow, pattern).
    rules: Vec<(bool, String)>,
    /// Seconds between requests the site asks for.
    pub crawl_delay: Option<f64>,
}

impl Robots {
    /// Everything allowed (no robots.txt).
    pub fn allow_all() -> Robots {
        Robots::default()
    }

    /// Parses `text` for the crawler whose `User-Agent` is `agent`.
    pub fn parse(text: &str, agent: &str) -> Robots {
        let token = agent.split('/').next().unwrap_or(agent).trim().to_ascii_lowercase();
        let mut groups: Vec<Group> = Vec::new();
        let mut in_agents = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else { continue };
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            match key.as_str() {
                "user-agent" => {
                    if !in_agents || groups.is_empty() {
                        groups.push((Vec::new(), Vec::new(), None));
                    }
                    in_agents = true;
                    if let Some(g) = groups.last_mut() {
                        g.0.push(value.to_ascii_lowercase());
                    }
                }
                "allow" | "disallow" => {
                    in_agents = false;
                    if let Some(g) = groups.last_mut()
                        && !value.is_empty()
                    {
                        g.1.push((key == "allow", value.to_string()));
                    }
                }
                "crawl-delay" => {
                    in_agents = false;
                    if let Some(g) = groups.last_mut() {
                        g.2 = value.parse::<f64>().ok().filter(|d| d.is_finite() && *d >= 0.0);
                    }
                }
                _ => {}
            }
        }
        let mine: Vec<_> = groups
            .iter()
            .filter(|g| !token.is_empty() && g.0.iter().any(|a| a != "*" && token.contains(a.as_str())))
            .collect();
        let chosen =
            if mine.is_empty() { groups.iter().filter(|g| g.0.iter().any(|a| a == "*")).collect() } else { mine };
        let mut robots = Robots::default();
        for g in chosen {
            robots.rules.extend(g.1.iter().cloned());
            robots.crawl_delay = robots.crawl_delay.or(g.2);
        }
        robots
    }

    /// Whether `path` (with `/`, percent-encoded) may be fetched.
    pub fn allowed(&self, path: &str) -> bool {
        let mut best: Option<(usize, bool)> = None;
        for (allow, pattern) in &self.rules {
            if matches(pattern, path) {
                let len = pattern.len();
                best = match best {
                    Some((l, a)) if l > len || (l == len && a) => Some((l, a)),
                    _ => Some((len, *allow)),
                };
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

/// One group of robots.txt: (user agents, (allow, pattern) rules, crawl delay).
type Group = (Vec<String>, Vec<(bool, String)>, Option<f64>);

/// Whether a robots.txt pattern matches the start of `path` (`*` any run, `$` the end).
fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut at = 0usize;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !path.starts_with(part) {
                return false;
            }
            at = part.len();
            continue;
        }
        let last = i == parts.len() - 1;
        if last && anchored {
            return path.len() >= at + part.len() && path.ends_with(part);
        }
        match path[at..].find(part) {
            Some(found) => at += found + part.len(),
            None => return false,
        }
    }
    !anchored || at == path.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_match_wins_and_the_own_group_beats_the_star() {
        let txt = "User-agent: *\nDisallow: /private/\nAllow: /private/open\nCrawl-delay: 2\n\n\
                   User-agent: badbot\nUser-agent: other\nDisallow: /\n";
        let r = Robots::parse(txt, "trove/0.1");
        assert!(r.allowed("/docs/a"));
        assert!(!r.allowed("/private/x"));
        assert!(r.allowed("/private/open/x"));
        assert_eq!(r.crawl_delay, Some(2.0));
        let bad = Robots::parse(txt, "BadBot/2");
        assert!(!bad.allowed("/docs/a"));
        let star = Robots::parse("User-agent: *\nDisallow: /*.pdf$\nDisallow: /tmp*x\n", "trove");
        assert!(!star.allowed("/a/b.pdf"));
        assert!(star.allowed("/a/b.pdf.html"));
        assert!(!star.allowed("/tmp/abcx/y"));
        assert!(Robots::parse("User-agent: *\nDisallow:\n", "trove").allowed("/x"));
        assert!(Robots::allow_all().allowed("/x"));
    }
}

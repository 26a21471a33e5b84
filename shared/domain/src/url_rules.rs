//! Which URLs may be subscribed (SPEC §3). Never resolves DNS: the resolving guard runs at
//! every delivery, on the addresses the name has then.
//!
//! A URL is stored as given or refused, never repaired: anything the URL parser would have
//! to fix — spaces or control characters, a backslash, a missing or extra slash after the
//! scheme, an `@` (even with nothing before it), port 0, an IPv4 address in another
//! spelling than dotted decimal, `.` or `..` path segments — is a 400 `invalid_url` saying
//! why. What remains is normalization that names the same resource: scheme and host in
//! lower case, an empty path as `/`, a default port (443, or 80 for http) left out, an
//! international domain name in its ASCII (punycode) form, non-ASCII characters in the path
//! and query percent-encoded, an IPv6 address in its canonical form.

use url::{Host, Url};

use crate::address::DestinationPolicy;

pub const MAX_URL_LEN: usize = 2048;

/// Host names that are internal by definition.
fn is_internal_name(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host == "localhost"
        || host.ends_with(".localhost")
        || host.ends_with(".local")
        || host.ends_with(".internal")
        || host == "local"
        || host == "internal"
}

/// What the parser would silently repair in `raw`; refused instead.
fn refuse_repairs(raw: &str) -> Result<(), String> {
    if let Some(c) = raw.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("url must not contain spaces or control characters (found {c:?})"));
    }
    if raw.contains('\\') {
        return Err("url must not contain a backslash".to_owned());
    }
    let Some((_scheme, rest)) = raw.split_once(':') else {
        return Err("url is not an absolute URL: it has no scheme".to_owned());
    };
    let Some(after) = rest.strip_prefix("//").filter(|a| !a.starts_with('/')) else {
        return Err("url must be scheme://host/...: exactly two slashes after the scheme".to_owned());
    };
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(authority_end);
    if authority.contains('@') {
        return Err("url must not contain credentials or an @ (user:pass@); use `authentication`".to_owned());
    }
    let path = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let dot_segment = path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    });
    if dot_segment {
        return Err("url path must not contain `.` or `..` segments".to_owned());
    }
    Ok(())
}

/// The host as written in `raw` (without brackets' contents changed, without the port).
fn written_host(raw: &str) -> &str {
    let after = raw.split_once("://").map_or("", |(_, a)| a);
    let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |end| &authority[..=end]);
    }
    authority.rsplit_once(':').map_or(authority, |(host, _)| host)
}

/// Returns the normalized URL, or why it is refused (the `invalid_url` message).
pub fn validate_webhook_url(raw: &str, policy: &DestinationPolicy) -> Result<String, String> {
    if raw.len() >= MAX_URL_LEN {
        return Err(format!("url must be shorter than {MAX_URL_LEN} characters"));
    }
    refuse_repairs(raw)?;
    let url = Url::parse(raw).map_err(|e| format!("url is not an absolute URL: {e}"))?;
    if url.port() == Some(0) {
        return Err("url port must be from 1 to 65535".to_owned());
    }
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => return Err("url must use https".to_owned()),
        other => return Err(format!("url scheme `{other}` is not allowed; use https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not contain credentials (user:pass@); use `authentication`".to_owned());
    }
    match url.host() {
        None => return Err("url has no host".to_owned()),
        Some(Host::Domain(name)) => {
            if is_internal_name(&name.to_ascii_lowercase()) {
                return Err(format!("url host `{name}` is internal"));
            }
        }
        Some(Host::Ipv4(ip)) => {
            let written = written_host(raw);
            if written != ip.to_string() {
                return Err(format!("url host `{written}` is an IPv4 address spelled unusually; write it as {ip}"));
            }
            if !policy.permits(ip.into()) {
                return Err(format!("url host {ip} is not a public address"));
            }
        }
        Some(Host::Ipv6(ip)) => {
            if !policy.permits(ip.into()) {
                return Err(format!("url host [{ip}] is not a public address"));
            }
        }
    }
    let normalized = url.to_string();
    if normalized.len() >= MAX_URL_LEN {
        return Err(format!("url must be shorter than {MAX_URL_LEN} characters"));
    }
    Ok(normalized)
}

/// The host a URL names, for a subscription's default name.
pub fn url_host(url: &str) -> Option<String> {
    Url::parse(url).ok()?.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Cidr;

    fn strict(u: &str) -> Result<String, String> {
        validate_webhook_url(u, &DestinationPolicy::default())
    }

    #[test]
    fn accepts_public_https() {
        assert_eq!(strict("https://example.com/hooks").unwrap(), "https://example.com/hooks");
        assert_eq!(strict("HTTPS://Example.COM:8443/a?b=c").unwrap(), "https://example.com:8443/a?b=c");
        assert!(strict("https://8.8.8.8/x").is_ok());
        assert!(strict("https://[2606:4700:4700::1111]/x").is_ok());
    }

    #[test]
    fn refuses_non_https_and_garbage() {
        for u in [
            "http://example.com",
            "ftp://example.com",
            "example.com/hook",
            "/relative",
            "",
            "https://",
            "javascript:alert(1)",
            "https:// bad host/",
        ] {
            assert!(strict(u).is_err(), "{u}");
        }
    }

    #[test]
    fn refuses_credentials() {
        assert!(strict("https://user:pass@example.com/").is_err());
        assert!(strict("https://user@example.com/").is_err());
    }

    #[test]
    fn refuses_internal_names() {
        for u in [
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
            "https://printer.local/",
            "https://metadata.google.internal/",
            "https://svc.internal./",
        ] {
            assert!(strict(u).is_err(), "{u}");
        }
        assert!(strict("https://localhost.example.com/").is_ok());
    }

    #[test]
    fn refuses_private_ip_literals_in_any_spelling() {
        for u in [
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://192.168.1.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://0x7f.0.0.1/",
            "https://2130706433/",
            "https://0/",
            "https://[fe80::1]/",
        ] {
            assert!(strict(u).is_err(), "{u}");
        }
    }

    #[test]
    fn refuses_what_the_parser_would_repair() {
        for (u, why) in [
            (" https://example.com/x", "spaces"),
            ("https://example.com/x ", "spaces"),
            ("https://example.com/x\nHost: evil.example", "control"),
            ("https://example.com/x\r\n", "control"),
            ("https://exa\tmple.com/", "control"),
            ("https:///x", "two slashes"),
            ("https:example.com/x", "two slashes"),
            ("https://@example.com/", "@"),
            ("https://:@example.com/", "@"),
            ("https://example.com\\foo", "backslash"),
            ("https://example.com:0/", "port"),
            ("https://0x08080808/", "spelled unusually"),
            ("https://134744072/", "spelled unusually"),
            ("https://010.8.8.8/", "spelled unusually"),
            ("https://8.8.2056/", "spelled unusually"),
            ("https://8.8.8.8./", "spelled unusually"),
            ("https://example.com/a/../b", "segments"),
            ("https://example.com/a/%2E%2e/b", "segments"),
            ("https://example.com/./b", "segments"),
        ] {
            let err = strict(u).expect_err(u);
            assert!(err.contains(why), "{u}: {err}");
        }
    }

    #[test]
    fn the_normalizations_that_remain() {
        assert_eq!(strict("HTTPS://Example.COM").unwrap(), "https://example.com/");
        assert_eq!(strict("https://example.com:443/a").unwrap(), "https://example.com/a");
        assert_eq!(strict("https://bücher.de/").unwrap(), "https://xn--bcher-kva.de/");
        assert_eq!(strict("https://example.com/ü?q=é").unwrap(), "https://example.com/%C3%BC?q=%C3%A9");
        assert_eq!(strict("https://[2606:4700:4700:0:0:0:0:1111]/").unwrap(), "https://[2606:4700:4700::1111]/");
        assert_eq!(strict("https://example.com:8443/a..b/.c").unwrap(), "https://example.com:8443/a..b/.c");
        assert_eq!(strict("https://8.8.8.8:8443/x").unwrap(), "https://8.8.8.8:8443/x");
    }

    #[test]
    fn length_limit() {
        let long = format!("https://example.com/{}", "a".repeat(2100));
        assert!(strict(&long).is_err());
        let ok = format!("https://example.com/{}", "a".repeat(2000));
        assert!(strict(&ok).is_ok());
    }

    #[test]
    fn operator_policy_opens_http_and_ranges() {
        let policy = DestinationPolicy { allow_http: true, allow_cidrs: Cidr::parse_list("127.0.0.0/8").unwrap() };
        assert!(validate_webhook_url("http://127.0.0.1:8080/hook", &policy).is_ok());
        assert!(validate_webhook_url("http://10.0.0.1/hook", &policy).is_err());
        assert!(validate_webhook_url("http://localhost:8080/hook", &policy).is_err());
    }

    #[test]
    fn host_for_default_names() {
        assert_eq!(url_host("https://hooks.example.com:8443/x").as_deref(), Some("hooks.example.com"));
        assert_eq!(url_host("https://[2606:4700::1]/x").as_deref(), Some("2606:4700::1"));
    }
}

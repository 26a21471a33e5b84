//! The customer portal's rules: the operator's branding and embedding settings (checked
//! once, at start-up), the Content-Security-Policy they produce, and the magic link a
//! portal session is handed out as.

use url::Url;

pub const DEFAULT_PRODUCT_NAME: &str = "hookpost";
pub const DEFAULT_ACCENT_COLOR: &str = "#2563eb";

/// What the operator configures: how the portal looks, who may frame it, where it lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalSettings {
    /// `HOOKPOST_PORTAL_PRODUCT_NAME`: the team's product, named on every page ("ask Acme
    /// for a new link").
    pub product_name: String,
    /// `HOOKPOST_PORTAL_LOGO_URL`: an https image (or http on a loopback host, for local
    /// development); its origin is the only one besides hookpost's own the page loads from.
    pub logo_url: Option<Url>,
    /// `HOOKPOST_PORTAL_ACCENT_COLOR`: `#rgb` or `#rrggbb`.
    pub accent_color: String,
    /// `HOOKPOST_PORTAL_FRAME_ANCESTORS`: the CSP `frame-ancestors` sources that may embed
    /// the portal (`'none'` unless set: no one).
    pub frame_ancestors: Vec<String>,
    /// `HOOKPOST_PUBLIC_BASE_URL`: the base the magic links start with, when the API is
    /// reached through a custom domain; by default the one the operator's request came to.
    pub public_base_url: Option<Url>,
}

impl Default for PortalSettings {
    fn default() -> Self {
        Self {
            product_name: DEFAULT_PRODUCT_NAME.to_owned(),
            logo_url: None,
            accent_color: DEFAULT_ACCENT_COLOR.to_owned(),
            frame_ancestors: vec!["'none'".to_owned()],
            public_base_url: None,
        }
    }
}

pub fn parse_product_name(value: &str) -> Result<String, String> {
    let name = value.trim();
    if name.is_empty() || name.chars().count() > 80 {
        Err("must be 1 to 80 characters".to_owned())
    } else if name.chars().any(char::is_control) {
        Err("must not contain control characters".to_owned())
    } else {
        Ok(name.to_owned())
    }
}

pub fn parse_accent_color(value: &str) -> Result<String, String> {
    let v = value.trim();
    let hex = v.strip_prefix('#').unwrap_or("");
    if matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(format!("must be a colour as #rgb or #rrggbb, got `{value}`"))
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// An absolute https URL (http only on a loopback host) with nothing a CSP source or an
/// attribute could be broken out of with.
fn parse_web_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim()).map_err(|e| format!("must be an absolute URL ({e})"))?;
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && is_loopback_host(&url));
    if !scheme_ok {
        return Err("must be https (http only on a loopback host)".to_owned());
    }
    if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err("must name a host and no credentials".to_owned());
    }
    if url.as_str().contains(['\'', '"', ';', ',', ' ']) {
        return Err("must not contain quotes, semicolons, commas or spaces".to_owned());
    }
    Ok(url)
}

pub fn parse_logo_url(value: &str) -> Result<Url, String> {
    parse_web_url(value)
}

/// A base URL for magic links: scheme, host, optional port and path; no query or fragment.
pub fn parse_public_base_url(value: &str) -> Result<Url, String> {
    let url = parse_web_url(value)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or a fragment".to_owned());
    }
    Ok(url)
}

/// `'none'`, `'self'`, or space-separated origins (`https://app.example.com`,
/// `https://*.example.com`, `http://localhost:5173`): each checked, so the setting cannot
/// add a directive of its own to the policy.
pub fn parse_frame_ancestors(value: &str) -> Result<Vec<String>, String> {
    let sources: Vec<&str> = value.split_whitespace().collect();
    if sources.is_empty() {
        return Err("must name 'none', 'self' or at least one origin".to_owned());
    }
    if sources.len() > 1 && sources.contains(&"'none'") {
        return Err("'none' stands alone".to_owned());
    }
    sources
        .iter()
        .map(|source| {
            if matches!(*source, "'none'" | "'self'") {
                return Ok((*source).to_owned());
            }
            let (scheme, rest) = source
                .split_once("://")
                .filter(|(scheme, _)| matches!(*scheme, "https" | "http"))
                .ok_or_else(|| format!("`{source}` is not 'none', 'self' or an http(s) origin"))?;
            let host_port = rest.strip_suffix('/').unwrap_or(rest);
            let host = match host_port.rsplit_once(':') {
                Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
                _ => host_port,
            };
            let host = host.strip_prefix("*.").unwrap_or(host);
            let host_ok = !host.is_empty()
                && host
                    .split('.')
                    .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            if !host_ok {
                return Err(format!("`{source}` is not an origin (scheme://host[:port])"));
            }
            Ok(format!("{scheme}://{}", host_port.to_ascii_lowercase()))
        })
        .collect()
}

impl PortalSettings {
    /// The page's policy: its own scripts, styles and API only; images from itself and the
    /// logo's origin; framed only by the configured ancestors.
    pub fn content_security_policy(&self) -> String {
        let mut img = "'self'".to_owned();
        if let Some(logo) = &self.logo_url {
            img.push(' ');
            img.push_str(&logo.origin().ascii_serialization());
        }
        format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src {img}; connect-src 'self'; \
             base-uri 'none'; form-action 'none'; frame-ancestors {}",
            self.frame_ancestors.join(" ")
        )
    }

    /// The magic link for `token`: the portal under `base`, the token in the fragment, which
    /// browsers send to no server and put in no Referer.
    pub fn session_url(&self, request_base: &str, token: &str) -> String {
        let base = self.public_base_url.as_ref().map_or(request_base, Url::as_str);
        format!("{}/portal#session={token}", base.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accent_colours_are_hex() {
        assert_eq!(parse_accent_color("#0A7").unwrap(), "#0a7");
        assert_eq!(parse_accent_color(" #112233 ").unwrap(), "#112233");
        for bad in ["red", "#12345", "112233", "#11223g", "#112233;x:y", ""] {
            assert!(parse_accent_color(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn product_names_are_short_and_printable() {
        assert_eq!(parse_product_name(" Acme ").unwrap(), "Acme");
        assert!(parse_product_name("").is_err());
        assert!(parse_product_name(&"x".repeat(81)).is_err());
        assert!(parse_product_name("a\nb").is_err());
    }

    #[test]
    fn logos_and_bases_are_https_or_loopback_http() {
        assert!(parse_logo_url("https://cdn.acme.example/logo.svg").is_ok());
        assert!(parse_logo_url("http://127.0.0.1:8080/logo.png").is_ok());
        assert!(parse_logo_url("http://cdn.acme.example/logo.svg").is_err());
        assert!(parse_logo_url("javascript:alert(1)").is_err());
        assert!(parse_logo_url("https://user:pw@cdn.acme.example/l.png").is_err());
        assert!(parse_logo_url("https://cdn.acme.example/l.png?a=';script-src *").is_err());
        assert!(parse_public_base_url("https://hooks.acme.example/v1").is_ok());
        assert!(parse_public_base_url("https://hooks.acme.example/#x").is_err());
    }

    #[test]
    fn frame_ancestors_cannot_inject_a_directive() {
        assert_eq!(parse_frame_ancestors("'none'").unwrap(), ["'none'"]);
        assert_eq!(
            parse_frame_ancestors("'self' https://app.acme.example https://*.acme.example:8443").unwrap(),
            ["'self'", "https://app.acme.example", "https://*.acme.example:8443"]
        );
        for bad in [
            "",
            "*",
            "'none' 'self'",
            "https://a.example; script-src *",
            "data:",
            "https://a.example/path",
            "javascript://x",
            "'unsafe-inline'",
        ] {
            assert!(parse_frame_ancestors(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_policy_allows_only_what_it_must() {
        let mut settings = PortalSettings::default();
        let csp = settings.content_security_policy();
        assert!(csp.contains("script-src 'self';") && csp.ends_with("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        settings.logo_url = Some(parse_logo_url("https://cdn.acme.example/brand/logo.svg").unwrap());
        settings.frame_ancestors = parse_frame_ancestors("https://app.acme.example").unwrap();
        let csp = settings.content_security_policy();
        assert!(csp.contains("img-src 'self' https://cdn.acme.example;"), "{csp}");
        assert!(csp.ends_with("frame-ancestors https://app.acme.example"), "{csp}");
    }

    #[test]
    fn the_magic_link_carries_the_token_in_its_fragment() {
        let mut settings = PortalSettings::default();
        assert_eq!(
            settings.session_url("https://abc.execute-api.eu-west-1.amazonaws.com/Prod", "hp_ps_x"),
            "https://abc.execute-api.eu-west-1.amazonaws.com/Prod/portal#session=hp_ps_x"
        );
        settings.public_base_url = Some(parse_public_base_url("https://hooks.acme.example/").unwrap());
        assert_eq!(
            settings.session_url("http://ignored", "hp_ps_x"),
            "https://hooks.acme.example/portal#session=hp_ps_x"
        );
    }
}

//! Credentials: personal access tokens (`hp_pat_` + 64 lowercase hex), portal links
//! (`hp_pl_` + 64 lowercase hex: the magic link's single-use secret, good for nothing but
//! being exchanged once) and portal sessions (`hp_ps_` + 64 lowercase hex, what the link
//! becomes in the customer's browser tab). All are shown once and stored as SHA-256; the
//! prefix says which kind a credential is, to a reader and to a secret scanner alike.

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::account::{Plan, Scope};
use crate::ids::{AccountId, TokenId};
use crate::input::Fields;
use crate::time::Timestamp;

pub const PAT_PREFIX: &str = "hp_pat_";
pub const PORTAL_SESSION_PREFIX: &str = "hp_ps_";
pub const PORTAL_LINK_PREFIX: &str = "hp_pl_";
pub const MAX_EXPIRES_IN_DAYS: u32 = 3650;
/// A portal session lasts at most a day, an hour unless asked otherwise.
pub const MAX_PORTAL_SESSION_MINUTES: u32 = 24 * 60;
pub const DEFAULT_PORTAL_SESSION_MINUTES: u32 = 60;

/// What kind of credential a token is. PATs and portal sessions pass the same gate (plan,
/// scopes, rate limit) and differ in who holds them and for how long; a portal link passes
/// no gate at all — it is only ever exchanged, once, for a portal session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A personal access token: issued to a customer's integration, revoked by the operator.
    Pat,
    /// A portal session: the customer portal's credential, minutes to a day long.
    PortalSession,
    /// A portal link: the magic link's secret, which lives in email, chat and browser
    /// history, so it opens the portal once and is then gone.
    PortalLink,
}

const KINDS: [TokenKind; 3] = [TokenKind::Pat, TokenKind::PortalSession, TokenKind::PortalLink];

impl TokenKind {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Pat => PAT_PREFIX,
            Self::PortalSession => PORTAL_SESSION_PREFIX,
            Self::PortalLink => PORTAL_LINK_PREFIX,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pat => "pat",
            Self::PortalSession => "portal_session",
            Self::PortalLink => "portal_link",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        KINDS.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether it may be sent as `Authorization: Bearer`: a link may not.
    pub fn is_bearer(self) -> bool {
        !matches!(self, Self::PortalLink)
    }

    /// The kind a plaintext credential is, if it is well formed.
    pub fn of(token: &str) -> Option<Self> {
        KINDS.into_iter().find(|k| {
            token
                .strip_prefix(k.prefix())
                .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        })
    }
}

/// A fresh credential of `kind` in plaintext: returned once, never stored.
pub fn generate(kind: TokenKind) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{}{}", kind.prefix(), hex::encode(bytes))
}

/// A fresh personal access token in plaintext.
pub fn generate_pat() -> String {
    generate(TokenKind::Pat)
}

pub fn is_well_formed_pat(token: &str) -> bool {
    TokenKind::of(token) == Some(TokenKind::Pat)
}

/// The key a token is stored under: lowercase hex SHA-256 of the whole token.
pub fn hash_pat(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The credential from an `Authorization: Bearer <token>` header value, with its kind, if
/// the value is exactly that and of a kind that is sent so (a portal link is not).
pub fn bearer_token(header: &str) -> Option<(&str, TokenKind)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    TokenKind::of(token).filter(|kind| kind.is_bearer()).map(|kind| (token, kind))
}

/// The PAT from an `Authorization: Bearer <pat>` header value, if the value is exactly that.
pub fn bearer_pat(header: &str) -> Option<&str> {
    bearer_token(header).filter(|(_, kind)| *kind == TokenKind::Pat).map(|(token, _)| token)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub id: TokenId,
    pub kind: TokenKind,
    pub account_id: AccountId,
    pub token_hash: String,
    pub scopes: Vec<Scope>,
    pub user_id: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
    pub created_at: Timestamp,
}

/// How long an expiring token's items stay after it expired: a day, then the table's TTL
/// deletes them (a token without an expiry stays until it is revoked and its account erased).
pub const KEPT_PAST_EXPIRY_DAYS: i64 = 1;

impl Token {
    pub fn is_usable(&self, now: Timestamp) -> bool {
        !self.revoked && self.expires_at.is_none_or(|exp| now < exp)
    }

    /// When the store may delete it: [`KEPT_PAST_EXPIRY_DAYS`] after it expires; never, for
    /// a token that does not expire.
    pub fn removable_at(&self) -> Option<Timestamp> {
        self.expires_at.map(|exp| exp.plus_days(KEPT_PAST_EXPIRY_DAYS))
    }

    /// The portal session a portal link becomes when it is opened: the link's id (so the
    /// operator's revocation by id reaches the session), account, scopes, user and expiry,
    /// under the new session's hash. `None` when this is not a link that can still be
    /// opened — used, revoked, expired, or not a link at all — which the caller answers
    /// as any unknown credential, never saying which.
    pub fn redeem_link(&self, session_hash: String, now: Timestamp) -> Option<Token> {
        (self.kind == TokenKind::PortalLink && self.is_usable(now)).then(|| Token {
            id: self.id,
            kind: TokenKind::PortalSession,
            account_id: self.account_id,
            token_hash: session_hash,
            scopes: self.scopes.clone(),
            user_id: self.user_id.clone(),
            expires_at: self.expires_at,
            revoked: false,
            created_at: now,
        })
    }
}

/// Who is calling, as the authorizer established it. Carried to every handler in the
/// authorizer context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub account_id: AccountId,
    pub plan: Plan,
    pub scopes: Vec<Scope>,
    pub user_id: Option<String>,
    pub token_id: TokenId,
}

impl Caller {
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// The `scopes` field of a token or session request: a non-empty list of known scope
/// names (a repeat counts once). `None` when it is absent; a problem is noted in `fields`.
pub fn read_scopes(fields: &mut Fields) -> Option<Vec<Scope>> {
    let names = fields.opt_string_array("scopes")?;
    if names.is_empty() {
        fields.issue("scopes", format!("must name at least one of {}", Scope::choices()));
    }
    let mut scopes = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match Scope::parse(name) {
            Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Some(_) => {}
            None => fields.issue(&format!("scopes[{i}]"), format!("must be one of {}", Scope::choices())),
        }
    }
    Some(scopes)
}

/// A user id given at token issue: 1–200 visible characters.
pub fn validate_user_id(user_id: &str) -> Result<(), &'static str> {
    if user_id.is_empty() || user_id.chars().count() > 200 {
        Err("must be 1 to 200 characters")
    } else if user_id.chars().any(|c| c.is_control()) {
        Err("must not contain control characters")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = generate_pat();
        let b = generate_pat();
        assert!(is_well_formed_pat(&a), "{a}");
        assert_eq!(a.len(), 7 + 64);
        assert_ne!(a, b);
    }

    #[test]
    fn token_format_is_strict() {
        let good = format!("hp_pat_{}", "a".repeat(64));
        assert!(is_well_formed_pat(&good));
        assert!(!is_well_formed_pat(&format!("hp_pat_{}", "A".repeat(64))));
        assert!(!is_well_formed_pat(&format!("hp_pat_{}", "a".repeat(63))));
        assert!(!is_well_formed_pat(&format!("vg_pat_{}", "a".repeat(64))));
        assert!(!is_well_formed_pat(""));
    }

    #[test]
    fn portal_sessions_are_their_own_kind() {
        let session = generate(TokenKind::PortalSession);
        assert!(session.starts_with("hp_ps_"), "{session}");
        assert_eq!(TokenKind::of(&session), Some(TokenKind::PortalSession));
        assert!(!is_well_formed_pat(&session));
        assert_eq!(bearer_token(&format!("Bearer {session}")), Some((session.as_str(), TokenKind::PortalSession)));
        assert_eq!(bearer_pat(&format!("Bearer {session}")), None);
        assert_eq!(TokenKind::of(&format!("hp_ps_{}", "a".repeat(63))), None);
        for kind in [TokenKind::Pat, TokenKind::PortalSession] {
            assert_eq!(TokenKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn portal_links_are_never_bearer_credentials() {
        let link = generate(TokenKind::PortalLink);
        assert!(link.starts_with("hp_pl_"), "{link}");
        assert_eq!(TokenKind::of(&link), Some(TokenKind::PortalLink));
        assert_eq!(TokenKind::parse("portal_link"), Some(TokenKind::PortalLink));
        assert_eq!(bearer_token(&format!("Bearer {link}")), None);
        assert!(TokenKind::Pat.is_bearer() && TokenKind::PortalSession.is_bearer());
    }

    #[test]
    fn a_link_redeems_into_a_session_only_while_it_can_be_opened() {
        let now = Timestamp::from_unix(1000);
        let link = Token {
            id: TokenId::new(),
            kind: TokenKind::PortalLink,
            account_id: AccountId::new(),
            token_hash: hash_pat("link"),
            scopes: vec![Scope::WebhooksRead],
            user_id: Some("user_1".into()),
            expires_at: Some(Timestamp::from_unix(4600)),
            revoked: false,
            created_at: Timestamp::from_unix(900),
        };
        let session = link.redeem_link(hash_pat("session"), now).expect("an unused link opens");
        assert_eq!(session.kind, TokenKind::PortalSession);
        assert_eq!((session.id, session.account_id), (link.id, link.account_id));
        assert_eq!((&session.scopes, &session.user_id), (&link.scopes, &link.user_id));
        assert_eq!(session.expires_at, link.expires_at, "the session ends when the link would have");
        assert_eq!((session.token_hash.as_str(), session.created_at), (hash_pat("session").as_str(), now));

        assert_eq!(link.redeem_link(hash_pat("s"), Timestamp::from_unix(4600)), None, "expired");
        assert_eq!(Token { revoked: true, ..link.clone() }.redeem_link(hash_pat("s"), now), None, "revoked");
        for kind in [TokenKind::Pat, TokenKind::PortalSession] {
            assert_eq!(Token { kind, ..link.clone() }.redeem_link(hash_pat("s"), now), None, "{kind:?}");
        }
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(hash_pat("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn bearer_header_parsing() {
        let pat = format!("hp_pat_{}", "0".repeat(64));
        assert_eq!(bearer_pat(&format!("Bearer {pat}")), Some(pat.as_str()));
        assert_eq!(bearer_pat(&format!("bearer {pat}")), Some(pat.as_str()));
        assert_eq!(bearer_pat(&pat), None);
        assert_eq!(bearer_pat(&format!("Basic {pat}")), None);
        assert_eq!(bearer_pat("Bearer hp_pat_short"), None);
        assert_eq!(bearer_pat("Bearer"), None);
    }

    #[test]
    fn usability() {
        let now = Timestamp::from_unix(1000);
        let mut t = Token {
            id: TokenId::new(),
            kind: TokenKind::Pat,
            account_id: AccountId::new(),
            token_hash: hash_pat("x"),
            scopes: vec![Scope::WebhooksRead],
            user_id: None,
            expires_at: None,
            revoked: false,
            created_at: now,
        };
        assert!(t.is_usable(now));
        t.expires_at = Some(Timestamp::from_unix(1001));
        assert!(t.is_usable(now));
        t.expires_at = Some(now);
        assert!(!t.is_usable(now));
        t.expires_at = None;
        t.revoked = true;
        assert!(!t.is_usable(now));
    }
}

//! Sign-on rules that need no I/O: where a browser may be sent back to, PKCE, the CAS 3.0
//! responses (parsed with a real XML parser) and the OpenID Connect ID token checks.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use sha2::{Digest, Sha256};

/// The providers, as named in routes, session audit and the `wechat` binding.
pub const CAS: &str = "cas";
pub const OIDC: &str = "oidc";
pub const WECHAT: &str = "wechat";

/// Where to go after sign-in: only one of our own relative paths (`/app/...`), never another
/// site (`//evil`, `/\evil`, `https://...`) and no control characters.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 512
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// The PKCE S256 challenge of a verifier (RFC 7636).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A browser inside WeChat (its user agent names `MicroMessenger`).
pub fn in_wechat(user_agent: Option<&str>) -> bool {
    user_agent.is_some_and(|ua| ua.contains("MicroMessenger"))
}

/// A successful CAS validation: the `user` and its attributes (local names, first value).
#[derive(Debug, PartialEq, Eq)]
pub struct CasSuccess {
    pub user: String,
    pub attributes: HashMap<String, String>,
}

impl CasSuccess {
    /// The campus id: the configured attribute, or the CAS `user`.
    pub fn id(&self, attribute: Option<&str>) -> Option<&str> {
        match attribute {
            Some(a) => self.attributes.get(a).map(String::as_str),
            None => Some(self.user.as_str()),
        }
        .map(str::trim)
        .filter(|s| !s.is_empty())
    }
}

/// An element: the local names from the root to it, its own text, its `code` attribute.
type Element = (Vec<String>, String, Option<String>);

/// An XML document as (path of local element names, the element's own text) pairs, in
/// document order; entity and character references resolved.
fn elements(xml: &str) -> Result<Vec<Element>, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(false);
    let mut path: Vec<String> = Vec::new();
    // Per open element: its text so far and its `code` attribute.
    let mut texts: Vec<(String, Option<String>)> = Vec::new();
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                path.push(e.local_name().as_ref().to_string());
                let code = e.try_get_attribute("code").ok().flatten().and_then(|a| {
                    a.normalized_value(XmlVersion::Implicit1_0)
                        .ok()
                        .map(|v| v.into_owned())
                });
                texts.push((String::new(), code));
            }
            Ok(Event::Empty(e)) => {
                let mut p = path.clone();
                p.push(e.local_name().as_ref().to_string());
                out.push((p, String::new(), None));
            }
            Ok(Event::Text(t)) => {
                if let Some((buf, _)) = texts.last_mut() {
                    buf.push_str(&t.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Ok(Event::CData(t)) => {
                if let Some((buf, _)) = texts.last_mut() {
                    buf.push_str(&t.into_inner());
                }
            }
            Ok(Event::GeneralRef(r)) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| format!("XML: {e}"))?
                        .map(String::from)
                } else {
                    let name = r.xml_content(XmlVersion::Implicit1_0);
                    quick_xml::escape::resolve_predefined_entity(&name).map(String::from)
                };
                let resolved = resolved.ok_or("XML: unknown entity")?;
                if let Some((buf, _)) = texts.last_mut() {
                    buf.push_str(&resolved);
                }
            }
            Ok(Event::End(_)) => {
                let (text, code) = texts.pop().unwrap_or_default();
                out.push((path.clone(), text.trim().to_string(), code));
                path.pop();
            }
            Ok(Event::Eof) => break,
            Err(e) => return Err(format!("XML: {e}")),
            _ => {}
        }
    }
    Ok(out)
}

/// Parses a `p3/serviceValidate` answer: success, or the failure code the server gave.
pub fn parse_cas_validation(xml: &str) -> Result<CasSuccess, String> {
    let elements = elements(xml)?;
    let mut user = None;
    let mut attributes = HashMap::new();
    for (path, text, code) in elements {
        let n = path.len();
        let parent = |i: usize| (n > i).then(|| path[n - 1 - i].as_str());
        if parent(0) == Some("authenticationFailure") && parent(1) == Some("serviceResponse") {
            return Err(code.unwrap_or_else(|| "UNKNOWN".into()));
        }
        if parent(1) != Some("authenticationSuccess") && parent(2) != Some("authenticationSuccess")
        {
            continue;
        }
        if parent(0) == Some("user") && parent(1) == Some("authenticationSuccess") {
            user = Some(text);
        } else if parent(1) == Some("attributes") && parent(2) == Some("authenticationSuccess") {
            attributes.entry(path[n - 1].clone()).or_insert(text);
        }
    }
    match user {
        Some(user) if !user.is_empty() => Ok(CasSuccess { user, attributes }),
        _ => Err("no authenticationSuccess with a user".into()),
    }
}

/// The ticket named by a CAS back-channel `logoutRequest` (its `samlp:SessionIndex`).
pub fn parse_logout_request(xml: &str) -> Option<String> {
    elements(xml)
        .ok()?
        .into_iter()
        .find(|(path, _, _)| path.last().is_some_and(|l| l == "SessionIndex"))
        .map(|(_, text, _)| text)
        .filter(|t| !t.is_empty())
}

/// Algorithms accepted for ID tokens: asymmetric only (never `none`, never HMAC).
const ALGORITHMS: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Verifies an ID token: signature by a key of the provider's JWKS, `iss`, `aud` (our client
/// id), `exp` (60 s leeway for clocks) and our `nonce`. Answers its claims.
pub fn verify_id_token(
    token: &str,
    jwks: &JwkSet,
    issuer: &str,
    client_id: &str,
    nonce: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("header: {e}"))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(format!("algorithm {:?} not accepted", header.alg));
    }
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid),
        None => jwks.keys.first(),
    }
    .ok_or("no key in the provider's JWKS for this token")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key: {e}"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 60;
    let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
        token,
        &key,
        &validation,
    )
    .map_err(|e| format!("{e}"))?;
    let claims = data.claims;
    match claims.get("nonce").and_then(|n| n.as_str()) {
        Some(n) if crate::http::web::csrf::same(n, nonce) => Ok(claims),
        _ => Err("nonce does not match".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_paths_stay_home() {
        assert_eq!(safe_next(Some("/app/cases")), "/app/cases");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "app",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn pkce_matches_rfc7636_example() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn cas_success_with_attributes() {
        let xml = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
  <cas:authenticationSuccess>
    <cas:user>jdoe</cas:user>
    <cas:attributes>
      <cas:studentId>2023001</cas:studentId>
      <cas:name>Zhang &amp; San</cas:name>
    </cas:attributes>
  </cas:authenticationSuccess>
</cas:serviceResponse>"#;
        let ok = parse_cas_validation(xml).unwrap();
        assert_eq!(ok.user, "jdoe");
        assert_eq!(ok.id(None), Some("jdoe"));
        assert_eq!(ok.id(Some("studentId")), Some("2023001"));
        assert_eq!(ok.attributes["name"], "Zhang & San");
        assert_eq!(ok.id(Some("missing")), None);
    }

    #[test]
    fn cas_failure_code() {
        let xml = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
 <cas:authenticationFailure code="INVALID_TICKET">Ticket ST-1 not recognized</cas:authenticationFailure>
</cas:serviceResponse>"#;
        assert_eq!(parse_cas_validation(xml), Err("INVALID_TICKET".into()));
        assert!(parse_cas_validation("<html>not cas</html>").is_err());
        assert!(parse_cas_validation("<<<").is_err());
    }

    #[test]
    fn logout_request_session_index() {
        let xml = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="x" Version="2.0" IssueInstant="2026-01-01T00:00:00Z">
<saml:NameID>@NOT_USED@</saml:NameID>
<samlp:SessionIndex>ST-12-abc</samlp:SessionIndex>
</samlp:LogoutRequest>"#;
        assert_eq!(parse_logout_request(xml).as_deref(), Some("ST-12-abc"));
        assert_eq!(parse_logout_request("<x/>"), None);
    }
}

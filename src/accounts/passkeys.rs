//! Passkeys (WebAuthn, SPEC §9 and §13): the "fingerprint on the second login". A signed-in
//! person registers one or more (discoverable credentials, so signing in needs no login name),
//! names and removes them; anyone may sign in with one; a signed-in person may prove who they
//! are again with one (step-up). Each ceremony's state waits in the database between its two
//! requests, keyed by its challenge, so any instance can finish what another started.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use url::Url;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::passkeys_store::{self as store, NewPasskey, PasskeyRow};
use super::{SignedIn, store as users};
use crate::audit::{self, Actor, Event};
use crate::config::Settings;
use crate::http::auth::CurrentUser;
use crate::http::{AppError, AppState, ErrorCode};

/// How long a started ceremony may wait for its second request.
const CEREMONY_TTL_MS: i64 = 5 * 60 * 1000;
/// Longest passkey name.
pub const MAX_NAME_CHARS: usize = 64;

fn invalid(why: &str) -> AppError {
    ErrorCode::PasskeyInvalid.with_message(format!("The passkey could not be verified ({why})."))
}

/// The relying party: `MEDCLAIM_PUBLIC_URL`, or `http://localhost:<port>` without one. Browsers
/// refuse an IP address as relying party id, so a loopback-address URL (development, tests) is
/// served as `localhost` with the same port.
pub fn relying_party(settings: &Settings) -> Result<Url, AppError> {
    let fallback = format!("http://localhost:{}", settings.bind.port());
    let raw = settings.sso.public_url.as_deref().unwrap_or(&fallback);
    let mut url = Url::parse(raw)
        .map_err(|e| AppError::internal(anyhow::anyhow!("MEDCLAIM_PUBLIC_URL: {e}")))?;
    let loopback_ip = url
        .host_str()
        .and_then(|h| h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    if loopback_ip {
        url.set_host(Some("localhost"))
            .map_err(|e| AppError::internal(anyhow::anyhow!("relying party: {e}")))?;
    }
    url.set_path("");
    Ok(url)
}

fn webauthn(settings: &Settings) -> Result<Webauthn, AppError> {
    let origin = relying_party(settings)?;
    let rp_id = origin.host_str().unwrap_or("localhost").to_string();
    WebauthnBuilder::new(&rp_id, &origin)
        .and_then(|b| b.rp_name("medclaim").build())
        .map_err(|e| AppError::internal(anyhow::anyhow!("webauthn relying party: {e}")))
}

/// The challenge a browser signed, read from its client data: the key of the ceremony.
fn signed_challenge(client_data_json: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ClientData {
        challenge: String,
    }
    serde_json::from_slice::<ClientData>(client_data_json)
        .ok()
        .map(|c| c.challenge)
}

fn challenge_key(challenge: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(challenge)
}

fn parse_passkey(row: &PasskeyRow) -> Result<Passkey, AppError> {
    serde_json::from_str(&row.passkey_json)
        .map_err(|e| AppError::internal(anyhow::anyhow!("stored passkey {}: {e}", row.id)))
}

fn to_json<T: Serialize>(value: &T) -> Result<String, AppError> {
    serde_json::to_string(value).map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))
}

/// A credential as the browser sent it, in the webauthn shape (else `passkey_invalid`).
pub fn read_credential<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, AppError> {
    serde_json::from_value(value).map_err(|_| invalid("not a WebAuthn credential"))
}

#[derive(Serialize, Deserialize)]
struct RegisterCeremony {
    handle: Uuid,
    state: PasskeyRegistration,
}

/// Options for `navigator.credentials.create()`: a discoverable passkey with user verification
/// (fingerprint, face or device PIN), excluding the ones the person already has.
pub async fn start_registration(
    state: &AppState,
    user: &CurrentUser,
) -> Result<CreationChallengeResponse, AppError> {
    let wa = webauthn(&state.settings)?;
    let existing = store::list_for_user(&state.db.pool, user.id).await?;
    let handle = existing
        .first()
        .and_then(|p| Uuid::parse_str(&p.user_handle).ok())
        .unwrap_or_else(Uuid::new_v4);
    let exclude = existing
        .iter()
        .map(parse_passkey)
        .map(|p| p.map(|p| p.cred_id().clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut options, registration) = wa
        .start_passkey_registration(handle, &user.username, &user.name, Some(exclude))
        .map_err(|e| AppError::internal(anyhow::anyhow!("passkey registration: {e}")))?;
    // Usernameless sign-in needs the credential stored on the authenticator.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
    }
    let ceremony = RegisterCeremony {
        handle,
        state: registration,
    };
    store::save_ceremony(
        &state.db.pool,
        &challenge_key(options.public_key.challenge.as_ref()),
        "register",
        &to_json(&ceremony)?,
        Some(user.id),
        CEREMONY_TTL_MS,
    )
    .await?;
    Ok(options)
}

/// A passkey name: trimmed, 1–64 characters, or a default.
pub fn passkey_name(name: Option<&str>, count: i64) -> Result<String, AppError> {
    let name = name.map(str::trim).unwrap_or("");
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(
            ErrorCode::InvalidInput.with_field("name", "1–64 characters, no control characters")
        );
    }
    Ok(if name.is_empty() {
        format!("Passkey {}", count + 1)
    } else {
        name.to_string()
    })
}

/// Checks the browser's answer to [`start_registration`] and keeps the passkey.
pub async fn finish_registration(
    state: &AppState,
    user: &CurrentUser,
    name: Option<&str>,
    credential: RegisterPublicKeyCredential,
) -> Result<PasskeyRow, AppError> {
    let wa = webauthn(&state.settings)?;
    let challenge = signed_challenge(credential.response.client_data_json.as_ref())
        .ok_or_else(|| invalid("no challenge"))?;
    let saved = store::take_ceremony(&state.db.pool, &challenge, "register", Some(user.id))
        .await?
        .ok_or_else(|| invalid("unknown or expired ceremony"))?;
    let ceremony: RegisterCeremony = serde_json::from_str(&saved)
        .map_err(|e| AppError::internal(anyhow::anyhow!("ceremony state: {e}")))?;
    let passkey = wa
        .finish_passkey_registration(&credential, &ceremony.state)
        .map_err(|_| invalid("registration did not verify"))?;
    let count = store::count_for_user(&state.db.pool, user.id).await?;
    let name = passkey_name(name, count)?;
    let credential_id = URL_SAFE_NO_PAD.encode(passkey.cred_id().as_ref());
    let mut tx = state.db.begin().await?;
    let id = store::insert(
        &mut tx,
        &NewPasskey {
            user_id: user.id,
            user_handle: &ceremony.handle.to_string(),
            credential_id: &credential_id,
            passkey_json: &to_json(&passkey)?,
            name: &name,
        },
    )
    .await?;
    let event = Event {
        action: "passkey.register",
        object_type: "passkey",
        object_id: id.to_string(),
        summary: "passkey registered".into(),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    store::find_own(&state.db.pool, user.id, id)
        .await?
        .ok_or_else(AppError::not_found)
}

pub async fn rename(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    name: &str,
) -> Result<PasskeyRow, AppError> {
    let name = passkey_name(Some(name), 0)?;
    let mut tx = state.db.begin().await?;
    if !store::rename(&mut tx, user.id, id, &name).await? {
        return Err(AppError::not_found());
    }
    let event = Event {
        action: "passkey.rename",
        object_type: "passkey",
        object_id: id.to_string(),
        summary: "passkey renamed".into(),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    store::find_own(&state.db.pool, user.id, id)
        .await?
        .ok_or_else(AppError::not_found)
}

/// Removes one of the person's passkeys; it no longer signs anyone in.
pub async fn remove(state: &AppState, user: &CurrentUser, id: i64) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    if !store::delete(&mut tx, user.id, id).await? {
        return Err(AppError::not_found());
    }
    let event = Event {
        action: "passkey.remove",
        object_type: "passkey",
        object_id: id.to_string(),
        summary: "passkey removed".into(),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    Ok(())
}

/// Options for `navigator.credentials.get()` without a login name: the authenticator offers
/// the passkeys it holds for this site.
pub async fn start_sign_in(state: &AppState) -> Result<RequestChallengeResponse, AppError> {
    let wa = webauthn(&state.settings)?;
    let (mut options, auth) = wa
        .start_discoverable_authentication()
        .map_err(|e| AppError::internal(anyhow::anyhow!("passkey sign-in: {e}")))?;
    // A button press, not the autofill ("conditional") prompt.
    options.mediation = None;
    store::save_ceremony(
        &state.db.pool,
        &challenge_key(options.public_key.challenge.as_ref()),
        "login",
        &to_json(&auth)?,
        None,
        CEREMONY_TTL_MS,
    )
    .await?;
    Ok(options)
}

/// The signature counter rule (WebAuthn §7.2 step 21): when either side counts, the new value
/// must be above the stored one, else the credential may have been cloned.
pub fn counter_acceptable(stored: i64, presented: u32) -> bool {
    let presented = i64::from(presented);
    (presented == 0 && stored == 0) || presented > stored
}

/// Verifies an assertion against one stored passkey and records its use (new counter).
async fn verify_assertion(
    tx: &mut crate::db::Tx,
    row: &PasskeyRow,
    verify: impl FnOnce(&Passkey) -> Result<webauthn_rs::prelude::AuthenticationResult, AppError>,
) -> Result<(), AppError> {
    let mut passkey = parse_passkey(row)?;
    let result = verify(&passkey)?;
    if !counter_acceptable(row.sign_count, result.counter()) {
        tracing::warn!(passkey = row.id, "passkey counter did not go up; refused");
        return Err(invalid("signature counter did not go up"));
    }
    passkey.update_credential(&result);
    let recorded =
        store::record_use(tx, row.id, i64::from(result.counter()), &to_json(&passkey)?).await?;
    if !recorded {
        return Err(invalid("signature counter did not go up"));
    }
    Ok(())
}

/// Checks the browser's answer to [`start_sign_in`] and opens a session for the passkey's owner.
pub async fn finish_sign_in(
    state: &AppState,
    credential: PublicKeyCredential,
    kind: &str,
    ip: Option<std::net::IpAddr>,
    device: Option<&str>,
) -> Result<SignedIn, AppError> {
    if let Some(ip) = ip
        && !state.login_limiter.check(ip).await
    {
        return Err(ErrorCode::RateLimited
            .with_message("Too many sign-in attempts from this address; wait a minute."));
    }
    let wa = webauthn(&state.settings)?;
    let challenge = signed_challenge(credential.response.client_data_json.as_ref())
        .ok_or_else(|| invalid("no challenge"))?;
    let saved = store::take_ceremony(&state.db.pool, &challenge, "login", None)
        .await?
        .ok_or_else(|| invalid("unknown or expired ceremony"))?;
    let auth: DiscoverableAuthentication = serde_json::from_str(&saved)
        .map_err(|e| AppError::internal(anyhow::anyhow!("ceremony state: {e}")))?;
    let (handle, credential_id) = wa
        .identify_discoverable_authentication(&credential)
        .map_err(|_| invalid("no user handle"))?;
    let row = store::find_by_credential(&state.db.pool, &URL_SAFE_NO_PAD.encode(credential_id))
        .await?
        .filter(|row| row.user_handle == handle.to_string())
        .ok_or_else(|| invalid("unknown passkey"))?;
    let user = users::find_by_id(&state.db.pool, row.user_id)
        .await?
        .filter(|u| u.active == 1)
        .ok_or_else(|| invalid("unknown passkey"))?;
    let mut tx = state.db.begin().await?;
    verify_assertion(&mut tx, &row, |passkey| {
        wa.finish_discoverable_authentication(&credential, auth, &[DiscoverableKey::from(passkey)])
            .map_err(|_| invalid("assertion did not verify"))
    })
    .await?;
    users::clear_failures(&mut tx, user.id).await?;
    let absolute_ms = state.settings.session_absolute.as_millis() as i64;
    let (token, session_id) =
        users::create_session(&mut tx, user.id, kind, absolute_ms, true, device).await?;
    let actor = Actor::user(user.id, &user.username, ip.map(|i| i.to_string()));
    let event = Event {
        action: "session.create",
        object_type: "session",
        object_id: session_id.to_string(),
        summary: format!("{kind} sign-in with passkey {}", row.id),
    };
    audit::record(&mut tx, &actor, event).await?;
    let roles = users::roles_of(&mut *tx, user.id).await?;
    tx.commit().await?;
    Ok(SignedIn { token, user, roles })
}

/// Step-up with a passkey: options listing the person's own passkeys.
pub async fn start_reauth(
    state: &AppState,
    user: &CurrentUser,
) -> Result<RequestChallengeResponse, AppError> {
    let wa = webauthn(&state.settings)?;
    let passkeys = store::list_for_user(&state.db.pool, user.id)
        .await?
        .iter()
        .map(parse_passkey)
        .collect::<Result<Vec<_>, _>>()?;
    if passkeys.is_empty() {
        return Err(ErrorCode::NotFound.with_message("No passkey registered; use the password."));
    }
    let (options, auth) = wa
        .start_passkey_authentication(&passkeys)
        .map_err(|e| AppError::internal(anyhow::anyhow!("passkey step-up: {e}")))?;
    store::save_ceremony(
        &state.db.pool,
        &challenge_key(options.public_key.challenge.as_ref()),
        "reauth",
        &to_json(&auth)?,
        Some(user.id),
        CEREMONY_TTL_MS,
    )
    .await?;
    Ok(options)
}

/// Step-up with a passkey: checks the answer to [`start_reauth`] and marks the session fresh.
pub async fn finish_reauth(
    state: &AppState,
    user: &CurrentUser,
    credential: PublicKeyCredential,
) -> Result<(), AppError> {
    let wa = webauthn(&state.settings)?;
    let challenge = signed_challenge(credential.response.client_data_json.as_ref())
        .ok_or_else(|| invalid("no challenge"))?;
    let saved = store::take_ceremony(&state.db.pool, &challenge, "reauth", Some(user.id))
        .await?
        .ok_or_else(|| invalid("unknown or expired ceremony"))?;
    let auth: PasskeyAuthentication = serde_json::from_str(&saved)
        .map_err(|e| AppError::internal(anyhow::anyhow!("ceremony state: {e}")))?;
    let credential_id = URL_SAFE_NO_PAD.encode(credential.raw_id.as_ref());
    let row = store::find_by_credential(&state.db.pool, &credential_id)
        .await?
        .filter(|row| row.user_id == user.id)
        .ok_or_else(|| invalid("unknown passkey"))?;
    let mut tx = state.db.begin().await?;
    verify_assertion(&mut tx, &row, |_| {
        wa.finish_passkey_authentication(&credential, &auth)
            .map_err(|_| invalid("assertion did not verify"))
    })
    .await?;
    users::mark_reauthenticated(&mut tx, user.session_id).await?;
    let event = Event {
        action: "session.reauth",
        object_type: "session",
        object_id: user.session_id.to_string(),
        summary: format!("step-up with passkey {}", row.id),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_must_go_up_unless_neither_side_counts() {
        assert!(counter_acceptable(0, 0));
        assert!(counter_acceptable(0, 1));
        assert!(counter_acceptable(4, 5));
        assert!(!counter_acceptable(5, 5), "a replayed counter");
        assert!(!counter_acceptable(5, 3), "a counter that went back");
        assert!(!counter_acceptable(5, 0), "a counter that stopped counting");
    }

    #[test]
    fn a_loopback_address_is_served_as_localhost() {
        let mut settings = Settings::new(std::env::temp_dir());
        settings.sso.public_url = Some("http://127.0.0.1:8123".into());
        assert_eq!(
            relying_party(&settings).unwrap().as_str(),
            "http://localhost:8123/"
        );
        settings.sso.public_url = Some("https://claims.example.edu".into());
        assert_eq!(
            relying_party(&settings).unwrap().host_str(),
            Some("claims.example.edu")
        );
    }
}

//! Medical content at rest (SPEC §9): diagnosis, reason, fee lines, review reasons, support
//! messages, notification bodies, insurer decisions and every stored file are sealed with the
//! data key, so a copied database file or a copied upload directory reveals none of it.
//!
//! - **Text** is stored as `enc1:<key id>:<base64(nonce || XChaCha20-Poly1305 ciphertext)>`.
//!   Writers bind [`seal`]`(text)`; readers decode the column as [`Sealed`]/[`SealedOpt`]
//!   (`#[sqlx(try_from = "Sealed")]` on a `String` field), which opens it. A value without the
//!   prefix is plaintext written before sealing existed and is read as it is until
//!   [`migrate::seal_existing`] has sealed it, so a half-migrated database still works.
//!   Unlike phone and id number (bound to their row), sealed text is bound only to its format
//!   and key: the row decoder does not know the row. Someone who can *write* the database could
//!   swap two diagnoses; someone who *copies* it learns none.
//! - **Files** get a random key each; the file key is wrapped by the data key and written in a
//!   header in front of the ciphertext ([`seal_file`]). Files are named by a keyed hash of the
//!   plaintext ([`file_name`]): equal uploads are still stored once, and the names say nothing
//!   to someone without the index key.
//! - None of these columns is searched: staff search by invoice number, student id and name,
//!   which stay clear (`review/search.rs`). Duplicate photos are found by the keyed file hash.
//!
//! The keys are installed in a process-wide keyring when they are loaded (`crypto.rs`), so the
//! row decoder finds the key by the id written in the value.

pub mod migrate;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::KeyInit;
use chacha20poly1305::XChaCha20Poly1305;
use sqlx::any::{Any, AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Decode, Type, ValueRef};

pub use crate::crypto::current_keys;
use crate::crypto::{DecryptError, Keys, keys_by_id};

/// Prefix of sealed text.
pub const TEXT_PREFIX: &str = "enc1:";
/// First bytes of a sealed file.
pub const FILE_MAGIC: &[u8; 8] = b"MCSEAL1\0";
const TEXT_AAD: &str = "medclaim sealed text v1";
const KEY_ID_LEN: usize = 16;

/// Seals `plain` with `keys`.
pub fn seal_with(keys: &Keys, plain: &str) -> String {
    let id = keys.key_id();
    let sealed = keys.seal_bytes(text_aad(&id).as_bytes(), plain.as_bytes());
    format!("{TEXT_PREFIX}{id}:{}", B64.encode(sealed))
}

fn text_aad(key_id: &str) -> String {
    format!("{TEXT_AAD}|{key_id}")
}

/// Seals `plain` with the current data key (what every writer of medical text binds).
pub fn seal(plain: &str) -> String {
    seal_with(&current_keys(), plain)
}

pub fn seal_opt(plain: Option<&str>) -> Option<String> {
    plain.map(seal)
}

/// Whether `stored` is sealed text (else it is plaintext from before sealing).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(TEXT_PREFIX)
}

/// The plaintext of a stored value: sealed text is opened, older plaintext passes as it is.
pub fn open(stored: &str) -> Result<String, DecryptError> {
    let Some(rest) = stored.strip_prefix(TEXT_PREFIX) else {
        return Ok(stored.to_string());
    };
    let (id, body) = rest.split_once(':').ok_or(DecryptError)?;
    let keys = keys_by_id(id).ok_or(DecryptError)?;
    let bytes = B64.decode(body).map_err(|_| DecryptError)?;
    let plain = keys.open_bytes(text_aad(id).as_bytes(), &bytes)?;
    String::from_utf8(plain).map_err(|_| DecryptError)
}

/// A sealed TEXT column, opened when the row is decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed(pub String);

/// A nullable sealed TEXT column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedOpt(pub Option<String>);

impl Type<Any> for Sealed {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }
    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for Sealed {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        let stored = <String as Decode<'r, Any>>::decode(value)?;
        Ok(Sealed(open(&stored)?))
    }
}

impl Type<Any> for SealedOpt {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }
    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for SealedOpt {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.is_null() {
            return Ok(SealedOpt(None));
        }
        Ok(SealedOpt(Some(Sealed::decode(value)?.0)))
    }
}

impl From<Sealed> for String {
    fn from(s: Sealed) -> String {
        s.0
    }
}

impl From<SealedOpt> for Option<String> {
    fn from(s: SealedOpt) -> Option<String> {
        s.0
    }
}

/// The name a file's content is stored under: a keyed hash of the plaintext (64 hex digits,
/// like the SHA-256 names before), so equal content is stored once and the name reveals no
/// hash anyone could compare with a known photo.
pub fn file_name(keys: &Keys, plain: &[u8]) -> String {
    keys.keyed_hash("file", plain)
}

/// A file sealed with its own random key:
/// `MAGIC | key id (16) | wrapped file key (24 + 32 + 16) | nonce (24) | ciphertext`.
pub fn seal_file(keys: &Keys, plain: &[u8]) -> Vec<u8> {
    let id = keys.key_id();
    let file_key: [u8; 32] = rand::random();
    let mut header = Vec::with_capacity(8 + KEY_ID_LEN + 72);
    header.extend_from_slice(FILE_MAGIC);
    header.extend_from_slice(id.as_bytes());
    let wrapped = keys.seal_bytes(&header, &file_key);
    header.extend_from_slice(&wrapped);
    let cipher = XChaCha20Poly1305::new(&file_key.into());
    let body = crate::crypto::seal_with(&cipher, &header, plain);
    header.extend_from_slice(&body);
    header
}

/// Whether `stored` is a sealed file (else a plaintext file from before sealing).
pub fn is_sealed_file(stored: &[u8]) -> bool {
    stored.starts_with(FILE_MAGIC)
}

/// The plaintext of a stored file; a file from before sealing is answered as it is.
pub fn open_file(stored: Vec<u8>) -> Result<Vec<u8>, DecryptError> {
    if !is_sealed_file(&stored) {
        return Ok(stored);
    }
    let header_len = 8 + KEY_ID_LEN + 72;
    if stored.len() < header_len {
        return Err(DecryptError);
    }
    let id = std::str::from_utf8(&stored[8..8 + KEY_ID_LEN]).map_err(|_| DecryptError)?;
    let keys = keys_by_id(id).ok_or(DecryptError)?;
    let file_key = keys.open_bytes(
        &stored[..8 + KEY_ID_LEN],
        &stored[8 + KEY_ID_LEN..header_len],
    )?;
    let file_key: [u8; 32] = file_key.try_into().map_err(|_| DecryptError)?;
    let cipher = XChaCha20Poly1305::new(&file_key.into());
    crate::crypto::open_with(&cipher, &stored[..header_len], &stored[header_len..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_plain_passthrough() {
        let keys = Keys::for_tests();
        let sealed = seal_with(&keys, "急性胃肠炎");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("急性胃肠炎"));
        assert_eq!(open(&sealed).unwrap(), "急性胃肠炎");
        assert_ne!(sealed, seal_with(&keys, "急性胃肠炎"), "nonces are random");
        assert_eq!(
            open("written before sealing").unwrap(),
            "written before sealing"
        );
        // A character inside the nonce changed: the ciphertext no longer authenticates.
        let at = TEXT_PREFIX.len() + KEY_ID_LEN + 1 + 4;
        let mut tampered = sealed.clone().into_bytes();
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        assert!(open(&String::from_utf8(tampered).unwrap()).is_err());
        assert!(open("enc1:0000000000000000:AAAA").is_err(), "unknown key");
    }

    #[test]
    fn file_round_trip_with_own_key() {
        let keys = Keys::for_tests();
        let plain = b"\x89PNG\r\n\x1a\n a photo of a diagnosis".to_vec();
        let a = seal_file(&keys, &plain);
        let b = seal_file(&keys, &plain);
        assert!(is_sealed_file(&a));
        assert!(!a.windows(8).any(|w| w == &plain[..8]));
        assert_ne!(a[24..96], b[24..96], "each file has its own wrapped key");
        assert_eq!(open_file(a.clone()).unwrap(), plain);
        assert_eq!(open_file(plain.clone()).unwrap(), plain, "legacy file");
        let mut bad = a;
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(open_file(bad).is_err());
        assert_eq!(file_name(&keys, &plain), file_name(&keys, &plain));
        assert_ne!(file_name(&keys, &plain), crate::crypto::sha256_hex(&plain));
    }
}

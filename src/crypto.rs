//! Personal data at rest: AEAD encryption (XChaCha20-Poly1305) bound to where the value lives,
//! and a keyed blind index (HMAC-SHA256) for exact lookup without decrypting.

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const KEY_ID: &str = "k1";

#[derive(Clone)]
pub struct Keys {
    data: [u8; 32],
    index: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("stored personal data could not be decrypted")]
pub struct DecryptError;

impl Keys {
    /// Keys from `MEDCLAIM_DATA_KEY` and `MEDCLAIM_INDEX_KEY` (base64, 32 bytes each) or from
    /// `keys.json` in the data directory, generated there (mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Keys> {
        if let (Ok(d), Ok(i)) = (
            std::env::var("MEDCLAIM_DATA_KEY"),
            std::env::var("MEDCLAIM_INDEX_KEY"),
        ) {
            let keys = Keys {
                data: decode_key(&d)?,
                index: decode_key(&i)?,
            };
            install(&keys);
            return Ok(keys);
        }
        let path = data_dir.join("keys.json");
        if path.exists() {
            let text = std::fs::read_to_string(&path).context("reading keys.json")?;
            let v: serde_json::Value = serde_json::from_str(&text).context("parsing keys.json")?;
            let get = |k: &str| {
                v.get(k)
                    .and_then(|x| x.as_str())
                    .context("keys.json is missing a key")
            };
            let keys = Keys {
                data: decode_key(get("data_key")?)?,
                index: decode_key(get("index_key")?)?,
            };
            install(&keys);
            return Ok(keys);
        }
        let keys = Keys {
            data: rand::random(),
            index: rand::random(),
        };
        let text = serde_json::json!({
            "data_key": B64.encode(keys.data),
            "index_key": B64.encode(keys.index),
        })
        .to_string();
        write_private(&path, &text)?;
        install(&keys);
        Ok(keys)
    }

    /// Fixed keys for tests.
    pub fn for_tests() -> Keys {
        let keys = Keys {
            data: [7; 32],
            index: [9; 32],
        };
        install(&keys);
        keys
    }

    /// A short public name of the data key, written next to what it sealed so the right key
    /// is found again (and a future key rotation can tell old from new). Reveals nothing of
    /// the key: a keyed hash of a fixed label.
    pub fn key_id(&self) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.data).expect("any key length");
        mac.update(b"medclaim key id");
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    /// AEAD with the data key: `nonce || ciphertext`, bound to `aad`.
    pub fn seal_bytes(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(&self.data.into());
        seal_with(&cipher, aad, plain)
    }

    pub fn open_bytes(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let cipher = XChaCha20Poly1305::new(&self.data.into());
        open_with(&cipher, aad, sealed)
    }

    /// Keyed hash of arbitrary bytes (the blind index for binary content), scoped by `kind`.
    pub fn keyed_hash(&self, kind: &str, bytes: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.index).expect("any key length");
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(bytes);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Encrypts `plain`, bound to `context` (e.g. `users.phone|2023001`) as associated data.
    pub fn encrypt(&self, context: &str, plain: &str) -> String {
        let cipher = XChaCha20Poly1305::new(&self.data.into());
        let nonce = XNonce::from(rand::random::<[u8; 24]>());
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("encryption cannot fail for in-memory data");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{KEY_ID}:{}", B64.encode(bytes))
    }

    pub fn decrypt(&self, context: &str, stored: &str) -> Result<String, DecryptError> {
        let body = stored.strip_prefix("k1:").ok_or(DecryptError)?;
        let bytes = B64.decode(body).map_err(|_| DecryptError)?;
        if bytes.len() < 24 {
            return Err(DecryptError);
        }
        let (nonce, sealed) = bytes.split_at(24);
        let cipher = XChaCha20Poly1305::new(&self.data.into());
        let nonce = XNonce::try_from(nonce).map_err(|_| DecryptError)?;
        let plain = cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| DecryptError)?;
        String::from_utf8(plain).map_err(|_| DecryptError)
    }

    /// Blind index of a normalised value, scoped by `kind` so equal values of different kinds
    /// do not share an index.
    pub fn blind_index(&self, kind: &str, normalised: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.index).expect("any key length");
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(normalised.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// `nonce || ciphertext` under `cipher` with a random 24-byte nonce.
pub(crate) fn seal_with(cipher: &XChaCha20Poly1305, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let nonce = XNonce::from(rand::random::<[u8; 24]>());
    let sealed = cipher
        .encrypt(&nonce, Payload { msg: plain, aad })
        .expect("encryption cannot fail for in-memory data");
    let mut out = Vec::with_capacity(24 + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

pub(crate) fn open_with(
    cipher: &XChaCha20Poly1305,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    if sealed.len() < 24 {
        return Err(DecryptError);
    }
    let (nonce, body) = sealed.split_at(24);
    let nonce = XNonce::try_from(nonce).map_err(|_| DecryptError)?;
    cipher
        .decrypt(&nonce, Payload { msg: body, aad })
        .map_err(|_| DecryptError)
}

struct Keyring {
    /// The keys new data is sealed with (the last ones loaded).
    current: Keys,
    by_id: std::collections::HashMap<String, Keys>,
}

fn keyring() -> &'static std::sync::RwLock<Option<Keyring>> {
    static RING: std::sync::OnceLock<std::sync::RwLock<Option<Keyring>>> =
        std::sync::OnceLock::new();
    RING.get_or_init(|| std::sync::RwLock::new(None))
}

/// Keys are installed in a process-wide keyring when they are loaded, so the row decoder of
/// sealed medical text (`crate::seal::Sealed`) finds the key named in a value. The last keys
/// loaded seal new data; every key loaded still opens what it sealed.
fn install(keys: &Keys) {
    let mut ring = keyring().write().unwrap_or_else(|e| e.into_inner());
    let id = keys.key_id();
    match ring.as_mut() {
        Some(r) => {
            r.current = keys.clone();
            r.by_id.insert(id, keys.clone());
        }
        None => {
            *ring = Some(Keyring {
                current: keys.clone(),
                by_id: std::collections::HashMap::from([(id, keys.clone())]),
            })
        }
    }
}

/// The keys new data is sealed with.
pub fn current_keys() -> Keys {
    keyring()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|r| r.current.clone())
        .expect("keys are loaded before any data is written")
}

/// The loaded keys whose [`Keys::key_id`] is `id`.
pub fn keys_by_id(id: &str) -> Option<Keys> {
    keyring()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|r| r.by_id.get(id).cloned())
}

fn decode_key(b64: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = B64.decode(b64.trim()).context("key is not base64")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("key must be 32 bytes"))
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A random URL-safe token of 32 bytes.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `138****5678`
pub fn mask_phone(phone: &str) -> String {
    mask_middle(phone, 3, 4)
}

/// `110***********123X`
pub fn mask_id_number(id: &str) -> String {
    mask_middle(id, 3, 4)
}

fn mask_middle(s: &str, keep_start: usize, keep_end: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= keep_start + keep_end {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..keep_start].iter().collect();
    out.push_str(&"*".repeat(chars.len() - keep_start - keep_end));
    out.extend(&chars[chars.len() - keep_end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_context_binding() {
        let keys = Keys::for_tests();
        let sealed = keys.encrypt("users.phone|a", "13800138000");
        assert!(!sealed.contains("13800138000"));
        assert_eq!(
            keys.decrypt("users.phone|a", &sealed).unwrap(),
            "13800138000"
        );
        assert!(
            keys.decrypt("users.phone|b", &sealed).is_err(),
            "moved ciphertext must not decrypt"
        );
        assert_ne!(
            sealed,
            keys.encrypt("users.phone|a", "13800138000"),
            "nonces are random"
        );
    }

    #[test]
    fn blind_index_is_keyed_and_scoped() {
        let keys = Keys::for_tests();
        assert_eq!(
            keys.blind_index("phone", "1"),
            keys.blind_index("phone", "1")
        );
        assert_ne!(keys.blind_index("phone", "1"), keys.blind_index("id", "1"));
    }

    #[test]
    fn masks() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_id_number("11010519491231002X"), "110***********002X");
        assert_eq!(mask_phone("12"), "**");
    }
}

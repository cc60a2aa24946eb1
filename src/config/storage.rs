//! Where uploads are stored, from the environment (the settings themselves are defined with the
//! store, `crate::db::FileStore`).

use crate::db::{S3Settings, StorageSettings};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl StorageSettings {
    /// See [`StorageSettings`] for the variables.
    pub fn from_env() -> StorageSettings {
        StorageSettings {
            url: env("MEDCLAIM_STORAGE_URL"),
            s3: S3Settings {
                endpoint: env("MEDCLAIM_S3_ENDPOINT"),
                region: env("MEDCLAIM_S3_REGION"),
                access_key_id: env("MEDCLAIM_S3_ACCESS_KEY_ID"),
                secret_access_key: env("MEDCLAIM_S3_SECRET_ACCESS_KEY"),
            },
        }
    }
}

//! Accounts: roles, login names, passwords and personal identifiers, parsed once.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// A login name: a student id or a staff account, 1–32 of `A-Z a-z 0-9 _ . -`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Username, &'static str> {
        let s = s.trim();
        if s.is_empty() {
            return Err("is empty");
        }
        if s.len() > 32
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err("must be 1–32 letters, digits, '_', '.' or '-'");
        }
        Ok(Username(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A mainland mobile number: 11 digits starting with 1 (spaces and dashes ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(s: &str) -> Result<Phone, &'static str> {
        let digits: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = digits.strip_prefix("+86").unwrap_or(&digits).to_string();
        if digits.len() == 11
            && digits.starts_with('1')
            && digits.chars().all(|c| c.is_ascii_digit())
        {
            Ok(Phone(digits))
        } else {
            Err("must be an 11-digit mobile number")
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A resident identity card number (GB 11643): 17 digits and an ISO 7064 MOD 11-2 check
/// character, with a real birth date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdNumber(String);

impl IdNumber {
    pub fn parse(s: &str) -> Result<IdNumber, &'static str> {
        let s = s.trim().to_ascii_uppercase();
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 18 || !chars[..17].iter().all(|c| c.is_ascii_digit()) {
            return Err("must be 18 characters: 17 digits and a check digit or X");
        }
        if chars[17] != check_char(&s[..17]) {
            return Err("check digit does not match");
        }
        if chrono::NaiveDate::parse_from_str(&s[6..14], "%Y%m%d").is_err() {
            return Err("birth date is not a real date");
        }
        Ok(IdNumber(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The check character for the first 17 digits of an identity card number.
pub fn check_char(first17: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let sum: u32 = first17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    CHECK[(sum % 11) as usize]
}

/// Enrolment status of a student.
pub fn parse_enrolment(s: &str) -> Result<&'static str, &'static str> {
    match s.trim() {
        "" | "enrolled" | "在读" | "在籍" => Ok("enrolled"),
        "suspended" | "休学" => Ok("suspended"),
        "graduated" | "毕业" | "已毕业" => Ok("graduated"),
        "withdrawn" | "退学" => Ok("withdrawn"),
        _ => Err("must be enrolled, suspended, graduated or withdrawn (在读/休学/毕业/退学)"),
    }
}

pub const MIN_PASSWORD_LEN: usize = 8;

pub fn check_new_password(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err("must be at least 8 characters");
    }
    if password.len() > 1024 {
        return Err("is too long");
    }
    Ok(())
}

/// A short, human label for the device behind a User-Agent ("Chrome · Android", "WeChat ·
/// iPhone"), shown in "我的" next to each session; the full string is never kept. A program's
/// User-Agent gives its first product token ("curl"); none gives `None`.
pub fn device_label(user_agent: &str) -> Option<String> {
    let ua = user_agent.trim();
    if ua.is_empty() {
        return None;
    }
    let has = |s: &str| ua.contains(s);
    let os = [
        ("HarmonyOS", "HarmonyOS"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Macintosh", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(needle, _)| has(needle))
    .map(|(_, name)| name);
    let app = [
        ("MicroMessenger", "WeChat"),
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ]
    .into_iter()
    .find(|(needle, _)| has(needle))
    .map(|(_, name)| name);
    match (app, os) {
        (Some(app), Some(os)) => Some(format!("{app} · {os}")),
        (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
        (None, None) => {
            let product: String = ua
                .split(['/', ' '])
                .next()
                .unwrap_or_default()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .take(32)
                .collect();
            (!product.is_empty()).then_some(product)
        }
    }
}

/// argon2id with the crate's recommended parameters; slow on purpose, so off the async runtime.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await?
}

/// Verifies `password` against a stored hash; with no stored hash it still spends the same
/// time on a dummy, so an unknown user cannot be told from a wrong password by timing.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    static DUMMY: LazyLock<String> = LazyLock::new(|| {
        Argon2::default()
            .hash_password(b"no such user")
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    let has_hash = stored.is_some();
    let ok = tokio::task::spawn_blocking(move || {
        let hash = stored.as_deref().unwrap_or(DUMMY.as_str());
        Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok()
    })
    .await
    .unwrap_or(false);
    ok && has_hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::auth::Role;

    #[test]
    fn id_numbers() {
        assert!(IdNumber::parse("11010519491231002X").is_ok());
        assert!(IdNumber::parse("11010519491231002x").is_ok());
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err("check digit does not match")
        );
        assert!(IdNumber::parse("1101051949123100").is_err());
        let first = "11010519490231002"; // 31 February
        let with_check = format!("{first}{}", check_char(first));
        assert_eq!(
            IdNumber::parse(&with_check),
            Err("birth date is not a real date")
        );
    }

    #[test]
    fn phones_and_usernames() {
        assert_eq!(
            Phone::parse("138-0013 8000").unwrap().as_str(),
            "13800138000"
        );
        assert_eq!(
            Phone::parse("+8613800138000").unwrap().as_str(),
            "13800138000"
        );
        assert!(Phone::parse("23800138000").is_err());
        assert!(Username::parse("2023001").is_ok());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("'; DROP TABLE users; --").is_err());
    }

    #[test]
    fn device_labels() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.40";
        assert_eq!(device_label(iphone).as_deref(), Some("WeChat · iPhone"));
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
                       Chrome/120.0 Mobile Safari/537.36";
        assert_eq!(device_label(android).as_deref(), Some("Chrome · Android"));
        assert_eq!(device_label("curl/8.5.0").as_deref(), Some("curl"));
        assert_eq!(device_label("  "), None);
    }

    #[test]
    fn roles_parse() {
        assert_eq!("reviewer2".parse::<Role>().unwrap(), Role::Reviewer2);
        assert!("root".parse::<Role>().is_err());
    }
}

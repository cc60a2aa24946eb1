//! The rules of payout accounts and batches, without I/O.

use crate::http::{AppError, ErrorCode};

/// A bank account number: 12–30 digits; spaces typed between groups are dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountNo(String);

impl std::fmt::Debug for AccountNo {
    /// Never the full number, even in a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccountNo({})", mask_account_no(&self.0))
    }
}

impl AccountNo {
    pub fn parse(typed: &str) -> Result<AccountNo, AppError> {
        let digits: String = typed.chars().filter(|c| *c != ' ').collect();
        let valid = (12..=30).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
        if !valid {
            return Err(ErrorCode::InvalidAccountNo
                .with_message("A bank account number has 12 to 30 digits.")
                .with_field("account_no", "12 to 30 digits"));
        }
        Ok(AccountNo(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `6222 **** **** 1234`: the first and last four digits, as on a bank card.
pub fn mask_account_no(digits: &str) -> String {
    let chars: Vec<char> = digits.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head} **** **** {tail}")
}

/// Longest bank or holder name accepted.
pub const MAX_NAME_CHARS: usize = 60;

/// A payout account as the student typed it, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutAccount {
    pub bank_name: String,
    pub account_no: AccountNo,
    pub holder_name: String,
}

fn name(field: &'static str, value: &str) -> Result<String, AppError> {
    let v = value.trim();
    let why = if v.is_empty() {
        "is required"
    } else if v.chars().count() > MAX_NAME_CHARS {
        "is too long (at most 60 characters)"
    } else if v.chars().any(char::is_control) {
        "has control characters"
    } else {
        return Ok(v.to_string());
    };
    Err(ErrorCode::InvalidInput
        .with_message(format!("{field} {why}."))
        .with_field(field, why))
}

impl PayoutAccount {
    pub fn parse(
        bank_name: &str,
        account_no: &str,
        holder_name: &str,
    ) -> Result<PayoutAccount, AppError> {
        Ok(PayoutAccount {
            bank_name: name("bank_name", bank_name)?,
            account_no: AccountNo::parse(account_no)?,
            holder_name: name("holder_name", holder_name)?,
        })
    }
}

/// The associated data that binds a sealed account number to its owner's row.
pub fn account_context(user_id: i64) -> String {
    format!("payout_accounts.account_no|{user_id}")
}

/// The associated data of the copy of the number kept with a batch item.
pub fn item_context(batch_id: i64, case_id: i64) -> String {
    format!("payout_items.account_no|{batch_id}|{case_id}")
}

/// Why a case waiting for payment was left out of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The student has not entered a payout account.
    NoAccount,
    /// The bank returned an earlier transfer and the account has not been changed since.
    AccountNotFixed,
}

/// Whether a case can go into a batch now: it needs an account, and after a returned
/// transfer an account changed since the return.
pub fn skip_reason(
    account_updated_at: Option<i64>,
    last_returned_at: Option<i64>,
) -> Option<SkipReason> {
    match (account_updated_at, last_returned_at) {
        (None, _) => Some(SkipReason::NoAccount),
        (Some(updated), Some(returned)) if updated <= returned => Some(SkipReason::AccountNotFixed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_numbers() {
        assert_eq!(
            AccountNo::parse("6222 0212 3456 7890 123")
                .unwrap()
                .as_str(),
            "6222021234567890123"
        );
        assert!(AccountNo::parse("12345678901").is_err(), "11 digits");
        assert!(AccountNo::parse("123456789012").is_ok(), "12 digits");
        assert!(AccountNo::parse(&"1".repeat(30)).is_ok());
        assert!(AccountNo::parse(&"1".repeat(31)).is_err());
        assert!(AccountNo::parse("6222-0212-3456-7890").is_err());
        assert!(
            AccountNo::parse("６２２２０２１２３４５６７８").is_err(),
            "full-width digits"
        );
        assert_eq!(
            AccountNo::parse("x").unwrap_err().code.as_str(),
            "invalid_account_no"
        );
        let debug = format!("{:?}", AccountNo::parse("6222021234567890123").unwrap());
        assert!(!debug.contains("021234567890"), "{debug}");
    }

    #[test]
    fn masking_keeps_four_and_four() {
        assert_eq!(
            mask_account_no("6222021234567890123"),
            "6222 **** **** 0123"
        );
        assert_eq!(mask_account_no("123456789012"), "1234 **** **** 9012");
    }

    #[test]
    fn names_are_required_and_bounded() {
        let ok = PayoutAccount::parse(" 中国工商银行 ", "622202123456789", " 张三 ").unwrap();
        assert_eq!(ok.bank_name, "中国工商银行");
        assert_eq!(ok.holder_name, "张三");
        for (bank, holder, field) in [
            ("", "张三", "bank_name"),
            ("银行", "  ", "holder_name"),
            (&*"银".repeat(61), "张三", "bank_name"),
        ] {
            let e = PayoutAccount::parse(bank, "622202123456789", holder).unwrap_err();
            assert_eq!(e.code.as_str(), "invalid_input");
            assert!(e.fields.contains_key(field), "{field}");
        }
    }

    #[test]
    fn returned_cases_wait_for_a_changed_account() {
        assert_eq!(skip_reason(None, None), Some(SkipReason::NoAccount));
        assert_eq!(skip_reason(Some(5), None), None);
        assert_eq!(
            skip_reason(Some(5), Some(7)),
            Some(SkipReason::AccountNotFixed)
        );
        assert_eq!(
            skip_reason(Some(7), Some(7)),
            Some(SkipReason::AccountNotFixed)
        );
        assert_eq!(skip_reason(Some(8), Some(7)), None);
    }
}

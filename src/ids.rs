//! Typed row ids, so a case id cannot be passed where an invoice id is meant.
//!
//! Foundation: imports no bounded context. Each id is the bare integer on the wire, in the
//! database and in the OpenAPI document (serde, sqlx and utoipa see an `i64`), and prints as
//! that integer (`#{case_id}`, `/cases/{id}`).

/// Declares `pub struct $name(i64)` ids with the same derives and conversions.
macro_rules! typed_ids {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            serde::Serialize,
            serde::Deserialize,
            sqlx::Type,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        #[schema(value_type = i64, format = Int64)]
        pub struct $name(i64);

        impl $name {
            pub const fn new(id: i64) -> $name {
                $name(id)
            }

            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<$name, Self::Err> {
                s.parse().map($name)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }
    )*};
}

typed_ids! {
    /// A claim case (`cases.id`).
    CaseId,
    /// An invoice of a case (`invoices.id`).
    InvoiceId,
    /// A medical record page of a case (`case_records.id`).
    RecordId,
    /// A stored file (`files.id`).
    FileId,
    /// A person's account (`users.id`).
    UserId,
    /// A hand-in slot (`slots.id`).
    SlotId,
    /// A booking of a slot (`bookings.id`).
    BookingId,
    /// A notice on the notice board (`notices.id`).
    NoticeId,
    /// A partner insurer (`insurers.id`).
    InsurerId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_integer_everywhere() {
        let id = CaseId::new(42);
        assert_eq!(serde_json::to_string(&id).unwrap(), "42");
        assert_eq!(serde_json::from_str::<CaseId>("42").unwrap(), id);
        assert_eq!(format!("#{id}"), "#42");
        assert_eq!("42".parse::<CaseId>().unwrap(), id);
        assert!(serde_json::from_str::<CaseId>("\"x\"").is_err());
    }
}

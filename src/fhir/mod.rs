//! Hand-written HL7 FHIR R4 (4.0.1) types for the few resources we exchange (no Rust crate has
//! R4 models): the shared elements here, the insurer exchange in `outbound` (what we send:
//! CoverageEligibilityRequest, Claim) and `inbound` (what insurers send back). Only the elements we read or write are modelled; unknown ones are ignored on
//! input. What we emit is checked against an independent R4 validator in `tests/fhir/`.

mod inbound;
pub mod money;
mod outbound;
pub mod outcome;

use serde::{Deserialize, Serialize};

pub use inbound::{
    Adjudication, Destination, Eligibility, ItemAdjudication, PaymentDetail, PaymentNotice,
    parse_claim_response, parse_eligibility, parse_payment,
};
pub use money::{MoneyError, cents_from_number};
pub use outbound::{
    ClaimInput, ClaimItemInput, EligibilityInput, claim, coverage_eligibility_request,
};

use crate::money::Cents;
pub use outcome::{Issue, OperationOutcome};

pub const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
pub const NATIONAL_ID: &str = "urn:medclaim:national-id";
/// `Claim.identifier` system: the value is our case id.
pub const CASE_ID: &str = "urn:medclaim:case";
pub const STUDENT_ID: &str = "urn:medclaim:student-id";
pub const POLICY_NO: &str = "urn:medclaim:policy-no";
pub const WALLET: &str = "urn:medclaim:wallet";
pub const BANK_ACCOUNT: &str = "urn:medclaim:bank-account";

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Identifier {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Identifier {
    pub fn new(system: &str, value: impl Into<String>) -> Identifier {
        Identifier {
            system: Some(system.to_string()),
            value: Some(value.into()),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Coding {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct CodeableConcept {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    pub fn code(system: &str, code: &str, display: Option<&str>) -> CodeableConcept {
        CodeableConcept {
            coding: vec![Coding {
                system: Some(system.to_string()),
                code: Some(code.to_string()),
                display: display.map(str::to_string),
            }],
            text: None,
        }
    }
    pub fn text(text: &str) -> CodeableConcept {
        CodeableConcept {
            coding: Vec::new(),
            text: Some(text.to_string()),
        }
    }
    /// The text, else the first coding's display, else its code.
    pub fn label(&self) -> Option<&str> {
        self.text
            .as_deref()
            .or_else(|| self.coding.iter().find_map(|c| c.display.as_deref()))
            .or_else(|| self.coding.iter().find_map(|c| c.code.as_deref()))
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Reference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    pub fn identifier(system: &str, value: impl Into<String>) -> Reference {
        Reference {
            identifier: Some(Identifier::new(system, value)),
            ..Reference::default()
        }
    }
    pub fn display(text: &str) -> Reference {
        Reference {
            display: Some(text.to_string()),
            ..Reference::default()
        }
    }
}

/// FHIR Money as received: the value kept as the JSON number (parsed exactly later).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct MoneyIn {
    pub value: Option<serde_json::Value>,
    pub currency: Option<String>,
}

/// FHIR Money as sent: CNY cents written as an exact decimal number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cny(pub Cents);

impl Serialize for Cny {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Money", 2)?;
        st.serialize_field("value", &money::number_from_cents(self.0))?;
        st.serialize_field("currency", "CNY")?;
        st.end()
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Period {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// The date part (`YYYY-MM-DD`) of a FHIR date or dateTime, when it is a real date.
pub fn date_part(s: &str) -> Option<chrono::NaiveDate> {
    let head = s.get(..10)?;
    chrono::NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()
}

/// Amount of a Money in cents: present, CNY, at most two decimals (or trailing zeros).
pub fn money_cents(m: Option<&MoneyIn>) -> Result<Cents, String> {
    let m = m.ok_or("amount is missing")?;
    if m.currency.as_deref() != Some("CNY") {
        return Err("currency must be CNY".into());
    }
    match &m.value {
        Some(serde_json::Value::Number(n)) => cents_from_number(n).map_err(|e| e.to_string()),
        Some(_) => Err("value must be a JSON number".into()),
        None => Err("value is missing".into()),
    }
}

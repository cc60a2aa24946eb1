//! What insurers send us: CoverageEligibilityResponse, ClaimResponse, PaymentReconciliation.

use crate::money::Cents;
use serde::{Deserialize, Serialize};

use crate::crypto::mask_phone;
use crate::fhir::{
    BANK_ACCOUNT, CASE_ID, CodeableConcept, Identifier, Issue, MoneyIn, Reference, WALLET,
    date_part, money_cents,
};

fn resource<'de, T: Deserialize<'de>>(
    value: &'de serde_json::Value,
    kind: &str,
) -> Result<T, Vec<Issue>> {
    if value.get("resourceType").and_then(|t| t.as_str()) != Some(kind) {
        return Err(vec![Issue::error(
            "structure",
            kind,
            format!("resourceType must be {kind}"),
        )]);
    }
    T::deserialize(value).map_err(|e| {
        vec![Issue::error(
            "structure",
            kind,
            format!("{kind} is malformed: {e}"),
        )]
    })
}

/// The answer to an eligibility check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eligibility {
    pub covered: bool,
    /// The insurer's words when not covered.
    pub reason: Option<String>,
}

#[derive(Deserialize)]
struct CoverageEligibilityResponse {
    outcome: Option<String>,
    disposition: Option<String>,
    #[serde(default)]
    insurance: Vec<EligibilityInsuranceIn>,
    #[serde(default)]
    error: Vec<ErrorIn>,
}

#[derive(Deserialize)]
struct EligibilityInsuranceIn {
    inforce: Option<bool>,
}

#[derive(Deserialize)]
struct ErrorIn {
    code: Option<CodeableConcept>,
}

/// Covered when the outcome is not `error` and some insurance is in force.
pub fn parse_eligibility(value: &serde_json::Value) -> Result<Eligibility, Vec<Issue>> {
    let r: CoverageEligibilityResponse = resource(value, "CoverageEligibilityResponse")?;
    let in_force = r.insurance.iter().any(|i| i.inforce == Some(true));
    let covered = r.outcome.as_deref() != Some("error") && in_force;
    let reason = (!covered).then(|| {
        r.error
            .iter()
            .find_map(|e| e.code.as_ref().and_then(|c| c.label()).map(str::to_string))
            .or(r.disposition.clone())
            .unwrap_or_else(|| "not in force".to_string())
    });
    Ok(Eligibility { covered, reason })
}

/// What an insurer decided about a claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Adjudication {
    pub response_identifier: Option<String>,
    pub case_id: i64,
    /// `queued | complete | error | partial`
    pub outcome: String,
    pub disposition: Option<String>,
    pub items: Vec<ItemAdjudication>,
    /// What the insurer will pay (payment.amount, else the benefit total, else the items' sum).
    pub payout_cents: Option<Cents>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemAdjudication {
    pub sequence: i64,
    pub benefit_cents: Option<Cents>,
    pub reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClaimResponse {
    #[serde(default)]
    identifier: Vec<Identifier>,
    outcome: Option<String>,
    disposition: Option<String>,
    request: Option<Reference>,
    #[serde(default)]
    item: Vec<ResponseItem>,
    #[serde(default)]
    total: Vec<Total>,
    payment: Option<PaymentIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseItem {
    item_sequence: Option<i64>,
    #[serde(default)]
    adjudication: Vec<AdjudicationIn>,
}

#[derive(Deserialize)]
struct AdjudicationIn {
    category: Option<CodeableConcept>,
    reason: Option<CodeableConcept>,
    amount: Option<MoneyIn>,
}

#[derive(Deserialize)]
struct Total {
    category: Option<CodeableConcept>,
    amount: Option<MoneyIn>,
}

#[derive(Deserialize)]
struct PaymentIn {
    amount: Option<MoneyIn>,
}

fn is_benefit(c: Option<&CodeableConcept>) -> bool {
    c.is_some_and(|c| {
        c.coding
            .iter()
            .any(|k| k.code.as_deref() == Some("benefit"))
    })
}

fn case_of(reference: Option<&Reference>) -> Option<i64> {
    let id = reference?.identifier.as_ref()?;
    if id.system.as_deref() != Some(CASE_ID) {
        return None;
    }
    id.value.as_deref()?.trim().parse().ok()
}

pub fn parse_claim_response(value: &serde_json::Value) -> Result<Adjudication, Vec<Issue>> {
    let r: ClaimResponse = resource(value, "ClaimResponse")?;
    let mut issues = Vec::new();
    let case_id = case_of(r.request.as_ref());
    if case_id.is_none() {
        issues.push(Issue::error(
            "required",
            "ClaimResponse.request.identifier",
            format!("request must name our claim: identifier system {CASE_ID}, value the case id"),
        ));
    }
    let outcome = match r.outcome.as_deref() {
        Some(o @ ("queued" | "complete" | "error" | "partial")) => o.to_string(),
        _ => {
            issues.push(Issue::error(
                "value",
                "ClaimResponse.outcome",
                "outcome must be queued, complete, error or partial",
            ));
            String::new()
        }
    };
    let mut money = |m: Option<&MoneyIn>, at: String| -> Option<Cents> {
        match money_cents(m) {
            Ok(c) => Some(c),
            Err(why) => {
                issues.push(Issue::error("value", at, why));
                None
            }
        }
    };
    let mut items = Vec::new();
    for (i, item) in r.item.iter().enumerate() {
        let benefit = item
            .adjudication
            .iter()
            .position(|a| is_benefit(a.category.as_ref()));
        let benefit_cents = benefit.and_then(|b| {
            money(
                item.adjudication[b].amount.as_ref(),
                format!("ClaimResponse.item[{i}].adjudication[{b}].amount"),
            )
        });
        items.push(ItemAdjudication {
            sequence: item.item_sequence.unwrap_or(i as i64 + 1),
            benefit_cents,
            reason: item.adjudication.iter().find_map(|a| {
                a.reason
                    .as_ref()
                    .and_then(|c| c.label())
                    .map(str::to_string)
            }),
        });
    }
    let payout_cents = if let Some(p) = r.payment.as_ref().filter(|p| p.amount.is_some()) {
        money(p.amount.as_ref(), "ClaimResponse.payment.amount".into())
    } else if let Some((t, total)) = r
        .total
        .iter()
        .enumerate()
        .find(|(_, t)| is_benefit(t.category.as_ref()))
    {
        money(
            total.amount.as_ref(),
            format!("ClaimResponse.total[{t}].amount"),
        )
    } else if !items.is_empty() && items.iter().all(|i| i.benefit_cents.is_some()) {
        items
            .iter()
            .filter_map(|i| i.benefit_cents)
            .sum::<Option<Cents>>()
    } else {
        None
    };
    if matches!(outcome.as_str(), "complete" | "partial")
        && payout_cents.is_none()
        && issues.is_empty()
    {
        issues.push(Issue::error(
            "required",
            "ClaimResponse.payment.amount",
            "an adjudicated claim needs payment.amount or a benefit total",
        ));
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(Adjudication {
        response_identifier: r.identifier.first().and_then(|i| i.value.clone()),
        case_id: case_id.expect("checked above"),
        outcome,
        disposition: r.disposition,
        items,
        payout_cents,
    })
}

/// A payment notice: what an insurer paid, case by case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentNotice {
    pub identifier: String,
    pub payment_date: String,
    pub total_cents: Cents,
    pub details: Vec<PaymentDetail>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentDetail {
    pub case_id: Option<i64>,
    pub amount_cents: Cents,
    pub date: String,
    pub destination: Destination,
}

/// Where the money went; a bank account only ever kept masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Wallet(String),
    Bank(String),
    Unknown,
}

impl Destination {
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Wallet(_) => "wallet",
            Destination::Bank(_) => "bank",
            Destination::Unknown => "unknown",
        }
    }
    pub fn masked(&self) -> Option<String> {
        match self {
            Destination::Wallet(w) => Some(mask_phone(w)),
            Destination::Bank(b) => {
                let digits: Vec<char> = b.chars().filter(|c| !c.is_whitespace()).collect();
                let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
                Some(format!("****{tail}"))
            }
            Destination::Unknown => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentReconciliation {
    #[serde(default)]
    identifier: Vec<Identifier>,
    payment_date: Option<String>,
    payment_amount: Option<MoneyIn>,
    #[serde(default)]
    detail: Vec<DetailIn>,
}

#[derive(Deserialize)]
struct DetailIn {
    request: Option<Reference>,
    date: Option<String>,
    payee: Option<Reference>,
    amount: Option<MoneyIn>,
}

pub fn parse_payment(value: &serde_json::Value) -> Result<PaymentNotice, Vec<Issue>> {
    let r: PaymentReconciliation = resource(value, "PaymentReconciliation")?;
    let mut issues = Vec::new();
    let identifier = r
        .identifier
        .first()
        .and_then(|i| i.value.clone())
        .filter(|v| !v.trim().is_empty() && v.len() <= 64);
    if identifier.is_none() {
        issues.push(Issue::error(
            "required",
            "PaymentReconciliation.identifier",
            "the payment needs an identifier (1–64 characters), so a re-sent notice is recognised",
        ));
    }
    let payment_date = r.payment_date.as_deref().and_then(date_part);
    if payment_date.is_none() {
        issues.push(Issue::error(
            "required",
            "PaymentReconciliation.paymentDate",
            "paymentDate must be a date (YYYY-MM-DD)",
        ));
    }
    let total = money_cents(r.payment_amount.as_ref())
        .map_err(|why| {
            issues.push(Issue::error(
                "value",
                "PaymentReconciliation.paymentAmount",
                why,
            ))
        })
        .ok();
    if r.detail.is_empty() {
        issues.push(Issue::error(
            "required",
            "PaymentReconciliation.detail",
            "list each case paid as a detail",
        ));
    }
    let mut details = Vec::new();
    for (i, d) in r.detail.iter().enumerate() {
        let at = format!("PaymentReconciliation.detail[{i}]");
        let amount = match money_cents(d.amount.as_ref()) {
            Ok(c) => Some(c),
            Err(why) => {
                issues.push(Issue::error("value", format!("{at}.amount"), why));
                None
            }
        };
        let case_id = case_of(d.request.as_ref());
        if case_id.is_none() {
            issues.push(Issue::error(
                "required",
                format!("{at}.request.identifier"),
                format!(
                    "request must name the claim: identifier system {CASE_ID}, value the case id"
                ),
            ));
        }
        let destination = match d.payee.as_ref().and_then(|p| p.identifier.as_ref()) {
            Some(Identifier {
                system: Some(s),
                value: Some(v),
            }) if s == WALLET => Destination::Wallet(v.clone()),
            Some(Identifier {
                system: Some(s),
                value: Some(v),
            }) if s == BANK_ACCOUNT => Destination::Bank(v.clone()),
            _ => Destination::Unknown,
        };
        let date = d.date.as_deref().and_then(date_part).or(payment_date);
        if let (Some(amount_cents), Some(date)) = (amount, date) {
            details.push(PaymentDetail {
                case_id,
                amount_cents,
                date: date.format("%Y-%m-%d").to_string(),
                destination,
            });
        }
    }
    if let Some(total) = total
        && issues.is_empty()
        && Cents::checked_sum(details.iter().map(|d| d.amount_cents)) != Some(total)
    {
        issues.push(Issue::error(
            "business-rule",
            "PaymentReconciliation.paymentAmount",
            "paymentAmount must equal the sum of the details' amounts",
        ));
    }
    match (identifier, payment_date, total) {
        (Some(identifier), Some(date), Some(total_cents)) if issues.is_empty() => {
            Ok(PaymentNotice {
                identifier,
                payment_date: date.format("%Y-%m-%d").to_string(),
                total_cents,
                details,
            })
        }
        _ => Err(issues),
    }
}

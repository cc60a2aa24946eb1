//! The visit bundle a hospital pushes: a FHIR R4 Bundle of type `collection` with one Patient,
//! Encounter, Condition and Invoice. Parsing collects every problem, each with the FHIRPath of
//! the element at fault, so the hospital can fix everything at once.

use crate::money::Cents;
use serde::{Deserialize, Serialize};

use crate::accounts::domain::IdNumber;
use crate::fhir::{
    CodeableConcept, ICD10, Identifier, Issue, MoneyIn, NATIONAL_ID, Period, date_part, money_cents,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    resource_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    resource: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Patient {
    #[serde(default)]
    identifier: Vec<Identifier>,
}

#[derive(Deserialize)]
struct Encounter {
    #[serde(default)]
    identifier: Vec<Identifier>,
    period: Option<Period>,
}

#[derive(Deserialize)]
struct Condition {
    code: Option<CodeableConcept>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Invoice {
    #[serde(default)]
    identifier: Vec<Identifier>,
    #[serde(default)]
    line_item: Vec<LineItem>,
    total_gross: Option<MoneyIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineItem {
    charge_item_codeable_concept: Option<CodeableConcept>,
    #[serde(default)]
    price_component: Vec<PriceComponent>,
}

#[derive(Deserialize)]
struct PriceComponent {
    #[serde(rename = "type")]
    kind: Option<String>,
    amount: Option<MoneyIn>,
}

/// A visit as the hospital described it; a value of this type is complete and consistent.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Visit {
    pub hospital_visit_id: String,
    /// Normalised national id number. Never logged, stored only sealed.
    #[serde(skip)]
    pub patient_id: String,
    pub visit_date: String,
    pub diagnosis_code: String,
    pub diagnosis_text: Option<String>,
    pub invoice_no: String,
    pub total_cents: Cents,
    pub fee_lines: Vec<FeeLine>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FeeLine {
    pub code: Option<String>,
    pub display: String,
    pub amount_cents: Cents,
}

impl Visit {
    /// Hash of the visit's meaning (not of the bytes: a re-push with other whitespace or
    /// metadata is the same visit). Visits stored before sealing hold this plain SHA-256.
    pub fn content_sha256(&self) -> String {
        crate::crypto::sha256_hex(self.meaning().as_bytes())
    }

    /// The same, keyed with the index key, as stored now: a copied database cannot confirm a
    /// guessed diagnosis by hashing it.
    pub fn content_hash(&self, keys: &crate::crypto::Keys) -> String {
        keys.keyed_hash("visit", self.meaning().as_bytes())
    }

    fn meaning(&self) -> String {
        let mut text = serde_json::to_string(self).expect("serialisable");
        text.push('|');
        text.push_str(&self.patient_id);
        text
    }
}

/// Parses a pushed bundle, or answers every problem found.
pub fn parse(body: &[u8]) -> Result<Visit, Vec<Issue>> {
    let bundle: Bundle = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => {
            return Err(vec![Issue::error(
                "structure",
                "Bundle",
                format!("not a JSON Bundle: {}", strip_position(&e.to_string())),
            )]);
        }
    };
    let mut issues = Vec::new();
    if bundle.resource_type.as_deref() != Some("Bundle") {
        issues.push(Issue::error(
            "structure",
            "Bundle.resourceType",
            "resourceType must be Bundle",
        ));
    }
    if bundle.kind.as_deref() != Some("collection") {
        issues.push(Issue::error(
            "value",
            "Bundle.type",
            "type must be collection",
        ));
    }
    let patient: Option<(String, Patient)> = one_of(&bundle, "Patient", &mut issues);
    let encounter: Option<(String, Encounter)> = one_of(&bundle, "Encounter", &mut issues);
    let condition: Option<(String, Condition)> = one_of(&bundle, "Condition", &mut issues);
    let invoice: Option<(String, Invoice)> = one_of(&bundle, "Invoice", &mut issues);

    let patient_id = patient.and_then(|(at, p)| patient_id(&at, &p, &mut issues));
    let (visit_id, visit_date) = encounter
        .map(|(at, e)| encounter_fields(&at, &e, &mut issues))
        .unwrap_or((None, None));
    let diagnosis = condition.and_then(|(at, c)| diagnosis(&at, &c, &mut issues));
    let billing = invoice.and_then(|(at, i)| invoice_fields(&at, &i, &mut issues));

    match (patient_id, visit_id, visit_date, diagnosis, billing) {
        (
            Some(patient_id),
            Some(hospital_visit_id),
            Some(visit_date),
            Some((code, text)),
            Some((invoice_no, total_cents, fee_lines)),
        ) if issues.is_empty() => Ok(Visit {
            hospital_visit_id,
            patient_id,
            visit_date,
            diagnosis_code: code,
            diagnosis_text: text,
            invoice_no,
            total_cents,
            fee_lines,
        }),
        _ => Err(issues),
    }
}

fn strip_position(msg: &str) -> String {
    msg.find(" at line ").map_or(msg, |i| &msg[..i]).to_string()
}

/// The single resource of `kind` in the bundle, with its FHIRPath.
fn one_of<T: for<'de> Deserialize<'de>>(
    bundle: &Bundle,
    kind: &str,
    issues: &mut Vec<Issue>,
) -> Option<(String, T)> {
    let found: Vec<(usize, &serde_json::Value)> = bundle
        .entry
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.resource.as_ref().map(|r| (i, r)))
        .filter(|(_, r)| r.get("resourceType").and_then(|t| t.as_str()) == Some(kind))
        .collect();
    match found.as_slice() {
        [] => {
            issues.push(Issue::error(
                "required",
                format!("Bundle.entry.resource.ofType({kind})"),
                format!("the bundle has no {kind}"),
            ));
            None
        }
        [(i, resource)] => {
            let at = format!("Bundle.entry[{i}].resource");
            match serde_json::from_value::<T>((*resource).clone()) {
                Ok(t) => Some((at, t)),
                Err(e) => {
                    issues.push(Issue::error(
                        "structure",
                        at,
                        format!("{kind} is malformed: {}", strip_position(&e.to_string())),
                    ));
                    None
                }
            }
        }
        _ => {
            issues.push(Issue::error(
                "business-rule",
                format!("Bundle.entry.resource.ofType({kind})"),
                format!("the bundle has more than one {kind}; send one visit per bundle"),
            ));
            None
        }
    }
}

fn patient_id(at: &str, p: &Patient, issues: &mut Vec<Issue>) -> Option<String> {
    let Some((i, id)) = p
        .identifier
        .iter()
        .enumerate()
        .find(|(_, id)| id.system.as_deref() == Some(NATIONAL_ID))
    else {
        issues.push(Issue::error(
            "required",
            format!("{at}.identifier"),
            format!("the Patient needs an identifier with system {NATIONAL_ID}"),
        ));
        return None;
    };
    match IdNumber::parse(id.value.as_deref().unwrap_or("")) {
        Ok(n) => Some(n.as_str().to_string()),
        Err(why) => {
            issues.push(Issue::error(
                "value",
                format!("{at}.identifier[{i}].value"),
                format!("national id number {why}"),
            ));
            None
        }
    }
}

fn encounter_fields(
    at: &str,
    e: &Encounter,
    issues: &mut Vec<Issue>,
) -> (Option<String>, Option<String>) {
    let visit_id = match e
        .identifier
        .first()
        .and_then(|i| i.value.as_deref())
        .map(str::trim)
    {
        Some(v) if !v.is_empty() && v.chars().count() <= 64 => Some(v.to_string()),
        Some(_) => {
            issues.push(Issue::error(
                "value",
                format!("{at}.identifier[0].value"),
                "the visit id must be 1–64 characters",
            ));
            None
        }
        None => {
            issues.push(Issue::error(
                "required",
                format!("{at}.identifier"),
                "the Encounter needs an identifier: the hospital's visit id",
            ));
            None
        }
    };
    let start = e.period.as_ref().and_then(|p| p.start.as_deref());
    let date = match start.map(date_part) {
        Some(Some(d)) => Some(d.format("%Y-%m-%d").to_string()),
        Some(None) => {
            issues.push(Issue::error(
                "value",
                format!("{at}.period.start"),
                "period.start must be a date (YYYY-MM-DD) or dateTime",
            ));
            None
        }
        None => {
            issues.push(Issue::error(
                "required",
                format!("{at}.period.start"),
                "the Encounter needs period.start: the visit date",
            ));
            None
        }
    };
    (visit_id, date)
}

fn diagnosis(at: &str, c: &Condition, issues: &mut Vec<Issue>) -> Option<(String, Option<String>)> {
    let code = c.code.as_ref();
    let coding = code.and_then(|cc| {
        cc.coding
            .iter()
            .find(|k| k.system.as_deref() == Some(ICD10))
    });
    match coding.and_then(|k| k.code.as_deref()).map(str::trim) {
        Some(v) if !v.is_empty() && v.len() <= 16 => {
            let text = code
                .and_then(|cc| cc.text.clone())
                .or_else(|| coding.and_then(|k| k.display.clone()));
            Some((v.to_string(), text))
        }
        _ => {
            issues.push(Issue::error(
                "required",
                format!("{at}.code.coding"),
                format!("the Condition needs a code in system {ICD10}"),
            ));
            None
        }
    }
}

type Billing = (String, Cents, Vec<FeeLine>);

fn invoice_fields(at: &str, inv: &Invoice, issues: &mut Vec<Issue>) -> Option<Billing> {
    let before = issues.len();
    let invoice_no = match inv
        .identifier
        .first()
        .and_then(|i| i.value.as_deref())
        .map(str::trim)
    {
        Some(v) if !v.is_empty() && v.chars().count() <= 64 => Some(v.to_string()),
        _ => {
            issues.push(Issue::error(
                "required",
                format!("{at}.identifier"),
                "the Invoice needs an identifier: the invoice number (1–64 characters)",
            ));
            None
        }
    };
    if inv.line_item.is_empty() {
        issues.push(Issue::error(
            "required",
            format!("{at}.lineItem"),
            "the Invoice needs at least one lineItem",
        ));
    }
    let mut lines = Vec::new();
    for (i, item) in inv.line_item.iter().enumerate() {
        let here = format!("{at}.lineItem[{i}]");
        let concept = item.charge_item_codeable_concept.as_ref();
        let display = concept
            .and_then(|c| c.label())
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if display.is_none() {
            issues.push(Issue::error(
                "required",
                format!("{here}.chargeItemCodeableConcept"),
                "each line needs chargeItemCodeableConcept with text or a coding",
            ));
        }
        let base = item
            .price_component
            .iter()
            .position(|p| p.kind.as_deref() == Some("base"));
        let amount = match base {
            None => {
                issues.push(Issue::error(
                    "required",
                    format!("{here}.priceComponent"),
                    "each line needs a priceComponent of type base",
                ));
                None
            }
            Some(p) => match money_cents(item.price_component[p].amount.as_ref()) {
                Ok(c) if c.is_positive() => Some(c),
                Ok(_) => {
                    issues.push(Issue::error(
                        "value",
                        format!("{here}.priceComponent[{p}].amount"),
                        "amount must be more than zero",
                    ));
                    None
                }
                Err(why) => {
                    issues.push(Issue::error(
                        "value",
                        format!("{here}.priceComponent[{p}].amount"),
                        why,
                    ));
                    None
                }
            },
        };
        if let (Some(display), Some(amount_cents)) = (display, amount) {
            lines.push(FeeLine {
                code: concept.and_then(|c| c.coding.iter().find_map(|k| k.code.clone())),
                display: display.chars().take(200).collect(),
                amount_cents,
            });
        }
    }
    let total = match money_cents(inv.total_gross.as_ref()) {
        Ok(c) if c.is_positive() => Some(c),
        Ok(_) => {
            issues.push(Issue::error(
                "value",
                format!("{at}.totalGross"),
                "totalGross must be more than zero",
            ));
            None
        }
        Err(why) => {
            issues.push(Issue::error(
                if inv.total_gross.is_none() {
                    "required"
                } else {
                    "value"
                },
                format!("{at}.totalGross"),
                why,
            ));
            None
        }
    };
    if issues.len() > before {
        return None;
    }
    let total = total?;
    let sum = Cents::checked_sum(lines.iter().map(|l| l.amount_cents));
    if sum != Some(total) {
        issues.push(Issue::error(
            "business-rule",
            format!("{at}.totalGross"),
            "totalGross must equal the sum of the lines' base amounts",
        ));
        return None;
    }
    Some((invoice_no?, total, lines))
}

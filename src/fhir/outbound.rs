//! What we send insurers: CoverageEligibilityRequest and Claim.

use crate::money::Cents;
use serde::Serialize;

use crate::fhir::{
    CASE_ID, Cny, CodeableConcept, ICD10, Identifier, POLICY_NO, Period, Reference, STUDENT_ID,
};

const CLAIM_TYPE: &str = "http://terminology.hl7.org/CodeSystem/claim-type";
const PRIORITY: &str = "http://terminology.hl7.org/CodeSystem/processpriority";

/// Who is asking about what: enough for an eligibility check.
#[derive(Clone, Debug)]
pub struct EligibilityInput {
    pub case_id: i64,
    pub student_id: String,
    pub policy_no: String,
    pub insurer_name: String,
    /// `YYYY-MM-DD`
    pub visit_date: String,
    /// `YYYY-MM-DD` (FHIR `created` is a dateTime; a date is one).
    pub created: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CoverageEligibilityRequest {
    resource_type: &'static str,
    identifier: Vec<Identifier>,
    status: &'static str,
    purpose: Vec<&'static str>,
    patient: Reference,
    serviced_date: String,
    created: String,
    insurer: Reference,
    insurance: Vec<EligibilityInsurance>,
}

#[derive(Serialize)]
struct EligibilityInsurance {
    focal: bool,
    coverage: Reference,
}

pub fn coverage_eligibility_request(input: &EligibilityInput) -> serde_json::Value {
    serde_json::to_value(CoverageEligibilityRequest {
        resource_type: "CoverageEligibilityRequest",
        identifier: vec![Identifier::new(CASE_ID, input.case_id.to_string())],
        status: "active",
        purpose: vec!["validation"],
        patient: Reference::identifier(STUDENT_ID, &input.student_id),
        serviced_date: input.visit_date.clone(),
        created: input.created.clone(),
        insurer: Reference::display(&input.insurer_name),
        insurance: vec![EligibilityInsurance {
            focal: true,
            coverage: Reference::identifier(POLICY_NO, &input.policy_no),
        }],
    })
    .expect("serialisable")
}

/// A case as a claim.
#[derive(Clone, Debug)]
pub struct ClaimInput {
    pub eligibility: EligibilityInput,
    pub hospital: String,
    pub diagnosis_code: Option<String>,
    pub diagnosis_text: String,
    pub items: Vec<ClaimItemInput>,
}

#[derive(Clone, Debug)]
pub struct ClaimItemInput {
    pub code: Option<String>,
    pub display: String,
    pub amount_cents: Cents,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Claim {
    resource_type: &'static str,
    identifier: Vec<Identifier>,
    status: &'static str,
    #[serde(rename = "type")]
    kind: CodeableConcept,
    #[serde(rename = "use")]
    usage: &'static str,
    patient: Reference,
    billable_period: Period,
    created: String,
    insurer: Reference,
    provider: Reference,
    priority: CodeableConcept,
    diagnosis: Vec<Diagnosis>,
    insurance: Vec<ClaimInsurance>,
    item: Vec<ClaimItem>,
    total: Cny,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Diagnosis {
    sequence: u32,
    diagnosis_codeable_concept: CodeableConcept,
}

#[derive(Serialize)]
struct ClaimInsurance {
    sequence: u32,
    focal: bool,
    coverage: Reference,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClaimItem {
    sequence: u32,
    product_or_service: CodeableConcept,
    serviced_date: String,
    net: Cny,
}

/// The FHIR Claim for a case; `Claim.identifier` is the case id, so a resubmission is the same
/// claim to the insurer.
pub fn claim(input: &ClaimInput) -> serde_json::Value {
    let e = &input.eligibility;
    let mut diagnosis = match &input.diagnosis_code {
        Some(code) => CodeableConcept::code(ICD10, code, None),
        None => CodeableConcept::default(),
    };
    diagnosis.text = Some(input.diagnosis_text.clone());
    let item = input
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let mut product = CodeableConcept::text(&it.display);
            if let Some(code) = &it.code {
                product.coding.push(crate::fhir::Coding {
                    system: Some("urn:medclaim:fee-item".into()),
                    code: Some(code.clone()),
                    display: None,
                });
            }
            ClaimItem {
                sequence: i as u32 + 1,
                product_or_service: product,
                serviced_date: e.visit_date.clone(),
                net: Cny(it.amount_cents),
            }
        })
        .collect();
    let total = Cents::checked_sum(input.items.iter().map(|i| i.amount_cents))
        .expect("fee amounts are bounded at entry");
    serde_json::to_value(Claim {
        resource_type: "Claim",
        identifier: vec![Identifier::new(CASE_ID, e.case_id.to_string())],
        status: "active",
        kind: CodeableConcept::code(CLAIM_TYPE, "institutional", None),
        usage: "claim",
        patient: Reference::identifier(STUDENT_ID, &e.student_id),
        billable_period: Period {
            start: Some(e.visit_date.clone()),
            end: None,
        },
        created: e.created.clone(),
        insurer: Reference::display(&e.insurer_name),
        provider: Reference::display(&input.hospital),
        priority: CodeableConcept::code(PRIORITY, "normal", None),
        diagnosis: vec![Diagnosis {
            sequence: 1,
            diagnosis_codeable_concept: diagnosis,
        }],
        insurance: vec![ClaimInsurance {
            sequence: 1,
            focal: true,
            coverage: Reference::identifier(POLICY_NO, &e.policy_no),
        }],
        item,
        total: Cny(total),
    })
    .expect("serialisable")
}

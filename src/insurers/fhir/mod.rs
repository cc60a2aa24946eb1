//! The FHIR R4 resources exchanged with insurers: builders for what we send (`outbound`) and
//! parsers for what they send back (`inbound`).

mod inbound;
mod outbound;

pub use inbound::{
    Adjudication, Destination, Eligibility, ItemAdjudication, PaymentDetail, PaymentNotice,
    parse_claim_response, parse_eligibility, parse_payment,
};
pub use outbound::{
    ClaimInput, ClaimItemInput, EligibilityInput, claim, coverage_eligibility_request,
};

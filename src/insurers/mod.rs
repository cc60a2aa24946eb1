//! Insurer connector: the FHIR R4 resources we exchange with external insurers, the signed HTTP
//! client for our outbound calls, and the signed webhooks they call (claim responses, payments).
//! `connector` drives the outbound calls from case submission through the durable outbox;
//! `decide` applies what insurers answer to the case.

pub mod api;
pub mod client;
pub mod connector;
pub mod decide;
pub mod fhir;
pub mod store;

pub use client::{ClaimSubmission, ConnectorError, InsurerClient};

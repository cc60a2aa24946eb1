//! Hospital gateway: hospitals' front servers push visits as signed FHIR R4 bundles; patients
//! see the visits that match their identity (by blind index, never a plain id number).

pub mod api;
pub mod bundle;
pub mod store;

//! Clients of the other services, for a process that does not run them
//! itself (`EMPORIUM_SERVICE_URL_<NAME>`). Each implements the port the
//! in-process code uses, so the caller cannot tell where the service runs.

pub mod jwks;

pub use jwks::IdentityKeys;

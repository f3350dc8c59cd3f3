//! The generic provider: a signature scheme described by data, so that a new provider needs no code.
//! (Placeholder until the providers land; see the module docs.)

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenericScheme {
    /// Header carrying the signature.
    pub header: String,
}

pub struct Generic;

impl Provider for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }
    fn verify(
        &self,
        _req: &Incoming,
        _secrets: &[&str],
        _cfg: &ProviderConfig,
    ) -> Result<(), VerifyError> {
        Err(VerifyError::Config("not implemented yet".into()))
    }
    fn normalize(&self, _req: &Incoming) -> Result<Normalized, String> {
        Err("not implemented yet".into())
    }
}

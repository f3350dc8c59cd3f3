//! Zoom (stub: to be implemented).

use super::*;

pub struct Zoom;

impl Provider for Zoom {
    fn name(&self) -> &'static str {
        "zoom"
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

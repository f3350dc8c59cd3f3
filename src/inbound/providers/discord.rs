//! Discord (stub: to be implemented).

use super::*;

pub struct Discord;

impl Provider for Discord {
    fn name(&self) -> &'static str {
        "discord"
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

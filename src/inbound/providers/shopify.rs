//! Shopify (stub: to be implemented).

use super::*;

pub struct Shopify;

impl Provider for Shopify {
    fn name(&self) -> &'static str {
        "shopify"
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

//! GitLab (stub: to be implemented).

use super::*;

pub struct GitLab;

impl Provider for GitLab {
    fn name(&self) -> &'static str {
        "gitlab"
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

//! `generic-webhook`: the Svix Ingest type that verifies nothing, for a provider that does not sign its requests
//! (or signs them in a way no preset covers yet). What stands guard is the URL: an ingest source's carries an
//! unguessable token. The event is read as the generic provider reads one without a scheme.

use super::generic::Generic;
use super::*;

pub struct GenericWebhook;

impl Provider for GenericWebhook {
    fn name(&self) -> &'static str {
        "generic-webhook"
    }

    fn about(&self) -> About {
        About {
            title: "Generic webhook (unverified)",
            secret: "None: requests are not verified, so keep the URL secret (an ingest source's carries a token).",
            uses_secret: false,
        }
    }

    fn verify(&self, _req: &Incoming, _secrets: &[&str], _cfg: &ProviderConfig) -> Result<(), VerifyError> {
        Ok(())
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        Generic::normalize_with(req, None)
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::headers;
    use super::*;

    #[test]
    fn anything_verifies_and_is_read_as_json() {
        let h = headers(&[("content-type", "application/json")]);
        let req = Incoming { headers: &h, body: br#"{"type":"order.paid","id":"o_1"}"#, url: "http://x/", now: 0 };
        assert_eq!(GenericWebhook.verify(&req, &[], &ProviderConfig::default()), Ok(()));
        let n = GenericWebhook.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(n.native_type.as_deref(), Some("order.paid"));
    }
}

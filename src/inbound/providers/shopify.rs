//! Shopify: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256 of the raw body keyed with the app's client secret, as
//! `@shopify/shopify-api` checks it (its events deliveries use the same headers without the `X-` prefix).
//! No timestamp; dedup by `X-Shopify-Event-Id` (else `X-Shopify-Webhook-Id`).
//!
//! Normalisation: topic `orders/create` → eventType `create`, entityType `orders`, native name
//! `orders.create`; entityId = the payload's `id`.

use super::*;

pub struct Shopify;

const SIGNATURE: &str = "X-Shopify-Hmac-Sha256";

/// A Shopify header under its webhook name (`X-Shopify-…`) or its events name (`Shopify-…`).
fn header<'a>(req: &'a Incoming, name: &str) -> Option<&'a str> {
    req.header(&format!("X-Shopify-{name}"))
        .or_else(|| req.header(&format!("Shopify-{name}")))
        .filter(|v| !v.is_empty())
}

impl Provider for Shopify {
    fn name(&self) -> &'static str {
        "shopify"
    }

    fn about(&self) -> About {
        About {
            title: "Shopify",
            uses_secret: true,
            secret: "The app's client secret (Partner Dashboard → the app → Client credentials); for webhooks \
                     made in the store admin, the key shown under Settings → Notifications → Webhooks.",
        }
    }

    fn verify(&self, req: &Incoming, secrets: &[&str], cfg: &ProviderConfig) -> Result<(), VerifyError> {
        // An empty header is no signature at all.
        header(req, "Hmac-Sha256").ok_or(VerifyError::Missing(SIGNATURE))?;
        data("shopify").verify_request(req, secrets, cfg)
    }

    fn preset(&self) -> Option<&preset::Preset> {
        Some(data("shopify"))
    }

    fn normalize(&self, req: &Incoming, _cfg: &ProviderConfig) -> Result<Normalized, String> {
        let data = parse_json(req.body)?;
        if !data.is_object() {
            return Err("a Shopify payload is a JSON object".into());
        }
        let topic = header(req, "Topic");
        let (entity_type, event_type) = match topic {
            Some(t) => t.rsplit_once('/').unwrap_or((t, t)),
            None => ("unknown", "unknown"),
        };
        let entity_id = ["id", "admin_graphql_api_id"].iter().find_map(|k| id_text(data.get(*k))).unwrap_or_default();
        Ok(Normalized {
            event_type: clean_name(event_type),
            entity_type: clean_name(entity_type),
            entity_id,
            native_type: topic.map(|t| clean_name(&t.replace('/', "."))),
            delivery_id: header(req, "Event-Id").or_else(|| header(req, "Webhook-Id")).map(str::to_string),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::headers;
    use super::*;

    /// Made by `createSHA256HMAC` of `@shopify/shopify-api` 15.0.0 through tests/inbound/sign/shopify.mjs
    /// (the body of tests/inbound/cases/shopify.json; its test helper `getHmac` agrees).
    const SECRET: &str = "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";
    const BODY: &str = r##"{"id":820982911946154508,"admin_graphql_api_id":"gid://shopify/Order/820982911946154508","email":"jon@example.com","name":"#9999","total_price":"403.00","currency":"USD","note":"café ☕","line_items":[{"id":866550311766439020,"title":"Aviator sunglasses","quantity":1}]}"##;
    const HMAC: &str = "5W3Cb2+4nxED7zGWnheHOtf+UKHr+FwtB4KxGyr504A=";

    fn check(body: &str, h: &[(&str, &str)], secrets: &[&str]) -> Result<(), VerifyError> {
        let h = headers(h);
        let req = Incoming { headers: &h, body: body.as_bytes(), url: "", now: 1_700_000_000 };
        Shopify.verify(&req, secrets, &ProviderConfig::default())
    }

    #[test]
    fn library_vector() {
        assert_eq!(check(BODY, &[(SIGNATURE, HMAC)], &[SECRET]), Ok(()));
        assert_eq!(check(BODY, &[(SIGNATURE, HMAC)], &["shpss_old", SECRET]), Ok(()));
        // events deliveries name the header without the X- prefix
        assert_eq!(check(BODY, &[("shopify-hmac-sha256", HMAC)], &[SECRET]), Ok(()));
    }

    #[test]
    fn refusals() {
        let changed = BODY.replacen("403.00", "408.00", 1);
        assert_eq!(check(&changed, &[(SIGNATURE, HMAC)], &[SECRET]), Err(VerifyError::BadSignature));
        assert_eq!(check(BODY, &[(SIGNATURE, HMAC)], &["shpss_wrong"]), Err(VerifyError::BadSignature));
        assert_eq!(check(BODY, &[], &[SECRET]), Err(VerifyError::Missing(SIGNATURE)));
        assert_eq!(check(BODY, &[(SIGNATURE, "")], &[SECRET]), Err(VerifyError::Missing(SIGNATURE)));
        for bad in
            ["not base64!", "5W3Cb2+4nxED7zGW", "e56dc26f6fb89f1103ef31969e17873ad7fe50a1ebf85c2d0782b11b2af9d380"]
        {
            assert_eq!(check(BODY, &[(SIGNATURE, bad)], &[SECRET]), Err(VerifyError::Malformed(SIGNATURE)), "{bad}");
        }
    }

    #[test]
    fn normalizes() {
        let h = headers(&[
            ("X-Shopify-Topic", "orders/create"),
            ("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
            ("X-Shopify-Event-Id", "98880550-7158-44d4-b7cd-2c97c8a091b5"),
        ]);
        let req = Incoming { headers: &h, body: BODY.as_bytes(), url: "", now: 0 };
        let n = Shopify.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("create", "orders", "820982911946154508")
        );
        assert_eq!(n.native_type.as_deref(), Some("orders.create"));
        assert_eq!(n.delivery_id.as_deref(), Some("98880550-7158-44d4-b7cd-2c97c8a091b5"));
        assert_eq!(n.data["note"], "café ☕");

        let h = headers(&[("X-Shopify-Topic", "customers/data_request"), ("X-Shopify-Webhook-Id", "w-1")]);
        let req =
            Incoming { headers: &h, body: br#"{"shop_id":954889,"shop_domain":"s.myshopify.com"}"#, url: "", now: 0 };
        let n = Shopify.normalize(&req, &ProviderConfig::default()).unwrap();
        assert_eq!(
            (n.event_type.as_str(), n.entity_type.as_str(), n.entity_id.as_str()),
            ("data_request", "customers", "")
        );
        assert_eq!(n.native_type.as_deref(), Some("customers.data_request"));
        assert_eq!(n.delivery_id.as_deref(), Some("w-1"));

        let h = headers(&[]);
        let req = Incoming { headers: &h, body: b"[]", url: "", now: 0 };
        assert!(Shopify.normalize(&req, &ProviderConfig::default()).is_err());
    }
}

//! Which addresses deliveries may reach. Non-global addresses (loopback, private, link-local, CGNAT, …) are
//! refused unless configured. The check runs on the address actually connected to: the HTTP client resolves
//! names through [`GuardedResolver`], so a name that later resolves to a private address (DNS rebinding) is
//! refused too; literal addresses are checked before sending. When a URL is saved, [`EgressPolicy::check_destination`]
//! also resolves its name, so that `http://localhost:…` is refused then rather than failing every attempt.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    pub allow_private: bool,
    pub allowed: Vec<IpNet>,
}

impl EgressPolicy {
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || is_global(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Checks a URL given by a user: http(s), a host, and no literal address that is refused. Names are checked
    /// on the addresses they resolve to, when connecting.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, String> {
        let url = match url::Url::parse(raw) {
            Ok(url) => url,
            Err(url::ParseError::RelativeUrlWithoutBase) => return Err(no_scheme(raw)),
            Err(e) => return Err(format!("invalid URL: {e}")),
        };
        if !matches!(url.scheme(), "http" | "https") {
            // `localhost:9000/hook` parses with the scheme `localhost`.
            let port_follows =
                raw.split_once(':').is_some_and(|(_, rest)| rest.starts_with(|c: char| c.is_ascii_digit()));
            if !raw.contains("://") && port_follows {
                return Err(no_scheme(raw));
            }
            return Err("URL scheme must be http or https".into());
        }
        match url.host() {
            None => return Err("URL has no host".into()),
            Some(url::Host::Ipv4(ip)) if !self.permits(IpAddr::V4(ip)) => return Err(refused(ip)),
            Some(url::Host::Ipv6(ip)) if !self.permits(IpAddr::V6(ip)) => return Err(refused(ip)),
            _ => {}
        }
        Ok(url)
    }

    /// [`Self::check_url`], then, for a name, the addresses it resolves to now: refused when none is permitted
    /// (as connecting would find). A name that does not resolve (yet), or not within 2 s, is accepted: it may
    /// exist later, and connecting checks it again anyway.
    pub async fn check_destination(&self, raw: &str) -> Result<url::Url, String> {
        let url = self.check_url(raw)?;
        let Some(url::Host::Domain(host)) = url.host() else {
            return Ok(url);
        };
        if self.allow_private {
            return Ok(url);
        }
        let host = host.to_string();
        let lookup = tokio::net::lookup_host((host.as_str(), url.port_or_known_default().unwrap_or(80)));
        let addrs: Vec<IpAddr> = match tokio::time::timeout(std::time::Duration::from_secs(2), lookup).await {
            Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
            _ => return Ok(url),
        };
        match addrs.first() {
            Some(ip) if !addrs.iter().any(|ip| self.permits(*ip)) => Err(format!(
                "{host} resolves to {ip}, which is not a public address; to deliver to private networks start hookd \
                 with HOOKD_ALLOW_PRIVATE_NETWORKS=true (or --allow-private-networks), or allow that range with \
                 HOOKD_ALLOWED_CIDRS"
            )),
            _ => Ok(url),
        }
    }

    /// The literal address of a URL, if it has one and it is refused.
    pub fn refused_literal(&self, url: &url::Url) -> Option<String> {
        match url.host()? {
            url::Host::Ipv4(ip) if !self.permits(IpAddr::V4(ip)) => Some(refused(ip)),
            url::Host::Ipv6(ip) if !self.permits(IpAddr::V6(ip)) => Some(refused(ip)),
            _ => None,
        }
    }
}

fn refused(addr: impl std::fmt::Display) -> String {
    format!(
        "destination {addr} is not a public address (allow it with HOOKD_ALLOW_PRIVATE_NETWORKS=true, or its range \
         with HOOKD_ALLOWED_CIDRS)"
    )
}

/// A URL written without `http://`: say what it probably meant.
fn no_scheme(raw: &str) -> String {
    format!("invalid URL: it has no scheme; did you mean http://{}?", raw.trim_start_matches('/'))
}

pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_global_v4(v4);
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link-local
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || (seg[0] == 0x0064 && seg[1] == 0xff9b) // NAT64 (64:ff9b::/96, 64:ff9b:1::/48) can reach private v4
                || seg[..6] == [0; 6] // IPv4-compatible ::a.b.c.d (deprecated), ::, ::1
                || (seg[0] == 0x2002 && !is_global_v4(Ipv4Addr::from((seg[1] as u32) << 16 | seg[2] as u32))) // 6to4
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1))
        }
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240)
}

/// DNS resolution for the delivery client that drops refused addresses.
pub struct GuardedResolver {
    pub policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs.into_iter().filter(|a| policy.permits(a.ip())).collect();
            if allowed.is_empty() {
                return Err(refused(&host).into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_refused_by_default() {
        let p = EgressPolicy::default();
        for bad in [
            "http://127.0.0.1/x",
            "http://10.0.0.1/",
            "http://169.254.169.254/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://100.64.0.1/",
            "http://[::ffff:127.0.0.1]/",
            // Other spellings of loopback, which URL parsers normalise to 127.0.0.1.
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://017700000001/",
            "http://127.1/",
            "http://127.0.1/",
            "http://0/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[0:0:0:0:0:ffff:169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://[fd00::1]/",
            "http://[fc00::1]/",
            "http://100.127.255.254/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://0xa9fea9fe/",
            "http://2852039166/",
        ] {
            assert!(p.check_url(bad).is_err(), "{bad} should be refused");
        }
        assert!(p.check_url("https://93.184.216.34/hook").is_ok());
        assert!(p.check_url("https://[2606:2800:220:1:248:1893:25c8:1946]/hook").is_ok());
        assert!(p.check_url("https://[2002:5db8:d822::1]/hook").is_ok(), "6to4 of a public address");
        assert!(p.check_url("ftp://example.com/").is_err());
        assert!(p.check_url("not a url").is_err());
    }

    #[test]
    fn allow_lists_open_what_they_name() {
        let p = EgressPolicy { allow_private: false, allowed: vec!["127.0.0.0/8".parse().unwrap()] };
        assert!(p.check_url("http://127.0.0.1:9/").is_ok());
        assert!(p.check_url("http://10.0.0.1/").is_err());
        assert!(EgressPolicy { allow_private: true, allowed: vec![] }.check_url("http://10.0.0.1/").is_ok());
    }
}

#[cfg(test)]
mod destination_tests {
    use super::*;

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused_when_saved() {
        let p = EgressPolicy::default();
        let why = p.check_destination("http://localhost:9000/hook").await.unwrap_err();
        assert!(why.contains("localhost resolves to") && why.contains("HOOKD_ALLOW_PRIVATE_NETWORKS=true"), "{why}");
        assert!(p.check_destination("http://unknown-host.invalid/hook").await.is_ok(), "may exist later");
        let open = EgressPolicy { allow_private: true, allowed: vec![] };
        assert!(open.check_destination("http://localhost:9000/hook").await.is_ok());
        let loopback = EgressPolicy { allow_private: false, allowed: vec!["127.0.0.0/8".parse().unwrap()] };
        assert!(loopback.check_destination("http://localhost:9000/hook").await.is_ok(), "as connecting finds");
    }

    #[test]
    fn a_url_without_a_scheme_gets_a_suggestion() {
        let p = EgressPolicy { allow_private: true, allowed: vec![] };
        for raw in ["localhost:9000/hook", "example.com/hook", "127.0.0.1:9000/hook"] {
            let why = p.check_url(raw).unwrap_err();
            assert!(why.contains(&format!("did you mean http://{raw}?")), "{raw}: {why}");
        }
        assert_eq!(p.check_url("ftp://example.com/").unwrap_err(), "URL scheme must be http or https");
    }
}

#[cfg(test)]
mod resolver_tests {
    use super::*;
    use reqwest::dns::Resolve;

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused_at_connect_time() {
        let guarded = GuardedResolver { policy: Arc::new(EgressPolicy::default()) };
        assert!(guarded.resolve("localhost".parse().unwrap()).await.is_err());
        let open = GuardedResolver { policy: Arc::new(EgressPolicy { allow_private: true, allowed: vec![] }) };
        let addrs: Vec<SocketAddr> = open.resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(addrs.iter().any(|a| a.ip().is_loopback()));
    }
}

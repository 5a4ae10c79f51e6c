//! The `endpoint_url` rule (SPEC 4.3): an absolute http(s) URL without userinfo, query, fragment
//! or path. Plain `http://`, or a host that resolves to a private, loopback or link-local
//! address, is accepted only when the operator listed its origin in `[s3] allowed_endpoints`,
//! so private MinIO works while a tenant cannot make exportd call internal services.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

use url::{Host, Url};

use crate::input::Invalid;

/// An S3 endpoint reduced to its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub scheme: String,
    /// Lower-case host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    ip: Option<IpAddr>,
}

impl Origin {
    /// Parses `scheme://host[:port]` (a trailing `/` is allowed). The error says what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Origin, Invalid> {
        let url = Url::parse(text.trim()).map_err(|_| {
            "must be an absolute http(s) URL such as https://s3.example.com".to_owned()
        })?;
        let scheme = url.scheme().to_owned();
        if scheme != "http" && scheme != "https" {
            return Err(Invalid::from(format!(
                "must use http or https, not {scheme}"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::from(
                "must not contain a user name or password".to_owned(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Invalid::from(
                "must not contain a query or fragment".to_owned(),
            ));
        }
        if url.path() != "/" && !url.path().is_empty() {
            return Err(Invalid::from("must not contain a path".to_owned()));
        }
        Origin::of_url(&url)
    }

    /// The origin of an already parsed http(s) URL (its path and query are not looked at).
    pub(crate) fn of_url(url: &Url) -> Result<Origin, Invalid> {
        let scheme = url.scheme().to_owned();
        if scheme != "http" && scheme != "https" {
            return Err(Invalid::from(format!(
                "must use http or https, not {scheme}"
            )));
        }
        let (host, ip) = match url.host() {
            Some(Host::Domain(d)) => (d.to_ascii_lowercase(), None),
            Some(Host::Ipv4(v4)) => (v4.to_string(), Some(IpAddr::V4(v4))),
            Some(Host::Ipv6(v6)) => (v6.to_string(), Some(IpAddr::V6(v6))),
            None => return Err(Invalid::from("must name a host".to_owned())),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| "must name a port".to_owned())?;
        Ok(Origin {
            scheme,
            host,
            port,
            ip,
        })
    }

    /// `scheme://host:port`, the form compared against the allowlist and shown in messages.
    pub(crate) fn display(&self) -> String {
        match self.ip {
            Some(IpAddr::V6(_)) => format!("{}://[{}]:{}", self.scheme, self.host, self.port),
            _ => format!("{}://{}:{}", self.scheme, self.host, self.port),
        }
    }
}

/// The operator's list of endpoint origins that may be plain http or private.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Allowlist(pub Vec<Origin>);

impl Allowlist {
    pub(crate) fn allows(&self, origin: &Origin) -> bool {
        self.0.iter().any(|o| o == origin)
    }
}

/// Resolves a host name to its addresses (the system resolver in production).
pub(crate) type Resolver<'a> = &'a dyn Fn(&str, u16) -> io::Result<Vec<IpAddr>>;

/// The system resolver.
pub(crate) fn system_resolver(host: &str, port: u16) -> io::Result<Vec<IpAddr>> {
    Ok((host, port).to_socket_addrs()?.map(|a| a.ip()).collect())
}

/// Applies the whole rule to an endpoint URL. The error is a sentence for the client.
pub(crate) fn check(
    text: &str,
    allow: &Allowlist,
    resolve: Resolver<'_>,
) -> Result<Origin, Invalid> {
    let origin = Origin::parse(text)?;
    check_origin(origin, allow, resolve)
}

/// The allowlist rule for an origin: https on a public host, or listed in the allowlist.
pub(crate) fn check_origin(
    origin: Origin,
    allow: &Allowlist,
    resolve: Resolver<'_>,
) -> Result<Origin, Invalid> {
    if allow.allows(&origin) {
        return Ok(origin);
    }
    let hint = format!(
        "unless the operator lists {} in [s3] allowed_endpoints",
        origin.display()
    );
    if origin.scheme == "http" {
        return Err(Invalid::from(format!("must use https {hint}")));
    }
    let ips = match origin.ip {
        Some(ip) => vec![ip],
        None => resolve(&origin.host, origin.port)
            .ok()
            .filter(|ips| !ips.is_empty())
            .ok_or_else(|| format!("host {} could not be resolved", origin.host))?,
    };
    if let Some(ip) = ips.iter().find(|ip| !is_public(**ip)) {
        return Err(Invalid::from(format!(
            "points to a private, loopback or link-local address ({ip}), which is refused {hint}"
        )));
    }
    Ok(origin)
}

/// Whether an address is publicly routable: not loopback, private, link-local, shared (CGNAT),
/// documentation, benchmarking, multicast, reserved, or an IPv6 form that embeds one of those.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let blocked = a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224;
    !blocked
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that decides.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2]));
    }
    let blocked = ip.is_unspecified()
        || ip.is_loopback()
        || s[0..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments, Teredo
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]); // discard
    !blocked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_dns(_: &str, _: u16) -> io::Result<Vec<IpAddr>> {
        Err(io::Error::other("no dns in tests"))
    }

    fn fixed(ip: &'static str) -> impl Fn(&str, u16) -> io::Result<Vec<IpAddr>> {
        move |_, _| Ok(vec![ip.parse().expect("ip")])
    }

    #[test]
    fn parses_origins_and_rejects_bad_shapes() {
        let o = Origin::parse("https://S3.Example.com/").expect("ok");
        assert_eq!(o.display(), "https://s3.example.com:443");
        assert_eq!(
            Origin::parse("http://[::1]:9000").expect("ok").display(),
            "http://[::1]:9000"
        );
        for (bad, why) in [
            ("s3.example.com", "absolute"),
            ("ftp://x.example.com", "http or https"),
            ("https://u:p@x.example.com", "user name"),
            ("https://x.example.com/?a=1", "query"),
            ("https://x.example.com/#f", "fragment"),
            ("https://x.example.com/bucket", "path"),
        ] {
            let err = Origin::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn allowlisted_origins_pass_even_when_private_or_http() {
        let allow = Allowlist(vec![Origin::parse("http://127.0.0.1:8333").expect("ok")]);
        assert!(check("http://127.0.0.1:8333", &allow, &no_dns).is_ok());
        assert!(check("http://127.0.0.1:8333/", &allow, &no_dns).is_ok());
        // Same host, other port: not allowlisted.
        let err = check("http://127.0.0.1:9000", &allow, &no_dns).unwrap_err();
        assert!(err.contains("https"), "{err}");
    }

    #[test]
    fn private_and_unresolvable_hosts_are_refused() {
        let none = Allowlist::default();
        let err = check("https://10.1.2.3", &none, &no_dns).unwrap_err();
        assert!(err.contains("10.1.2.3"), "{err}");
        let err = check("https://minio.internal", &none, &fixed("192.168.1.5")).unwrap_err();
        assert!(err.contains("192.168.1.5"), "{err}");
        let err = check("https://nowhere.invalid", &none, &no_dns).unwrap_err();
        assert!(err.contains("could not be resolved"), "{err}");
        assert!(check("https://s3.example.com", &none, &fixed("93.184.216.34")).is_ok());
        assert!(check("https://93.184.216.34", &none, &no_dns).is_ok());
    }

    #[test]
    fn classifies_addresses() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(
                !is_public(ip.parse().expect("ip")),
                "{ip} should be blocked"
            );
        }
        for ip in [
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip.parse().expect("ip")), "{ip} should be public");
        }
    }
}

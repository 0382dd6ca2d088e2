//! The DNS-rebinding guard: which `Host` an unauthenticated request may name.
//!
//! A node with no users configured answers the admin API to anyone who reaches the port, as a
//! fresh Redis answers RESP. A web page cannot reach `127.0.0.1:7381` from another origin with
//! more than a blind form POST (see `require_api_header`), but with DNS rebinding it can: its
//! own name (`evil.example`) is made to resolve to `127.0.0.1`, and the browser then treats the
//! admin API as the page's own origin, custom headers and responses included. What gives such
//! a request away is its `Host` header, which still names the page's host. So requests that
//! carry no credentials are answered only when `Host` is an IP address, `localhost` (or a
//! `*.localhost` name, which browsers never resolve through DNS), or a name the operator listed
//! in `admin_allowed_hosts`. Requests with valid credentials pass whatever their `Host`: a
//! rebound page has no credentials for its origin.

/// Whether a credential-less request naming `host` (the `Host` header, if any) is answered.
/// A request without `Host` (HTTP/1.0, a hand-made client) is not a browser's and passes.
pub fn allowed(host: Option<&str>, allowed_names: &[String]) -> bool {
    let Some(host) = host else {
        return true;
    };
    let name = strip_port(host.trim());
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || allowed_names
            .iter()
            .any(|a| a.strip_suffix('.').unwrap_or(a).eq_ignore_ascii_case(&name))
}

/// `host:port` → `host`, `[v6]:port` or `[v6]` → `v6`.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_and_localhost_pass() {
        for host in [
            "127.0.0.1:7381",
            "10.0.0.5",
            "[::1]:7381",
            "[fe80::1]",
            "localhost:7381",
            "LOCALHOST",
            "localhost.",
            "dashboard.localhost:7381",
        ] {
            assert!(allowed(Some(host), &[]), "{host}");
        }
        assert!(allowed(None, &[]), "no Host header: not a browser");
    }

    #[test]
    fn other_names_pass_only_when_listed() {
        let listed = vec!["db1.internal".to_string(), "Node2".to_string()];
        for host in [
            "evil.example:7381",
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
        ] {
            assert!(!allowed(Some(host), &listed), "{host}");
        }
        for host in [
            "db1.internal:7381",
            "DB1.INTERNAL",
            "db1.internal.",
            "node2:7381",
        ] {
            assert!(allowed(Some(host), &listed), "{host}");
        }
    }
}

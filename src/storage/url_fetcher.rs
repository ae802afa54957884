//! Fetching a recording a client names by URL (`audio_file_url`, Deepgram's `{"url": …}`), and
//! sending a result to a client's `callback` URL, without letting the client reach what only the
//! server can: every address the host resolves to
//! must be public (no loopback, private, link-local, shared, multicast or unspecified address;
//! an operator allow-list of networks lifts that), the connection goes to the checked address
//! (no second resolution for a rebinding DNS to answer differently), redirects are followed by
//! hand and checked again (a callback is not redirected), and the transfer has a time limit (the
//! size limit is the storage's).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use ipnet::IpNet;
use reqwest::Url;

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("not an http or https URL: {0}")]
    InvalidUrl(String),
    /// The host is, or resolves to, an address the server does not fetch from.
    #[error("{host} resolves to {addr}, which this server does not fetch from")]
    NotAllowed { host: String, addr: IpAddr },
    #[error("the host {0} does not resolve")]
    Unresolved(String),
    /// The server answered with this status (after redirects).
    #[error("the URL answered HTTP {0}")]
    Status(u16),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    #[error("fetching the URL failed: {0}")]
    Network(String),
}

impl FetchError {
    /// Whether a later attempt may succeed (the network, or the other server's own trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Network(_) | FetchError::Unresolved(_) => true,
            FetchError::Status(status) => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct UrlFetcher {
    /// Networks fetched from even though they are not public (e.g. an internal media server).
    allow: Vec<IpNet>,
    /// For the whole transfer, redirects included.
    timeout: Duration,
}

impl UrlFetcher {
    pub fn new(allow: Vec<IpNet>, timeout: Duration) -> Self {
        Self { allow, timeout }
    }

    /// Checks a URL as far as can be done without resolving it (scheme, host; an IP literal
    /// against the rules), for a request to be refused at once.
    pub fn check_syntax(&self, url: &str) -> Result<Url, FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::InvalidUrl(format!("{url}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(FetchError::InvalidUrl(url.to_owned()));
        }
        if let Some(url::Host::Ipv4(ip)) = parsed.host() {
            self.check_addr(&ip.to_string(), IpAddr::V4(ip))?;
        }
        if let Some(url::Host::Ipv6(ip)) = parsed.host() {
            self.check_addr(&ip.to_string(), IpAddr::V6(ip))?;
        }
        Ok(parsed)
    }

    /// GETs `url` and returns its body as a stream, once the response is a 2xx.
    pub async fn open(&self, url: &str) -> Result<impl Stream<Item = reqwest::Result<Bytes>> + use<>, FetchError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut url = self.check_syntax(url)?;
        for _ in 0..=MAX_REDIRECTS {
            let client = self.client_for(&url).await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let response = client
                .get(url.clone())
                .timeout(left)
                .send()
                .await
                .map_err(|e| FetchError::Network(e.without_url().to_string()))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or(FetchError::Status(status.as_u16()))?;
                let next = url.join(location).map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
                url = self.check_syntax(next.as_str())?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            return Ok(response.bytes_stream());
        }
        Err(FetchError::TooManyRedirects)
    }

    /// Sends `body` (JSON) to `url` with `method` (`POST` or `PUT`); a 2xx answer is delivered.
    pub async fn deliver(&self, url: &str, method: reqwest::Method, body: Vec<u8>) -> Result<(), FetchError> {
        let url = self.check_syntax(url)?;
        let response = self
            .client_for(&url)
            .await?
            .request(method, url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| FetchError::Network(e.without_url().to_string()))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(FetchError::Status(status.as_u16())),
        }
    }

    /// A client that connects to the checked address of `url`'s host and follows no redirect.
    async fn client_for(&self, url: &Url) -> Result<reqwest::Client, FetchError> {
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let addr = self.resolve(&host, port).await?;
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .resolve(&host, addr)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| FetchError::Network(e.to_string()))
    }

    /// The host's first address, once every address it resolves to passed the rules.
    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, FetchError> {
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host((host, port)).await.map_err(|_| FetchError::Unresolved(host.to_owned()))?.collect();
        for addr in &addrs {
            self.check_addr(host, addr.ip())?;
        }
        addrs.first().copied().ok_or_else(|| FetchError::Unresolved(host.to_owned()))
    }

    fn check_addr(&self, host: &str, addr: IpAddr) -> Result<(), FetchError> {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        if is_public(addr) || self.allow.iter().any(|net| net.contains(&addr)) {
            Ok(())
        } else {
            Err(FetchError::NotAllowed { host: host.to_owned(), addr })
        }
    }
}

/// Whether `addr` is on the public internet: not loopback, private, link-local, shared
/// (100.64/10), benchmarking, documentation, multicast, broadcast, unspecified or reserved.
fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            !(ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_multicast()
                || ip.is_broadcast()
                || ip.is_unspecified()
                || ip.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            !(ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(fetcher: &UrlFetcher, url: &str) -> bool {
        matches!(fetcher.check_syntax(url), Err(FetchError::NotAllowed { .. }))
    }

    #[test]
    fn only_public_addresses_are_fetched_unless_allowed() {
        let fetcher = UrlFetcher::new(Vec::new(), Duration::from_secs(5));
        for url in [
            "http://127.0.0.1/a.wav",
            "http://10.1.2.3/a.wav",
            "http://172.16.0.9/a.wav",
            "http://192.168.1.1/a.wav",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/a.wav",
            "http://0.0.0.0/a.wav",
            "http://[::1]/a.wav",
            "http://[fd00::1]/a.wav",
            "http://[fe80::1]/a.wav",
            "http://[::ffff:127.0.0.1]/a.wav",
        ] {
            assert!(refused(&fetcher, url), "{url} must be refused");
        }
        for url in ["https://8.8.8.8/a.wav", "http://[2606:4700::1111]/a.wav", "https://example.com/a.mp3"] {
            assert!(fetcher.check_syntax(url).is_ok(), "{url}");
        }
        for url in ["ftp://example.com/a.wav", "file:///etc/passwd", "not a url", "http://"] {
            assert!(matches!(fetcher.check_syntax(url), Err(FetchError::InvalidUrl(_))), "{url}");
        }
        let allowed = UrlFetcher::new(vec!["127.0.0.0/8".parse().unwrap()], Duration::from_secs(5));
        assert!(allowed.check_syntax("http://127.0.0.1:9000/a.wav").is_ok());
        assert!(refused(&allowed, "http://10.0.0.1/a.wav"), "only the allowed network");
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_before_connecting() {
        let fetcher = UrlFetcher::new(Vec::new(), Duration::from_secs(5));
        let err = fetcher.open("http://localhost:9/a.wav").await.err().expect("refused");
        assert!(matches!(err, FetchError::NotAllowed { .. }), "{err}");
        assert!(!err.is_transient());
    }
}

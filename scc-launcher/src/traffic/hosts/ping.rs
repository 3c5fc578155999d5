//! `ping`'s output (iputils and BusyBox), parsed: replies with their round-trip time and TTL,
//! and the summary line's counts (pure).

use serde::Serialize;

/// One direction's built-in check: `ping -c N` from one host to the other.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PingReport {
    /// Source host's address.
    pub from: String,
    /// Destination host's address.
    pub to: String,
    /// Echo requests sent (the summary's `transmitted`).
    pub sent: u64,
    /// Replies received.
    pub received: u64,
    /// Each reply's round-trip time in milliseconds, in order.
    pub rtt_ms: Vec<f64>,
    /// The replies' TTL (64 minus the routers crossed on the way back), when shown.
    pub ttl: Option<u8>,
    /// How `ping` ended (`exited with status 0`), or why it did not run.
    pub exit: String,
    /// Its output when it did not receive every reply (for the diagnosis), else empty.
    pub output: String,
}

impl PingReport {
    /// The smallest, median and largest round-trip time (ms), when there was a reply.
    pub fn rtt_summary(&self) -> Option<(f64, f64, f64)> {
        let mut v = self.rtt_ms.clone();
        v.sort_by(f64::total_cmp);
        let (first, last) = (v.first()?, v.last()?);
        Some((*first, v[v.len() / 2], *last))
    }

    /// One line for the table: `198.18.0.1 -> 198.19.0.1: 3/3 replies, rtt min/median/max
    /// 0.101/0.120/0.200 ms, ttl 61`.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "ping {} -> {}: {}/{} replies",
            self.from, self.to, self.received, self.sent
        );
        if let Some((lo, mid, hi)) = self.rtt_summary() {
            s.push_str(&format!(", rtt min/median/max {lo:.3}/{mid:.3}/{hi:.3} ms"));
        }
        if let Some(t) = self.ttl {
            s.push_str(&format!(", ttl {t}"));
        }
        if self.received < self.sent || self.sent == 0 {
            s.push_str(&format!(" ({})", self.exit));
        }
        s
    }
}

/// Parses `ping`'s output: every reply line (`... icmp_seq=1 ttl=62 time=0.123 ms`) and the
/// summary (`3 packets transmitted, 3 received, ...`). Counts stay 0 when absent.
pub fn parse_ping(out: &str) -> (u64, u64, Vec<f64>, Option<u8>) {
    let mut rtts = Vec::new();
    let mut ttl = None;
    let (mut sent, mut received) = (0, 0);
    for line in out.lines() {
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .map(str::to_string)
        };
        if line.contains("bytes from") {
            if let Some(t) = field("time=").and_then(|t| t.parse::<f64>().ok()) {
                rtts.push(t);
            }
            if let Some(t) = field("ttl=").and_then(|t| t.parse::<u8>().ok()) {
                ttl = Some(t);
            }
        } else if line.contains("packets transmitted") {
            let words: Vec<&str> = line.split([',', ' ']).filter(|w| !w.is_empty()).collect();
            // The number closest before the key word (`3 packets transmitted`, `1 received`,
            // BusyBox's `1 packets received`).
            let number_before = |key: &str| {
                let k = words.iter().position(|w| w.starts_with(key))?;
                words[..k].iter().rev().find_map(|w| w.parse::<u64>().ok())
            };
            sent = number_before("transmitted").unwrap_or(0);
            received = number_before("received").unwrap_or(0);
        }
    }
    (sent, received, rtts, ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iputils_and_busybox_output() {
        let iputils = "PING 198.19.0.1 (198.19.0.1) 56(84) bytes of data.\n\
            64 bytes from 198.19.0.1: icmp_seq=1 ttl=61 time=0.412 ms\n\
            64 bytes from 198.19.0.1: icmp_seq=2 ttl=61 time=0.120 ms\n\
            \n--- 198.19.0.1 ping statistics ---\n\
            3 packets transmitted, 2 received, 33.3333% packet loss, time 402ms\n\
            rtt min/avg/max/mdev = 0.120/0.266/0.412/0.146 ms\n";
        let (s, r, rtt, ttl) = parse_ping(iputils);
        assert_eq!((s, r, ttl), (3, 2, Some(61)));
        assert_eq!(rtt, vec![0.412, 0.120]);
        let busybox = "64 bytes from 198.19.0.1: seq=0 ttl=63 time=0.311 ms\n\
            --- 198.19.0.1 ping statistics ---\n\
            1 packets transmitted, 1 packets received, 0% packet loss\n";
        assert_eq!(parse_ping(busybox), (1, 1, vec![0.311], Some(63)));
        assert_eq!(parse_ping("garbage\n\u{0}"), (0, 0, vec![], None));
        let p = PingReport {
            from: "a".into(),
            to: "b".into(),
            sent: 3,
            received: 3,
            rtt_ms: vec![0.3, 0.1, 0.2],
            ..PingReport::default()
        };
        assert_eq!(p.rtt_summary(), Some((0.1, 0.2, 0.3)));
        assert!(
            p.to_text()
                .contains("3/3 replies, rtt min/median/max 0.100/0.200/0.300 ms")
        );
    }
}

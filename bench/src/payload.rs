//! The message bodies the publishers send.

/// Serialized payload object `{"seq":S,"sent_ns":T,"pad":"xxx…"}`, padded so that it is exactly
/// `target_bytes` long (or as short as possible when the fixed part is already longer).
#[cfg(test)]
pub fn payload_json(seq: u64, sent_ns: u64, target_bytes: usize) -> String {
    let mut s = String::with_capacity(target_bytes.max(64));
    write_payload(&mut s, seq, sent_ns, target_bytes);
    s
}

#[cfg(test)]
fn write_payload(s: &mut String, seq: u64, sent_ns: u64, target_bytes: usize) {
    write_fields(s, seq, sent_ns, 0, target_bytes)
}

/// With `extra` more fields `"f0":0,"f1":1,…` before the padding (a payload of `3 + extra` fields, for the
/// schema benchmark).
fn write_fields(s: &mut String, seq: u64, sent_ns: u64, extra: usize, target_bytes: usize) {
    use std::fmt::Write;
    let start = s.len();
    let _ = write!(s, "{{\"seq\":{seq},\"sent_ns\":{sent_ns},");
    for i in 0..extra {
        let _ = write!(s, "\"f{i}\":{i},");
    }
    s.push_str("\"pad\":\"");
    // What is left after the opening part and the closing `"}`.
    let fixed = s.len() - start + 2;
    let pad = target_bytes.saturating_sub(fixed);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str("\"}");
}

/// Full body of `POST /api/v1/app/{app_id}/msg`:
/// `{"eventType":"bench.event","payload":{…payload_json…}}`.
pub fn message_body(seq: u64, sent_ns: u64, extra_fields: usize, payload_bytes: usize) -> String {
    const HEAD: &str = "{\"eventType\":\"bench.event\",\"payload\":";
    let mut s = String::with_capacity(HEAD.len() + payload_bytes.max(64) + 1);
    s.push_str(HEAD);
    write_fields(&mut s, seq, sent_ns, extra_fields, payload_bytes);
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_exactly_target_size() {
        for &target in &[64usize, 100, 256, 1000, 4096] {
            for &(seq, sent) in &[(0u64, 0u64), (7, 1_700_000_000_000_000_000), (u64::MAX, u64::MAX)] {
                let p = payload_json(seq, sent, target);
                let min = payload_json(seq, sent, 0).len();
                assert_eq!(p.len(), target.max(min), "target {target} seq {seq}");
                let v: serde_json::Value = serde_json::from_str(&p).unwrap();
                assert_eq!(v["seq"].as_u64(), Some(seq));
                assert_eq!(v["sent_ns"].as_u64(), Some(sent));
            }
        }
    }

    #[test]
    fn tiny_target_gives_minimal_payload() {
        let p = payload_json(1, 2, 0);
        assert_eq!(p, r#"{"seq":1,"sent_ns":2,"pad":""}"#);
    }

    #[test]
    fn message_body_round_trips() {
        let b = message_body(42, 123, 0, 256);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["eventType"], "bench.event");
        assert_eq!(v["payload"]["seq"].as_u64(), Some(42));
        assert_eq!(v["payload"]["sent_ns"].as_u64(), Some(123));
        // The payload object, re-serialized compactly, is the requested size.
        assert_eq!(serde_json::to_string(&v["payload"]).unwrap().len(), 256);
    }
}

//! Prefixed, time-ordered ids (`app_…`, `ep_…`, `msg_…`, `atmpt_…`) as svix-server makes them: a prefix and a
//! 27-character base62 KSUID. The 16 bytes after the timestamp start with a process-wide monotonic counter, so
//! ids made by one process sort in creation order even within one second; cursors (`iterator`) rely on it.

use std::sync::atomic::{AtomicU64, Ordering};

const KSUID_EPOCH: u64 = 1_400_000_000;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A new KSUID string (27 characters).
pub fn ksuid() -> String {
    let now = chrono::Utc::now();
    let secs = (now.timestamp() as u64).saturating_sub(KSUID_EPOCH) as u32;
    // Monotonic within the process: nanoseconds of the current second, bumped past the last value handed out.
    let nanos = now.timestamp_subsec_nanos() as u64 | ((now.timestamp() as u64) << 30);
    let seq = SEQ
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |prev| Some(prev.max(nanos) + 1))
        .map(|prev| prev.max(nanos) + 1)
        .unwrap_or(nanos);
    let mut bytes = [0u8; 20];
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    bytes[4..12].copy_from_slice(&seq.to_be_bytes());
    rand::Rng::fill(&mut rand::thread_rng(), &mut bytes[12..]);
    encode_base62(&bytes)
}

/// An id with `prefix` for the moment `ms` (milliseconds since the Unix epoch), `seq` in place of the counter and
/// no random part. `at(prefix, ms, 0)` sorts before every id [`new`] makes from that second on and after every id
/// made before it: a range of creation times is a range of ids, which an index on ids walks.
pub fn at(prefix: &str, ms: i64, seq: u64) -> String {
    let secs = (ms.div_euclid(1000) - KSUID_EPOCH as i64).clamp(0, u32::MAX as i64) as u32;
    let mut bytes = [0u8; 20];
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    bytes[4..12].copy_from_slice(&seq.to_be_bytes());
    let mut s = String::with_capacity(prefix.len() + ID_CHARS);
    s.push_str(prefix);
    s.push_str(&encode_base62(&bytes));
    s
}

/// The ids with `prefix` made in `[since, until)` (ms) lie in `[lower, upper)` of this pair (to the second: a
/// query still checks the exact times).
pub fn time_range(prefix: &str, since: Option<i64>, until: Option<i64>) -> (Option<String>, Option<String>) {
    let lower = since.map(|ms| at(prefix, ms, 0));
    // Ids of the second `until` falls in may still be before it: the bound is the next second's first id.
    let upper = until.map(|ms| at(prefix, (ms + 999).div_euclid(1000) * 1000, 0));
    (lower, upper)
}

fn encode_base62(bytes: &[u8; 20]) -> String {
    // The 160-bit big-endian number, divided by 62^5 per round: five digits a round instead of one.
    const BASE5: u64 = 62u64.pow(5);
    let mut limbs = [0u32; 5];
    for (i, limb) in limbs.iter_mut().enumerate() {
        *limb = u32::from_be_bytes(bytes[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    }
    let mut out = [b'0'; 27];
    let mut pos = out.len();
    while pos > 0 {
        let mut rem: u64 = 0;
        for limb in limbs.iter_mut() {
            let acc = (rem << 32) | *limb as u64;
            *limb = (acc / BASE5) as u32;
            rem = acc % BASE5;
        }
        for _ in 0..5 {
            if pos == 0 {
                break;
            }
            pos -= 1;
            out[pos] = BASE62[(rem % 62) as usize];
            rem /= 62;
        }
    }
    String::from_utf8(out.to_vec()).expect("base62 is ascii")
}

/// Declares the id prefixes of the resources; `ids::new(ids::MSG)` makes `msg_…`.
macro_rules! prefixes {
    ($($name:ident = $prefix:literal),* $(,)?) => {
        $(pub const $name: &str = $prefix;)*
    };
}

prefixes! {
    ORG = "org_",
    APP = "app_",
    EP = "ep_",
    MSG = "msg_",
    ATTEMPT = "atmpt_",
    TASK = "qtask_",
    BOT = "bot_",
    BOT_USER = "usr_bot_",
    USER = "usr_",
    CHANNEL = "ch_",
    CHAT_MSG = "msg_",
    FILE = "file_",
    VIEW = "view_",
    DESTINATION = "dst_",
    DESTINATION_ATTEMPT = "dstatmpt_",
    SOURCE = "src_",
}

/// Characters of the time-ordered part of an id (after its prefix).
pub const ID_CHARS: usize = 27;

pub fn new(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + ID_CHARS);
    s.push_str(prefix);
    s.push_str(&ksuid());
    s
}

/// True when `s` looks like an id we made with `prefix` (used to tell an id from a `uid` in paths).
pub fn has_prefix(s: &str, prefix: &str) -> bool {
    s.len() == prefix.len() + 27 && s.starts_with(prefix)
}

/// A random secret of `n` bytes, base62-encoded (tokens).
pub fn random_token(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n).map(|_| BASE62[rng.gen_range(0..62)] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_against_time_bounds() {
        let id = new(MSG);
        let now = chrono::Utc::now().timestamp_millis();
        let (lo, hi) = time_range(MSG, Some(now - 1000), Some(now + 1));
        assert!(lo.as_deref().unwrap() <= id.as_str() && id.as_str() < hi.as_deref().unwrap(), "{lo:?} {id} {hi:?}");
        let (lo, _) = time_range(MSG, Some(now + 1000), None);
        assert!(id.as_str() < lo.as_deref().unwrap());
        let (_, hi) = time_range(MSG, None, Some(now - 1000));
        assert!(hi.as_deref().unwrap() <= id.as_str());
        assert!(at(MSG, now, 1) < at(MSG, now, 2) && at(MSG, now - 1000, u64::MAX) < at(MSG, now, 0));
    }

    #[test]
    fn ksuid_reference_vector() {
        let bytes: [u8; 20] = hex::decode("0669F7EFB5A1CD34B5F99D1154FB6853345C9735").unwrap().try_into().unwrap();
        assert_eq!(encode_base62(&bytes), "0ujtsYcgvSTl8PAuAdqWYSMnLOv");
        assert_eq!(encode_base62(&[0xff; 20]), "aWgEPTl1tmebfsQzFP4bxwgy80V");
        assert_eq!(encode_base62(&[0; 20]), "000000000000000000000000000");
    }

    #[test]
    fn ids_are_prefixed_fixed_length_and_ordered() {
        let a = new(MSG);
        let b = new(MSG);
        assert!(has_prefix(&a, MSG), "{a}");
        assert_eq!(a.len(), 4 + 27);
        assert!(a < b, "{a} should sort before {b}");
    }
}

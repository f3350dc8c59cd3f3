//! Which endpoints receive a message: event-type filters (exact names, or a trailing `*` wildcard such as
//! `contact.*`), channels (an endpoint with channels receives only messages sharing one) and payload filters
//! ([`super::filter`]).

use serde_json::Value;

use super::filter::Subject;
use super::model::Endpoint;

/// The endpoints of `endpoints` that receive a message. Its payload is parsed once, and only if a filter reads it.
pub fn targets<'a>(
    endpoints: &'a [Endpoint],
    event_type: &str,
    channels: Option<&[String]>,
    payload: &str,
) -> Vec<&'a Endpoint> {
    let mut out: Vec<&Endpoint> = endpoints.iter().filter(|e| subscribes(e, event_type, channels)).collect();
    if out.iter().any(|e| e.filter.is_some()) {
        let parsed = parse_if_read(out.iter().copied(), payload);
        let subject = Subject { event_type, channels, payload: parsed.as_ref() };
        out.retain(|e| e.filter.as_ref().is_none_or(|f| f.matches(&subject)));
    }
    out
}

/// The payload as JSON if one of `endpoints`' filters reads it.
pub fn parse_if_read<'a>(mut endpoints: impl Iterator<Item = &'a Endpoint>, payload: &str) -> Option<Value> {
    if endpoints.any(|e| e.filter.as_ref().is_some_and(|f| f.reads_payload())) {
        serde_json::from_str(payload).ok()
    } else {
        None
    }
}

/// Whether `ep` receives the message: [`why_not`] has nothing to say.
pub fn receives(ep: &Endpoint, msg: &Subject<'_>) -> bool {
    subscribes(ep, msg.event_type, msg.channels) && ep.filter.as_ref().is_none_or(|f| f.matches(msg))
}

/// Why `ep` does not receive the message, in words for the dashboard; None if it does.
pub fn why_not(ep: &Endpoint, msg: &Subject<'_>) -> Option<String> {
    if ep.disabled {
        return Some("the endpoint is disabled".into());
    }
    if !types_match(ep, msg.event_type) {
        return Some(format!("it does not subscribe to `{}`", msg.event_type));
    }
    if !channels_match(ep, msg.channels) {
        let tags = |c: &[String]| c.iter().map(|c| format!("#{c}")).collect::<Vec<_>>().join(", ");
        let wanted = tags(ep.channels.as_deref().unwrap_or_default());
        return Some(match msg.channels.filter(|c| !c.is_empty()) {
            Some(have) => format!("it listens only to {wanted}, and the message is on {}", tags(have)),
            None => format!("it listens only to {wanted}, and the message has no channel"),
        });
    }
    let why = ep.filter.as_ref()?.explain(msg)?;
    Some(format!("its filter wants {why}"))
}

/// Event types and channels (and not disabled): everything but the payload filter.
fn subscribes(ep: &Endpoint, event_type: &str, channels: Option<&[String]>) -> bool {
    !ep.disabled && types_match(ep, event_type) && channels_match(ep, channels)
}

fn types_match(ep: &Endpoint, event_type: &str) -> bool {
    match ep.filter_types.as_deref().filter(|f| !f.is_empty()) {
        None => true,
        Some(filters) => filters.iter().any(|f| type_matches(f, event_type)),
    }
}

fn channels_match(ep: &Endpoint, channels: Option<&[String]>) -> bool {
    match ep.channels.as_deref().filter(|c| !c.is_empty()) {
        None => true,
        Some(wanted) => channels.is_some_and(|have| have.iter().any(|c| wanted.contains(c))),
    }
}

/// `contact.*` matches `contact.created` and `contact.a.b`; `*` matches everything; otherwise names are equal.
pub fn type_matches(filter: &str, event_type: &str) -> bool {
    match filter.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => filter == event_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(type_matches("contact.*", "contact.created"));
        assert!(!type_matches("contact.*", "contacts.created"));
        assert!(type_matches("*", "x"));
        assert!(type_matches("a.b", "a.b"));
        assert!(!type_matches("a.b", "a.bc"));
    }
}

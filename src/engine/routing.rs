//! Which endpoints receive a message: event-type filters (exact names, or a trailing `*` wildcard such as
//! `contact.*`) and channels (an endpoint with channels receives only messages sharing one).

use super::model::Endpoint;

pub fn matches(ep: &Endpoint, event_type: &str, channels: Option<&[String]>) -> bool {
    if ep.disabled {
        return false;
    }
    if let Some(filters) = ep.filter_types.as_deref().filter(|f| !f.is_empty()) {
        if !filters.iter().any(|f| type_matches(f, event_type)) {
            return false;
        }
    }
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

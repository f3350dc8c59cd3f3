//! Cursor pagination as the Svix API has it: `limit`, `iterator` (a leading `-` walks backwards) and `order` in;
//! `data`, `iterator`, `prevIterator` and `done` out.

use serde::{Deserialize, Serialize};

use crate::store::Page;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    pub data: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    Ascending,
    Descending,
}

/// `limit`, `iterator` and `order` alone. A listing with filters of its own declares these three among its own
/// fields rather than `#[serde(flatten)]`-ing this struct: through a flatten (or a nested struct) serde_urlencoded
/// hands every value over as a string, and `limit=250` or `include_archived=true` is refused as the wrong type.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub limit: Option<u64>,
    pub iterator: Option<String>,
    #[param(inline)]
    pub order: Option<Ordering>,
}

impl ListQuery {
    pub fn page(&self, default_desc: bool) -> Page {
        page(self.limit, self.iterator.as_deref(), self.order.map_or(default_desc, |o| o == Ordering::Descending))
    }
}

/// Builds a page from the Svix query parameters (`limit` 1–250, default 50).
pub fn page(limit: Option<u64>, iterator: Option<&str>, descending: bool) -> Page {
    let (iterator, reverse) = match iterator.filter(|s| !s.is_empty()) {
        Some(it) => match it.strip_prefix('-') {
            Some(rest) => (Some(rest.to_string()), true),
            None => (Some(it.to_string()), false),
        },
        None => (None, false),
    };
    Page { limit: limit.unwrap_or(50).clamp(1, 250) as usize, iterator, reverse, descending }
}

/// Turns the `limit + 1` rows a store returned (in walking order) into a Svix list response.
pub fn list_response<R, T>(
    mut rows: Vec<R>,
    page: &Page,
    id: impl Fn(&R) -> String,
    map: impl FnMut(R) -> T,
) -> ListResponse<T> {
    let more = rows.len() > page.limit;
    rows.truncate(page.limit);
    if page.reverse {
        rows.reverse();
    }
    let iterator = rows.last().map(&id).or_else(|| page.iterator.clone());
    let prev_iterator = rows.first().map(|r| format!("-{}", id(r)));
    ListResponse { data: rows.into_iter().map(map).collect(), iterator, prev_iterator, done: !more }
}

//! MediaMTX's pagination of lists: `itemsPerPage` (default 100, at least 1) and `page` (from
//! 0); a page past the end is empty, and `pageCount` is 0 for an empty list.

use serde_json::Value;

/// Items per page when the request does not say.
const DEFAULT_ITEMS_PER_PAGE: usize = 100;
/// Largest value either parameter takes (MediaMTX parses them as 31-bit integers).
const MAX_PARAM: u64 = (1 << 31) - 1;

/// Which page of a list a request wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Page {
    items_per_page: usize,
    page: usize,
}

impl Page {
    /// Reads `itemsPerPage` and `page` from a URL query; other parameters are ignored.
    /// A value that is not a whole number up to 2^31-1, or `itemsPerPage=0`, is an error
    /// naming the parameter.
    pub(super) fn from_query(query: &str) -> Result<Page, String> {
        let mut page = Page {
            items_per_page: DEFAULT_ITEMS_PER_PAGE,
            page: 0,
        };
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "itemsPerPage" => page.items_per_page = number(&key, &value)?,
                "page" => page.page = number(&key, &value)?,
                _ => {}
            }
        }
        if page.items_per_page == 0 {
            return Err("invalid itemsPerPage: must be at least 1".to_string());
        }
        Ok(page)
    }

    /// The page count of `items` and the items of this page.
    pub(super) fn apply(self, items: Vec<Value>) -> (usize, Vec<Value>) {
        let count = items.len();
        let page_count = count.div_ceil(self.items_per_page);
        let start = self.page.saturating_mul(self.items_per_page).min(count);
        let end = start.saturating_add(self.items_per_page).min(count);
        let page = items.into_iter().skip(start).take(end - start).collect();
        (page_count, page)
    }
}

fn number(key: &str, value: &str) -> Result<usize, String> {
    match value.parse::<u64>() {
        Ok(n) if n <= MAX_PARAM => Ok(n as usize),
        _ => Err(format!(
            "invalid {key}: {value:?} is not a whole number from 0 to {MAX_PARAM}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The page count and items of a page, or the start of the error.
    type Expected = Result<(usize, &'static [i64]), &'static str>;

    /// (query, items in the list, what is expected).
    const CASES: &[(&str, usize, Expected)] = &[
        ("", 3, Ok((1, &[0, 1, 2]))),
        ("itemsPerPage=2", 3, Ok((2, &[0, 1]))),
        ("itemsPerPage=2&page=1", 3, Ok((2, &[2]))),
        ("itemsPerPage=2&page=7", 3, Ok((2, &[]))),
        ("page=0", 0, Ok((0, &[]))),
        ("itemsPerPage=2147483647&page=2147483647", 3, Ok((1, &[]))),
        ("itemsPerPage=0", 3, Err("invalid itemsPerPage")),
        ("itemsPerPage=-1", 3, Err("invalid itemsPerPage")),
        ("page=abc", 3, Err("invalid page")),
        ("page=2147483648", 3, Err("invalid page")),
    ];

    #[test]
    fn pages_follow_mediamtx() {
        for (query, len, expected) in CASES {
            let items = (0..*len as i64).map(|i| json!(i)).collect();
            let got = Page::from_query(query).map(|p| p.apply(items));
            match (got, expected) {
                (Ok((count, page)), Ok((want_count, want))) => {
                    assert_eq!(count, *want_count, "{query}");
                    let want: Vec<Value> = want.iter().map(|i| json!(i)).collect();
                    assert_eq!(page, want, "{query}");
                }
                (Err(e), Err(start)) => assert!(e.starts_with(start), "{query}: {e}"),
                (got, _) => panic!("{query}: got {got:?}"),
            }
        }
    }
}

//! Error collection and suggestions: every pass records its errors here and
//! carries on, so the user sees all of their mistakes in one build.

use proc_macro2::TokenStream;
use quote::ToTokens;

#[derive(Default)]
pub struct Diagnostics {
    errors: Vec<syn::Error>,
}

impl Diagnostics {
    /// Records an error spanned on `tokens` (from its first to its last token).
    pub fn error<T: ToTokens + ?Sized>(&mut self, tokens: &T, message: impl std::fmt::Display) {
        self.errors
            .push(syn::Error::new_spanned(tokens.to_token_stream(), message));
    }

    pub fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// The messages recorded so far (for tests).
    #[cfg(test)]
    pub fn messages(&self) -> Vec<String> {
        self.errors.iter().map(|e| e.to_string()).collect()
    }

    /// All errors as `compile_error!` invocations.
    pub fn to_compile_errors(&self) -> TokenStream {
        let mut errors = self.errors.iter().cloned();
        let Some(mut first) = errors.next() else {
            return TokenStream::new();
        };
        for e in errors {
            first.combine(e);
        }
        first.to_compile_error()
    }
}

/// The candidate closest to `word` by edit distance, if it is close.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggestions() {
        assert_eq!(closest("kernal", &["kernel", "stride"]), Some("kernel"));
        assert_eq!(closest("xyzzy", &["kernel", "stride"]), None);
        assert_eq!(closest("relu", &["relu", "tanh"]), Some("relu"));
    }
}

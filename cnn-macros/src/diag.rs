//! Error collection: every pass records its errors here and carries on, so
//! the user sees all of their mistakes in one build.

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
        if self.is_empty() {
            return TokenStream::new();
        }
        let mut errors = self.errors.iter().cloned();
        let mut first = errors.next().expect("not empty");
        for e in errors {
            first.combine(e);
        }
        first.to_compile_error()
    }
}

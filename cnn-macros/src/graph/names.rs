//! Layer names: the user's, or automatic ones, dotted through the named
//! sequences and block instances an item sits in, as PyTorch's module
//! names are.
//!
//! - At the top of a network and inside a block, unnamed items are named
//!   after their keyword and a counter (`relu1`, `relu2`, `inception1`),
//!   skipping names the user gave.
//! - Inside a named sequence (`features: [...]`, PyTorch's `nn.Sequential`),
//!   unnamed items are named by their position (`features.0`,
//!   `features.1`).
//! - Unnamed sequences and branches add no level: their items belong to the
//!   enclosing scope.

use std::collections::{HashMap, HashSet};

use syn::ext::IdentExt;

use crate::ast::ItemDecl;

/// How the unnamed items of a scope are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `relu1`, `relu2`, ...
    Counters,
    /// `0`, `1`, ... by position.
    Positions,
}

/// A naming scope.
pub struct Scope {
    /// `inception3a.`, or empty at the top.
    prefix: String,
    /// The prefix of the tensors' names (the same unless `as "..."`).
    tensors: String,
    naming: Naming,
    /// Every name the user gave in the scope (automatic names skip them).
    reserved: HashSet<String>,
    /// The names given so far (a second use is a duplicate).
    claimed: HashSet<String>,
    counters: HashMap<String, usize>,
    /// The position of the next item (for `Naming::Positions`).
    position: usize,
}

impl Scope {
    /// The top scope of a network, or of a block instance called `name`.
    pub fn new(name: &str, tensors: &str, naming: Naming, items: &[&ItemDecl]) -> Scope {
        let dotted = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{s}.")
            }
        };
        let mut reserved = HashSet::new();
        for item in items {
            reserve(item, &mut reserved);
        }
        Scope {
            prefix: dotted(name),
            tensors: dotted(tensors),
            naming,
            reserved,
            claimed: HashSet::new(),
            counters: HashMap::new(),
            position: 0,
        }
    }

    /// The local name of the next item: the user's, its position, or its
    /// keyword and a counter. `Err` (with the name) when the user's name is
    /// already taken in this scope.
    pub fn next(&mut self, item: &ItemDecl, keyword: &str) -> Result<String, String> {
        let position = self.position;
        self.position += 1;
        if let Some(name) = item.name() {
            // `r#type` is the layer `type`.
            let name = name.unraw().to_string();
            return if self.claimed.insert(name.clone()) {
                Ok(name)
            } else {
                Err(name)
            };
        }
        if self.naming == Naming::Positions {
            return Ok(position.to_string());
        }
        let counter = self.counters.entry(keyword.to_string()).or_insert(0);
        loop {
            *counter += 1;
            let candidate = format!("{keyword}{counter}");
            if !self.reserved.contains(&candidate) && self.claimed.insert(candidate.clone()) {
                return Ok(candidate);
            }
        }
    }

    /// The full name of a local name.
    pub fn full(&self, local: &str) -> String {
        format!("{}{local}", self.prefix)
    }

    /// The tensor-name prefix of a local name, or `custom` (`as "..."`).
    pub fn tensors(&self, local: &str, custom: Option<String>) -> String {
        custom.unwrap_or_else(|| format!("{}{local}", self.tensors))
    }

    /// The scope of a named sequence or merge called `local` in this one.
    pub fn child(
        &self,
        local: &str,
        custom: Option<String>,
        naming: Naming,
        items: &[&ItemDecl],
    ) -> Scope {
        let tensors = self.tensors(local, custom);
        Scope::new(&self.full(local), &tensors, naming, items)
    }

    /// Continues this scope into an unnamed sequence or merge: its items
    /// are named here, their own names reserved too.
    pub fn reserve_more(&mut self, items: &[&ItemDecl]) {
        for item in items {
            reserve(item, &mut self.reserved);
        }
    }
}

/// Reserves the names the user gave to `item` and, through unnamed
/// sequences and merges, to the items in it.
fn reserve(item: &ItemDecl, reserved: &mut HashSet<String>) {
    if let Some(name) = item.name() {
        reserved.insert(name.unraw().to_string());
        return;
    }
    match item {
        ItemDecl::Layer(_) => {}
        ItemDecl::Seq(s) => s.items.iter().for_each(|i| reserve(i, reserved)),
        ItemDecl::Merge(m) => m.branches.iter().for_each(|i| reserve(i, reserved)),
    }
}

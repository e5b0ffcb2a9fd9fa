//! Reading a layer's arguments against its [`Schema`]: positional and
//! named, with type checks, defaults, and errors for unknown, repeated or
//! missing arguments.

use crate::ast::{Arg, LayerDecl, Value};
use crate::diag::{closest, Diagnostics};

/// The arguments a layer kind takes.
pub struct Schema {
    /// Accepted names, those that may be given by position first.
    pub args: &'static [&'static str],
    /// How many of `args` may be given by position.
    pub positional: usize,
    /// A call that shows the required arguments, for "needs ..." errors.
    pub example: &'static str,
}

impl Schema {
    /// A layer that takes no arguments.
    pub const NONE: Schema = Schema {
        args: &[],
        positional: 0,
        example: "",
    };
}

/// Largest integer argument: far beyond any real network, small enough
/// that shape arithmetic cannot overflow.
pub const MAX_ARG: usize = 1 << 24;

/// Alternative spellings users reach for, mapped to the accepted name.
fn alias(name: &str) -> &str {
    match name {
        "padding" => "pad",
        "kernel_size" => "kernel",
        "out_channels" | "filters" => "channels",
        "out" | "out_features" => "units",
        "pool_size" => "size",
        _ => name,
    }
}

pub struct ArgReader<'a> {
    layer: &'a LayerDecl,
    label: &'a str,
    kind: &'a str,
    schema: &'a Schema,
    used: Vec<bool>,
    diag: &'a mut Diagnostics,
    ok: bool,
}

impl<'a> ArgReader<'a> {
    pub fn new(
        layer: &'a LayerDecl,
        label: &'a str,
        kind: &'a str,
        schema: &'a Schema,
        diag: &'a mut Diagnostics,
    ) -> Self {
        let mut ok = true;
        let mut seen_named = false;
        for arg in &layer.args {
            if arg.name.is_some() {
                seen_named = true;
            } else if seen_named {
                diag.error(
                    &arg.tokens,
                    format!("{label}: positional arguments must come before named ones"),
                );
                ok = false;
            }
        }
        ArgReader {
            layer,
            label,
            kind,
            schema,
            used: vec![false; layer.args.len()],
            diag,
            ok,
        }
    }

    /// The argument `name`, given by name or at position `pos`.
    fn find(&mut self, name: &str, pos: Option<usize>) -> Option<&'a Arg> {
        let mut found: Option<&'a Arg> = None;
        let positional = self
            .layer
            .args
            .iter()
            .enumerate()
            .filter(|(_, a)| a.name.is_none());
        let by_pos = pos.and_then(|p| positional.clone().nth(p));
        let by_name = self.layer.args.iter().enumerate().filter(|(_, a)| {
            a.name
                .as_ref()
                .is_some_and(|n| alias(&n.to_string()) == name)
        });
        for (i, arg) in by_pos.into_iter().chain(by_name) {
            self.used[i] = true;
            match found {
                Some(first) => {
                    let message = match (&first.name, &arg.name) {
                        (None, Some(given)) => format!(
                            "`{name}` is given twice: by position (`{}`) and as `{given} = {}`",
                            first.value.text(),
                            arg.value.text()
                        ),
                        _ => format!("`{name}` is given more than once"),
                    };
                    self.diag
                        .error(&arg.tokens, format!("{}: {message}", self.label));
                    self.ok = false;
                }
                None => found = Some(arg),
            }
        }
        found
    }

    fn missing(&mut self, name: &str) {
        self.ok = false;
        // A misspelt name (`kernal = 3`) is reported by `finish` with a
        // suggestion; saying that `kernel` is missing too would be noise.
        let accepted = self.schema.args;
        let misspelt = self.layer.args.iter().any(|a| {
            a.name.as_ref().is_some_and(|n| {
                let n = alias(&n.to_string()).to_string();
                !accepted.contains(&n.as_str()) && closest(&n, accepted) == Some(name)
            })
        });
        if misspelt {
            return;
        }
        let example = if self.schema.example.is_empty() {
            String::new()
        } else {
            format!(" as in `{}`", self.schema.example)
        };
        self.diag.error(
            &self.layer.tokens,
            format!("{}: {} needs `{name}`{example}", self.label, self.kind),
        );
    }

    fn bad(&mut self, value: &Value, message: String) {
        self.diag
            .error(&value.tokens(), format!("{}: {message}", self.label));
        self.ok = false;
    }

    /// `what` describes the expected value: "an integer", "an integer or a pair".
    fn read_uint(&mut self, name: &str, value: &Value, min: usize, what: &str) -> Option<usize> {
        match value {
            // `3x5` is the literal `3` with the suffix `x5`.
            Value::Int(lit) if !lit.suffix().is_empty() => {
                let hint = match lit.suffix().strip_prefix('x') {
                    Some(w) if w.bytes().all(|b| b.is_ascii_digit()) => format!(
                        "; write a {}x{w} size as the pair `({}, {w})`",
                        lit.base10_digits(),
                        lit.base10_digits()
                    ),
                    _ => String::new(),
                };
                self.bad(
                    value,
                    format!(
                        "`{name}` must be a plain integer, found `{}`{hint}",
                        value.text()
                    ),
                );
                None
            }
            Value::Int(lit) => match lit.base10_parse::<usize>() {
                Ok(v) if v > MAX_ARG => {
                    self.bad(
                        value,
                        format!("`{name}` is too large: {v} (at most {MAX_ARG})"),
                    );
                    None
                }
                Ok(v) if v >= min => Some(v),
                Ok(v) => {
                    let what = if min == 1 {
                        "at least 1"
                    } else {
                        "non-negative"
                    };
                    self.bad(value, format!("`{name}` must be {what}, found {v}"));
                    None
                }
                Err(_) => {
                    self.bad(
                        value,
                        format!(
                            "`{name}` is too large: {} (at most {MAX_ARG})",
                            value.text()
                        ),
                    );
                    None
                }
            },
            Value::Negative(_) => {
                self.bad(
                    value,
                    format!("`{name}` cannot be negative, found {}", value.text()),
                );
                None
            }
            _ => {
                self.bad(
                    value,
                    format!("`{name}` must be {what}, found `{}`", value.text()),
                );
                None
            }
        }
    }

    /// An integer argument of at least `min`; `default` when absent
    /// (absent and no default is an error).
    pub fn uint(
        &mut self,
        name: &str,
        pos: Option<usize>,
        default: Option<usize>,
        min: usize,
    ) -> Option<usize> {
        match self.find(name, pos) {
            Some(arg) => self.read_uint(name, &arg.value, min, "an integer"),
            None if default.is_some() => default,
            None => {
                self.missing(name);
                None
            }
        }
    }

    /// A size or pair: `3` means `(3, 3)`; `(3, 1)` is (height, width).
    pub fn pair(
        &mut self,
        name: &str,
        pos: Option<usize>,
        default: Option<(usize, usize)>,
        min: usize,
    ) -> Option<(usize, usize)> {
        let Some(arg) = self.find(name, pos) else {
            if default.is_none() {
                self.missing(name);
            }
            return default;
        };
        match &arg.value {
            Value::Tuple(items, _) if items.len() == 2 => {
                let a = self.read_uint(name, &items[0], min, "an integer");
                let b = self.read_uint(name, &items[1], min, "an integer");
                Some((a?, b?))
            }
            Value::Tuple(items, _) => {
                self.bad(
                    &arg.value,
                    format!(
                        "`{name}` takes one size or a pair (height, width), found {} values",
                        items.len()
                    ),
                );
                None
            }
            v => self
                .read_uint(name, v, min, "an integer or a pair (height, width)")
                .map(|x| (x, x)),
        }
    }

    pub fn bool(&mut self, name: &str, default: bool) -> Option<bool> {
        match self.find(name, None) {
            None => Some(default),
            Some(arg) => match &arg.value {
                Value::Bool(b) => Some(b.value),
                v => {
                    self.bad(
                        v,
                        format!("`{name}` must be `true` or `false`, found `{}`", v.text()),
                    );
                    None
                }
            },
        }
    }

    /// A probability in [0, 1).
    pub fn probability(&mut self, name: &str, pos: Option<usize>) -> Option<f32> {
        self.float(name, pos, None, "a probability in [0, 1)", |p| {
            (0.0..1.0).contains(&p)
        })
    }

    /// A number (integer or float literal, possibly negative) for which
    /// `valid` holds, `what` describing the valid values; `default` when absent.
    pub fn float(
        &mut self,
        name: &str,
        pos: Option<usize>,
        default: Option<f32>,
        what: &str,
        valid: impl Fn(f32) -> bool,
    ) -> Option<f32> {
        let arg = match self.find(name, pos) {
            Some(arg) => arg,
            None if default.is_some() => return default,
            None => {
                self.missing(name);
                return None;
            }
        };
        let parse = |v: &Value| match v {
            Value::Float(f) => f.base10_parse::<f32>().ok(),
            Value::Int(i) if i.suffix().is_empty() => i.base10_parse::<f32>().ok(),
            _ => None,
        };
        let v = match &arg.value {
            Value::Negative(tokens) => {
                syn::parse2::<syn::Lit>(tokens.clone().into_iter().skip(1).collect())
                    .ok()
                    .and_then(|lit| match lit {
                        syn::Lit::Float(f) => Some(Value::Float(f)),
                        syn::Lit::Int(i) => Some(Value::Int(i)),
                        _ => None,
                    })
                    .as_ref()
                    .and_then(parse)
                    .map(|v| -v)
            }
            v => parse(v),
        };
        match v {
            Some(x) if x.is_finite() && valid(x) => Some(x),
            _ => {
                // A literal that is valid but rounds to an invalid f32
                // (`0.99999999999` is 1.0): say so.
                let text = arg.value.text();
                let rounded = match (v, text.parse::<f64>()) {
                    (Some(x), Ok(exact)) if x != 0.0 && f64::from(x) != exact => {
                        // The f32 next to `x` on the literal's side.
                        let up = f64::from(x) < exact;
                        let bits = if up == (x > 0.0) {
                            x.to_bits() + 1
                        } else {
                            x.to_bits() - 1
                        };
                        let near = f32::from_bits(bits);
                        if near.is_finite() && valid(near) {
                            format!(
                                ", which is {x:?} as an f32 (layer arguments are f32; the \
                                 nearest valid f32 is {near:?})"
                            )
                        } else {
                            String::new()
                        }
                    }
                    _ => String::new(),
                };
                self.bad(
                    &arg.value,
                    format!("`{name}` must be {what}, found {text}{rounded}"),
                );
                None
            }
        }
    }

    /// Reports arguments nobody asked for. Returns whether every argument was good.
    pub fn finish(mut self) -> bool {
        let accepted = self.schema.args;
        let by_position = &accepted[..self.schema.positional];
        let mut position = 0;
        for (arg, used) in self.layer.args.iter().zip(&self.used) {
            if arg.name.is_none() {
                position += 1;
            }
            if *used {
                continue;
            }
            self.ok = false;
            match &arg.name {
                Some(name) => {
                    let n = name.to_string();
                    let hint = closest(&n, accepted)
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    let list = if accepted.is_empty() {
                        format!("{} takes no arguments", self.kind)
                    } else {
                        format!("{} takes {}", self.kind, accepted.join(", "))
                    };
                    self.diag.error(
                        name,
                        format!("{}: unknown argument `{n}`{hint} ({list})", self.label),
                    );
                }
                None if accepted.is_empty() => self.diag.error(
                    &arg.tokens,
                    format!("{}: {} takes no arguments", self.label, self.kind),
                ),
                None => {
                    let names: Vec<String> = by_position.iter().map(|n| format!("`{n}`")).collect();
                    let takes = format!("only {} by position", names.join(" and "));
                    // The argument the user probably meant, named.
                    let hint = match accepted.get(position - 1) {
                        Some(next) => format!("; write `{next} = {}`", arg.value.text()),
                        None => String::new(),
                    };
                    self.diag.error(
                        &arg.tokens,
                        format!(
                            "{}: too many positional arguments: {} takes {takes}{hint}",
                            self.label, self.kind
                        ),
                    )
                }
            }
        }
        self.ok
    }
}

//! What a run shows while it trains: a progress bar on a terminal, and one
//! plain line per epoch on standard output when that is not a terminal
//! (a CI log, a file).

use std::string::String;

use super::history::EpochStats;

/// Where a run reports its progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Output {
    /// A bar on standard error, redrawn as steps go.
    pub bar: bool,
    /// One line per epoch on standard output.
    pub lines: bool,
}

impl Output {
    /// The bar when standard error is a terminal; a line per epoch when
    /// standard output is not one, or when no bar is drawn; nothing when
    /// not `wanted`.
    pub fn choose(wanted: bool, stdout_terminal: bool, stderr_terminal: bool) -> Output {
        let bar = wanted && stderr_terminal;
        Output {
            bar,
            lines: wanted && (!stdout_terminal || !bar),
        }
    }

    /// As [`Output::choose`], for this process's streams.
    pub fn for_this_process(wanted: bool) -> Output {
        use std::io::IsTerminal;
        Output::choose(
            wanted,
            std::io::stdout().is_terminal(),
            std::io::stderr().is_terminal(),
        )
    }
}

/// The line of an epoch: `epoch 3/10: loss 0.1234, accuracy 96.50%,
/// validation loss 0.1111, accuracy 97.00%, lr 0.05, 1.2 s`.
pub(super) fn epoch_line(s: &EpochStats, epochs: usize) -> String {
    let mut line = format!("epoch {}/{epochs}: loss {:.4}", s.epoch, s.train_loss);
    if let Some(a) = s.train_accuracy {
        line.push_str(&format!(", accuracy {:.2}%", 100.0 * a));
    }
    if let Some(l) = s.val_loss {
        line.push_str(&format!(", validation loss {l:.4}"));
    }
    if let Some(a) = s.val_accuracy {
        line.push_str(&format!(", accuracy {:.2}%", 100.0 * a));
    }
    line.push_str(&format!(", lr {}, {:.1} s", s.lr, s.seconds));
    line
}

/// A progress bar that exists only when wanted.
pub(super) struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    pub fn new(output: Output, steps: usize, epoch: usize, epochs: usize) -> Bar {
        if !output.bar {
            return Bar(None);
        }
        let bar = indicatif::ProgressBar::new(steps as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("epoch {epoch}/{epochs}"));
        Bar(Some(bar))
    }

    /// One more step; the running mean loss every 16 steps.
    pub fn step(&self, step: usize, mean_loss: impl FnOnce() -> f64) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
            if step.is_multiple_of(16) {
                bar.set_message(format!("loss {:.4}", mean_loss()));
            }
        }
    }

    pub fn finish(&self, s: &EpochStats) {
        if let Some(bar) = &self.0 {
            let val = match (s.val_loss, s.val_accuracy) {
                (Some(l), Some(a)) => format!(", validation {l:.4} / {:.2}%", a * 100.0),
                (Some(l), None) => format!(", validation {l:.4}"),
                _ => String::new(),
            };
            bar.finish_with_message(format!("loss {:.4}{val}", s.train_loss));
        }
    }

    pub fn abandon(&self) {
        if let Some(bar) = &self.0 {
            bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_to_logs_and_bars_to_terminals() {
        let choose = Output::choose;
        // Both streams on a terminal: the bar only.
        assert_eq!(
            choose(true, true, true),
            Output {
                bar: true,
                lines: false
            }
        );
        // Standard output in a log (CI), standard error on a terminal: both.
        assert_eq!(
            choose(true, false, true),
            Output {
                bar: true,
                lines: true
            }
        );
        // Neither on a terminal: lines.
        assert_eq!(
            choose(true, false, false),
            Output {
                bar: false,
                lines: true
            }
        );
        // No bar can be drawn: lines, even on a terminal.
        assert_eq!(
            choose(true, true, false),
            Output {
                bar: false,
                lines: true
            }
        );
        // `quiet()`: nothing.
        for (o, e) in [(true, true), (false, false), (false, true), (true, false)] {
            assert_eq!(
                choose(false, o, e),
                Output {
                    bar: false,
                    lines: false
                }
            );
        }
    }

    #[test]
    fn an_epoch_line_has_every_figure() {
        let s = EpochStats {
            epoch: 3,
            train_loss: 0.123_44,
            train_accuracy: Some(0.965),
            val_loss: Some(0.111_12),
            val_accuracy: Some(0.97),
            lr: 0.05,
            seconds: 1.24,
        };
        assert_eq!(
            epoch_line(&s, 10),
            "epoch 3/10: loss 0.1234, accuracy 96.50%, validation loss 0.1111, accuracy \
             97.00%, lr 0.05, 1.2 s"
        );
        let s = EpochStats {
            train_accuracy: None,
            val_loss: None,
            val_accuracy: None,
            ..s
        };
        assert_eq!(
            epoch_line(&s, 10),
            "epoch 3/10: loss 0.1234, lr 0.05, 1.2 s"
        );
    }
}

//! The firmware binary: classifies the bundled digits on a Cortex-M4F and
//! reports the count over semihosting (visible under a debugger or QEMU).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_halt as _;

use firmware::{classify, LeNet5Arena, DIGITS, LABELS};

#[entry]
fn main() -> ! {
    // The whole working memory of an inference: 7,840 bytes on the stack.
    let mut arena = LeNet5Arena::new();
    let mut correct = 0;
    for (i, (digit, &label)) in DIGITS.iter().zip(&LABELS).enumerate() {
        let (class, p) = classify(digit, &mut arena);
        correct += usize::from(class == usize::from(label));
        hprintln!(
            "digit {}: label {}, classified {} (p = {}‰)",
            i,
            label,
            class,
            (p * 1000.0) as u32
        );
    }
    hprintln!("{}/{} digits classified correctly", correct, DIGITS.len());
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

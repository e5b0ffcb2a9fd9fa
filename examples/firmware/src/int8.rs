//! The int8 firmware binary: classifies the bundled digits on a Cortex-M4F
//! with the int8 LeNet-5 and reports the count over semihosting.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_halt as _;

use firmware::{classify_int8, LeNet5Int8, LeNet5Int8Arena, DIGITS, LABELS};

#[entry]
fn main() -> ! {
    // The whole working memory of an inference: 1,960 bytes on the stack
    // (the int8 input and the two largest activations alive together).
    let mut arena = LeNet5Int8Arena::new();
    let mut correct = 0;
    for (i, (digit, &label)) in DIGITS.iter().zip(&LABELS).enumerate() {
        let (class, p, _) = classify_int8(digit, &mut arena);
        correct += usize::from(class == usize::from(label));
        hprintln!(
            "digit {}: label {}, classified {} (p = {}‰)",
            i,
            label,
            class,
            (p * 1000.0) as u32
        );
    }
    hprintln!(
        "{}/{} digits classified correctly (int8, arena {} bytes)",
        correct,
        DIGITS.len(),
        LeNet5Int8::ARENA_BYTES
    );
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

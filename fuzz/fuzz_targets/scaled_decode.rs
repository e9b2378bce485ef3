//! Fuzzes the default build's DCT-scaled JPEG path (feature `scaled-jpeg`, libjpeg-turbo through
//! the mozjpeg crate): bytes -> `decode_gray_at_least` with a fuzzed minimum size, checked
//! against the full decoder. The first 4 bytes choose the minimum (height, width); the rest is
//! the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use support::imread::{decode_gray, decode_gray_at_least, scale_numerator};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (ctl, file) = data.split_at(4);
    let min = (
        usize::from(u16::from_le_bytes([ctl[0], ctl[1]]) % 512) + 1,
        usize::from(u16::from_le_bytes([ctl[2], ctl[3]]) % 512) + 1,
    );
    let path = Path::new("fuzz.jpeg");
    let scaled = decode_gray_at_least(file, path, min);
    let full = decode_gray(file, path);
    match (&scaled, &full) {
        (Ok(small), Ok(whole)) => {
            let (h, w) = whole.dim();
            let (sh, sw) = small.dim();
            assert!(
                sh > 0 && sw > 0,
                "the scaled decode returned an empty image"
            );
            if (sh, sw) != (h, w) {
                // A reduced decode: libjpeg's size for the numerator our rule picks, and never
                // below the requested minimum.
                let n = usize::from(scale_numerator((h, w), min));
                assert!(n < 8, "reduced although no numerator below 8 fits");
                assert_eq!((sh, sw), ((h * n).div_ceil(8), (w * n).div_ceil(8)));
                assert!(sh >= min.0 && sw >= min.1, "scaled below the minimum");
            }
        }
        // Whatever the full decoder reads, the scaled path reads too: it falls back to it.
        (Err(_), Ok(_)) => panic!("the scaled path refused a file the full decoder reads"),
        // libjpeg reads through some damage (a corrupt entropy segment, say) that the full
        // decoder refuses; both answers are acceptable, and neither may crash.
        (Ok(_), Err(_)) | (Err(_), Err(_)) => {}
    }
});

// q4_1: one word per block holding its f16 scale d and minimum m, then each block's 16 bytes
// (4 words), nibbles as in q4_0; x = d * q + m.
fn load8(block: u32, j: u32, quants_offset: u32) -> Weights8 {
    let dm = unpack2x16float(weights[block]);
    let w = weights[quants_offset + block * 4u + j];
    return Weights8(dm.x * nibbles(w, 0u) + dm.y, dm.x * nibbles(w, 4u) + dm.y);
}

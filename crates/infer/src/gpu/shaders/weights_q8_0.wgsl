// q8_0: the blocks' f16 scales two to a word, then each block's 32 signed bytes (8 words).
fn load8(block: u32, j: u32, quants_offset: u32) -> Weights8 {
    let d = block_scale(block);
    let base = quants_offset + block * 8u;
    return Weights8(d * i8x4(weights[base + j]), d * i8x4(weights[base + 4u + j]));
}

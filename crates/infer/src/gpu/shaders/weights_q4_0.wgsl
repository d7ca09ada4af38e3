// q4_0: the blocks' f16 scales two to a word, then each block's 16 bytes (4 words). Byte i
// holds element i in its low nibble and element i + 16 in its high nibble; x = d * (q - 8).
fn load8(block: u32, j: u32, quants_offset: u32) -> Weights8 {
    let d = block_scale(block);
    let w = weights[quants_offset + block * 4u + j];
    return Weights8(d * (nibbles(w, 0u) - 8.0), d * (nibbles(w, 4u) - 8.0));
}

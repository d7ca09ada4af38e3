// How the matrix kernels read weights. Each type's file (weights_<type>.wgsl) defines
//     fn load8(block: u32, j: u32, quants_offset: u32) -> Weights8
// which returns eight dequantised weights of the 32-element block `block` (counted over the
// whole matrix, row-major): elements 4j..4j+3 in `lo` and 16+4j..16+4j+3 in `hi`, j in 0..4.
// That split matches the 4-bit formats' nibble order, and lets four threads read a block's
// consecutive words.
//
// The kernel including these declares `weights: array<u32>`.

struct Weights8 {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

// The f16 scale of a block, when the scales are stored two to a word at the buffer's start.
fn block_scale(block: u32) -> f32 {
    return unpack2x16float(weights[block / 2u])[block % 2u];
}

// Four signed bytes of a word, lowest first.
fn i8x4(w: u32) -> vec4<f32> {
    return vec4<f32>(vec4<i32>(bitcast<i32>(w << 24u) >> 24u, bitcast<i32>(w << 16u) >> 24u,
                               bitcast<i32>(w << 8u) >> 24u, bitcast<i32>(w) >> 24u));
}

// Four nibbles of a word (the low ones for shift 0, the high ones for shift 4), lowest byte first.
fn nibbles(w: u32, shift: u32) -> vec4<f32> {
    return vec4<f32>(f32((w >> shift) & 15u), f32((w >> (shift + 8u)) & 15u),
                     f32((w >> (shift + 16u)) & 15u), f32((w >> (shift + 24u)) & 15u));
}

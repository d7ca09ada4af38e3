// bf16 weights, two to a word, in file order. A bf16 is the top half of an f32.
fn bf16x2(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

fn load8(block: u32, j: u32, quants_offset: u32) -> Weights8 {
    let base = block * 16u + 2u * j;
    let lo = vec4<f32>(bf16x2(weights[base]), bf16x2(weights[base + 1u]));
    let hi = vec4<f32>(bf16x2(weights[base + 8u]), bf16x2(weights[base + 9u]));
    return Weights8(lo, hi);
}

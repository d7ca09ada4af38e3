// f16 weights, two to a word, in file order. Unpacked in the shader, which needs no shader-f16
// support (browsers on software adapters lack it).
fn load8(block: u32, j: u32, quants_offset: u32) -> Weights8 {
    let base = block * 16u + 2u * j;
    let lo = vec4<f32>(unpack2x16float(weights[base]), unpack2x16float(weights[base + 1u]));
    let hi = vec4<f32>(unpack2x16float(weights[base + 8u]), unpack2x16float(weights[base + 9u]));
    return Weights8(lo, hi);
}

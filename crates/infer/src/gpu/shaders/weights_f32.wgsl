// f32 weights, four bytes each, in file order.
fn load8(block: u32, j: u32, quants_offset: u32) -> Weights8 {
    let base = block * 32u + 4u * j;
    let lo = vec4<f32>(bitcast<f32>(weights[base]), bitcast<f32>(weights[base + 1u]),
                       bitcast<f32>(weights[base + 2u]), bitcast<f32>(weights[base + 3u]));
    let hi = vec4<f32>(bitcast<f32>(weights[base + 16u]), bitcast<f32>(weights[base + 17u]),
                       bitcast<f32>(weights[base + 18u]), bitcast<f32>(weights[base + 19u]));
    return Weights8(lo, hi);
}

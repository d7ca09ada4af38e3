// y = W x (+ bias) (+ y) for one token, for CPU adapters (lavapipe, SwiftShader): each
// invocation computes whole rows, with no workgroup memory and no barriers. A CPU adapter runs
// a workgroup's invocations as SIMD lanes and every barrier as a switch between them, which made
// the workgroup-per-rows form (matvec.wgsl) 2.3 times slower there.

const ROWS: u32 = 8u;

@compute @workgroup_size(8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let row = (wid.y * groups.x + wid.x) * ROWS + lid.x;
    let blocks = params.cols / 32u;
    var x_base = 0u;
    if ((params.flags & 4u) != 0u) {
        x_base = (step.n_tokens - 1u) * params.cols / 4u;
    }
    if (row >= params.rows) {
        return;
    }
    var acc = 0.0;
    let first = row * blocks;
    for (var u = 0u; u < blocks * 4u; u++) {
        let b = u / 4u;
        let j = u % 4u;
        let w = load8(first + b, j, params.quants_offset);
        let xi = x_base + b * 8u + j;
        acc += dot(w.lo, x[xi]) + dot(w.hi, x[xi + 4u]);
    }
    var out = acc;
    let at = params.out_offset + row;
    if ((params.flags & 1u) != 0u) {
        out += bias[row];
    }
    if ((params.flags & 2u) != 0u) {
        out += y[at];
    }
    y[at] = out;
}

// y = W x (+ bias) (+ y) for one token: the decode step's matrix-vector product.
//
// Decoding reads every weight once per token, so this is bound by memory bandwidth: each
// workgroup takes 8 rows, and the 32 threads of a row read its blocks' consecutive words.

const LANES: u32 = 32u;
const ROWS: u32 = 8u;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(32, 8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let row = (wid.y * groups.x + wid.x) * ROWS + lid.y;
    let lane = lid.x;
    let blocks = params.cols / 32u;
    var x_base = 0u;
    if ((params.flags & 4u) != 0u) {
        x_base = (step.n_tokens - 1u) * params.cols / 4u;
    }
    var acc = 0.0;
    if (row < params.rows) {
        let first = row * blocks;
        for (var u = lane; u < blocks * 4u; u += LANES) {
            let b = u / 4u;
            let j = u % 4u;
            let w = load8(first + b, j, params.quants_offset);
            let xi = x_base + b * 8u + j;
            acc += dot(w.lo, x[xi]) + dot(w.hi, x[xi + 4u]);
        }
    }
    let slot = lid.y * LANES + lane;
    partial[slot] = acc;
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            partial[slot] += partial[slot + s];
        }
        workgroupBarrier();
    }
    if (lane == 0u && row < params.rows) {
        var out = partial[slot];
        let at = params.out_offset + row;
        if ((params.flags & 1u) != 0u) {
            out += bias[row];
        }
        if ((params.flags & 2u) != 0u) {
            out += y[at];
        }
        y[at] = out;
    }
}

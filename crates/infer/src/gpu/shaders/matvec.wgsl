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
    var acc = 0.0;
    if (row < params.rows) {
        acc = row_dot(row, lane, LANES);
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
        store_output(params.out_offset + row, row, partial[slot]);
    }
}

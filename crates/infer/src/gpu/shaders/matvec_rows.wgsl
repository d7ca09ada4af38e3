// y = W x (+ bias) (+ y) for one token, for CPU adapters (lavapipe, SwiftShader): each
// invocation computes whole rows, with no workgroup memory and no barriers. A CPU adapter runs
// a workgroup's invocations as SIMD lanes and every barrier as a switch between them, which made
// the workgroup-per-rows form (matvec.wgsl) 2.3 times slower there.

const ROWS: u32 = 8u;

@compute @workgroup_size(8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let row = (wid.y * groups.x + wid.x) * ROWS + lid.x;
    if (row < params.rows) {
        store_output(params.out_offset + row, row, row_dot(row, 0u, 1u));
    }
}

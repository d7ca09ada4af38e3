// Y = X W^T (+ bias) (+ Y) for a batch of tokens: prefill's matrix-matrix product. X is
// [n_tokens, cols]; token t's row r goes to y[t * out_stride + out_offset + r].
//
// A workgroup computes a tile of 64 rows x 32 tokens, walking the columns one 32-wide block at a
// time: the block's weights are dequantised once into workgroup memory and used by all 32
// tokens, so weights are read once per 32 tokens instead of once per token.

const TILE_ROWS: u32 = 64u;
const TILE_TOKENS: u32 = 32u;
// Tiles hold vec4s along the columns: 8 per block, and one of padding so that threads reading
// the same column of different rows hit different banks.
const STRIDE: u32 = 9u;

var<workgroup> w_tile: array<vec4<f32>, 576>; // 64 rows x 9
var<workgroup> x_tile: array<vec4<f32>, 288>; // 32 tokens x 9

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.x * TILE_ROWS;
    let tok0 = wid.y * TILE_TOKENS;
    let li = lid.y * 16u + lid.x;
    let blocks = params.cols / 32u;
    let quads = params.cols / 4u;
    var acc: array<array<f32, 2>, 4>;

    for (var b = 0u; b < blocks; b++) {
        // 64 rows x 4 parts of a block: one load8 per thread.
        let wr = li / 4u;
        let j = li % 4u;
        var w = Weights8(vec4<f32>(0.0), vec4<f32>(0.0));
        if (row0 + wr < params.rows) {
            w = load8((row0 + wr) * blocks + b, j, params.quants_offset);
        }
        w_tile[wr * STRIDE + j] = w.lo;
        w_tile[wr * STRIDE + 4u + j] = w.hi;
        // 32 tokens x 8 quads of the block: one vec4 per thread.
        let xt = li / 8u;
        let q = li % 8u;
        var xv = vec4<f32>(0.0);
        if (tok0 + xt < step.n_tokens) {
            xv = x[(tok0 + xt) * quads + b * 8u + q];
        }
        x_tile[xt * STRIDE + q] = xv;
        workgroupBarrier();
        for (var k = 0u; k < 8u; k++) {
            let x0 = x_tile[(lid.x * 2u) * STRIDE + k];
            let x1 = x_tile[(lid.x * 2u + 1u) * STRIDE + k];
            for (var i = 0u; i < 4u; i++) {
                let wv = w_tile[(lid.y * 4u + i) * STRIDE + k];
                acc[i][0] += dot(wv, x0);
                acc[i][1] += dot(wv, x1);
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        for (var t = 0u; t < 2u; t++) {
            let token = tok0 + lid.x * 2u + t;
            if (r < params.rows && token < step.n_tokens) {
                store_output(token * params.out_stride + params.out_offset + r, r, acc[i][t]);
            }
        }
    }
}

// What the matrix kernels (matvec.wgsl, matvec_rows.wgsl, matmul.wgsl) share: their parameters,
// bindings, the decode kernels' row sums and every kernel's output.

struct Params {
    rows: u32,
    cols: u32,
    quants_offset: u32,
    // 1: add bias; 2: add to y (a residual connection); 4 (matvec): x is the step's last token.
    flags: u32,
    // Row r of token t goes to y[t * out_stride + out_offset + r]: a matrix split over several
    // buffers, or one of q/k/v, writes its part of the output.
    out_offset: u32,
    out_stride: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<uniform> step: Step;

// Part of row `row`'s dot product with the decode step's x: the row's 4-word groups `start`,
// `start + stride`, ... (a thread's share of the row, or all of it with stride 1).
fn row_dot(row: u32, start: u32, stride: u32) -> f32 {
    let blocks = params.cols / 32u;
    var x_base = 0u;
    if ((params.flags & 4u) != 0u) {
        x_base = (step.n_tokens - 1u) * params.cols / 4u;
    }
    let first = row * blocks;
    var acc = 0.0;
    for (var u = start; u < blocks * 4u; u += stride) {
        let b = u / 4u;
        let j = u % 4u;
        let w = load8(first + b, j, params.quants_offset);
        let xi = x_base + b * 8u + j;
        acc += dot(w.lo, x[xi]) + dot(w.hi, x[xi + 4u]);
    }
    return acc;
}

// Writes row `row`'s sum to y[at], with the bias and the residual the flags ask for.
fn store_output(at: u32, row: u32, sum: f32) {
    var out = sum;
    if ((params.flags & 1u) != 0u) {
        out += bias[row];
    }
    if ((params.flags & 2u) != 0u) {
        out += y[at];
    }
    y[at] = out;
}

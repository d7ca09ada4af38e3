// What the matrix kernels (matvec.wgsl, matmul.wgsl) share: their parameters and bindings.

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

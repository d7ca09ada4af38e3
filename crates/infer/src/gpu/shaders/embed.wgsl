// x[t] = E[token at position pos0 + t]: the embedding rows of the step's tokens, dequantised.
// The embedding may be split over several buffers; each dispatch writes the tokens in its rows.

struct Params {
    rows: u32,
    cols: u32,
    quants_offset: u32,
    first_row: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<uniform> step: Step;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.y;
    let unit = gid.x;
    let blocks = params.cols / 32u;
    if (t >= step.n_tokens || unit >= blocks * 4u) {
        return;
    }
    let token = tokens[step.pos0 + t];
    if (token < params.first_row || token >= params.first_row + params.rows) {
        return;
    }
    let b = unit / 4u;
    let j = unit % 4u;
    let w = load8((token - params.first_row) * blocks + b, j, params.quants_offset);
    let at = t * params.cols / 4u + b * 8u + j;
    out[at] = w.lo;
    out[at + 4u] = w.hi;
}

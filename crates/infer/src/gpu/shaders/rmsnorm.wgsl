// out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight, one workgroup per token (workgroup y).

struct Params {
    dim: u32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const THREADS: u32 = 256u;
var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let base = wid.y * params.dim;
    var acc = 0.0;
    for (var i = lid.x; i < params.dim; i += THREADS) {
        let v = x[base + i];
        acc += v * v;
    }
    sums[lid.x] = acc;
    workgroupBarrier();
    for (var s = THREADS / 2u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            sums[lid.x] += sums[lid.x + s];
        }
        workgroupBarrier();
    }
    let scale = inverseSqrt(sums[0] / f32(params.dim) + params.eps);
    for (var i = lid.x; i < params.dim; i += THREADS) {
        out[base + i] = x[base + i] * scale * weight[i];
    }
}

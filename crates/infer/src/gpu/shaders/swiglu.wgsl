// h[t, i] = silu(gate[t, i]) * up[t, i], where gate_up[t] holds gate (ffn values) then up.

struct Params {
    ffn: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> gate_up: array<f32>;
@group(0) @binding(1) var<storage, read_write> h: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<uniform> step: Step;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let t = gid.y;
    if (i >= params.ffn || t >= step.n_tokens) {
        return;
    }
    let g = gate_up[t * 2u * params.ffn + i];
    let u = gate_up[t * 2u * params.ffn + params.ffn + i];
    h[t * params.ffn + i] = g / (1.0 + exp(-g)) * u;
}

// Rotary position embedding of the step's queries (in place) and keys, and the keys and values
// written into the layer's cache at their positions.
//
// qkv[t] holds q (n_heads * head_dim), then k and v (n_kv_heads * head_dim each). The cache
// holds one row of kv_dim per position.

struct Params {
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    // 1: rotate elements (2i, 2i+1); 0: rotate (i, i + head_dim/2).
    interleaved: u32,
}

@group(0) @binding(0) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(2) var<storage, read_write> v_cache: array<f32>;
// cos and sin of position p's angle for pair i at [p * head_dim / 2 + i].
@group(0) @binding(3) var<storage, read> rope: array<vec2<f32>>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<uniform> step: Step;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.y;
    if (t >= step.n_tokens) {
        return;
    }
    let half = params.head_dim / 2u;
    let q_dim = params.n_heads * params.head_dim;
    let kv_dim = params.n_kv_heads * params.head_dim;
    let pos = step.pos0 + t;
    let base = t * (q_dim + 2u * kv_dim);
    let cache = pos * kv_dim;

    let pair = gid.x;
    if (pair < (params.n_heads + params.n_kv_heads) * half) {
        let head = pair / half;
        let i = pair % half;
        var a = i;
        var b = i + half;
        if (params.interleaved != 0u) {
            a = 2u * i;
            b = 2u * i + 1u;
        }
        let cs = rope[pos * half + i];
        if (head < params.n_heads) {
            let off = base + head * params.head_dim;
            let xa = qkv[off + a];
            let xb = qkv[off + b];
            qkv[off + a] = xa * cs.x - xb * cs.y;
            qkv[off + b] = xb * cs.x + xa * cs.y;
        } else {
            let kh = (head - params.n_heads) * params.head_dim;
            let xa = qkv[base + q_dim + kh + a];
            let xb = qkv[base + q_dim + kh + b];
            k_cache[cache + kh + a] = xa * cs.x - xb * cs.y;
            k_cache[cache + kh + b] = xb * cs.x + xa * cs.y;
        }
    }
    if (pair < kv_dim) {
        v_cache[cache + pair] = qkv[base + q_dim + kv_dim + pair];
    }
}

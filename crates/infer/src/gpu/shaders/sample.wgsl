// Picks the next token from the logits of the step's last token, on the GPU, and writes it to
// tokens[pos0 + n_tokens] (where the next step's embedding reads it), so that decoding runs
// ahead without waiting for the CPU.
//
// One workgroup of 256 threads; thread i owns the contiguous slice of the vocabulary
// [i * chunk, (i + 1) * chunk). In order, as transformers applies them:
//   1. penalties for tokens in the last `penalty_window` positions: repetition (divide a positive
//      logit, multiply a negative one), presence (subtract once) and frequency (per occurrence);
//      the `banned` tokens (up to four; u32 max pads the rest) are never chosen;
//   2. greedy: the highest logit (the lowest id among equals);
//   3. otherwise logits / temperature, then the candidates: the `top_k` highest, of those the
//      fewest highest whose probabilities sum to `top_p`, and of those the ones with at least
//      `min_p` times the best probability. The top-k and top-p thresholds are found by
//      bisection over the values' bits;
//   4. one draw from the candidates' distribution, from a hash of (seed, position), so the same
//      seed gives the same text on the same device.

struct Params {
    vocab: u32,
    greedy: u32,
    temperature: f32,
    top_k: u32,
    top_p: f32,
    min_p: f32,
    repetition_penalty: f32,
    presence_penalty: f32,
    frequency_penalty: f32,
    penalty_window: u32,
    seed_lo: u32,
    seed_hi: u32,
    banned: vec4<u32>,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> work: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<uniform> step: Step;

const THREADS: u32 = 256u;
var<workgroup> red_f: array<f32, 256>;
var<workgroup> red_u: array<u32, 256>;

fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Uniform in [0, 1), 24 bits.
fn random01(index: u32) -> f32 {
    let h = pcg(params.seed_lo ^ pcg(params.seed_hi ^ pcg(index)));
    return f32(h >> 8u) / 16777216.0;
}

// Maps floats to integers in the same order (for bisection over values).
fn key_of(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    if ((b & 0x80000000u) != 0u) {
        return ~b;
    }
    return b | 0x80000000u;
}

fn value_of(k: u32) -> f32 {
    if ((k & 0x80000000u) != 0u) {
        return bitcast<f32>(k & 0x7fffffffu);
    }
    return bitcast<f32>(~k);
}

// The middle of [low, high], rounded up, without overflowing.
fn upper_middle(low: u32, high: u32) -> u32 {
    return low + (high - low) / 2u + ((high - low) & 1u);
}

fn sum_all(lane: u32, v: f32) -> f32 {
    red_f[lane] = v;
    workgroupBarrier();
    for (var s = THREADS / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            red_f[lane] += red_f[lane + s];
        }
        workgroupBarrier();
    }
    let result = red_f[0];
    workgroupBarrier();
    return result;
}

fn count_all(lane: u32, v: u32) -> u32 {
    red_u[lane] = v;
    workgroupBarrier();
    for (var s = THREADS / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            red_u[lane] += red_u[lane + s];
        }
        workgroupBarrier();
    }
    let result = red_u[0];
    workgroupBarrier();
    return result;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    let lane = lid.x;
    let target_pos = step.pos0 + step.n_tokens;
    let window_start = target_pos - min(target_pos, params.penalty_window);
    let chunk = (params.vocab + THREADS - 1u) / THREADS;
    let lo = min(lane * chunk, params.vocab);
    let hi = min(lo + chunk, params.vocab);

    // 1. Count the recent tokens, then apply the penalties.
    for (var i = window_start + lane; i < target_pos; i += THREADS) {
        atomicAdd(&counts[tokens[i]], 1u);
    }
    storageBarrier();
    workgroupBarrier();
    var best = NEG_HUGE;
    var best_id = 0xffffffffu;
    for (var v = lo; v < hi; v++) {
        var l = logits[v];
        let c = atomicLoad(&counts[v]);
        if (c > 0u) {
            if (l > 0.0) {
                l = l / params.repetition_penalty;
            } else {
                l = l * params.repetition_penalty;
            }
            l -= params.presence_penalty + params.frequency_penalty * f32(c);
        }
        if (params.greedy == 0u) {
            l = l / params.temperature;
        }
        if (any(params.banned == vec4<u32>(v))) {
            l = NEG_HUGE;
        }
        work[v] = l;
        if (l > best) {
            best = l;
            best_id = v;
        }
    }
    storageBarrier();
    workgroupBarrier();
    // The counts are cleared again for the next step (only the entries that were set).
    for (var i = window_start + lane; i < target_pos; i += THREADS) {
        atomicStore(&counts[tokens[i]], 0u);
    }

    // 2. The best logit; ties go to the lowest id.
    red_f[lane] = best;
    red_u[lane] = best_id;
    workgroupBarrier();
    for (var s = THREADS / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            let other = red_f[lane + s];
            let other_id = red_u[lane + s];
            if (other > red_f[lane] || (other == red_f[lane] && other_id < red_u[lane])) {
                red_f[lane] = other;
                red_u[lane] = other_id;
            }
        }
        workgroupBarrier();
    }
    let max_logit = red_f[0];
    var chosen = red_u[0];
    workgroupBarrier();

    if (params.greedy == 0u) {
        // 3. Candidates: work[v] >= threshold.
        var threshold = NEG_HUGE;
        if (params.top_k > 0u && params.top_k < params.vocab) {
            // The largest key such that at least top_k values are >= it: the k-th largest.
            var low = 0u;
            var high = 0xffffffffu;
            for (var it = 0u; it < 32u; it++) {
                let mid = upper_middle(low, high);
                var n = 0u;
                for (var v = lo; v < hi; v++) {
                    n += select(0u, 1u, key_of(work[v]) >= mid);
                }
                if (count_all(lane, n) >= params.top_k) {
                    low = mid;
                } else {
                    high = mid - 1u;
                }
            }
            threshold = value_of(low);
        }
        if (params.top_p < 1.0) {
            var mass = 0.0;
            for (var v = lo; v < hi; v++) {
                if (work[v] >= threshold) {
                    mass += exp(work[v] - max_logit);
                }
            }
            let wanted = params.top_p * sum_all(lane, mass);
            // The largest key whose candidates at or above it still hold `wanted` of the mass.
            var low = key_of(threshold);
            var high = key_of(max_logit);
            for (var it = 0u; it < 32u; it++) {
                let mid = upper_middle(low, high);
                var part = 0.0;
                for (var v = lo; v < hi; v++) {
                    if (key_of(work[v]) >= mid) {
                        part += exp(work[v] - max_logit);
                    }
                }
                if (sum_all(lane, part) >= wanted) {
                    low = mid;
                } else {
                    high = mid - 1u;
                }
            }
            threshold = value_of(low);
        }
        if (params.min_p > 0.0) {
            threshold = max(threshold, max_logit + log(params.min_p));
        }

        // 4. One draw: the token where the running sum of probabilities (in id order) passes u.
        var mine = 0.0;
        for (var v = lo; v < hi; v++) {
            if (work[v] >= threshold) {
                mine += exp(work[v] - max_logit);
            }
        }
        red_f[lane] = mine;
        workgroupBarrier();
        // Inclusive prefix sums over the threads (Hillis-Steele).
        for (var s = 1u; s < THREADS; s <<= 1u) {
            var add = 0.0;
            if (lane >= s) {
                add = red_f[lane - s];
            }
            workgroupBarrier();
            red_f[lane] += add;
            workgroupBarrier();
        }
        let total = red_f[THREADS - 1u];
        let u = random01(target_pos) * total;
        let before = red_f[lane] - mine;
        red_u[lane] = 0xffffffffu;
        if (u >= before && u < red_f[lane]) {
            var run = before;
            for (var v = lo; v < hi; v++) {
                if (work[v] >= threshold) {
                    run += exp(work[v] - max_logit);
                    if (u < run) {
                        red_u[lane] = v;
                        break;
                    }
                }
            }
        }
        workgroupBarrier();
        for (var s = THREADS / 2u; s > 0u; s >>= 1u) {
            if (lane < s) {
                red_u[lane] = min(red_u[lane], red_u[lane + s]);
            }
            workgroupBarrier();
        }
        // Rounding can leave u just past the last candidate: then the best token.
        if (red_u[0] != 0xffffffffu) {
            chosen = red_u[0];
        }
    }
    if (lane == 0u) {
        tokens[target_pos] = chosen;
    }
}

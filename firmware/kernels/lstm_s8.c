/* UNIDIRECTIONAL_SEQUENCE_LSTM, TFLite's integer 8x8->16 LSTM (int8 input, weights and hidden
 * state, int16 cell state and gates), step by step as the reference evaluates it:
 *
 *   gate = act(sat16(W_x x + W_h h [+ peephole w .* c]) [layer-normalized])   per gate
 *   c    = sat16(rdbpot(f c, 15) + rdbpot(i g, 30 + cell_shift)), clipped     (i = 1 - f with CIFG)
 *   h    = o .* tanh(c), requantized to int8 [through the projection]
 *
 * Gates are Q3.12 (no layer norm) or the intermediate tensors' scales; sigmoid and tanh are
 * gemmlowp's 16-bit fixed-point functions, written out below with gemmlowp's int16 wrap-around and
 * saturation exactly where it has them. The input and hidden zero points are folded into the
 * effective biases at compile time (tinydeploy/ops/sequence.py). Batches are independent, each
 * with its own rows of the two state tensors; they run one after another. */
#include <string.h>
#include "td_kernels.h"
#include "td_fixedpoint.h"
#include "td_matmul.h"
#include "td_quant.h"

/* ---- gemmlowp's fixed point on int16 raw values ---- */

/* int arithmetic narrowed to int16 the way the reference narrows it (modulo 2^16) */
static inline int16_t td_w16(int32_t v) {
    return (int16_t)(uint16_t)(uint32_t)v;
}

static inline int16_t td_sat16(int32_t v) {
    return (int16_t)td_clamp(v, -32768, 32767);
}

/* SaturatingRoundingDoublingHighMul for int16. gemmlowp adds 2^14 (1 - 2^14 below zero) and
 * divides by 2^15 truncating toward zero; for every product that is floor((ab + 2^14) / 2^15):
 * with ab = -k, -floor((k + 2^14 - 1) / 2^15) = -ceil((k - 2^14) / 2^15)
 * = floor((2^14 - k) / 2^15). One multiply, an add and an arithmetic shift. */
static inline int16_t td_srdhm16(int16_t a, int16_t b) {
    if (a == b && a == INT16_MIN) return INT16_MAX;
    return td_w16(((int32_t)a * b + (1 << 14)) >> 15);
}

/* RoundingDivideByPOT on an int16 value, 0 < e < 15 */
static inline int16_t td_rdbpot16(int16_t x, int e) {
    const int32_t mask = (1 << e) - 1;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return td_w16((x >> e) + ((x & mask) > threshold ? 1 : 0));
}

/* SaturatingRoundingMultiplyByPOT<e> for e >= 0 */
static inline int16_t td_sat_mul_pot16(int16_t x, int e) {
    if (e == 0) return x;
    const int32_t threshold = (1 << (15 - e)) - 1;
    if (x > threshold) return INT16_MAX;
    if (x < -threshold) return INT16_MIN;
    return td_w16(x * (1 << e));
}

static inline int16_t td_sat_add16(int16_t a, int16_t b) {
    return td_sat16((int32_t)a + b);
}

/* the gemmlowp constants (Q0.31, Q2.29) rounded to 16 bits, as RescaleConstantInitializer does */
#define TD16_EXP_MINUS_EIGHTH 28918  /* exp(-1/8), Q0.15 */
#define TD16_ONE_THIRD 10923
#define TD16_48_OVER_17 23130        /* Q2.13 */
#define TD16_NEG_32_OVER_17 (-15420)
#define TD16_ONE_HALF 16384

/* exp(a) for a in [-1/4, 0), Q0.15: the Taylor series around -1/8 */
static int16_t td_exp_quarter16(int16_t a) {
    const int16_t x = td_w16(a + (1 << 12));
    const int16_t x2 = td_srdhm16(x, x);
    const int16_t x3 = td_srdhm16(x2, x);
    const int16_t x4 = td_srdhm16(x2, x2);
    const int16_t x4_over_4 = td_rdbpot16(x4, 2);
    const int16_t poly = td_rdbpot16(
        td_w16(td_srdhm16(td_w16(x4_over_4 + x3), TD16_ONE_THIRD) + x2), 1);
    return td_sat_add16(TD16_EXP_MINUS_EIGHTH,
                        td_srdhm16(TD16_EXP_MINUS_EIGHTH, td_w16(x + poly)));
}

/* exp(a) for a <= 0 given with `bits` integer bits (0..7); the result in Q0.15 */
static int16_t td_exp_negative16(int16_t a, int bits) {
    static const int16_t mults[7] = {25520, 19875, 12055, 4435, 600, 11, 0};  /* exp(-2^k) */
    const int frac = 15 - bits;
    const int16_t quarter = (int16_t)(1 << (frac - 2));
    const int16_t a_mod = td_w16((a & (quarter - 1)) - quarter);
    int16_t result = td_exp_quarter16(td_sat_mul_pot16(a_mod, bits));
    const int16_t remainder = td_w16(a_mod - a);
    for (int k = -2; k <= 4 && k < bits; ++k) {
        if (remainder & (1 << (frac + k))) result = td_srdhm16(result, mults[k + 2]);
    }
    if (bits > 5) {  /* below -32 the result is 0: -2^(36 - bits) rounded by 16 bits */
        const int16_t clamp = (int16_t)td_rdbpot(-(1 << (36 - bits)), 16);
        if (a < clamp) result = 0;
    }
    return a == 0 ? INT16_MAX : result;
}

/* Newton-Raphson reciprocal of (1 + a) / 2 in Q2.13, three steps from 48/17 - 32/17 d */
static int16_t td_half_reciprocal16(int16_t a) {
    const int32_t sum = (int32_t)a + INT16_MAX;
    const int16_t half_denominator = td_w16((sum + (sum >= 0 ? 1 : -1)) / 2);
    int16_t x = td_w16(TD16_48_OVER_17 + td_srdhm16(half_denominator, TD16_NEG_32_OVER_17));
    for (int i = 0; i < 3; ++i) {
        const int16_t one_minus = td_w16((1 << 13) - td_srdhm16(half_denominator, x));
        x = td_w16(x + td_sat_mul_pot16(td_srdhm16(x, one_minus), 2));
    }
    return x;
}

/* tanh of a value with `bits` integer bits (0..6), Q0.15 out */
static int16_t td_tanh16(int16_t a, int bits) {
    if (a == 0) return 0;
    const int negative = a < 0;
    const int16_t n = negative ? a : td_w16(-a);
    const int16_t e = td_exp_negative16(n, bits + 1);  /* exp(-2|a|) */
    const int16_t t = td_sat_mul_pot16(td_w16(td_half_reciprocal16(e) - (1 << 13)), 2);
    return negative ? td_w16(-t) : t;
}

/* logistic of a Q3.12 value, Q0.15 out */
static int16_t td_sigmoid16(int16_t a) {
    if (a == 0) return TD16_ONE_HALF;
    const int positive = a > 0;
    const int16_t magnitude = positive ? a : td_w16(-a);
    const int16_t e = td_exp_negative16(td_w16(-magnitude), 3);
    const int16_t r = td_sat_mul_pot16(td_half_reciprocal16(e), 1);
    return positive ? r : td_w16(INT16_MAX - r);
}

/* ---- layer normalization (ApplyLayerNorm) ---- */

/* 1 / sqrt(v) as (multiplier, left shift), TFLite's GetInvSqrtQuantizedMultiplierExp */
static void td_inv_sqrt(int32_t v, int32_t *mult, int *shift) {
    if (v <= 1) {
        *mult = INT32_MAX;
        *shift = 0;
        return;
    }
    int s = 11;
    while (v >= (1 << 29)) {
        v /= 4;
        ++s;
    }
    int clz = 0;
    while (((uint32_t)v << clz) < 0x80000000u) ++clz;
    const int pairs = (clz - 1) / 2 - 1;
    s -= pairs;
    v <<= 2 * pairs;
    const int32_t half_input = td_rdbpot(v >> 1, 1);  /* Q3.28 */
    const int32_t half_three = (1 << 28) + (1 << 27);
    int32_t x = 1 << 28;
    for (int i = 0; i < 5; ++i) {
        const int32_t x3 = td_sat_mul_pot(td_srdhm(td_srdhm(x, x), x), 6);
        x = td_sat_mul_pot((int32_t)((uint32_t)td_srdhm(half_three, x) -
                                     (uint32_t)td_srdhm(half_input, x3)), 3);
    }
    x = td_srdhm(x, 1518500250);  /* sqrt(2) / 2 */
    if (s < 0) {
        x = (int32_t)((uint32_t)x << -s);
        s = 0;
    }
    *mult = x;
    *shift = -s;
}

static void td_layer_norm16(int16_t *gate, const int16_t *weights, const int32_t *bias,
                            int32_t mult, int32_t shift, int32_t guard, int32_t n) {
    int64_t sum = 0, sum_sq = 0;
    for (int32_t j = 0; j < n; ++j) {
        sum += gate[j];
        sum_sq += (int32_t)gate[j] * gate[j];
    }
    const int32_t mean = (int32_t)(sum * 1024 / n);
    const int32_t temp = (1 << 20) / n;
    const int64_t variance = sum_sq * temp - (int64_t)mean * mean;
    int32_t variance2 = (int32_t)(variance / (1 << 20));
    if (variance2 < 1) variance2 = guard;
    int32_t inv_mult;
    int inv_shift;
    td_inv_sqrt(variance2, &inv_mult, &inv_shift);
    for (int32_t j = 0; j < n; ++j) {
        const int32_t shifted = 1024 * gate[j] - mean;
        const int32_t rescaled = td_mbqm(shifted, inv_mult, inv_shift);
        /* int32 products and sums that wrap, as the reference's do */
        const int64_t v3 = (int32_t)((uint32_t)rescaled * (uint32_t)(int32_t)weights[j] +
                                     (uint32_t)bias[j]);
        const int32_t v4 = (int32_t)((v3 > 0 ? v3 + 512 : v3 - 512) / 1024);
        gate[j] = td_sat16(td_mbqm(v4, mult, shift + 12));
    }
}

/* ---- one gate ---- */

/* acc[r] += row r . x for four rows of a matrix in FULLY_CONNECTED's blocked layout (rows in
 * fours, n values each padded to a multiple of 4), `block` its first element */
static void td_lstm_rows4(const td_lstm_params *p, int32_t block, const int8_t *x, int32_t n,
                          int32_t acc[4]) {
    static const int8_t pos_wide[4] = {0, 2, 1, 3};  /* value j of a wide group sits here */
    const int32_t groups = n >> 2;
    if (p->layout == TD_ROWS) {
        td_dot_rows_4x1((const int8_t *)p->w + block, (n + 3) & ~3, x, n, acc);
        return;
    }
    if (p->layout == TD_W16) {
        const int16_t *w = (const int16_t *)p->w + block;
        if (groups) td_mm_4x1_w16(w, x, groups, acc);
        for (int r = 0; r < 4; ++r)
            for (int32_t j = 0; j < (n & 3); ++j)
                acc[r] += x[4 * groups + j] * w[16 * groups + 4 * r + pos_wide[j]];
    } else {
        const int8_t *w = (const int8_t *)p->w + block;
        if (groups) td_mm_4x1_w8(w, x, groups, acc);
        for (int r = 0; r < 4; ++r)
            for (int32_t j = 0; j < (n & 3); ++j)
                acc[r] += x[4 * groups + j] * w[16 * groups + 4 * r + j];
    }
}

/* W x + bias for every row, requantized and added to the int16 gate with saturation */
static void td_gate_matmul(const td_lstm_params *p, int16_t *gate, int32_t w, const int32_t *bias,
                           const int8_t *x, int32_t rows, int32_t cols, int32_t mult,
                           int32_t shift) {
    const int32_t k4 = (cols + 3) & ~3;
    for (int32_t r = 0; r < rows; r += 4) {
        int32_t acc[4] = {0, 0, 0, 0};
        td_lstm_rows4(p, w + r * k4, x, cols, acc);
        for (int32_t j = 0; j < 4 && r + j < rows; ++j)
            gate[r + j] = td_sat16(td_mbqm(acc[j] + bias[r + j], mult, shift) + gate[r + j]);
    }
}

static void td_lstm_gate(const td_lstm_params *p, int g, const int8_t *x, const int8_t *h,
                         const int16_t *cell, int16_t *gate) {
    const int32_t n_cell = p->n_cell;
    memset(gate, 0, (size_t)n_cell * sizeof *gate);
    td_gate_matmul(p, gate, p->w_in[g], p->bias + p->b_in[g], x, n_cell, p->n_input,
                   p->in_mult[g], p->in_shift[g]);
    td_gate_matmul(p, gate, p->w_rec[g], p->bias + p->b_rec[g], h, n_cell, p->n_output,
                   p->rec_mult[g], p->rec_shift[g]);
    if (p->peephole && g != TD_LSTM_CELL_GATE) {
        const int16_t *wp = p->w16 + p->peep[g];
        for (int32_t c = 0; c < n_cell; ++c) {
            const int32_t v = td_mbqm((int32_t)wp[c] * cell[c], p->peep_mult[g], p->peep_shift[g]);
            gate[c] = td_sat16(v + gate[c]);
        }
    }
    if (p->layer_norm) {
        td_layer_norm16(gate, p->w16 + p->ln[g], p->bias + p->ln_bias[g], p->ln_mult[g],
                        p->ln_shift[g], p->ln_guard[g], n_cell);
    }
    for (int32_t c = 0; c < n_cell; ++c) {
        gate[c] = g == TD_LSTM_CELL_GATE ? td_tanh16(gate[c], 3) : td_sigmoid16(gate[c]);
    }
}

/* ---- one step of one batch ---- */

static void td_lstm_step(const td_lstm_params *p, const int8_t *x, int8_t *h, int16_t *cell,
                         int16_t *scratch) {
    const int32_t n_cell = p->n_cell;
    int16_t *in_gate = scratch, *forget = scratch + n_cell, *cell_gate = scratch + 2 * n_cell;
    int16_t *out_gate = scratch + 3 * n_cell, *tanh_c = scratch + 4 * n_cell;
    int8_t *hidden = (int8_t *)(scratch + 5 * n_cell);
    const int cifg = !(p->gates & 1);
    if (!cifg) td_lstm_gate(p, 0, x, h, cell, in_gate);
    td_lstm_gate(p, 1, x, h, cell, forget);
    td_lstm_gate(p, TD_LSTM_CELL_GATE, x, h, cell, cell_gate);
    /* the cell update: c = f c + i g, i = 1 - f with CIFG */
    const int shift = 30 + p->cell_shift;
    for (int32_t c = 0; c < n_cell; ++c) {
        const int16_t kept = td_w16(td_rdbpot((int32_t)forget[c] * cell[c], 15));
        const int16_t i = cifg ? td_w16(INT16_MAX - forget[c]) : in_gate[c];
        const int16_t added = td_w16(td_rdbpot((int32_t)i * cell_gate[c], shift));
        int32_t v = td_sat16((int32_t)kept + added);
        if (p->cell_clip > 0) v = td_clamp(v, -p->cell_clip, p->cell_clip);
        cell[c] = (int16_t)v;
    }
    td_lstm_gate(p, 3, x, h, cell, out_gate);
    /* tanh(c) with 15 + cell_shift integer bits; the reference has tanh for 0..6 bits and leaves
     * its buffer, which holds the input gate, as it is for other cell scales (the compiler allows
     * them only where there is an input gate) */
    const int bits = 15 + p->cell_shift;
    if (bits >= 0 && bits <= 6) {
        for (int32_t c = 0; c < n_cell; ++c) tanh_c[c] = td_tanh16(cell[c], bits);
    } else {
        tanh_c = in_gate;
    }
    if (!p->projection) {
        for (int32_t c = 0; c < n_cell; ++c) {
            const int32_t v = td_mbqm((int32_t)out_gate[c] * tanh_c[c], p->hidden_mult,
                                      p->hidden_shift);
            h[c] = (int8_t)td_clamp(v + p->hidden_zp, -128, 127);
        }
        return;
    }
    /* the projection reads the hidden value less its zero point (folded into its bias) */
    for (int32_t c = 0; c < n_cell; ++c) {
        const int32_t v = td_mbqm((int32_t)out_gate[c] * tanh_c[c], p->hidden_mult,
                                  p->hidden_shift);
        hidden[c] = (int8_t)td_clamp(v - p->hidden_zp, -128, 127);
    }
    const int32_t *bias = p->bias + p->b_proj, k4 = (n_cell + 3) & ~3;
    for (int32_t r = 0; r < p->n_output; r += 4) {
        int32_t acc[4] = {0, 0, 0, 0};
        td_lstm_rows4(p, p->w_proj + r * k4, hidden, n_cell, acc);
        for (int32_t j = 0; j < 4 && r + j < p->n_output; ++j) {
            int32_t v = td_mbqm(acc[j] + bias[r + j], p->proj_mult, p->proj_shift);
            v = td_clamp(v + p->output_zp, -128, 127);
            if (p->proj_clip > 0) v = td_clamp(v, -p->proj_clip, p->proj_clip);
            h[r + j] = (int8_t)v;
        }
    }
}

int32_t td_lstm_s8_scratch(const td_lstm_params *p) {
    return 5 * 2 * p->n_cell + (p->projection ? p->n_cell : 0);
}

void td_lstm_s8(const td_lstm_params *p, const int8_t *in, int8_t *out, int8_t *output_state,
                int16_t *cell_state, void *scratch) {
    const int32_t n_in = p->n_input, n_out = p->n_output;
    for (int32_t b = 0; b < p->n_batch; ++b) {
        int8_t *h = output_state + b * n_out;
        int16_t *cell = cell_state + b * p->n_cell;
        for (int32_t t = 0; t < p->n_time; ++t) {
            const int32_t row = p->time_major ? t * p->n_batch + b : b * p->n_time + t;
            td_lstm_step(p, in + row * n_in, h, cell, (int16_t *)scratch);
            memcpy(out + row * n_out, h, (size_t)n_out);
        }
    }
}

/* LOG_SOFTMAX, int8 in, int8 out (scale 16/256, zero point 127), TFLite's reference fixed point:
 * differences to the row maximum scaled to Q5.26, their exps summed in Q12.19, the log of the sum
 * in Q5.26 (gemmlowp's log_x_for_x_greater_than_or_equal_to_1), and each output the difference
 * less the log sum, rounded to Q4.3, plus 127; differences too small for that give -128. */
#include "td_kernels.h"
#include "td_quant.h"
#include "td_fixedpoint.h"

static int clz32(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) { x <<= 1; ++n; }
    return n;
}

/* a + b without C's undefined overflow (two's complement wrap, as the reference computes) */
static int32_t wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

static int32_t sat_add(int32_t a, int32_t b) {
    const int64_t s = (int64_t)a + b;
    return s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
}

static int32_t sat_sub(int32_t a, int32_t b) {
    const int64_t s = (int64_t)a - b;
    return s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
}

/* (a + b) / 2 rounded half away from zero */
static int32_t rounding_half_sum(int32_t a, int32_t b) {
    const int64_t s = (int64_t)a + b;
    return (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
}

/* log(x) for x >= 1: x in Q12.19, result in Q5.26. gemmlowp's algorithm: x = 2^z * r with r
 * around sqrt(1/2), z measured on x and on x * sqrt(1/2) (the better of the two), then
 * log(r) from a rational approximation around 2^-1/4, accumulated with one extra integer bit. */
static int32_t log_q12_to_q5(int32_t x) {
    const int32_t log_2 = 1488522236, sqrt_sqrt_half = 1805811301, sqrt_half = 1518500250;
    const int32_t alpha_n = 117049297, alpha_d = 127690142;
    const int32_t alpha_i = 1057819769, alpha_f = 638450708;
    const int32_t shifted_quarter = td_rdbpot(536870912, 6);  /* 1/4 in Q6.25 */
    const int z_a_headroom_plus_1 = clz32((uint32_t)x);
    const int32_t r_a_tmp = td_sat_mul_pot(x, z_a_headroom_plus_1 - 1);
    const int32_t r_a = td_sat_mul_pot(td_srdhm(r_a_tmp, sqrt_half), 1);
    const int32_t z_a_pow_2_adj =
        sat_add(td_sat_mul_pot(12 - z_a_headroom_plus_1, 31 - 6), shifted_quarter);
    const int32_t z_b = td_srdhm(x, sqrt_half);
    const int z_b_headroom = clz32((uint32_t)z_b) - 1;
    const int32_t r_b = td_sat_mul_pot(x, z_b_headroom);
    const int32_t z_b_pow_2_adj =
        sat_sub(td_sat_mul_pot(12 - z_b_headroom, 31 - 6), shifted_quarter);
    const int32_t r = r_a < r_b ? r_a : r_b;
    const int32_t z_pow_2_adj = z_a_pow_2_adj > z_b_pow_2_adj ? z_a_pow_2_adj : z_b_pow_2_adj;
    const int32_t p = rounding_half_sum(r, sqrt_sqrt_half);
    int32_t q = wrap_add(r, -sqrt_sqrt_half);
    q = wrap_add(q, q);
    const int32_t common_sq = td_srdhm(q, q);
    const int32_t num = wrap_add(td_srdhm(q, r), td_srdhm(td_srdhm(q, common_sq), alpha_n));
    const int32_t denom_minus_one =
        wrap_add(td_srdhm(p, wrap_add(wrap_add(alpha_i, q), td_srdhm(alpha_d, common_sq))),
                 td_srdhm(alpha_f, q));
    const int32_t recip_denom = td_one_over_one_plus_x(denom_minus_one);
    const int32_t num_scaled = td_rdbpot(num, 6);
    const int32_t acc = wrap_add(td_srdhm(z_pow_2_adj, log_2), td_srdhm(num_scaled, recip_denom));
    return td_sat_mul_pot(acc, 1);
}

void td_log_softmax_s8(const td_log_softmax_params *p, const int8_t *in, int8_t *out) {
    for (int32_t i = 0; i < p->outer; ++i) {
        const int8_t *row = in + i * p->depth;
        int8_t *orow = out + i * p->depth;
        int32_t max_v = -128;
        for (int32_t c = 0; c < p->depth; ++c) if (row[c] > max_v) max_v = row[c];
        int32_t sum = 0;  /* Q12.19 */
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = row[c] - max_v;
            if (diff >= p->diff_min) {
                const int32_t d5 = td_mbqm(diff, p->input_multiplier, p->input_left_shift);
                sum = wrap_add(sum, td_rdbpot(td_exp_negative(d5, 5), 12));
            }
        }
        const int32_t log_sum = log_q12_to_q5(sum);
        const int32_t bound = td_mbqm(wrap_add(log_sum, INT32_MIN), p->reverse_multiplier,
                                      p->reverse_shift);
        const int32_t diff_min = p->diff_min - 1 > bound ? p->diff_min - 1 : bound;
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = row[c] - max_v;
            if (diff > diff_min) {
                const int32_t d5 = td_mbqm(diff, p->input_multiplier, p->input_left_shift);
                const int32_t v = td_rdbpot(wrap_add(d5, -log_sum), 31 - 5 - 4) + 127;
                orow[c] = (int8_t)td_clamp(v, -128, 127);
            } else {
                orow[c] = -128;
            }
        }
    }
}

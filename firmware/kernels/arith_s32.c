/* ADD, MUL, SUB, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, DIV, FLOOR_DIV and FLOOR_MOD on int32 with
 * 4-D broadcasting, as TFLite's reference kernels: sums and products wrap (x86), DIV truncates
 * toward zero, FLOOR_DIV rounds toward minus infinity (TFLite floors the double quotient, which is
 * exact for int32), FLOOR_MOD takes the divisor's sign, and ADD, MUL, SUB and DIV clamp to their
 * fused activation's range. TFLite refuses a zero divisor at run time; here its quotient and
 * remainder are 0. INT32_MIN / -1 (a trap on x86) is INT32_MIN for DIV and FLOOR_DIV (what x86
 * makes of TFLite's double 2^31 as an int32), and its FLOOR_MOD 0. */
#include "td_kernels.h"
#include "td_broadcast.h"
#include "td_quant.h"

static int32_t quotient(int32_t a, int32_t b) {
    if (b == 0) return 0;
    if (b == -1) return td_neg_wrap(a);
    return a / b;
}

/* a % b with C's truncation, 0 where b is 0 or -1 (INT32_MIN % -1 traps). */
static int32_t remainder_of(int32_t a, int32_t b) {
    return (b == 0 || b == -1) ? 0 : a % b;
}

static int32_t floor_div(int32_t a, int32_t b) {
    const int32_t q = quotient(a, b), r = remainder_of(a, b);
    return (r != 0 && ((r < 0) != (b < 0))) ? q - 1 : q;
}

static int32_t floor_mod(int32_t a, int32_t b) {
    const int32_t r = remainder_of(a, b);
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

void td_arith_s32(const td_arith_params *p, const int32_t *in1, const int32_t *in2,
                  int32_t *out) {
    int32_t lo = INT32_MIN, hi = INT32_MAX;
    if (p->activation == TD_ACT_RELU) lo = 0;
    if (p->activation == TD_ACT_RELU6) lo = 0, hi = 6;
    if (p->activation == TD_ACT_RELU_N1_TO_1) lo = -1, hi = 1;
    const int32_t op = p->op;
    TD_BROADCAST2(p->out_dims, p->in1_strides, p->in2_strides, i1, i2) {
        const int32_t a = in1[i1], b = in2[i2], d = td_sub_wrap(a, b);
        int32_t v;
        if (op == TD_OP_ADD) v = td_add_wrap(a, b);
        else if (op == TD_OP_MUL) v = td_mul_wrap(a, b);
        else if (op == TD_OP_SUB) v = d;
        else if (op == TD_OP_MAXIMUM) v = a > b ? a : b;
        else if (op == TD_OP_MINIMUM) v = a < b ? a : b;
        else if (op == TD_OP_SQUARED_DIFFERENCE) v = td_mul_wrap(d, d);
        else if (op == TD_OP_FLOOR_DIV) v = floor_div(a, b);
        else if (op == TD_OP_FLOOR_MOD) v = floor_mod(a, b);
        else v = quotient(a, b);
        *out++ = td_clamp(v, lo, hi);
    }
}

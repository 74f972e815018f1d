/* int8 dot products: SMLAD/SXTB16 dual multiply-accumulates on cores with the DSP extension
 * (Cortex-M4/M7/M33/M55), plain C elsewhere (and on the host). Integer sums are exact in any order,
 * so both paths give identical results. */
#ifndef TD_SIMD_H
#define TD_SIMD_H
#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TD_DSP 1

static inline int32_t td_load4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);  /* one LDR: unaligned access is allowed on these cores */
    return v;
}

/* Bytes 1 and 3 sign-extended to halfwords: SXTB16 with its built-in rotate (one instruction). */
static inline int32_t td_sxtb16_hi(int32_t x) {
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* acc + a[0..3] . b[0..3] */
static inline int32_t td_dot4(int32_t acc, int32_t a, int32_t b) {
    acc = __smlad(__sxtb16(a), __sxtb16(b), acc);
    return __smlad(td_sxtb16_hi(a), td_sxtb16_hi(b), acc);
}
#endif

/* acc + sum a[i] * b[i], i < n */
static inline int32_t td_dot_s8(int32_t acc, const int8_t *a, const int8_t *b, int32_t n) {
    int32_t i = 0;
#ifdef TD_DSP
    for (; i + 4 <= n; i += 4) acc = td_dot4(acc, td_load4(a + i), td_load4(b + i));
#endif
    for (; i < n; ++i) acc += (int32_t)a[i] * b[i];
    return acc;
}

/* Two rows of weights against one input vector: acc[r] += w_r . x (fully connected layers). */
static inline void td_dot_2x1_s8(const int8_t *w0, const int8_t *w1, const int8_t *x,
                                 int32_t n, int32_t acc[2]) {
    int32_t a0 = acc[0], a1 = acc[1];
    int32_t i = 0;
#ifdef TD_DSP
    for (; i + 4 <= n; i += 4) {
        const int32_t xv = td_load4(x + i), wa = td_load4(w0 + i), wb = td_load4(w1 + i);
        const int32_t xe = __sxtb16(xv), xo = td_sxtb16_hi(xv);
        a0 = __smlad(td_sxtb16_hi(wa), xo, __smlad(__sxtb16(wa), xe, a0));
        a1 = __smlad(td_sxtb16_hi(wb), xo, __smlad(__sxtb16(wb), xe, a1));
    }
#endif
    for (; i < n; ++i) {
        a0 += (int32_t)w0[i] * x[i];
        a1 += (int32_t)w1[i] * x[i];
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* Two rows of weights against two input vectors: acc[r][c] += w_r . x_c, for 1x1 convolutions
 * and fully connected layers (each loaded word is used twice). */
static inline void td_dot_2x2_s8(const int8_t *w0, const int8_t *w1, const int8_t *x0,
                                 const int8_t *x1, int32_t n, int32_t acc[4]) {
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
#ifdef TD_DSP
    /* walking pointers and a count keep the loop in registers (no spills on Cortex-M4) */
    for (int32_t blocks = n >> 2; blocks > 0; --blocks, w0 += 4, w1 += 4, x0 += 4, x1 += 4) {
        const int32_t xa = td_load4(x0), xb = td_load4(x1);
        const int32_t xa_e = __sxtb16(xa), xa_o = td_sxtb16_hi(xa);
        const int32_t xb_e = __sxtb16(xb), xb_o = td_sxtb16_hi(xb);
        int32_t wv = td_load4(w0);
        int32_t we = __sxtb16(wv), wo = td_sxtb16_hi(wv);
        a00 = __smlad(wo, xa_o, __smlad(we, xa_e, a00));
        a01 = __smlad(wo, xb_o, __smlad(we, xb_e, a01));
        wv = td_load4(w1);
        we = __sxtb16(wv);
        wo = td_sxtb16_hi(wv);
        a10 = __smlad(wo, xa_o, __smlad(we, xa_e, a10));
        a11 = __smlad(wo, xb_o, __smlad(we, xb_e, a11));
    }
    n &= 3;
#endif
    for (int32_t i = 0; i < n; ++i) {
        a00 += (int32_t)w0[i] * x0[i];
        a01 += (int32_t)w0[i] * x1[i];
        a10 += (int32_t)w1[i] * x0[i];
        a11 += (int32_t)w1[i] * x1[i];
    }
    acc[0] = a00; acc[1] = a01; acc[2] = a10; acc[3] = a11;
}
#endif

/* Matrix-product cores shared by CONV_2D (after im2col), 1x1 convolutions and FULLY_CONNECTED.
 *
 * Inputs are widened to int16 once (td_pack_*) and reused by every output channel; weights are
 * laid out at compile time (tinydeploy/weight_layout.py) so that each core reads them with
 * consecutive loads. In a group of four k values the int16 order is (x0, x2, x1, x3): the order in
 * which SXTB16 and SXTB16-ROR-8 leave four int8 weights, so one SMLAD multiplies a pair without any
 * reordering. Weights are int8 (four per word, widened in registers) or, where flash allows, already
 * widened to int16 in that order ("wide", one load less per pair of MACs).
 *
 * Pixel pair buffer (conv): per group, pixel 0's four int16 then pixel 1's.
 * Conv weights: rows in pairs, per group row 0's four values then row 1's.
 * FC weights: rows in fours, per group rows 0..3, four values each; the FC input stays int8 (each
 * word of it is widened in registers once for four rows).
 * Sums of integers are exact in any order, so every path gives identical results. */
#ifndef TD_MATMUL_H
#define TD_MATMUL_H
#include <stdint.h>
#include <string.h>
#include "td_simd.h"

static inline int32_t td_ld32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Four int8 values, zero beyond n, into the group order (x0, x2, x1, x3). */
static inline void td_pack_group(const int8_t *a, int32_t n, int16_t *dst) {
    if (n >= 4) {
#ifdef TD_DSP
        const int32_t v = td_ld32(a), e = __sxtb16(v), o = td_sxtb16_hi(v);
        memcpy(dst, &e, 4);
        memcpy(dst + 2, &o, 4);
#else
        dst[0] = a[0]; dst[1] = a[2]; dst[2] = a[1]; dst[3] = a[3];
#endif
        return;
    }
    dst[0] = n > 0 ? a[0] : 0;
    dst[1] = n > 2 ? a[2] : 0;
    dst[2] = n > 1 ? a[1] : 0;
    dst[3] = 0;
}

/* Two vectors of n int8 values into the pixel pair buffer. */
static inline void td_pack_pair(const int8_t *a, const int8_t *b, int32_t n, int16_t *xq) {
    for (int32_t i = 0; i < n; i += 4, a += 4, b += 4, xq += 8) {
        td_pack_group(a, n - i, xq);
        td_pack_group(b, n - i, xq + 4);
    }
}

#ifdef TD_DSP
/* The loops are written in assembly only to get what C compilers will not emit for them: LDRD and
 * LDM with write-back (several words per load instruction; GCC splits them into single LDRs), with
 * every value kept in registers. Each loop body is the plain sequence its comment gives. */

/* acc += (row0 . px0, row0 . px1, row1 . px0, row1 . px1); groups > 0; *wp moves past the pair of
 * rows (onto the next pair) */
static inline void td_mm_2x2_w8(const int8_t **wp, const int16_t *xq, int32_t groups,
                                int32_t acc[4]) {
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int8_t *w = *wp;
    int32_t x0e, x0o, x1e, x1o, v, e;
    /* per group: load both pixels (4 words); per row: load its 4 int8, widen to (w0,w2) and
     * (w1,w3), two SMLADs per pixel */
    __asm__("1:\n\t"
            "ldrd %[x0e], %[x0o], [%[xp]], #8\n\t"
            "ldrd %[x1e], %[x1o], [%[xp]], #8\n\t"
            "ldr %[v], [%[wp]], #4\n\t"
            "sxtb16 %[e], %[v]\n\t"
            "sxtb16 %[v], %[v], ror #8\n\t"
            "smlad %[a00], %[e], %[x0e], %[a00]\n\t"
            "smlad %[a00], %[v], %[x0o], %[a00]\n\t"
            "smlad %[a01], %[e], %[x1e], %[a01]\n\t"
            "smlad %[a01], %[v], %[x1o], %[a01]\n\t"
            "ldr %[v], [%[wp]], #4\n\t"
            "sxtb16 %[e], %[v]\n\t"
            "sxtb16 %[v], %[v], ror #8\n\t"
            "smlad %[a10], %[e], %[x0e], %[a10]\n\t"
            "smlad %[a10], %[v], %[x0o], %[a10]\n\t"
            "smlad %[a11], %[e], %[x1e], %[a11]\n\t"
            "smlad %[a11], %[v], %[x1o], %[a11]\n\t"
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
              [xp] "+r"(xq), [wp] "+r"(w), [n] "+r"(groups), [x0e] "=&r"(x0e), [x0o] "=&r"(x0o),
              [x1e] "=&r"(x1e), [x1o] "=&r"(x1o), [v] "=&r"(v), [e] "=&r"(e)
            : : "cc", "memory");
    *wp = w;
    acc[0] = a00; acc[1] = a01; acc[2] = a10; acc[3] = a11;
}

static inline void td_mm_2x2_w16(const int16_t **wp, const int16_t *xq, int32_t groups,
                                 int32_t acc[4]) {
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int16_t *w = *wp;
    /* LDM needs its registers in ascending order: pin them */
    register int32_t x0e __asm__("r2"), x0o __asm__("r3"), x1e __asm__("r4"), x1o __asm__("r5");
    register int32_t we __asm__("r6"), wo __asm__("r8");
    /* per group: one LDM for both pixels (4 words); per row: one LDM for its two widened words,
     * two SMLADs per pixel. Two groups per pass when the count is even. */
#define TD_GROUP_W16 \
            "ldm %[xp]!, {%[x0e], %[x0o], %[x1e], %[x1o]}\n\t" \
            "ldm %[wp]!, {%[we], %[wo]}\n\t" \
            "smlad %[a00], %[we], %[x0e], %[a00]\n\t" \
            "smlad %[a00], %[wo], %[x0o], %[a00]\n\t" \
            "smlad %[a01], %[we], %[x1e], %[a01]\n\t" \
            "smlad %[a01], %[wo], %[x1o], %[a01]\n\t" \
            "ldm %[wp]!, {%[we], %[wo]}\n\t" \
            "smlad %[a10], %[we], %[x0e], %[a10]\n\t" \
            "smlad %[a10], %[wo], %[x0o], %[a10]\n\t" \
            "smlad %[a11], %[we], %[x1e], %[a11]\n\t" \
            "smlad %[a11], %[wo], %[x1o], %[a11]\n\t"
#define TD_OPERANDS_W16 \
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), \
              [xp] "+r"(xq), [wp] "+r"(w), [n] "+r"(groups), [x0e] "=&r"(x0e), [x0o] "=&r"(x0o), \
              [x1e] "=&r"(x1e), [x1o] "=&r"(x1o), [we] "=&r"(we), [wo] "=&r"(wo) \
            : : "cc", "memory"
    if (groups & 1) {
        __asm__(TD_GROUP_W16 TD_OPERANDS_W16);
        groups -= 1;
    }
    if (groups)
        __asm__("1:\n\t" TD_GROUP_W16 TD_GROUP_W16
                "subs %[n], %[n], #2\n\t"
                "bne 1b" TD_OPERANDS_W16);
#undef TD_GROUP_W16
#undef TD_OPERANDS_W16
    *wp = w;
    acc[0] = a00; acc[1] = a01; acc[2] = a10; acc[3] = a11;
}

/* acc[r] += row r . x over the groups * 4 leading values, r < 4; groups > 0. The input stays
 * int8: each word is widened once for the four rows. */
static inline void td_mm_4x1_w8(const int8_t *w, const int8_t *x, int32_t groups, int32_t acc[4]) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t xe, xo, v, e;
    /* per group: load 4 inputs and widen them; per row: load 4 int8, widen, two SMLADs */
#define TD_ROW_W8(a) \
            "ldr %[v], [%[wp]], #4\n\t" \
            "sxtb16 %[e], %[v]\n\t" \
            "sxtb16 %[v], %[v], ror #8\n\t" \
            "smlad %[" a "], %[e], %[xe], %[" a "]\n\t" \
            "smlad %[" a "], %[v], %[xo], %[" a "]\n\t"
    __asm__("1:\n\t"
            "ldr %[xo], [%[xp]], #4\n\t"
            "sxtb16 %[xe], %[xo]\n\t"
            "sxtb16 %[xo], %[xo], ror #8\n\t"
            TD_ROW_W8("a0") TD_ROW_W8("a1") TD_ROW_W8("a2") TD_ROW_W8("a3")
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(x),
              [wp] "+r"(w), [n] "+r"(groups), [xe] "=&r"(xe), [xo] "=&r"(xo), [v] "=&r"(v),
              [e] "=&r"(e)
            : : "cc", "memory");
#undef TD_ROW_W8
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}

static inline void td_mm_4x1_w16(const int16_t *w, const int8_t *x, int32_t groups,
                                 int32_t acc[4]) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t xe, xo;
    register int32_t w0e __asm__("r8"), w0o __asm__("r9"), w1e __asm__("r10"), w1o __asm__("r11");
    /* per group: load 4 inputs and widen them; rows two at a time: one LDM of their four widened
     * words, four SMLADs. Two groups per pass when the count is even. */
#define TD_GROUP_FC_W16 \
            "ldr %[xo], [%[xp]], #4\n\t" \
            "sxtb16 %[xe], %[xo]\n\t" \
            "sxtb16 %[xo], %[xo], ror #8\n\t" \
            "ldm %[wp]!, {%[w0e], %[w0o], %[w1e], %[w1o]}\n\t" \
            "smlad %[a0], %[w0e], %[xe], %[a0]\n\t" \
            "smlad %[a0], %[w0o], %[xo], %[a0]\n\t" \
            "smlad %[a1], %[w1e], %[xe], %[a1]\n\t" \
            "smlad %[a1], %[w1o], %[xo], %[a1]\n\t" \
            "ldm %[wp]!, {%[w0e], %[w0o], %[w1e], %[w1o]}\n\t" \
            "smlad %[a2], %[w0e], %[xe], %[a2]\n\t" \
            "smlad %[a2], %[w0o], %[xo], %[a2]\n\t" \
            "smlad %[a3], %[w1e], %[xe], %[a3]\n\t" \
            "smlad %[a3], %[w1o], %[xo], %[a3]\n\t"
#define TD_OPERANDS_FC_W16 \
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(x), \
              [wp] "+r"(w), [n] "+r"(groups), [xe] "=&r"(xe), [xo] "=&r"(xo), [w0e] "=&r"(w0e), \
              [w0o] "=&r"(w0o), [w1e] "=&r"(w1e), [w1o] "=&r"(w1o) \
            : : "cc", "memory"
    if (groups & 1) {
        __asm__(TD_GROUP_FC_W16 TD_OPERANDS_FC_W16);
        groups -= 1;
    }
    if (groups)
        __asm__("1:\n\t" TD_GROUP_FC_W16 TD_GROUP_FC_W16
                "subs %[n], %[n], #2\n\t"
                "bne 1b" TD_OPERANDS_FC_W16);
#undef TD_GROUP_FC_W16
#undef TD_OPERANDS_FC_W16
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}
#else
/* Portable cores: the same layouts read one value at a time. An int8 weight group is in natural
 * order (w0, w1, w2, w3) against the input's (x0, x2, x1, x3). */
static inline int32_t td_dot_group_w8(const int8_t *w, const int16_t *x) {
    return w[0] * x[0] + w[2] * x[1] + w[1] * x[2] + w[3] * x[3];
}

static inline int32_t td_dot_group_w16(const int16_t *w, const int16_t *x) {
    return w[0] * x[0] + w[1] * x[1] + w[2] * x[2] + w[3] * x[3];
}

static inline void td_mm_2x2_w8(const int8_t **wp, const int16_t *xq, int32_t groups,
                                int32_t acc[4]) {
    const int8_t *w = *wp;
    for (; groups > 0; --groups, w += 8, xq += 8) {
        acc[0] += td_dot_group_w8(w, xq);
        acc[1] += td_dot_group_w8(w, xq + 4);
        acc[2] += td_dot_group_w8(w + 4, xq);
        acc[3] += td_dot_group_w8(w + 4, xq + 4);
    }
    *wp = w;
}

static inline void td_mm_2x2_w16(const int16_t **wp, const int16_t *xq, int32_t groups,
                                 int32_t acc[4]) {
    const int16_t *w = *wp;
    for (; groups > 0; --groups, w += 8, xq += 8) {
        acc[0] += td_dot_group_w16(w, xq);
        acc[1] += td_dot_group_w16(w, xq + 4);
        acc[2] += td_dot_group_w16(w + 4, xq);
        acc[3] += td_dot_group_w16(w + 4, xq + 4);
    }
    *wp = w;
}

static inline void td_mm_4x1_w8(const int8_t *w, const int8_t *x, int32_t groups, int32_t acc[4]) {
    for (; groups > 0; --groups, w += 16, x += 4)
        for (int r = 0; r < 4; ++r)
            acc[r] += w[4 * r] * x[0] + w[4 * r + 1] * x[1] + w[4 * r + 2] * x[2] + w[4 * r + 3] * x[3];
}

static inline void td_mm_4x1_w16(const int16_t *w, const int8_t *x, int32_t groups,
                                 int32_t acc[4]) {
    for (; groups > 0; --groups, w += 16, x += 4)
        for (int r = 0; r < 4; ++r)
            acc[r] += w[4 * r] * x[0] + w[4 * r + 1] * x[2] + w[4 * r + 2] * x[1] + w[4 * r + 3] * x[3];
}
#endif
#endif

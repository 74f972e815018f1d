/* Matrix-product cores shared by CONV_2D, 1x1 convolutions and FULLY_CONNECTED.
 *
 * Inputs are widened to int16 once (td_pack_*) and reused by every output channel; weights are
 * laid out at compile time (tinydeploy/weight_layout.py) so that each core reads them with
 * consecutive loads. In a group of four k values the int16 order is (x0, x2, x1, x3): the order in
 * which SXTB16 and SXTB16-ROR-8 leave four int8 weights, so one SMLAD multiplies a pair without any
 * reordering. Weights are int8 (four per word, widened in registers) or, where flash allows, already
 * widened to int16 in that order ("wide", one load less per pair of MACs).
 *
 * Pixel pair buffer (conv): per group the words (p0: x0,x2) (p1: x0,x2) (p0: x1,x3) (p1: x1,x3).
 * Conv weights: rows in pairs; per group int8 row 0's four values then row 1's, or wide in the
 * pixel pair buffer's order with rows for pixels.
 * FC weights: rows in fours, per group rows 0..3, four values each; the FC input stays int8 (each
 * word of it is widened in registers once for four rows).
 * TD_ROWS: int8 rows one after another; inputs stay int8 too, and on Helium (Cortex-M55) one
 * VMLADAVA multiplies and sums 16 pairs (td_dot_rows_*).
 * Sums of integers are exact in any order, so every path gives identical results. */
#ifndef TD_MATMUL_H
#define TD_MATMUL_H
#include <stdint.h>
#include <string.h>
#include "td_simd.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define TD_MVE 1
#endif

static inline int32_t td_ld32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Four int8 values, zero beyond n, widened into the halves (x0, x2) at e and (x1, x3) at o. */
static inline void td_pack_group(const int8_t *a, int32_t n, int16_t *e, int16_t *o) {
    if (n >= 4) {
#ifdef TD_DSP
        const int32_t v = td_ld32(a), ve = __sxtb16(v), vo = td_sxtb16_hi(v);
        memcpy(e, &ve, 4);
        memcpy(o, &vo, 4);
#else
        e[0] = a[0]; e[1] = a[2]; o[0] = a[1]; o[1] = a[3];
#endif
        return;
    }
    e[0] = n > 0 ? a[0] : 0;
    e[1] = n > 2 ? a[2] : 0;
    o[0] = n > 1 ? a[1] : 0;
    o[1] = 0;
}

/* Two vectors of n int8 values into the pixel pair buffer: per group of four, the words
 * (a0,a2) (b0,b2) (a1,a3) (b1,b3). */
static inline void td_pack_pair(const int8_t *a, const int8_t *b, int32_t n, int16_t *xq) {
#if defined(TD_DSP) && defined(TD_LDM_LOOPS)
    if (n >= 8) {
        /* two groups of both vectors a pass: four word loads (LDR: the vectors need not be
         * aligned), eight SXTB16s and one STM of the eight words, pinned in the buffer's order */
        register int32_t a0e __asm__("r0"), b0e __asm__("r1"), a0o __asm__("r2"),
            b0o __asm__("r3"), a1e __asm__("r8"), b1e __asm__("r9"), a1o __asm__("r10"),
            b1o __asm__("r11");
        int32_t passes = n >> 3;
        __asm__ volatile("1:\n\t"
                "ldr %[a0o], [%[a]], #4\n\t"
                "ldr %[b0o], [%[b]], #4\n\t"
                "ldr %[a1o], [%[a]], #4\n\t"
                "ldr %[b1o], [%[b]], #4\n\t"
                "sxtb16 %[a0e], %[a0o]\n\t"
                "sxtb16 %[a0o], %[a0o], ror #8\n\t"
                "sxtb16 %[b0e], %[b0o]\n\t"
                "sxtb16 %[b0o], %[b0o], ror #8\n\t"
                "sxtb16 %[a1e], %[a1o]\n\t"
                "sxtb16 %[a1o], %[a1o], ror #8\n\t"
                "sxtb16 %[b1e], %[b1o]\n\t"
                "sxtb16 %[b1o], %[b1o], ror #8\n\t"
                "stmia %[xq]!, {%[a0e], %[b0e], %[a0o], %[b0o], %[a1e], %[b1e], %[a1o], %[b1o]}\n\t"
                "subs %[n], %[n], #1\n\t"
                "bne 1b"
                : [a] "+r"(a), [b] "+r"(b), [xq] "+r"(xq), [n] "+r"(passes), [a0e] "=&r"(a0e),
                  [b0e] "=&r"(b0e), [a0o] "=&r"(a0o), [b0o] "=&r"(b0o), [a1e] "=&r"(a1e),
                  [b1e] "=&r"(b1e), [a1o] "=&r"(a1o), [b1o] "=&r"(b1o)
                : : "cc", "memory");
        n &= 7;
    }
#endif
    for (; n >= 4; n -= 4, a += 4, b += 4, xq += 8) {  /* whole groups: no tail checks */
        td_pack_group(a, 4, xq, xq + 4);
        td_pack_group(b, 4, xq + 2, xq + 6);
    }
    if (n > 0) {
        td_pack_group(a, n, xq, xq + 4);
        td_pack_group(b, n, xq + 2, xq + 6);
    }
}

#if defined(TD_DSP) && defined(TD_LDM_LOOPS)
/* `rows` rows of two vectors into the pixel pair buffer, `groups` (> 0) groups of four values a
 * row, as td_pack_pair row by row: vector a's rows start at a, `stride` bytes apart, vector b's
 * `gap` bytes after a's. One loop of assembly for all rows: per pass two groups of both vectors
 * (b's words read at [a, gap]), then with an odd count one more group; the row count lives on the
 * stack, the 14 registers hold the rest. */
static inline void td_pack_pair_rows(const int8_t *a, int32_t gap, int32_t stride, int32_t rows,
                                     int32_t groups, int16_t *xq) {
    register int32_t a0e __asm__("r0"), b0e __asm__("r1"), a0o __asm__("r2"), b0o __asm__("r3"),
        a1e __asm__("r8"), b1e __asm__("r9"), a1o __asm__("r10"), b1o __asm__("r11");
    const int32_t passes = groups >> 1, skip = stride - 4 * groups;
    int32_t left = rows, count;
#define TD_PACK_TWO                                                                               \
    "ldr %[b0o], [%[a], %[gap]]\n\t"                                                              \
    "ldr %[a0o], [%[a]], #4\n\t"                                                                  \
    "ldr %[b1o], [%[a], %[gap]]\n\t"                                                              \
    "ldr %[a1o], [%[a]], #4\n\t"                                                                  \
    "sxtb16 %[a0e], %[a0o]\n\t"                                                                   \
    "sxtb16 %[a0o], %[a0o], ror #8\n\t"                                                           \
    "sxtb16 %[b0e], %[b0o]\n\t"                                                                   \
    "sxtb16 %[b0o], %[b0o], ror #8\n\t"                                                           \
    "sxtb16 %[a1e], %[a1o]\n\t"                                                                   \
    "sxtb16 %[a1o], %[a1o], ror #8\n\t"                                                           \
    "sxtb16 %[b1e], %[b1o]\n\t"                                                                   \
    "sxtb16 %[b1o], %[b1o], ror #8\n\t"                                                           \
    "stmia %[xq]!, {%[a0e], %[b0e], %[a0o], %[b0o], %[a1e], %[b1e], %[a1o], %[b1o]}\n\t"
#define TD_PACK_ROWS_OPERANDS                                                                     \
    : [a] "+r"(a), [xq] "+r"(xq), [count] "=&r"(count), [left] "+m"(left), [a0e] "=&r"(a0e),     \
      [b0e] "=&r"(b0e), [a0o] "=&r"(a0o), [b0o] "=&r"(b0o), [a1e] "=&r"(a1e), [b1e] "=&r"(b1e),  \
      [a1o] "=&r"(a1o), [b1o] "=&r"(b1o)                                                         \
    : [gap] "r"(gap), [passes] "r"(passes), [skip] "r"(skip)                                      \
    : "cc", "memory"
#define TD_PACK_ROW_END                                                                           \
    "add %[a], %[a], %[skip]\n\t"                                                                 \
    "ldr %[count], %[left]\n\t"                                                                   \
    "subs %[count], %[count], #1\n\t"                                                             \
    "str %[count], %[left]\n\t"                                                                   \
    "bne 1b"
    if (!(groups & 1)) {
        __asm__ volatile("1:\n\t"
                "mov %[count], %[passes]\n\t"
                "2:\n\t" TD_PACK_TWO
                "subs %[count], %[count], #1\n\t"
                "bne 2b\n\t" TD_PACK_ROW_END TD_PACK_ROWS_OPERANDS);
    } else {
        __asm__ volatile("1:\n\t"
                "movs %[count], %[passes]\n\t"
                "beq 3f\n"
                "2:\n\t" TD_PACK_TWO
                "subs %[count], %[count], #1\n\t"
                "bne 2b\n"
                "3:\n\t"
                "ldr %[b0o], [%[a], %[gap]]\n\t"
                "ldr %[a0o], [%[a]], #4\n\t"
                "sxtb16 %[a0e], %[a0o]\n\t"
                "sxtb16 %[a0o], %[a0o], ror #8\n\t"
                "sxtb16 %[b0e], %[b0o]\n\t"
                "sxtb16 %[b0o], %[b0o], ror #8\n\t"
                "stmia %[xq]!, {%[a0e], %[b0e], %[a0o], %[b0o]}\n\t" TD_PACK_ROW_END
                TD_PACK_ROWS_OPERANDS);
    }
#undef TD_PACK_TWO
#undef TD_PACK_ROWS_OPERANDS
#undef TD_PACK_ROW_END
}
#endif

/* Four pixels of n int8 values each, `stride` apart, into the quad buffer (1x1 convolutions): per
 * group of four values the words (p0e p1e p2e p3e) (p0o p1o p2o p3o), e = (x0, x2), o = (x1, x3). */
static inline void td_pack_quad(const int8_t *x, int32_t stride, int32_t n, int16_t *xq) {
    for (; n > 0; n -= 4, x += 4, xq += 16)
        for (int p = 0; p < 4; ++p) td_pack_group(x + p * stride, n, xq + 2 * p, xq + 8 + 2 * p);
}

#ifdef TD_DSP
/* Runs GROUP (the assembly of one group of four values) over n groups: once for an odd first
 * group, then two groups per pass of a loop counted in %[n]. */
#define TD_ASM_GROUPS(GROUP, OPERANDS, n)                                                         \
    do {                                                                                         \
        if ((n) & 1) {                                                                           \
            __asm__(GROUP OPERANDS);                                                             \
            (n) -= 1;                                                                            \
        }                                                                                        \
        if (n) __asm__("1:\n\t" GROUP GROUP "subs %[n], %[n], #2\n\tbne 1b" OPERANDS);          \
    } while (0)

/* The loops are written in assembly only to get what C compilers will not emit for them: LDRD with
 * write-back (two words per load instruction; GCC splits them into single LDRs), with every value
 * kept in registers. Each loop body is the plain sequence its comment gives. */

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
            "ldrd %[x0e], %[x1e], [%[xp]], #8\n\t"
            "ldrd %[x0o], %[x1o], [%[xp]], #8\n\t"
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
    int32_t x0, x1, w0, w1;
    /* per half group: one LDRD for the two pixels' words (x0, x1), one for the two rows' words
     * (w0, w1), four SMLADs; two groups per pass when the count is even. Eleven registers in all,
     * so that unoptimized builds still find them. */
#define TD_HALF_W16 \
            "ldrd %[x0], %[x1], [%[xp]], #8\n\t" \
            "ldrd %[w0], %[w1], [%[wp]], #8\n\t" \
            "smlad %[a00], %[w0], %[x0], %[a00]\n\t" \
            "smlad %[a01], %[w0], %[x1], %[a01]\n\t" \
            "smlad %[a10], %[w1], %[x0], %[a10]\n\t" \
            "smlad %[a11], %[w1], %[x1], %[a11]\n\t"
#define TD_OPERANDS_W16 \
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), \
              [xp] "+r"(xq), [wp] "+r"(w), [n] "+r"(groups), [x0] "=&r"(x0), [x1] "=&r"(x1), \
              [w0] "=&r"(w0), [w1] "=&r"(w1) \
            : : "cc", "memory"
    TD_ASM_GROUPS(TD_HALF_W16 TD_HALF_W16, TD_OPERANDS_W16, groups);
#undef TD_HALF_W16
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

#ifdef TD_LDM_LOOPS
/* LDM loads four words in one instruction but needs its registers in ascending order: these loops
 * pin them and hold 13 values in registers, which only an optimizing build can give; the
 * firmware's own -O2 build defines TD_LDM_LOOPS, any other build gets the LDRD loop below.
 * TD_FC_LDM_LOOP (in a function of w, x, groups, acc) runs INPUT, which leaves a group's input
 * words (x0, x2) (x1, x3) in xe and xo, then four rows two at a time: one LDM of their four widened
 * words, four SMLADs. Two groups per pass when the count is even. */
#define TD_FC_LDM_ROWS \
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
#define TD_FC_LDM_OPERANDS \
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(x), \
              [wp] "+r"(w), [n] "+r"(groups), [xe] "=&r"(xe), [xo] "=&r"(xo), [w0e] "=&r"(w0e), \
              [w0o] "=&r"(w0o), [w1e] "=&r"(w1e), [w1o] "=&r"(w1o) \
            : : "cc", "memory"
#define TD_FC_LDM_LOOP(INPUT) \
    do { \
        int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], xe, xo; \
        register int32_t w0e __asm__("r8"), w0o __asm__("r9"), w1e __asm__("r10"), \
            w1o __asm__("r11"); \
        TD_ASM_GROUPS(INPUT TD_FC_LDM_ROWS, TD_FC_LDM_OPERANDS, groups); \
        acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; \
    } while (0)

/* per group: load 4 int8 inputs and widen them */
static inline void td_mm_4x1_w16(const int16_t *w, const int8_t *x, int32_t groups,
                                 int32_t acc[4]) {
    TD_FC_LDM_LOOP("ldr %[xo], [%[xp]], #4\n\t"
                   "sxtb16 %[xe], %[xo]\n\t"
                   "sxtb16 %[xo], %[xo], ror #8\n\t");
}

/* td_mm_4x1_w16 against an input already widened by td_widen_groups: per group one LDRD of the
 * input instead of a load and two SXTB16s (11 instructions for 16 MACs). */
static inline void td_mm_4x1_w16x(const int16_t *w, const int16_t *x, int32_t groups,
                                  int32_t acc[4]) {
    TD_FC_LDM_LOOP("ldrd %[xe], %[xo], [%[xp]], #8\n\t");
}
#undef TD_FC_LDM_LOOP
#undef TD_FC_LDM_OPERANDS
#undef TD_FC_LDM_ROWS
#else
static inline void td_mm_4x1_w16(const int16_t *w, const int8_t *x, int32_t groups,
                                 int32_t acc[4]) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t xe, xo, we, wo;
    /* per group: load 4 inputs and widen them; per row: one LDRD of its two widened words, two
     * SMLADs. Two groups per pass when the count is even. */
#define TD_ROW_W16(a) \
            "ldrd %[we], %[wo], [%[wp]], #8\n\t" \
            "smlad %[" a "], %[we], %[xe], %[" a "]\n\t" \
            "smlad %[" a "], %[wo], %[xo], %[" a "]\n\t"
#define TD_GROUP_FC_W16 \
            "ldr %[xo], [%[xp]], #4\n\t" \
            "sxtb16 %[xe], %[xo]\n\t" \
            "sxtb16 %[xo], %[xo], ror #8\n\t" \
            TD_ROW_W16("a0") TD_ROW_W16("a1") TD_ROW_W16("a2") TD_ROW_W16("a3")
#define TD_OPERANDS_FC_W16 \
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(x), \
              [wp] "+r"(w), [n] "+r"(groups), [xe] "=&r"(xe), [xo] "=&r"(xo), [we] "=&r"(we), \
              [wo] "=&r"(wo) \
            : : "cc", "memory"
    TD_ASM_GROUPS(TD_GROUP_FC_W16, TD_OPERANDS_FC_W16, groups);
#undef TD_ROW_W16
#undef TD_GROUP_FC_W16
#undef TD_OPERANDS_FC_W16
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}
#endif
#else
/* Portable cores: the same layouts read one value at a time. In the pixel pair buffer pixel p's
 * group is (x0, x2) at 2p and (x1, x3) at 4 + 2p; an int8 weight group is in natural order. */
static inline int32_t td_dot_group_w8(const int8_t *w, const int16_t *x, int p) {
    return w[0] * x[2 * p] + w[2] * x[2 * p + 1] + w[1] * x[4 + 2 * p] + w[3] * x[5 + 2 * p];
}

static inline void td_mm_2x2_w8(const int8_t **wp, const int16_t *xq, int32_t groups,
                                int32_t acc[4]) {
    const int8_t *w = *wp;
    for (; groups > 0; --groups, w += 8, xq += 8) {
        acc[0] += td_dot_group_w8(w, xq, 0);
        acc[1] += td_dot_group_w8(w, xq, 1);
        acc[2] += td_dot_group_w8(w + 4, xq, 0);
        acc[3] += td_dot_group_w8(w + 4, xq, 1);
    }
    *wp = w;
}

/* Wide weights per group: (r0: w0,w2) (r1: w0,w2) (r0: w1,w3) (r1: w1,w3), the input's order. */
static inline void td_mm_2x2_w16(const int16_t **wp, const int16_t *xq, int32_t groups,
                                 int32_t acc[4]) {
    const int16_t *w = *wp;
    for (; groups > 0; --groups, w += 8, xq += 8)
        for (int h = 0; h < 8; h += 4)
            for (int q = 0; q < 2; ++q) {
                acc[0] += w[h + q] * xq[h + q];
                acc[1] += w[h + q] * xq[h + 2 + q];
                acc[2] += w[h + 2 + q] * xq[h + q];
                acc[3] += w[h + 2 + q] * xq[h + 2 + q];
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

/* The leading groups * 4 values of x widened once: per group the words (x0, x2) (x1, x3). */
static inline void td_widen_groups(const int8_t *x, int32_t groups, int16_t *xw) {
    for (; groups > 0; --groups, x += 4, xw += 4) {
        const int32_t v = td_ld32(x), e = td_sxtb16(v), o = td_sxtb16_hi(v);
        memcpy(xw, &e, 4);
        memcpy(xw + 2, &o, 4);
    }
}

#if !(defined(TD_DSP) && defined(TD_LDM_LOOPS))
/* td_mm_4x1_w16 against an input already widened by td_widen_groups (the LDM loops have their
 * own above) */
static inline void td_mm_4x1_w16x(const int16_t *w, const int16_t *x, int32_t groups,
                                  int32_t acc[4]) {
    for (; groups > 0; --groups, x += 4)
        for (int r = 0; r < 4; ++r, w += 4)
            acc[r] = td_smlad(td_ld32(w), td_ld32(x),
                              td_smlad(td_ld32(w + 2), td_ld32(x + 2), acc[r]));
}
#endif

/* acc[4 r + p] += row r . pixel p for a pair of rows (wide weights, *wp moves on to the next pair)
 * and the four pixels of a quad buffer; groups > 0. Per group 22 instructions for 32 MACs: the
 * pair's even words, then each pixel pair's (LDRD), four SMLADs per pixel pair; the same for the odd
 * words. */
#if defined(TD_DSP) && defined(TD_LDM_LOOPS)
static TD_ALWAYS_INLINE void td_mm_4x2_w16(const int16_t **wp, const int16_t *xq,
                                            int32_t groups, int32_t acc[8]) {
    int32_t a00 = acc[0], a01 = acc[1], a02 = acc[2], a03 = acc[3];
    int32_t a10 = acc[4], a11 = acc[5], a12 = acc[6], a13 = acc[7];
    const int16_t *w = *wp;
    /* 14 registers hold the loop's values, none is left for a counter: the loop ends when the
     * buffer pointer reaches `end`, read from memory into a register that is free by then */
    const int16_t *const end = xq + 16 * groups;
    int32_t x0, x1, w0, w1;
#define TD_QUAD_PIXELS(a0, a1, b0, b1) \
            "ldrd %[x0], %[x1], [%[xp]], #8\n\t" \
            "smlad %[" a0 "], %[w0], %[x0], %[" a0 "]\n\t" \
            "smlad %[" a1 "], %[w0], %[x1], %[" a1 "]\n\t" \
            "smlad %[" b0 "], %[w1], %[x0], %[" b0 "]\n\t" \
            "smlad %[" b1 "], %[w1], %[x1], %[" b1 "]\n\t"
#define TD_QUAD_HALF \
            "ldrd %[w0], %[w1], [%[wp]], #8\n\t" \
            TD_QUAD_PIXELS("a00", "a01", "a10", "a11") TD_QUAD_PIXELS("a02", "a03", "a12", "a13")
#define TD_QUAD_GROUP TD_QUAD_HALF TD_QUAD_HALF
#define TD_QUAD_OUTPUTS \
            : [a00] "+r"(a00), [a01] "+r"(a01), [a02] "+r"(a02), [a03] "+r"(a03), \
              [a10] "+r"(a10), [a11] "+r"(a11), [a12] "+r"(a12), [a13] "+r"(a13), \
              [xp] "+r"(xq), [wp] "+r"(w), [x0] "=&r"(x0), [x1] "=&r"(x1), [w0] "=&r"(w0), \
              [w1] "=&r"(w1)
    if (groups & 1) __asm__(TD_QUAD_GROUP TD_QUAD_OUTPUTS : : "memory");
    if (groups & 2) __asm__(TD_QUAD_GROUP TD_QUAD_GROUP TD_QUAD_OUTPUTS : : "memory");
    if (groups >= 4)
        __asm__("1:\n\t" TD_QUAD_GROUP TD_QUAD_GROUP TD_QUAD_GROUP TD_QUAD_GROUP
                "ldr %[x0], %[end]\n\t"
                "cmp %[xp], %[x0]\n\t"
                "bne 1b" TD_QUAD_OUTPUTS : [end] "m"(end) : "cc", "memory");
#undef TD_QUAD_PIXELS
#undef TD_QUAD_HALF
#undef TD_QUAD_GROUP
#undef TD_QUAD_OUTPUTS
    *wp = w;
    acc[0] = a00; acc[1] = a01; acc[2] = a02; acc[3] = a03;
    acc[4] = a10; acc[5] = a11; acc[6] = a12; acc[7] = a13;
}
#else
static inline void td_mm_4x2_w16(const int16_t **wp, const int16_t *xq, int32_t groups,
                                 int32_t acc[8]) {
    const int16_t *w = *wp;
    for (; groups > 0; --groups, xq += 16)
        for (int h = 0; h < 2; ++h, w += 4) {  /* even words, then odd */
            const int32_t w0 = td_ld32(w), w1 = td_ld32(w + 2);
            for (int q = 0; q < 4; ++q) {
                const int32_t x = td_ld32(xq + 8 * h + 2 * q);
                acc[q] = td_smlad(x, w0, acc[q]);
                acc[4 + q] = td_smlad(x, w1, acc[4 + q]);
            }
        }
    *wp = w;
}
#endif

/* acc += (w0 . xa, w0 . xb, w1 . xa, w1 . xb) over n int8 values (TD_ROWS). */
static inline void td_dot_rows_2x2(const int8_t *w0, const int8_t *w1, const int8_t *xa,
                                   const int8_t *xb, int32_t n, int32_t acc[4]) {
#ifdef TD_MVE
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    for (int32_t i = 0; i < n; i += 16) {
        const mve_pred16_t live = vctp8q((uint32_t)(n - i));  /* the tail: lanes past n off */
        const int8x16_t va = vldrbq_z_s8(xa + i, live), vb = vldrbq_z_s8(xb + i, live);
        const int8x16_t v0 = vldrbq_z_s8(w0 + i, live), v1 = vldrbq_z_s8(w1 + i, live);
        a00 = vmladavaq_p_s8(a00, v0, va, live);
        a01 = vmladavaq_p_s8(a01, v0, vb, live);
        a10 = vmladavaq_p_s8(a10, v1, va, live);
        a11 = vmladavaq_p_s8(a11, v1, vb, live);
    }
    acc[0] = a00; acc[1] = a01; acc[2] = a10; acc[3] = a11;
#else
    for (int32_t i = 0; i < n; ++i) {
        acc[0] += w0[i] * xa[i];
        acc[1] += w0[i] * xb[i];
        acc[2] += w1[i] * xa[i];
        acc[3] += w1[i] * xb[i];
    }
#endif
}

/* acc[r] += row r . x over n int8 values, rows `stride` apart (TD_ROWS). */
static inline void td_dot_rows_4x1(const int8_t *w, int32_t stride, const int8_t *x, int32_t n,
                                   int32_t acc[4]) {
#ifdef TD_MVE
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t i = 0; i < n; i += 16) {
        const mve_pred16_t live = vctp8q((uint32_t)(n - i));
        const int8x16_t vx = vldrbq_z_s8(x + i, live);
        a0 = vmladavaq_p_s8(a0, vldrbq_z_s8(w + i, live), vx, live);
        a1 = vmladavaq_p_s8(a1, vldrbq_z_s8(w + stride + i, live), vx, live);
        a2 = vmladavaq_p_s8(a2, vldrbq_z_s8(w + 2 * stride + i, live), vx, live);
        a3 = vmladavaq_p_s8(a3, vldrbq_z_s8(w + 3 * stride + i, live), vx, live);
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
#else
    for (int r = 0; r < 4; ++r)
        for (int32_t i = 0; i < n; ++i) acc[r] += w[r * stride + i] * x[i];
#endif
}
#endif
